import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rm, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";

/**
 * File outputs of builds (-o type=local|tar|oci|docker,dest=…) on their way to the client: the build
 * writes them under `<dataRoot>/buildx/exports/<ref>/`, the client reads each once with ReadExport (a
 * tar stream of a directory, or the file's bytes), and it is removed then, or after `ttlMs` when no
 * client came for it. Everything left from an earlier run is removed when the store opens.
 */
export class ExportStore {
  readonly #root: string;
  readonly #ttlMs: number;
  readonly #handles = new Map<string, { readonly path: string; readonly kind: "local" | "file"; readonly dir: string; timer: NodeJS.Timeout }>();

  constructor(root: string, ttlMs = 10 * 60_000) {
    this.#root = root;
    this.#ttlMs = ttlMs;
  }

  async open(): Promise<void> {
    await rm(this.#root, { recursive: true, force: true });
  }

  /** The build's folder for its file outputs. */
  async dirFor(ref: string): Promise<string> {
    const dir = join(this.#root, ref.replace(/[^A-Za-z0-9_.-]/g, "_"));
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Makes an output readable once; returns its handle. */
  register(path: string, kind: "local" | "file"): { id: string; kind: string; size: bigint } {
    const id = randomBytes(16).toString("hex");
    const dir = join(path, "..");
    const timer = setTimeout(() => void this.#drop(id), this.#ttlMs);
    timer.unref();
    this.#handles.set(id, { path, kind, dir, timer });
    return { id, kind, size: 0n };
  }

  /** The output's bytes, in chunks: a tar of a directory (numeric owners, sorted), or the file. */
  async *read(id: string, signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const h = this.#handles.get(id);
    if (h === undefined) throw htkError("HTK-ENGINE-0606", { id });
    this.#handles.delete(id);
    clearTimeout(h.timer);
    try {
      if (h.kind === "file") {
        await stat(h.path);
        for await (const chunk of createReadStream(h.path, { highWaterMark: 1024 * 1024, signal })) yield chunk as Buffer;
        return;
      }
      const tar = spawn("tar", ["-c", "-f", "-", "--sort=name", "--numeric-owner", "-C", h.path, "."], { stdio: ["ignore", "pipe", "pipe"], signal });
      let stderr = "";
      tar.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
      const exited = new Promise<number | null>((resolve) => tar.on("close", resolve));
      tar.on("error", () => undefined);
      for await (const chunk of tar.stdout) yield chunk as Buffer;
      const code = await exited;
      if (code !== 0) throw htkError("HTK-ENGINE-0607", { detail: stderr.trim() || `tar exited with ${code}` });
    } finally {
      await rm(h.path, { recursive: true, force: true });
      await rmdir(h.dir).catch(() => undefined);
    }
  }

  async #drop(id: string): Promise<void> {
    const h = this.#handles.get(id);
    if (h === undefined) return;
    this.#handles.delete(id);
    await rm(h.path, { recursive: true, force: true });
  }
}
