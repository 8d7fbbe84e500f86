import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import type { Digest } from "../../cache/index.ts";
import { parseImageConfig, parseManifest } from "../../base/oci/index.ts";
import { fixtures, tempDir } from "../../testing/index.ts";
import { ImageStore } from "../../engine/images/index.ts";
import { CrunRuntime, buildSpec, readUserDatabase } from "../../engine/runtime/index.ts";
import { Snapshotter } from "../../engine/snapshots/index.ts";
import { runLocalBuild } from "../../engine/build/local-build.ts";

const SECRET = "S3CRET-VALUE-8c1f2e9a";

async function hatakeBuild(cwd: string, args: readonly string[], signal?: AbortSignal): Promise<{ code: number; err: string }> {
  const io = memoryIo({ cwd, env: {}, ...(signal === undefined ? {} : { signal }) });
  const code = await main(["build", "--data-root", "data", "--progress=plain", ...args, "ctx"], io);
  return { code, err: io.err() };
}

async function project(dockerfile: string, files: Record<string, string> = {}): Promise<string> {
  const root = await tempDir("rtw");
  mkdirSync(join(root, "ctx"), { recursive: true });
  writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, "ctx", p, ".."), { recursive: true });
    writeFileSync(join(root, "ctx", p), text);
  }
  return root;
}

/** Mounts below a directory, from our own mount table. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(dir));
}

/**
 * Runs an image of the store under crun the way a container would start: its exported layer blobs
 * unpacked into a fresh snapshotter (so the blobs themselves are checked), its config's Cmd.
 */
async function runImage(dataRoot: string, name: string, args?: readonly string[]): Promise<{ code: number; out: string }> {
  const images = await ImageStore.openAt(dataRoot);
  const rec = images.resolve(name);
  const manifestDesc = rec.manifests[0]?.descriptor;
  if (manifestDesc === undefined) throw new Error("no manifest");
  const manifest = parseManifest(await images.content.readBytes(manifestDesc.digest));
  const config = parseImageConfig(await images.content.readBytes(rec.config.digest));
  if (!manifest.ok || !config.ok) throw new Error("unreadable image");
  const root = await tempDir("rtw-run");
  const snapshotter = await Snapshotter.open({ root: join(root, "snapshots") });
  const chain = await snapshotter.unpackChain(
    manifest.value.layers.map((l, i) => ({
      diffId: config.value.rootfs.diff_ids[i] as Digest,
      open: (signal: AbortSignal) =>
        (async function* () {
          for await (const c of await images.content.get(l.digest, { signal })) yield c as Uint8Array;
        })(),
    })),
    new AbortController().signal,
  );
  const active = await snapshotter.prepare(chain.id, new AbortController().signal);
  try {
    const cfg = config.value.config;
    const spec = buildSpec({
      rootfs: active.path,
      args: args ?? [...(cfg?.Entrypoint ?? []), ...(cfg?.Cmd ?? [])],
      env: cfg?.Env ?? [],
      cwd: cfg?.WorkingDir === undefined || cfg.WorkingDir === "" ? "/" : cfg.WorkingDir,
      userDb: await readUserDatabase(active.path),
    });
    let out = "";
    const result = await new CrunRuntime({ dataRoot: root }).run({ id: `rtw-${Date.now()}`, spec, onStdout: (c) => (out += c.toString("utf8")) });
    return { code: result.exitCode, out };
  } finally {
    await active.discard();
    chain.release();
    await snapshotter.close();
  }
}

describe("RuntimeWorker through hatake build --data-root", () => {
  const reg = (): string => fixtures().registry.host;

  it("builds a multi-stage Dockerfile with RUN mounts; caches; exports images that run", async () => {
    const dockerfile = `FROM ${reg()}/busybox AS base
RUN echo base > /base.txt

FROM base AS other
RUN mkdir -p /data && echo from-other > /data/msg

FROM base
ARG V=1
RUN --mount=type=cache,target=/cache,id=rtw-cache sh -c 'n=$(cat /cache/n 2>/dev/null || echo 0); echo $((n+1)) > /cache/n; echo "v=$V runs=$(cat /cache/n)" > /count'
RUN --mount=type=bind,from=other,source=/data,target=/mnt cat /mnt/msg > /bound.txt
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo t > /scratch/x && grep -q " /scratch tmpfs" /proc/mounts && echo tmpfs-ok > /tmpfs.txt'
RUN --mount=type=secret,id=tok sh -c 'test "$(sha256sum /run/secrets/tok | cut -c1-64)" = ${createHash("sha256").update(SECRET).digest("hex")} && echo secret-ok > /secret.txt'
RUN --mount=type=ssh,id=k sh -c 'test -S "$SSH_AUTH_SOCK" && echo ssh-ok > /ssh.txt'
COPY --from=other /data/msg /copied.txt
RUN --mount=type=tmpfs,target=/etc/idle true
CMD ["sh", "-c", "cat /base.txt /bound.txt /copied.txt /tmpfs.txt /secret.txt /ssh.txt /count"]
`;
    const root = await project(dockerfile);
    writeFileSync(join(root, "tok"), SECRET);
    // Every mount type in one build: the ssh mount is served from a key file (a real agent's ssh-add -l
    // inside a RUN is build-ssh.e2e's test).
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "rtw@htk", "-f", join(root, "sshkey")]);
    const args = ["--secret", "id=tok,src=tok", "--ssh", "k=sshkey", "-t", "rtw/app:1", "-o", "type=oci,dest=out/app-oci.tar", "-o", "type=docker,dest=out/app-docker.tar"];

    const first = await hatakeBuild(root, args);
    expect(first.err, first.err).not.toContain("ERROR");
    expect(first.code).toBe(0);
    const dataRoot = join(root, "data");
    const run1 = await runImage(dataRoot, "rtw/app:1");
    expect(run1).toEqual({ code: 0, out: "base\nfrom-other\nfrom-other\ntmpfs-ok\nsecret-ok\nssh-ok\nv=1 runs=1\n" });
    // Cache mounts, tmpfs and secrets leave nothing in the image (not even their mount points).
    const leftovers = await runImage(dataRoot, "rtw/app:1", ["sh", "-c", "ls -d /cache /scratch /run/secrets/tok /run/buildkit /mnt 2>/dev/null; true"]);
    expect(leftovers.out).toBe("");

    // The archives are what skopeo reads.
    for (const transport of ["oci-archive:out/app-oci.tar", "docker-archive:out/app-docker.tar"]) {
      const inspected = JSON.parse(execFileSync("skopeo", ["inspect", transport], { cwd: root, encoding: "utf8" })) as { Layers: string[] };
      expect(inspected.Layers.length).toBeGreaterThan(1);
    }

    // A step that changed nothing has no layer; its history entry says empty_layer (BuildKit's export).
    const cfg = JSON.parse(execFileSync("skopeo", ["inspect", "--config", "oci-archive:out/app-oci.tar"], { cwd: root, encoding: "utf8" })) as {
      rootfs: { diff_ids: string[] };
      history: { created_by?: string; empty_layer?: boolean }[];
    };
    expect(cfg.history.find((h) => h.created_by?.includes("true") === true)?.empty_layer).toBe(true);
    expect(cfg.history.filter((h) => h.empty_layer !== true).length).toBe(cfg.rootfs.diff_ids.length);

    // Second build: fully cached.
    const second = await hatakeBuild(root, args);
    expect(second.code).toBe(0);
    expect(second.err).not.toMatch(/#\d+ \[[^\]]*\] RUN[^\n]*\n#\d+ DONE/);
    expect(second.err).toMatch(/RUN --mount=type=cache[^\n]*\n#\d+ CACHED/);

    // A changed build arg re-runs the cache-mount RUN and what follows; the cache mount kept its file.
    const third = await hatakeBuild(root, [...args, "--build-arg", "V=2"]);
    expect(third.code).toBe(0);
    expect(third.err).toMatch(/RUN echo base > \/base.txt\n#\d+ CACHED/);
    expect(third.err).toMatch(/RUN mkdir -p \/data[^\n]*\n#\d+ CACHED/);
    expect(third.err).toMatch(/RUN --mount=type=bind[^\n]*\n(#\d+ [^\n]*\n)*#\d+ DONE/);
    const run3 = await runImage(dataRoot, "rtw/app:1");
    expect(run3.out).toContain("v=2 runs=2\n");

    // A changed RUN line re-runs itself and what follows, nothing before it.
    writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile.replace("cat /mnt/msg > /bound.txt", "cat /mnt/msg > /bound.txt && true"));
    const fourth = await hatakeBuild(root, [...args, "--build-arg", "V=2"]);
    expect(fourth.code).toBe(0);
    expect(fourth.err).toMatch(/RUN --mount=type=cache[^\n]*\n#\d+ CACHED/);
    expect(fourth.err).toMatch(/RUN --mount=type=bind[^\n]*&& true\n(#\d+ [^\n]*\n)*#\d+ DONE/);
    expect(fourth.err).toMatch(/RUN --mount=type=tmpfs,target=\/scratch[^\n]*\n(#\d+ [^\n]*\n)*#\d+ DONE/);
    expect((await runImage(dataRoot, "rtw/app:1")).out).toContain("v=2 runs=2\n");

    // A digest reference of a local image needs no registry (this host does not even resolve).
    const built = (await ImageStore.openAt(dataRoot)).resolve("rtw/app:1").manifests[0]?.descriptor.digest ?? "";
    writeFileSync(join(root, "ctx", "Dockerfile"), `FROM nonexistent.invalid/rtw/app@${built}\nRUN cat /bound.txt > /again.txt\n`);
    const local = await hatakeBuild(root, ["-t", "rtw/local:1"]);
    expect(local.err).not.toContain("ERROR");
    expect((await runImage(dataRoot, "rtw/local:1", ["cat", "/again.txt"])).out).toBe("from-other\n");

    // The secret's value is in no stored byte: data root (records, snapshots, content), archives.
    const grep = (dir: string): string => {
      try {
        return execFileSync("grep", ["-r", "-a", "-l", SECRET, dir], { encoding: "utf8" });
      } catch {
        return "";
      }
    };
    expect(grep(dataRoot)).toBe("");
    expect(grep(join(root, "out", "app-docker.tar"))).toBe("");
    // … nor the ssh key's (a line of its base64 body).
    const keyLine = readFileSync(join(root, "sshkey"), "utf8").split("\n")[1] ?? "";
    expect(keyLine.length).toBeGreaterThan(20);
    expect(execFileSync("sh", ["-c", 'grep -r -a -l -F -- "$1" "$2" || true', "sh", keyLine, dataRoot], { encoding: "utf8" })).toBe("");
    expect(readdirSync(join(dataRoot, "snapshots", "active"))).toEqual([]);
  });

  it("fails a RUN with BuildKit's text (HTK-BUILD-0100)", async () => {
    const root = await project(`FROM ${reg()}/busybox AS other\nRUN echo x > /x\nFROM ${reg()}/busybox\nRUN --mount=type=bind,from=other,target=/o --mount=type=cache,target=/c echo before && exit 3\n`);
    const r = await hatakeBuild(root, []);
    expect(r.code).toBe(1);
    expect(r.err).toContain("HTK-BUILD-0100");
    expect(r.err).toContain('process "/bin/sh -c echo before && exit 3" did not complete successfully: exit code: 3');
    expect(mountsUnder(join(root, "data"))).toEqual([]);
    expect(readdirSync(join(root, "data", "snapshots", "active"))).toEqual([]);
  });

  it("fails a RUN whose required secret is missing (HTK-BUILD-0101)", async () => {
    const root = await project(`FROM ${reg()}/busybox\nRUN --mount=type=secret,id=nope,required=true cat /run/secrets/nope\n`);
    const r = await hatakeBuild(root, []);
    expect(r.code).toBe(1);
    expect(r.err).toContain("HTK-BUILD-0101");
    expect(r.err).toContain("secret nope: not found");
  });

  it("cancels mid-RUN: no mount, no container, no active snapshot left", async () => {
    const root = await project(`FROM ${reg()}/busybox\nRUN --mount=type=cache,target=/c echo started && sleep 30\n`);
    const dataRoot = join(root, "data");
    const ac = new AbortController();
    let err = "";
    const progressOut = {
      write(chunk: string | Uint8Array): boolean {
        err += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
        // The process's own output line (`#5 0.12 started`), not the step's name.
        if (/#\d+ \d+\.\d+ started/.test(err)) ac.abort();
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const t = Date.now();
    const result = await runLocalBuild({
      dataRoot,
      contextDir: join(root, "ctx"),
      buildArgs: {},
      noCache: false,
      outputs: [],
      progress: "plain",
      progressOut,
      explainCache: false,
      signal: ac.signal,
      cwd: root,
    });
    expect(result.kind).toBe("canceled");
    expect(err).toMatch(/#\d+ \d+\.\d+ started/);
    expect(Date.now() - t).toBeLessThan(20_000);
    expect(mountsUnder(dataRoot)).toEqual([]);
    // The outcome settles only after the step's container is gone (not merely signalled).
    expect(readdirSync(join(dataRoot, "runtime", "state"))).toEqual([]);
    expect(readdirSync(join(dataRoot, "runtime", "bundles"))).toEqual([]);
    expect(readdirSync(join(dataRoot, "snapshots", "active"))).toEqual([]);
  });

  it("downloads ADD <url> (name, mode, Last-Modified, --checksum HTK-BUILD-0103, failures HTK-BUILD-0102)", async () => {
    const body = "downloaded content\n";
    const server: Server = createServer((req, res) => {
      if (req.url === "/files/data.txt") {
        res.writeHead(200, { "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT" });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const sum = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      const ok = await project(
        `FROM ${reg()}/busybox\nADD --checksum=${sum} http://127.0.0.1:${port}/files/data.txt /d/\nRUN test "$(cat /d/data.txt)" = "downloaded content" && stat -c "%a %Y" /d/data.txt > /stat\nCMD ["cat", "/stat"]\n`,
      );
      const r = await hatakeBuild(ok, ["-t", "rtw/add:1"]);
      expect(r.err).not.toContain("ERROR");
      expect((await runImage(join(ok, "data"), "rtw/add:1")).out).toBe("644 1445412480\n");

      const wrong = await project(`FROM ${reg()}/busybox\nADD --checksum=sha256:${"0".repeat(64)} http://127.0.0.1:${port}/files/data.txt /d/\n`);
      const bad = await hatakeBuild(wrong, []);
      expect(bad.code).toBe(1);
      expect(bad.err).toContain("HTK-BUILD-0103");

      const missing = await project(`FROM ${reg()}/busybox\nADD http://127.0.0.1:${port}/nope /d/\n`);
      const gone = await hatakeBuild(missing, []);
      expect(gone.code).toBe(1);
      expect(gone.err).toContain("HTK-BUILD-0102");
      expect(gone.err).toContain("404");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
