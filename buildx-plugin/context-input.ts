import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { htkError } from "../base/errors/index.ts";
import { loadDockerignore, type LoadedDockerignore } from "../base/dockerignore/index.ts";

/**
 * What `docker buildx build CONTEXT` builds from, as buildx reads its context argument:
 *
 * - a URL (git: `https://…/x.git#ref:subdir`, `git://…`, `git@host:x`, `ssh://…`; or any http(s) URL:
 *   a tar archive or a Dockerfile) is not read here: it goes to the engine as the `context` frontend
 *   attribute, which fetches it (BuildKit's git and http contexts). `-f` names a file inside it, unless
 *   it is `-` or an absolute local path (then that Dockerfile is sent);
 * - `-`: stdin is a tar archive (the context; plain or compressed) or else the Dockerfile of an empty
 *   context (buildx's rule: it looks at the first bytes). Unpacked into a temporary folder, streamed;
 * - anything else is a local directory, synced as before.
 */
export type ContextInput =
  | {
      readonly kind: "local";
      readonly dir: string;
      readonly dockerfile: Uint8Array;
      readonly dockerfilePath: string;
      readonly ignore: LoadedDockerignore;
      /** Removes a temporary context (stdin). */
      readonly cleanup: () => Promise<void>;
    }
  | { readonly kind: "remote"; readonly url: string; readonly dockerfile: Uint8Array; readonly filename: string };

/** buildx's `isRemoteURL` and `IsGitURL`: what the engine fetches instead of a directory the client sends. */
export function isRemoteContext(arg: string): boolean {
  return /^(https?|git|ssh):\/\//.test(arg) || arg.startsWith("git@") || arg.startsWith("github.com/");
}

export async function readContextInput(contextArg: string, fileFlag: string | undefined, io: { readonly cwd: string; readonly stdin: NodeJS.ReadableStream }, readAll: (s: NodeJS.ReadableStream) => Promise<Uint8Array>): Promise<ContextInput> {
  if (isRemoteContext(contextArg)) {
    if (fileFlag === "-") return { kind: "remote", url: contextArg, dockerfile: await readAll(io.stdin), filename: "Dockerfile" };
    if (fileFlag !== undefined && fileFlag !== "" && isAbsolute(fileFlag)) {
      const text = await readFile(fileFlag).catch(() => undefined);
      if (text === undefined) throw htkError("HTK-BUILDX-0023", { name: fileFlag });
      return { kind: "remote", url: contextArg, dockerfile: text, filename: fileFlag.split("/").at(-1) ?? "Dockerfile" };
    }
    return { kind: "remote", url: contextArg, dockerfile: new Uint8Array(), filename: fileFlag === undefined || fileFlag === "" ? "Dockerfile" : fileFlag.replace(/^\.\//, "") };
  }
  let dir = resolve(io.cwd, contextArg);
  let cleanup = async (): Promise<void> => undefined;
  let stdinDockerfile: Uint8Array | undefined;
  if (contextArg === "-") {
    if (fileFlag === "-") throw htkError("HTK-BUILDX-0070", {});
    dir = await mkdtemp(join(tmpdir(), "buildx-stdin-"));
    const made = dir;
    cleanup = () => rm(made, { recursive: true, force: true });
    try {
      stdinDockerfile = await unpackStdin(io.stdin, dir);
    } catch (err) {
      await cleanup();
      throw err;
    }
  } else if (!existsSync(dir) || !statSync(dir).isDirectory()) throw htkError("HTK-BUILDX-0022", { path: contextArg });
  const dockerfilePath = fileFlag === undefined || fileFlag === "" || fileFlag === "-" ? join(dir, "Dockerfile") : resolve(contextArg === "-" ? dir : io.cwd, fileFlag);
  let dockerfile: Uint8Array;
  if (fileFlag === "-") dockerfile = await readAll(io.stdin);
  else if (stdinDockerfile !== undefined) dockerfile = stdinDockerfile;
  else {
    try {
      dockerfile = await readFile(dockerfilePath);
    } catch {
      await cleanup();
      throw htkError("HTK-BUILDX-0023", { name: fileFlag === undefined || fileFlag === "" ? "Dockerfile" : isAbsolute(fileFlag) ? fileFlag : fileFlag.replace(/^\.\//, "") });
    }
  }
  const ignore = await loadDockerignore(dir, fileFlag === "-" || fileFlag === undefined || stdinDockerfile !== undefined ? {} : { dockerfile: dockerfilePath, cwd: contextArg === "-" ? dir : io.cwd });
  return { kind: "local", dir, dockerfile, dockerfilePath, ignore, cleanup };
}

/** At most this much of a Dockerfile on stdin is read (a context comes as a tar, streamed). */
const MAX_STDIN_DOCKERFILE = 16 * 1024 * 1024;

/**
 * Stdin as buildx reads it: a tar (by its magic: gzip, bzip2, xz, zstd, or `ustar` at offset 257) is
 * unpacked into `dir` by tar as it arrives; anything else is the Dockerfile (returned).
 */
async function unpackStdin(stdin: NodeJS.ReadableStream, dir: string): Promise<Uint8Array | undefined> {
  const it = (stdin as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < 512) {
    const n = await it.next();
    if (n.done === true) {
      done = true;
      break;
    }
    const b = typeof n.value === "string" ? Buffer.from(n.value) : n.value;
    head.push(b);
    have += b.byteLength;
  }
  const first = Buffer.concat(head);
  const flag = compressionFlag(first);
  if (flag === undefined) {
    // The Dockerfile, read whole (bounded).
    const chunks: Uint8Array[] = [first];
    let size = first.byteLength;
    while (!done) {
      const n = await it.next();
      if (n.done === true) break;
      const b = typeof n.value === "string" ? Buffer.from(n.value) : n.value;
      size += b.byteLength;
      if (size > MAX_STDIN_DOCKERFILE) throw htkError("HTK-BUILDX-0071", { detail: `it is no tar archive, and larger than ${MAX_STDIN_DOCKERFILE} bytes for a Dockerfile` });
      chunks.push(b);
    }
    return Buffer.concat(chunks);
  }
  const tar = spawn("tar", ["-x", ...(flag === "" ? [] : [flag]), "--no-same-owner", "--no-same-permissions", "-f", "-", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  tar.stderr.setEncoding("utf8");
  tar.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<number | null>((res, rej) => {
    tar.on("error", rej);
    tar.on("close", res);
  });
  const write = (b: Uint8Array): Promise<void> =>
    new Promise((res) => {
      if (tar.stdin.write(b)) res();
      else {
        tar.stdin.once("drain", res);
        tar.once("close", res);
      }
    });
  tar.stdin.on("error", () => undefined);
  await write(first);
  while (!done) {
    const n = await it.next();
    if (n.done === true) break;
    await write(typeof n.value === "string" ? Buffer.from(n.value) : n.value);
  }
  tar.stdin.end();
  const code = await exited;
  if (code !== 0) throw htkError("HTK-BUILDX-0071", { detail: stderr.trim().split("\n")[0] ?? `tar exited with ${String(code)}` });
  return undefined;
}

/** tar's flag for the compression the first bytes show; "" for a plain tar; undefined for no archive. */
function compressionFlag(b: Buffer): string | undefined {
  if (b[0] === 0x1f && b[1] === 0x8b) return "-z";
  if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return "-j";
  if (b[0] === 0xfd && b.subarray(1, 6).toString("latin1") === "7zXZ\0") return "-J";
  if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return "--zstd";
  if (b.byteLength >= 262 && b.subarray(257, 262).toString("latin1") === "ustar") return "";
  return undefined;
}
