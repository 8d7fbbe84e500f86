import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../base/observability/index.ts";
import { masked, parsePrefix, type Prefix } from "./ipam.ts";
import { processAlive } from "../../base/process.ts";

/**
 * Running the host's network tools (`ip`, `iptables`, `ip6tables`, `sysctl`); `input` goes to the
 * tool's stdin (`ip -batch -`). One function type so tests can record the commands instead of running
 * them.
 */
export type HostCommand = (file: string, args: readonly string[], input?: string) => Promise<string>;

/** Runs a tool; rejects with its stderr in the message. Output is bounded (4 MiB). */
export const runHostCommand: HostCommand = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { maxBuffer: 4 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    if (input !== undefined && child.stdin !== null) {
      // A tool that exits before reading all of its input (a bad first line of `ip -batch`) closes
      // the pipe: the EPIPE is reported by the exit status above, never as an uncaught stream error.
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    }
  });

/**
 * `ip [global options] -batch -` with `lines` on stdin: several changes for one process (a process
 * costs ~30 ms on a loaded 2-core machine). `-force` in `global` goes on past a failing line (the
 * exit status still says one failed).
 */
export async function ipBatch(run: HostCommand, global: readonly string[], lines: readonly string[]): Promise<void> {
  await run("ip", [...global, "-batch", "-"], `${lines.join("\n")}\n`);
}

export const NETNS_DIR = "/run/netns";
const LOCK_DIR = "/run/hatake";

/** The 8 hex digits naming one data root's host objects: the SHA-256 of its real path (the path as given while it does not exist). */
export function dataRootTag(dataRoot: string): string {
  let root = dataRoot;
  try {
    root = realpathSync(dataRoot);
  } catch {
    // not created yet: the path as given
  }
  return createHash("sha256").update(root).digest("hex").slice(0, 8);
}

/** Named network namespaces (`/run/netns`) whose name starts with `prefix`. */
export function namespacesWith(prefix: string): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((e) => e.startsWith(prefix));
  } catch {
    return [];
  }
}

/** The host's link names (without `@peer`). */
export async function linkNames(run: HostCommand): Promise<string[]> {
  const links = JSON.parse((await run("ip", ["-j", "link", "show"]).catch(() => "[]")) || "[]") as Array<{ ifname?: string }>;
  return links.map((l) => (l.ifname ?? "").split("@")[0] ?? "").filter((n) => n !== "");
}

/**
 * The prefixes the host routes (every table; default routes left out), with their device: IPv4, or
 * with `family` 6 IPv6 (link-local and multicast left out: every bridge has fe80::/64).
 */
export async function hostRoutes(run: HostCommand, family: 4 | 6 = 4): Promise<Array<{ readonly prefix: Prefix; readonly dev: string }>> {
  const routes = JSON.parse((await run("ip", ["-j", `-${family}`, "route", "show", "table", "all"])) || "[]") as Array<{ dst?: string; dev?: string }>;
  const out: Array<{ prefix: Prefix; dev: string }> = [];
  for (const r of routes) {
    if (r.dst === undefined || r.dst === "default" || /^f[ef]/i.test(r.dst)) continue;
    const p = parsePrefix(r.dst.includes("/") ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`);
    if (p !== undefined && p.family === (family === 4 ? "IPv4" : "IPv6") && p.bits > 0) out.push({ prefix: masked(p), dev: r.dev ?? "" });
  }
  return out;
}

/**
 * Owner files: `<dir>/<tag>` holds the data root (alone: engines and builds of earlier versions read
 * the whole file as the path) and `<dir>/<tag>.pid` the pid of the process whose network objects
 * carry `tag`, so that a starting engine or build can remove what a dead one left and could never
 * remove itself.
 */
export function writeOwner(dir: string, tag: string, dataRoot: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // The data root first: a `<tag>.pid` without its `<tag>` is a removed owner's, which a sweep deletes.
  writeFileSync(join(dir, tag), dataRoot);
  writeFileSync(join(dir, `${tag}.pid`), `${process.pid}\n`);
}

export async function removeOwner(dir: string, tag: string): Promise<void> {
  await rm(join(dir, tag), { force: true });
  await rm(join(dir, `${tag}.pid`), { force: true });
}

/**
 * Sweeps the owners in `dir` that are certainly dead, calling `remove(tag)` and deleting the owner
 * file: a data root that no longer exists (nobody can ever come back to clean up), or — with
 * `idle` — an owner whose recorded pid no longer runs and that has nothing left that a
 * restart would need (`idle(tag)`: e.g. no container namespaces); such an engine makes its bridges
 * and chains again when it starts. A live owner (its pid runs: several engines in one test process
 * share a pid) is never touched, and neither is `self`.
 */
export async function sweepDeadOwners(opts: {
  readonly dir: string;
  readonly self?: string;
  readonly remove: (tag: string) => Promise<void>;
  readonly idle?: (tag: string) => boolean;
  readonly log?: Logger;
}): Promise<void> {
  let tags: string[];
  try {
    tags = readdirSync(opts.dir);
  } catch {
    return;
  }
  for (const tag of tags) {
    // A pid file whose owner file is gone (removed by an earlier version, which knew no pid files).
    if (/^[0-9a-f]{8}\.pid$/.test(tag) && !tags.includes(tag.slice(0, 8))) await rm(join(opts.dir, tag), { force: true });
    if (tag === opts.self || !/^[0-9a-f]{8}$/.test(tag)) continue;
    let root = "";
    let pid = Number.NaN;
    try {
      // "root\npid": the form one build of this file wrote for a while.
      const [path = "", inline = ""] = readFileSync(join(opts.dir, tag), "utf8").split("\n");
      root = path;
      pid = Number.parseInt(inline, 10);
      if (Number.isNaN(pid)) pid = Number.parseInt(readFileSync(join(opts.dir, `${tag}.pid`), "utf8"), 10);
    } catch {
      // No pid file (written by an earlier version): only a data root that is gone counts.
    }
    if (root === "") continue;
    const rootGone = !existsSync(root);
    const deadAndIdle = opts.idle !== undefined && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid) && opts.idle(tag);
    if (!rootGone && !deadAndIdle) continue;
    opts.log?.info({ tag, dataRoot: root, reason: rootGone ? "data root gone" : "owner dead, nothing running" }, "removing the network objects a dead engine left");
    await opts.remove(tag);
    await removeOwner(opts.dir, tag);
  }
}

/**
 * A machine-wide lock for choosing subnets and creating bridges: several engines on one host (tests
 * run several at once) must not pick the same subnet. `flock(1)` holds the lock while its child `cat`
 * reads our pipe; closing the pipe (or this process dying) releases it, so a crash never leaves it held.
 */
export async function withHostNetworkLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o755 });
  const child = spawn("flock", [`${LOCK_DIR}/network.lock`, "sh", "-c", "echo locked; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "ignore"] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`flock exited with ${String(code)} before taking the lock`)));
      child.stdout.once("data", () => resolve());
    });
    return await fn();
  } finally {
    child.stdin.end();
    child.stdout.destroy();
  }
}
