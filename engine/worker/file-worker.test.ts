import { chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { copy, local, marshal, mkdir, mkfile, image, scratch, type State } from "../../llb/index.ts";
import { MemoryKeyStore, Solver, type SolveOutcome } from "../../solver/index.ts";
import { isHtkError } from "../../base/errors/index.ts";
import { FileWorker } from "./file-worker.ts";
import { resolveInRoot } from "./rootfs-path.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "htk-fw-"));
  dirs.push(d);
  return d;
}

interface Rig {
  worker: FileWorker;
  solver: Solver;
  context: string;
  build(state: State): Promise<SolveOutcome>;
}

async function rig(): Promise<Rig> {
  const root = tmp();
  const context = join(root, "context");
  mkdirSync(context);
  const worker = await FileWorker.open({ root: join(root, "worker") });
  const solver = new Solver({ worker, keyStore: new MemoryKeyStore(), concurrency: 2 });
  return {
    worker,
    solver,
    context,
    async build(state) {
      const handle = solver.solve({ definition: marshal(state), session: { id: "s1", locals: { context } }, target: "t" });
      void (async () => {
        for await (const _ of handle.progress) {
          // drain
        }
      })();
      return handle.outcome;
    },
  };
}

function statuses(o: SolveOutcome): Record<string, string> {
  return Object.fromEntries(o.record.vertices.map((v) => [v.name, v.outcome.status]));
}

function resultDir(r: Rig, o: SolveOutcome): string {
  if (o.kind !== "completed" || o.ref === undefined) throw new Error(`build ${o.kind}: ${o.kind === "failed" ? o.error.message : ""}`);
  return r.worker.snapshotPath(o.ref.ref);
}

const ctxFiles = (context: string): void => {
  mkdirSync(join(context, "src/sub"), { recursive: true });
  writeFileSync(join(context, "src/a.txt"), "alpha\n");
  writeFileSync(join(context, "src/sub/b.txt"), "beta\n");
  writeFileSync(join(context, "README"), "read me\n");
  writeFileSync(join(context, "secret.key"), "nope\n");
  chownSync(join(context, "src/a.txt"), 1234, 1234);
};

function appImage(withIgnore = true): State {
  const ctx = local("context", withIgnore ? { exclude: ["*.key"] } : {});
  return scratch()
    .file(mkdir("/etc", 0o755).mkfile("/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n").mkfile("/etc/group", 0o644, "root:x:0:\napp:x:1000:\n"), { customName: "base files" })
    .file(copy(ctx, "/src", "/app/", { copyDirContents: true, createDestPath: true, followSymlinks: true, chown: "app" }), { customName: "COPY src /app/" })
    .file(copy(ctx, "/README", "/app/README", { createDestPath: true }), { customName: "COPY README /app/README" })
    .file(mkdir("/data/cache", 0o750, { makeParents: true }), { customName: "WORKDIR /data/cache" });
}

describe("the file worker under the solver", () => {
  it("builds a filesystem from the context with COPY semantics, owners and .dockerignore", async () => {
    const r = await rig();
    ctxFiles(r.context);
    const out = await r.build(appImage());
    const fs = resultDir(r, out);
    expect(readFileSync(join(fs, "app/a.txt"), "utf8")).toBe("alpha\n");
    expect(readFileSync(join(fs, "app/sub/b.txt"), "utf8")).toBe("beta\n");
    expect(lstatSync(join(fs, "app/a.txt")).uid).toBe(1000);
    expect(lstatSync(join(fs, "app/sub")).gid).toBe(1000);
    // Context files are owned by root unless --chown says otherwise (the client's uid never leaks in).
    expect(lstatSync(join(fs, "app/README")).uid).toBe(0);
    expect(lstatSync(join(fs, "data/cache")).mode & 0o777).toBe(0o750);
    expect(() => lstatSync(join(fs, "app/secret.key"))).toThrow();
    if (out.kind === "completed") await out.ref?.release();
    expect([...r.worker.heldSnapshots().values()].reduce((a, b) => a + b, 0)).toBe(0);
  });

  it("caches: no change → every step cached; touch → cached; one edit → only what depends on it", async () => {
    const r = await rig();
    ctxFiles(r.context);
    const first = await r.build(appImage());
    expect(first.kind).toBe("completed");
    const again = await r.build(appImage());
    // The context is keyed on the session's mirror: an unchanged context is never copied again.
    expect(statuses(again)["local context"]).toBe("cached");
    expect(statuses(again)["COPY src /app/"]).toBe("cached");
    expect(statuses(again)["WORKDIR /data/cache"]).toBe("cached");
    const future = new Date(Date.now() + 60_000);
    for (const f of ["src/a.txt", "src/sub/b.txt", "README"]) utimesSync(join(r.context, f), future, future);
    const touched = await r.build(appImage());
    expect(statuses(touched)["COPY src /app/"]).toBe("cached");
    expect(statuses(touched)["COPY README /app/README"]).toBe("cached");
    writeFileSync(join(r.context, "README"), "changed\n");
    const edited = await r.build(appImage());
    const s = statuses(edited);
    expect(s["COPY src /app/"]).toBe("cached");
    expect(s["COPY README /app/README"]).toBe("executed");
    expect(s["WORKDIR /data/cache"]).toBe("executed");
    expect(readFileSync(join(resultDir(r, edited), "app/README"), "utf8")).toBe("changed\n");
    rmSync(join(r.context, "src/sub/b.txt"));
    const removed = await r.build(appImage());
    expect(statuses(removed)["COPY src /app/"]).toBe("executed");
    expect(() => lstatSync(join(resultDir(r, removed), "app/sub/b.txt"))).toThrow();
    for (const o of [first, again, touched, edited, removed]) if (o.kind === "completed") await o.ref?.release();
  });

  it("unpacks a local tar with ADD semantics and copies a plain file as is", async () => {
    const r = await rig();
    const payload = join(r.context, "payload");
    mkdirSync(payload);
    writeFileSync(join(payload, "inside.txt"), "from the tar\n");
    execFileSync("tar", ["-czf", join(r.context, "bundle.tar.gz"), "-C", payload, "inside.txt"]);
    execFileSync("gzip", ["-k", join(payload, "inside.txt")]);
    const ctx = local("context");
    const out = await r.build(
      scratch().file(copy(ctx, "/bundle.tar.gz", "/opt/", { attemptUnpackArchive: true, createDestPath: true }).copy(ctx, "/payload/inside.txt.gz", "/opt/", { attemptUnpackArchive: true, createDestPath: true })),
    );
    const fs = resultDir(r, out);
    expect(readFileSync(join(fs, "opt/inside.txt"), "utf8")).toBe("from the tar\n");
    expect(lstatSync(join(fs, "opt/inside.txt.gz")).isFile()).toBe(true);
    if (out.kind === "completed") await out.ref?.release();
  });

  it("expands wildcards and keeps links inside the filesystem", async () => {
    const r = await rig();
    writeFileSync(join(r.context, "one.txt"), "1");
    writeFileSync(join(r.context, "two.txt"), "2");
    writeFileSync(join(r.context, "three.md"), "3");
    symlinkSync("/etc/shadow", join(r.context, "evil"));
    const ctx = local("context");
    const out = await r.build(scratch().file(copy(ctx, "/*.txt", "/t/", { allowWildcard: true, createDestPath: true }).copy(ctx, "/evil", "/link", { createDestPath: true })));
    const fs = resultDir(r, out);
    expect(readFileSync(join(fs, "t/one.txt"), "utf8")).toBe("1");
    expect(readFileSync(join(fs, "t/two.txt"), "utf8")).toBe("2");
    expect(() => lstatSync(join(fs, "t/three.md"))).toThrow();
    expect(lstatSync(join(fs, "link")).isSymbolicLink()).toBe(true);
    if (out.kind === "completed") await out.ref?.release();
  });
});

describe("file worker errors", () => {
  async function failing(state: (ctx: State) => State, setup?: (context: string) => void): Promise<string> {
    const r = await rig();
    setup?.(r.context);
    const out = await r.build(state(local("context")));
    expect(out.kind).toBe("failed");
    // The solver names the step that failed (HTK-SOLVER-0001); the worker's diagnostic is its cause.
    const ids: string[] = [];
    let e: unknown = out.kind === "failed" ? out.error : undefined;
    while (e instanceof Error) {
      if ("id" in e && typeof e.id === "string") ids.push(e.id);
      e = e.cause;
    }
    expect(ids[0]).toBe("HTK-SOLVER-0001");
    return ids.at(-1) ?? "";
  }

  it("names a missing COPY source when computing its cache key (HTK-CACHE-0006)", async () => {
    expect(await failing((ctx) => scratch().file(copy(ctx, "/nope.txt", "/x")))).toBe("HTK-CACHE-0006");
  });

  it("refuses to copy into a destination that is a file (HTK-BUILD-0001)", async () => {
    const id = await failing(
      (ctx) => scratch().file(mkfile("/x", 0o644, "a file").copy(ctx, "/f", "/x/", {})),
      (c) => writeFileSync(join(c, "f"), "x"),
    );
    expect(id).toBe("HTK-BUILD-0001");
  });

  it("reports an unknown --chown user (HTK-BUILD-0002)", async () => {
    const id = await failing((ctx) => scratch().file(copy(ctx, "/f", "/f", { chown: "nobody-here" })), (c) => writeFileSync(join(c, "f"), "x"));
    expect(id).toBe("HTK-BUILD-0002");
  });

  it("stops a symbolic link loop in the context when keying the copy (HTK-CACHE-0007)", async () => {
    const id = await failing(
      (ctx) => scratch().file(copy(ctx, "/loop/x", "/x", { followSymlinks: true })),
      (c) => symlinkSync("/loop", join(c, "loop")),
    );
    expect(id).toBe("HTK-CACHE-0007");
  });

  it("stops a symbolic link loop inside a filesystem and keeps links inside it (HTK-BUILD-0003)", async () => {
    const root = tmp();
    symlinkSync("/a", join(root, "b"));
    symlinkSync("/b", join(root, "a"));
    const err = await resolveInRoot(root, "/a/x", true).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-BUILD-0003")).toBe(true);
    symlinkSync("../../../../etc", join(root, "up"));
    expect(await resolveInRoot(root, "/up/passwd", true)).toBe(join(root, "etc/passwd"));
  });

  it("says when the session lacks the local files (HTK-BUILD-0004)", async () => {
    expect(await failing(() => scratch().file(copy(local("other"), "/f", "/f")))).toBe("HTK-BUILD-0004");
  });

  it("reports a mkdir without parents (HTK-BUILD-0005)", async () => {
    expect(await failing(() => scratch().file(mkdir("/a/b", 0o755)))).toBe("HTK-BUILD-0005");
  });

  it("says plainly that RUN and images need the runtime worker (HTK-RUNTIME-0001)", async () => {
    expect(await failing(() => image("busybox"))).toBe("HTK-RUNTIME-0001");
    expect(await failing(() => scratch().run({ args: ["/bin/true"] }).root())).toBe("HTK-RUNTIME-0001");
  });
});

describe("content keys of a local-context snapshot", () => {
  it("answers from the kept checksum tree with the digests a fresh hash gives", async () => {
    const r = await rig();
    ctxFiles(r.context);
    const out = await r.build(local("context", { exclude: ["*.key"] }));
    if (out.kind !== "completed" || out.ref === undefined) throw new Error(out.kind);
    const ref = out.ref.ref;
    const { ContextHasher } = await import("../../cache/index.ts");
    const fresh = new ContextHasher();
    for (const path of ["/", "/src", "/src/sub/b.txt", "/README"]) {
      const viaTree = await r.worker.contentKey(ref, { path, wildcard: false, followLinks: false, allowEmptyWildcard: false, include: [], exclude: [] }, new AbortController().signal);
      const direct = await fresh.checksum(r.worker.snapshotPath(ref), path === "/" ? "." : path.slice(1));
      expect(viaTree.digest, path).toBe(direct);
    }
    await out.ref.release();
  });
});
