import { execFileSync, spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { access, lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import type { Digest } from "../../cache/index.ts";
import { ensureBusyboxImage } from "../../testing/busybox-image.ts";
import { fixtureCacheDir, tempDir } from "../../testing/index.ts";
import { applyLayer } from "./apply-layer.ts";
import { mountOverlay, mountsUnder } from "./mounts.ts";
import { chainId, Snapshotter, type LayerSource, type SnapshotMode } from "./snapshotter.ts";
import { chunked, collect, craftTar, describeTree, type CraftedEntry } from "./test-support.ts";

const signal = new AbortController().signal;

function bufferLayer(data: Buffer, diffId?: Digest): LayerSource {
  return { ...(diffId !== undefined ? { diffId } : {}), open: () => chunked(data, 64 * 1024) };
}

async function refusal(promise: Promise<unknown>): Promise<{ id: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal");
}

const LAYER_A: CraftedEntry[] = [
  { name: "etc/", type: "directory" },
  { name: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n" },
  { name: "etc/motd", content: "welcome" },
  { name: "var/cache/", type: "directory" },
  { name: "var/cache/a", content: "a" },
  { name: "var/cache/sub/b", content: "b" },
  { name: "opt/tool/", type: "directory" },
  { name: "opt/tool/bin", content: "tool", mode: 0o755 },
];
const LAYER_B: CraftedEntry[] = [
  { name: "etc/", type: "directory" },
  { name: "etc/.wh.motd" },
  { name: "etc/hostname", content: "b" },
  { name: "opt/.wh.tool" },
  { name: "var/cache/", type: "directory", mode: 0o700 },
  { name: "var/cache/.wh..wh..opq" },
  { name: "var/cache/fresh", content: "f" },
];
const VIEW_B = [
  "etc dir 755 0:0",
  'etc/hostname file 644 0:0 "b"',
  'etc/passwd file 644 0:0 "root:x:0:0::/root:/bin/sh\\n"',
  "opt dir 755 0:0",
  "var dir 755 0:0",
  "var/cache dir 700 0:0",
  'var/cache/fresh file 644 0:0 "f"',
];

async function overlayAvailability(): Promise<string | undefined> {
  const probe = await Snapshotter.open({ root: `${await tempDir("probe")}/snapshots` });
  return probe.mode === "overlay" ? undefined : probe.fallbackReason ?? "unknown";
}
const overlayUnavailable = await overlayAvailability();

const MODES: Array<{ mode: SnapshotMode; title: string; skip: boolean }> = [
  {
    mode: "overlay",
    title: overlayUnavailable === undefined ? "overlay" : `overlay (skipped: overlayfs unavailable here: ${overlayUnavailable})`,
    skip: overlayUnavailable !== undefined,
  },
  { mode: "copy", title: "copy fallback", skip: false },
];

async function openSnapshotter(mode: SnapshotMode, root?: string): Promise<Snapshotter> {
  return Snapshotter.open({ root: root ?? `${await tempDir(`snap-${mode}`)}/snapshots`, mode });
}

for (const { mode, title, skip } of MODES) {
  describe.skipIf(skip)(`Snapshotter: ${title}`, () => {
    it("unpacks the busybox layer once, runs a shell on it, commits a write and a deletion (whiteout)", async () => {
      const busybox = await ensureBusyboxImage(fixtureCacheDir());
      const s = await openSnapshotter(mode);
      expect(s.mode).toBe(mode);
      const layer: LayerSource = { diffId: busybox.diffId, name: busybox.layerDigest, open: () => createReadStream(busybox.layerPath) };
      const base = await s.unpack(undefined, layer, signal);
      expect(base.id).toBe(busybox.diffId);
      const again = await s.unpack(undefined, { ...layer, open: () => { throw new Error("must not be read twice"); } }, signal);
      expect(again.id).toBe(base.id);
      expect(s.list()).toHaveLength(1);

      const step = await s.prepare(base.id, signal);
      if (mode === "overlay") expect(await mountsUnder(s.root)).toContain(step.path);
      execFileSync("chroot", [step.path, "/bin/sh", "-c", "echo hello > /hello && rm /bin/vi && mkdir -p /root/x"]);
      expect(await readFile(`${step.path}/hello`, "utf8")).toBe("hello\n");
      if (mode === "overlay") {
        const wh = await lstat(`${step.upperDir ?? ""}/bin/vi`);
        expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
      }
      const layerOut = step.diff({ signal });
      const tar = await collect(layerOut.stream);
      const { digest: diffId } = await layerOut.done;
      const listing = tar.toString("latin1");
      expect(listing).toContain("bin/.wh.vi");
      expect(listing).toContain("hello");
      const committed = await step.commit({ id: chainId(base.id, diffId), diffId });
      expect(await mountsUnder(s.root)).toEqual([]);
      expect(s.info(committed.id)).toMatchObject({ parent: base.id, kind: "commit", diffId });

      const view = await s.view(committed.id, signal);
      expect(await readFile(`${view.path}/hello`, "utf8")).toBe("hello\n");
      await expect(access(`${view.path}/bin/vi`)).rejects.toThrow();
      expect(execFileSync("chroot", [view.path, "/bin/cat", "/hello"], { encoding: "utf8" })).toBe("hello\n");
      await expect(writeFile(`${view.path}/nope`, "x")).rejects.toMatchObject({ code: "EROFS" });
      await view.discard();
      // The committed layer diffs to the same layer the step produced.
      const replay = s.diff(committed.id, { signal });
      await collect(replay.stream);
      expect((await replay.done).digest).toBe(diffId);
      committed.release();
      base.release();
      again.release();
      expect(s.held().size).toBe(0);
      expect(s.activeCount()).toBe(0);
    });

    it("round trip: layers A and B give B's view; B's diff applied on a copy of A gives the same view", async () => {
      const s = await openSnapshotter(mode);
      const a = await craftTar(LAYER_A);
      const b = await craftTar(LAYER_B);
      const top = await s.unpackChain([bufferLayer(a), bufferLayer(b)], signal);
      const view = await s.view(top.id, signal);
      expect(await describeTree(view.path)).toEqual(VIEW_B);
      await view.discard();

      const diff = s.diff(top.id, { signal });
      const tar = await collect(diff.stream);
      const copyOfA = await tempDir("copy-of-a");
      await applyLayer(copyOfA, chunked(a), { signal, whiteouts: "delete" });
      await applyLayer(copyOfA, chunked(tar), { signal, whiteouts: "delete" });
      expect(await describeTree(copyOfA)).toEqual(VIEW_B);

      // A step on top of B: delete, re-create a directory (opaque in overlay), write.
      const step = await s.prepare(top.id, signal);
      execFileSync("sh", ["-c", `cd ${step.path} && rm etc/passwd && rm -r var/cache && mkdir var/cache && echo n > var/cache/n && echo w > etc/w`]);
      const expected = await describeTree(step.path);
      const stepTar = await collect(step.diff({ signal }).stream);
      await applyLayer(copyOfA, chunked(stepTar), { signal, whiteouts: "delete" });
      expect(await describeTree(copyOfA)).toEqual(expected);
      await step.discard();
      top.release();
    });

    it("rejects a truncated layer (HTK-RUNTIME-0201) and keeps nothing of it", async () => {
      const s = await openSnapshotter(mode);
      const base = await s.unpack(undefined, bufferLayer(await craftTar(LAYER_A)), signal);
      const big = await craftTar([{ name: "big", content: Buffer.alloc(300_000, 1) }, ...LAYER_B]);
      const before = (await readdir(`${s.root}/layers`)).sort();
      const r = await refusal(s.unpack(base.id, bufferLayer(big.subarray(0, 200_000)), signal));
      expect(r.id).toBe("HTK-RUNTIME-0201");
      expect((await readdir(`${s.root}/layers`)).sort()).toEqual(before);
      expect(await readdir(`${s.root}/staging`)).toEqual([]);
      expect(s.list()).toHaveLength(1);
      // An unsafe layer is refused the same way.
      const evil = await craftTar([{ name: "ok", content: "fine" }, { name: "../../escape", content: "x" }]);
      expect((await refusal(s.unpack(base.id, bufferLayer(evil), signal))).id).toBe("HTK-RUNTIME-0200");
      expect(await readdir(`${s.root}/staging`)).toEqual([]);
      expect(s.held().get(base.id)).toBe(1);
      base.release();
    });

    it("shares one unpack between concurrent requests for a chain, and leaves nothing when cancelled", async () => {
      const s = await openSnapshotter(mode);
      const tar = await craftTar(LAYER_A);
      const { createHash } = await import("node:crypto");
      const diffId = `sha256:${createHash("sha256").update(tar).digest("hex")}` as const;
      let opened = 0;
      const layer: LayerSource = { diffId, open: () => (opened++, chunked(tar, 512)) };
      const refs = await Promise.all([s.unpack(undefined, layer, signal), s.unpack(undefined, layer, signal), s.unpack(undefined, layer, signal)]);
      expect(opened).toBe(1);
      expect(new Set(refs.map((r) => r.id))).toEqual(new Set([diffId]));
      expect(s.held().get(diffId)).toBe(3);
      for (const r of refs) r.release();

      const ac = new AbortController();
      const big = await craftTar(Array.from({ length: 200 }, (_, i) => ({ name: `f${i}`, content: Buffer.alloc(10_000, i) })));
      async function* slow(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < big.length; i += 4096) {
          if (i === 4096 * 50) ac.abort();
          yield big.subarray(i, i + 4096);
        }
      }
      await expect(s.unpack(diffId, { open: () => slow() }, ac.signal)).rejects.toThrow();
      expect(await readdir(`${s.root}/staging`)).toEqual([]);
      expect(s.list()).toHaveLength(1);
      expect(s.held().size).toBe(0);
    });

    it("keeps a writable snapshot (a container's rootfs) across a restart, with its mount, until it is removed", async () => {
      const root = `${await tempDir(`writable-${mode}`)}/snapshots`;
      const s = await openSnapshotter(mode, root);
      const top = await s.unpackChain([bufferLayer(await craftTar(LAYER_A)), bufferLayer(await craftTar(LAYER_B))], signal);
      const w = await s.createWritable("c1", top.id, signal);
      top.release();
      await expect(s.createWritable("c1", undefined, signal)).rejects.toThrow(/exists already/);
      const path = await s.mountWritable("c1", signal);
      expect(await s.mountWritable("c1", signal)).toBe(path);
      expect(await describeTree(path)).toEqual(VIEW_B);
      await writeFile(`${path}/etc/new`, "n");
      // The image's layers stay while a container's rootfs needs them.
      expect((await refusal(s.remove(top.id))).id).toBe("HTK-RUNTIME-0203");

      // An engine restart with the container still running: the mount and the changes stay.
      const again = await openSnapshotter(mode, root);
      expect(again.writables().map((x) => x.key)).toEqual(["c1"]);
      expect(await readFile(`${path}/etc/new`, "utf8")).toBe("n");
      if (mode === "overlay") expect(await mountsUnder(root)).toEqual([w.path]);
      await again.unmountWritable("c1");
      await again.unmountWritable("c1");
      expect(await mountsUnder(root)).toEqual([]);
      // Stopped and started again: the changes are still there, and show in its diff.
      const p2 = await again.mountWritable("c1", signal);
      expect(await readFile(`${p2}/etc/new`, "utf8")).toBe("n");
      const diff = await collect(again.diffWritable("c1", { signal }).stream);
      expect(diff.toString("latin1")).toContain("etc/new");
      await again.removeWritable("c1");
      expect(again.writable("c1")).toBeUndefined();
      expect(await mountsUnder(root)).toEqual([]);
      expect(await readdir(`${root}/writable`)).toEqual([]);
      expect(again.held().size).toBe(0);
      await again.remove(top.id);
      // An empty one (an image without layers) needs no mount.
      const empty = await again.createWritable("scratch", undefined, signal);
      expect(await again.mountWritable("scratch", signal)).toBe(empty.path);
      await again.removeWritable("scratch");
    });

    it("does not remove a snapshot in use (HTK-RUNTIME-0203): held, with children, or under an active snapshot", async () => {
      const s = await openSnapshotter(mode);
      const a = await s.unpack(undefined, bufferLayer(await craftTar(LAYER_A)), signal);
      const held = await refusal(s.remove(a.id));
      expect(held.id).toBe("HTK-RUNTIME-0203");
      expect(held.message).toContain("1 reference");
      const b = await s.unpack(a.id, bufferLayer(await craftTar(LAYER_B)), signal);
      a.release();
      expect((await refusal(s.remove(a.id))).message).toContain("1 child snapshot");
      const active = await s.prepare(b.id, signal);
      b.release();
      expect((await refusal(s.remove(b.id))).message).toContain("1 active snapshot");
      await active.discard();
      await s.remove(b.id);
      await s.remove(a.id);
      expect(s.list()).toEqual([]);
      expect(await readdir(`${s.root}/layers`)).toEqual([]);
    });

    it("a process killed with SIGKILL mid-step and mid-unpack leaves no mount and no partial snapshot for the next one", async () => {
      const root = `${await tempDir(`kill-${mode}`)}/snapshots`;
      const layerFile = `${await tempDir("kill-layer")}/layer.tar`;
      await writeFile(layerFile, await craftTar([...LAYER_A, { name: "big", content: Buffer.alloc(2_000_000, 3) }]));
      const child = spawn(process.execPath, ["--import", "tsx", `${import.meta.dirname}/crash-child.ts`, root, mode, layerFile], { stdio: ["ignore", "pipe", "inherit"] });
      const closed = new Promise((r) => child.once("close", r));
      const ready = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("\n")) resolve(out.trim());
        });
        child.on("exit", (code) => reject(new Error(`crash-child exited early (${code ?? "signal"})`)));
      });
      expect(ready).toMatch(/^ready /);
      const mounted = await mountsUnder(root);
      if (mode === "overlay") expect(mounted.length).toBe(2);
      expect((await readdir(`${root}/staging`)).length).toBe(1);
      expect(child.kill("SIGKILL")).toBe(true);
      await closed;

      const next = await openSnapshotter(mode, root);
      expect(await mountsUnder(root)).toEqual([]);
      expect([...next.recovery.unmounted].sort()).toEqual([...mounted].sort());
      expect(next.recovery.discardedActive).toBe(2);
      expect(await readdir(`${root}/staging`)).toEqual([]);
      expect(await readdir(`${root}/active`)).toEqual([]);
      expect(next.list()).toHaveLength(1);
      const again = await next.prepare(next.list()[0]?.id, signal);
      expect(await readFile(`${again.path}/etc/motd`, "utf8")).toBe("welcome");
      await again.discard();
    });

    it("after a crash, a new snapshotter on the same root unmounts, discards active snapshots and half-unpacked layers", async () => {
      const root = `${await tempDir(`crash-${mode}`)}/snapshots`;
      const first = await openSnapshotter(mode, root);
      const base = await first.unpack(undefined, bufferLayer(await craftTar(LAYER_A)), signal);
      const running = await first.prepare(base.id, signal);
      await writeFile(`${running.path}/work-in-progress`, "x");
      const viewing = await first.view(base.id, signal);
      // What a crash mid-unpack and mid-commit leaves: a staging tree, a layer without meta.json.
      await mkdir(`${root}/staging/9999/fs`, { recursive: true });
      await mkdir(`${root}/layers/9998/fs`, { recursive: true });
      const mountsBefore = await mountsUnder(root);
      if (mode === "overlay") expect(mountsBefore.length).toBe(2);

      const second = await openSnapshotter(mode, root);
      expect(await mountsUnder(root)).toEqual([]);
      expect([...second.recovery.unmounted].sort()).toEqual([...mountsBefore].sort());
      expect(second.recovery.discardedActive).toBe(2);
      expect(second.recovery.removedPartial).toBe(2);
      expect(await readdir(`${root}/active`)).toEqual([]);
      expect(await readdir(`${root}/staging`)).toEqual([]);
      expect(second.list().map((x) => x.id)).toEqual([base.id]);
      // The survivor works as before.
      const next = await second.prepare(base.id, signal);
      expect(await readFile(`${next.path}/etc/motd`, "utf8")).toBe("welcome");
      await expect(access(`${next.path}/work-in-progress`)).rejects.toThrow();
      await next.discard();
      await second.close();
      // The first instance's handles are stale; discarding them must not throw or touch the new state.
      await running.discard();
      await viewing.discard();
      expect(second.list()).toHaveLength(1);
    });
  });
}

describe("mounts", () => {
  it("reports a failed overlay mount as HTK-RUNTIME-0202", async () => {
    const dir = await tempDir("mount-fail");
    await mkdir(`${dir}/merged`);
    const r = await refusal(mountOverlay(`${dir}/merged`, { lowers: ["does-not-exist", "neither"], cwd: dir }, signal));
    expect(r.id).toBe("HTK-RUNTIME-0202");
    expect(r.message).toContain("overlay");
  });

  it("a root keeps the mode its snapshots were made in", async () => {
    const root = `${await tempDir("mode-kept")}/snapshots`;
    const first = await Snapshotter.open({ root, mode: "copy" });
    (await first.unpack(undefined, bufferLayer(await craftTar(LAYER_A)), signal)).release();
    const again = await Snapshotter.open({ root });
    expect(again.mode).toBe("copy");
    expect(again.fallbackReason).toContain("made by copying");
    await expect(Snapshotter.open({ root, mode: "overlay" })).rejects.toThrow(/copy mode/);
  });

  it("copy mode works where it is asked for, and says why overlay is not used", async () => {
    const s = await Snapshotter.open({ root: `${await tempDir("copy-asked")}/snapshots`, mode: "copy" });
    expect(s.mode).toBe("copy");
    expect(s.fallbackReason).toContain("copy");
  });
});
