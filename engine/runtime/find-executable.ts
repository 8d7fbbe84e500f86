import { accessSync, constants } from "node:fs";
import { stat } from "node:fs/promises";
import { delimiter, join, posix, resolve } from "node:path";
import { resolveInRoot } from "../worker/rootfs-path.ts";

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program on PATH (or the path itself, when it has a slash), if it exists and is executable. */
export function findExecutable(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? resolve(name) : undefined;
  for (const dir of (process.env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/**
 * Whether the container's command can be found in its root filesystem, as runc checks at create time
 * (Docker then reports exit code 127 at `docker start`). crun only finds out after the container has
 * started, racing the caller: checking first makes a missing command a start error every time.
 * Paths under a mount destination are not checked (the executable may come from the mount, as
 * docker-init does).
 */
export async function missingCommand(spec: { process: { args: string[]; env: string[]; cwd: string }; root: { path: string }; mounts: { destination: string }[] }): Promise<string | undefined> {
  const arg0 = spec.process.args[0];
  if (arg0 === undefined || arg0 === "") return undefined;
  const pathVar = spec.process.env.find((e) => e.startsWith("PATH="))?.slice(5) ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const candidates = arg0.includes("/") ? [posix.resolve(spec.process.cwd || "/", arg0)] : pathVar.split(":").filter((d) => d !== "").map((d) => posix.join(posix.resolve("/", d), arg0));
  for (const c of candidates) {
    if (spec.mounts.some((m) => c === m.destination || c.startsWith(`${m.destination.replace(/\/$/, "")}/`))) return undefined;
    const host = await resolveInRoot(spec.root.path, c, true);
    const st = await stat(host).catch(() => undefined);
    if (st?.isFile() === true) return undefined;
  }
  return arg0.includes("/") ? `exec: "${arg0}": stat ${arg0}: no such file or directory` : `exec: "${arg0}": executable file not found in $PATH`;
}
