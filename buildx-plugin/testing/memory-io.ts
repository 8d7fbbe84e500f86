import { PassThrough } from "node:stream";
import type { PluginIo } from "../types.ts";

/** A PluginIo that records what a command writes (for unit tests). */
export function memoryIo(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): PluginIo & { out(): string; err(): string } {
  let out = "";
  let err = "";
  const decode = (t: string | Uint8Array): string => (typeof t === "string" ? t : new TextDecoder().decode(t));
  return {
    stdout: { write: (t: string | Uint8Array) => (out += decode(t)) },
    stderr: { write: (t: string | Uint8Array) => (err += decode(t)) },
    stdin: new PassThrough(),
    cwd,
    env,
    out: () => out,
    err: () => err,
  };
}
