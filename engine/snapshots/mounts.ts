import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { promisify } from "node:util";
import { htkError } from "../../base/errors/index.ts";

/**
 * Mounts through the `mount`/`umount` programs (util-linux): we run as root, and one process start per
 * mount is small next to what a step does in it. No mount is made without `record` having been
 * written first (the snapshotter's crash rule), and `mountsUnder` finds what a crash left behind.
 */

const run = promisify(execFile);

export interface OverlaySpec {
  /** Lower directories, top first (overlayfs order), relative to `cwd`. */
  readonly lowers: readonly string[];
  /** Directory the relative lower paths are resolved from (keeps the option under one page). */
  readonly cwd: string;
  /** Absent for a read-only view (overlayfs then needs at least two lowers). */
  readonly upper?: string;
  readonly work?: string;
  /** Extra options, e.g. "redirect_dir=off,index=off". */
  readonly options?: string;
}

function errText(err: unknown): string {
  const e = err as { stderr?: unknown; message?: unknown };
  const s = typeof e.stderr === "string" && e.stderr.trim() !== "" ? e.stderr : String(e.message ?? err);
  return s.trim().split("\n").slice(-2).join(" ");
}

export function overlayOptions(spec: OverlaySpec): string {
  const opts = [`lowerdir=${spec.lowers.join(":")}`];
  if (spec.upper !== undefined) opts.push(`upperdir=${spec.upper}`, `workdir=${spec.work ?? ""}`);
  if (spec.options !== undefined && spec.options !== "") opts.push(spec.options);
  return opts.join(",");
}

export async function mountOverlay(target: string, spec: OverlaySpec, signal: AbortSignal): Promise<void> {
  const data = overlayOptions(spec);
  // mount(2) takes at most one page of options: relative lower paths keep deep chains inside it.
  if (Buffer.byteLength(data) >= 4000) {
    throw htkError("HTK-RUNTIME-0202", { what: "overlay", target, detail: `the ${spec.lowers.length} lower directories do not fit in one page of mount options` });
  }
  const args = ["-t", "overlay", "overlay", "-o", data];
  if (spec.upper === undefined) args.splice(2, 0, "-r");
  try {
    await run("mount", [...args, target], { cwd: spec.cwd, signal });
  } catch (err) {
    if ((err as { name?: unknown }).name === "AbortError") throw err;
    throw htkError("HTK-RUNTIME-0202", { what: "overlay", target, detail: errText(err) }, { cause: err });
  }
}

/** A read-only bind mount (a view of a single directory). */
export async function bindMountReadOnly(source: string, target: string, signal: AbortSignal): Promise<void> {
  try {
    await run("mount", ["--bind", source, target], { signal });
  } catch (err) {
    throw htkError("HTK-RUNTIME-0202", { what: "bind mount", target, detail: errText(err) }, { cause: err });
  }
  try {
    await run("mount", ["-o", "remount,bind,ro", target], { signal });
  } catch (err) {
    await unmount(target).catch(() => undefined);
    throw htkError("HTK-RUNTIME-0202", { what: "read-only bind mount", target, detail: errText(err) }, { cause: err });
  }
}

/**
 * Unmounts `target`; when it is busy (a process still has a file open in it), detaches it lazily so
 * the snapshot can still be discarded: the kernel frees it when the last user goes.
 */
export async function unmount(target: string): Promise<void> {
  try {
    await run("umount", [target]);
  } catch (err) {
    if (!(await isMountPoint(target))) return;
    try {
      await run("umount", ["-l", target]);
    } catch (err2) {
      throw htkError("HTK-RUNTIME-0202", { what: "unmount", target, detail: `${errText(err)}; lazily: ${errText(err2)}` }, { cause: err2 });
    }
  }
}

function unescapeMountPath(p: string): string {
  // mountinfo escapes space, tab, newline and backslash as \NNN octal.
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

async function mountPoints(): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => unescapeMountPath(l.split(" ")[4] ?? ""));
}

export async function isMountPoint(path: string): Promise<boolean> {
  const abs = posix.resolve(path);
  return (await mountPoints()).includes(abs);
}

/** Mount points at or below `root`, deepest first (the order to unmount them in). */
export async function mountsUnder(root: string): Promise<string[]> {
  const abs = posix.resolve(root);
  return (await mountPoints()).filter((p) => p === abs || p.startsWith(`${abs}/`)).sort((a, b) => b.length - a.length);
}
