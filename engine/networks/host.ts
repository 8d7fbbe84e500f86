import { execFile, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";

/**
 * Running the host's network tools (`ip`, `iptables`). One function type so tests can record the
 * commands instead of running them.
 */
export type HostCommand = (file: string, args: readonly string[]) => Promise<string>;

/** Runs a tool; rejects with its stderr in the message. Output is bounded (4 MiB). */
export const runHostCommand: HostCommand = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, [...args], { maxBuffer: 4 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });

const LOCK_DIR = "/run/hatake";

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
