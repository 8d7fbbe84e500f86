import { PassThrough } from "node:stream";
import type { CommandIo } from "./types.ts";

/** In-memory streams for running a command in a test: `const io = memoryIo(); await cmd.run(args, io)`. */
export function memoryIo(opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string; signal?: AbortSignal } = {}): CommandIo & {
  out(): string;
  err(): string;
} {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
  stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
  stdin.end(opts.stdin ?? "");
  return {
    stdout,
    stderr,
    stdin,
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? {},
    signal: opts.signal ?? new AbortController().signal,
    out: () => out,
    err: () => err,
  };
}
