import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ImageConfig } from "./oci/types.ts";
import { run, runChecked, type RunOptions, type RunResult } from "./process.ts";

/**
 * Running crun on this machine.
 *
 * The test machines have "hybrid" cgroups: the v1 controllers under /sys/fs/cgroup plus a cgroup2
 * mount at /sys/fs/cgroup/unified that still owns a controller (hugetlb). crun 1.8 refuses that setup
 * ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2") whatever cgroup manager
 * it is given. Rather than change the host, we run crun in a private mount namespace in which the
 * cgroup2 mount is detached: crun then sees plain cgroup v1 and works. Nothing outside that one crun
 * process is affected. The engine will need the same (or an equivalent) treatment.
 */

const UNIFIED_CONTROLLERS = "/sys/fs/cgroup/unified/cgroup.controllers";

/** True if crun would refuse this machine's cgroups without the workaround above. */
export function crunNeedsHybridCgroupWorkaround(): boolean {
  try {
    return readFileSync(UNIFIED_CONTROLLERS, "utf8").trim() !== "";
  } catch {
    return false;
  }
}

/** The command line that runs `crun <args>` here: plain, or wrapped by the workaround. */
export function crunCommand(args: readonly string[]): { cmd: string; args: string[] } {
  if (!crunNeedsHybridCgroupWorkaround()) return { cmd: "crun", args: [...args] };
  return {
    cmd: "unshare",
    args: [
      "--mount",
      "--propagation",
      "private",
      // If the harness dies, crun goes too.
      "--kill-child",
      "--",
      "/bin/sh",
      "-c",
      'umount -l /sys/fs/cgroup/unified && exec crun "$@"',
      "crun",
      ...args,
    ],
  };
}

/** `crun <args>` with `run` semantics (never throws for a non-zero exit). */
export function crun(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const c = crunCommand(args);
  return run(c.cmd, c.args, options);
}

export interface BundleOptions {
  /** The process to run; default: the image's Entrypoint + Cmd. */
  readonly args?: readonly string[];
  /** Extra environment (KEY=value), after the image's Env. */
  readonly env?: readonly string[];
  readonly cwd?: string;
  readonly hostname?: string;
  /** Default false: tests usually want to write into the root file system. */
  readonly readonlyRootfs?: boolean;
}

/**
 * Make an OCI runtime bundle in `bundleDir`: the layers unpacked into `rootfs/` (in order; whiteouts
 * are NOT processed, which is fine for single-layer fixtures) and a config.json from `crun spec`
 * adjusted to the image config and `options`.
 */
export async function createBundle(
  bundleDir: string,
  layerPaths: readonly string[],
  imageConfig: ImageConfig | undefined,
  options: BundleOptions = {},
): Promise<void> {
  const rootfs = join(bundleDir, "rootfs");
  await mkdir(rootfs, { recursive: true });
  for (const layer of layerPaths) {
    await runChecked("tar", ["-xzf", layer, "-C", rootfs, "--numeric-owner"], { timeoutMs: 120_000 });
  }
  await runChecked("crun", ["spec"], { cwd: bundleDir, timeoutMs: 10_000 });
  const specPath = join(bundleDir, "config.json");
  const spec = JSON.parse(await readFile(specPath, "utf8")) as {
    process: { args: string[]; env: string[]; cwd: string; terminal: boolean };
    root: { path: string; readonly: boolean };
    hostname?: string;
  };
  const image = imageConfig?.config;
  const args = options.args ?? [...(image?.Entrypoint ?? []), ...(image?.Cmd ?? [])];
  if (args.length === 0) throw new Error("createBundle: no args given and the image has no Entrypoint/Cmd");
  spec.process.args = [...args];
  spec.process.terminal = false;
  spec.process.env = [...(image?.Env ?? spec.process.env), ...(options.env ?? [])];
  spec.process.cwd = options.cwd ?? (image?.WorkingDir !== undefined && image.WorkingDir !== "" ? image.WorkingDir : "/");
  spec.root = { path: "rootfs", readonly: options.readonlyRootfs ?? false };
  if (options.hostname !== undefined) spec.hostname = options.hostname;
  await writeFile(specPath, JSON.stringify(spec, null, 2));
}

/**
 * `crun run` a bundle in the foreground and collect its output; the container is deleted afterwards
 * whatever happened (a timeout included), so no state is left in `stateDir`.
 */
export async function runBundle(
  bundleDir: string,
  options: { readonly id: string; readonly stateDir: string; readonly timeoutMs?: number; readonly input?: string },
): Promise<RunResult> {
  try {
    return await crun(["--root", options.stateDir, "run", "--bundle", bundleDir, options.id], {
      timeoutMs: options.timeoutMs ?? 30_000,
      dieWithParent: true,
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
  } finally {
    await crun(["--root", options.stateDir, "delete", "--force", options.id], { timeoutMs: 10_000 });
  }
}
