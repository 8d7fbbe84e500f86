import { createReadStream } from "node:fs";
import { Snapshotter } from "./snapshotter.ts";

/**
 * Test helper (snapshotter.test.ts), run as its own process and killed with SIGKILL: opens a
 * snapshotter on argv[2] in mode argv[3], unpacks the layer file argv[4], mounts a step on it and
 * starts unpacking the layer again as a new chain — then says "ready" and waits to be killed.
 */
const [root, mode, layerFile] = process.argv.slice(2);
if (root === undefined || (mode !== "overlay" && mode !== "copy") || layerFile === undefined) throw new Error("usage: crash-child ROOT MODE LAYER");
const signal = new AbortController().signal;
const s = await Snapshotter.open({ root, mode });
const base = await s.unpack(undefined, { open: () => createReadStream(layerFile) }, signal);
const step = await s.prepare(base.id, signal);
await s.view(base.id, signal);
// An unpack that never finishes: its source stalls after the first chunk.
void s
  .unpack(base.id, {
    open: () =>
      (async function* () {
        for await (const chunk of createReadStream(layerFile)) {
          yield chunk as Buffer;
          await new Promise(() => undefined);
        }
      })(),
  }, signal)
  .catch(() => undefined);
await new Promise((r) => setTimeout(r, 300));
process.stdout.write(`ready ${step.path}\n`);
// Keeps the process alive (a pending promise alone does not) until the test kills it.
setInterval(() => undefined, 60_000);
