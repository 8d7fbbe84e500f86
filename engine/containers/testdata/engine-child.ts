// An engine in its own process, for the restart tests to kill -9: `node --import tsx engine-child.ts
// DATA_ROOT SOCKET [IMAGE_REFERENCE]`. Prints "ready" once it serves (after pulling the image, when
// given); SIGTERM stops it gracefully.
import { Writable } from "node:stream";
import { createLogger } from "../../../base/observability/index.ts";
import { resolveConfig, startDaemon } from "../../index.ts";

const [dataRoot, socket, image] = process.argv.slice(2);
if (dataRoot === undefined || socket === undefined) throw new Error("usage: engine-child.ts DATA_ROOT SOCKET [IMAGE]");
const { config } = resolveConfig({ dataRoot, hosts: [`unix://${socket}`] }, {});
const sink = process.env["HATAKE_TEST_ENGINE_LOG"] === "1" ? process.stderr : new Writable({ write: (_c, _e, cb) => cb() });
const daemon = await startDaemon(config, { version: "0.1.0", gitCommit: "" }, createLogger(sink, "warn"));
if (image !== undefined && image !== "" && daemon.services.images.lookup(image) === undefined) {
  const pulled = await daemon.services.registry.pull(image, { store: daemon.services.images.content, signal: AbortSignal.timeout(120_000) });
  await daemon.services.images.addPull(pulled);
}
process.on("SIGTERM", () => {
  void daemon.stop().then(() => process.exit(0));
});
process.stdout.write("ready\n");
