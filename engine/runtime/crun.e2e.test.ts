import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { fixtures, runChecked, tempDir } from "../../testing/index.ts";
import { canReadKernelLog, cgroupDirs } from "./cgroups.ts";
import { CrunRuntime, resultError } from "./crun.ts";
import { findInitBinary } from "./init.ts";
import { buildSpec, thisHost, type SpecOptions } from "./spec.ts";
import { startTerminalRelay } from "./tty.ts";
import type { ProcessResult } from "./types.ts";
import { readUserDatabase } from "./users.ts";

// Real containers from the busybox fixture through crun, with the hybrid-cgroup workaround.

let rootfs: string;
let runtime: CrunRuntime;
let dataRoot: string;
const cgroupParent = `/hatake-test-${process.pid}`;
let seq = 0;
const newId = (label: string): string => `htk-${process.pid}-${label}-${++seq}`;

beforeAll(async () => {
  const { busybox } = fixtures();
  rootfs = await tempDir("rt-rootfs");
  await runChecked("tar", ["-xzf", busybox.layerPath, "-C", rootfs, "--numeric-owner"], { timeoutMs: 60_000 });
  dataRoot = await tempDir("rt-data");
  runtime = new CrunRuntime({ dataRoot, cgroupParent });
});

async function spec(args: string[], extra: Partial<SpecOptions> = {}): Promise<ReturnType<typeof buildSpec>> {
  return buildSpec({ rootfs, args, env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], hostname: "htk", userDb: await readUserDatabase(rootfs), cgroupsPath: "ignored", ...extra });
}

async function runCollect(id: string, s: ReturnType<typeof buildSpec>, signal?: AbortSignal): Promise<{ result: ProcessResult; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const result = await runtime.run({
    id,
    spec: s,
    onStdout: (b) => (stdout += b.toString()),
    onStderr: (b) => (stderr += b.toString()),
    ...(signal ? { signal } : {}),
  });
  return { result, stdout, stderr };
}

/** Nothing of the container is left: crun state, bundle, cgroups. */
async function expectNoLeftovers(id: string): Promise<void> {
  expect((await runtime.list()).map((c) => c.id)).not.toContain(id);
  expect(existsSync(join(runtime.bundlesDir, id))).toBe(false);
  expect(cgroupDirs(`${cgroupParent}/${id}`)).toEqual([]);
}

afterAll(async () => {
  // crun creates the parent cgroup of our test containers; it outlives them (the product's /hatake does too).
  for (const dir of cgroupDirs(cgroupParent)) await rmdir(dir).catch(() => undefined);
  expect(cgroupDirs(cgroupParent)).toEqual([]);
});

afterEach(async () => {
  // Every test removes its containers: no crun state, bundle or container cgroup may be left.
  const left = (await runtime.list()).map((c) => c.id);
  for (const id of left) await runtime.delete(id, { force: true });
  expect(left).toEqual([]);
  expect(await readdir(runtime.bundlesDir).catch(() => [])).toEqual([]);
  for (const dir of cgroupDirs(cgroupParent)) {
    expect((await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name), dir).toEqual([]);
  }
});

describe("CrunRuntime.run", () => {
  it("runs echo hello and leaves nothing behind", async () => {
    const id = newId("echo");
    const { result, stdout, stderr } = await runCollect(id, await spec(["echo", "hello"]));
    expect(stderr).toBe("");
    expect(stdout).toBe("hello\n");
    expect(result).toEqual({ kind: "exited", exitCode: 0 });
    await expectNoLeftovers(id);
    expect(runtime.usesHybridCgroupWorkaround).toBe(true);
  });

  it("reports exit 3 as exited with code 3", async () => {
    const id = newId("exit3");
    const { result } = await runCollect(id, await spec(["sh", "-c", "exit 3"]));
    expect(result).toEqual({ kind: "exited", exitCode: 3 });
    await expectNoLeftovers(id);
  });

  it("reports a process killed by SIGKILL as signaled (137), through --init", async () => {
    const init = findInitBinary();
    expect(init, "tini-static (apt-get install tini)").toBeDefined();
    const id = newId("kill9");
    // PID 1 ignores signals it has no handler for, so the shell that kills itself runs under tini, as `docker run --init`.
    const { result } = await runCollect(id, await spec(["sh", "-c", "kill -9 $$"], { init: { hostPath: init as string } }));
    expect(result).toEqual({ kind: "signaled", signal: 9, signalName: "SIGKILL", exitCode: 137 });
    await expectNoLeftovers(id);
  });

  it("refuses a second container with the ID of a running one", async () => {
    const id = newId("dup");
    const first = runtime.run({ id, spec: await spec(["sleep", "0.5"]) });
    const second = await runtime.run({ id, spec: await spec(["true"]) }).catch((e: unknown) => e);
    expect(isHtkError(second, "HTK-RUNTIME-0101")).toBe(true);
    expect(await first).toEqual({ kind: "exited", exitCode: 0 });
    await expectNoLeftovers(id);
  });

  it("pipes a stdin stream into the container", async () => {
    const id = newId("stdin-stream");
    let stdout = "";
    const result = await runtime.run({ id, spec: await spec(["wc", "-l"]), stdin: { kind: "stream", stream: Readable.from(["a\n", "b\n", "c\n"]) }, onStdout: (b) => (stdout += b.toString()) });
    expect(result).toEqual({ kind: "exited", exitCode: 0 });
    expect(stdout.trim()).toBe("3");
  });

  it("feeds stdin and streams a large output completely", async () => {
    const id = newId("stdin");
    let stdout = "";
    const result = await runtime.run({
      id,
      spec: await spec(["sh", "-c", "cat; seq 1 20000 | tail -n 1"]),
      stdin: { kind: "bytes", data: "from stdin\n" },
      onStdout: (b) => (stdout += b.toString()),
    });
    expect(result.kind).toBe("exited");
    expect(stdout).toBe("from stdin\n20000\n");
  });

  it("reports an OOM kill inside the memory limit (HTK-RUNTIME-0103)", async () => {
    expect(canReadKernelLog(), "the OOM report is read from /dev/kmsg").toBe(true);
    const id = newId("oom");
    // dd allocates its block size at once: 64 MiB against 16 MiB of memory (+16 MiB swap, Docker's default of 2×).
    const s = await spec(["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; exit 0"], { resources: { memory: 16 * 1024 * 1024 } });
    const { result } = await runCollect(id, s);
    expect(result.kind).toBe("oom-killed");
    const err = resultError(id, result, s);
    expect(err?.id).toBe("HTK-RUNTIME-0103");
    expect(err?.message).toContain("16 MiB");
    expect(resultError(id, { kind: "exited", exitCode: 1 }, s)).toBeUndefined();
    await expectNoLeftovers(id);
  });

  it("enforces the pids limit", async () => {
    const id = newId("pids");
    const { result, stderr } = await runCollect(id, await spec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait"], { resources: { pidsLimit: 4 } }));
    expect(stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(result.kind).toBe("exited");
  });

  it("refuses writes to a read-only root filesystem", async () => {
    const id = newId("ro");
    const { result, stderr } = await runCollect(id, await spec(["touch", "/file"], { readonlyRootfs: true }));
    expect(result).toEqual({ kind: "exited", exitCode: 1 });
    expect(stderr).toContain("Read-only file system");
  });

  it("cap-drop ALL makes chown fail", async () => {
    const ok = await runCollect(newId("chown-ok"), await spec(["chown", "65534", "/tmp"]));
    expect(ok.result).toEqual({ kind: "exited", exitCode: 0 });
    const { result, stderr } = await runCollect(newId("chown"), await spec(["chown", "65534", "/tmp"], { capDrop: ["ALL"] }));
    expect(result).toEqual({ kind: "exited", exitCode: 1 });
    expect(stderr).toContain("Operation not permitted");
  });

  it("runs as nobody (65534) with --user nobody, with HOME from passwd", async () => {
    const { stdout } = await runCollect(newId("nobody"), await spec(["sh", "-c", 'id -u; id -g; echo "$HOME"'], { user: "nobody" }));
    expect(stdout).toBe("65534\n65534\n/home\n");
  });

  it("applies Docker's masked paths, hostname and environment", async () => {
    const { stdout, stderr } = await runCollect(newId("env"), await spec(["sh", "-c", "hostname; echo $HOSTNAME; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; (echo x > /proc/sysrq-trigger) 2>/dev/null || echo ro; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ulimit -n"]));
    expect(stderr).toBe("");
    const nofile = Math.min(1048576, thisHost().nofileHard ?? 1048576);
    // /proc/timer_list is masked (empty), /proc/acpi an empty tmpfs, /proc/sysrq-trigger read-only.
    expect(stdout).toBe(`htk\nhtk\n0\n0\nro\n0\n${nofile}\n`);
  });

  it("mounts the container's /etc/hosts and /etc/resolv.conf, and bind and tmpfs mounts", async () => {
    const dir = await tempDir("rt-files");
    await writeFile(join(dir, "hosts"), "127.0.0.1 localhost\n10.0.0.2 htk\n");
    await writeFile(join(dir, "resolv.conf"), "nameserver 10.0.0.1\n");
    await writeFile(join(dir, "data.txt"), "from the host\n");
    const s = await spec(["sh", "-c", "cat /etc/hosts /etc/resolv.conf /data/data.txt; touch /data/x 2>&1 | grep -o Read-only; df -k /scratch | tail -n 1 | awk '{print $2}'"], {
      networkFiles: { hosts: join(dir, "hosts"), resolvConf: join(dir, "resolv.conf") },
      mounts: [
        { kind: "bind", source: dir, target: "/data", readonly: true },
        { kind: "tmpfs", target: "/scratch", options: "size=1m" },
      ],
    });
    const { stdout } = await runCollect(newId("files"), s);
    expect(stdout).toBe("127.0.0.1 localhost\n10.0.0.2 htk\nnameserver 10.0.0.1\nfrom the host\nRead-only\n1024\n");
  });

  it("fails to start a missing command with HTK-RUNTIME-0101 (exit code 127 as Docker)", async () => {
    const id = newId("missing");
    const err = await runtime.run({ id, spec: await spec(["no-such-command"]) }).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-RUNTIME-0101")).toBe(true);
    expect(isHtkError(err) ? err.details["exitCode"] : undefined).toBe(127);
    expect(String(err)).toContain("no-such-command");
    await expectNoLeftovers(id);
  });

  it("kills the container and cleans up when the AbortSignal fires", async () => {
    const id = newId("abort");
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(new Error("stop now")), 300);
    const err = await runCollect(id, await spec(["sleep", "60"]), ac.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("stop now");
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectNoLeftovers(id);
  });

  it("names a missing runtime binary (HTK-RUNTIME-0100)", async () => {
    const broken = new CrunRuntime({ dataRoot, binary: "/nonexistent/crun", cgroupParent });
    const err = await broken.run({ id: newId("nobin"), spec: await spec(["true"]) }).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-RUNTIME-0100")).toBe(true);
  });
});

/** An engine stand-in in its own process starts a container; then it is killed -9. */
async function startInDoomedEngine(id: string, args: string[]): Promise<void> {
  const helper = join(import.meta.dirname, "testdata", "start-then-hang.ts");
  const child = spawn(process.execPath, ["--import", "tsx", helper, dataRoot, cgroupParent, id, rootfs, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolvePromise, reject) => {
    let out = "";
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.includes("started")) resolvePromise();
    });
    child.on("exit", (code) => reject(new Error(`helper exited ${code ?? "?"}: ${out}`)));
  });
  child.removeAllListeners("exit");
  const dead = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await dead;
}

describe("containers outlive the engine (the shim)", () => {
  it("re-attaches after kill -9 of the engine: later output, then the exact exit status", async () => {
    const id = newId("survive");
    await startInDoomedEngine(id, ["sh", "-c", "echo before; sleep 1; echo after; exit 7"]);
    // The engine is gone; the container is not.
    expect((await runtime.list()).map((c) => c.id)).toContain(id);
    const c = await runtime.attach(id);
    let out = "";
    c.stdout.on("data", (b: Buffer) => (out += b.toString()));
    expect(await c.wait()).toEqual({ kind: "exited", exitCode: 7 });
    for (let i = 0; i < 50 && !out.includes("after"); i++) await sleep(20);
    expect(out).toContain("after\n");
    await runtime.delete(id);
    await expectNoLeftovers(id);
  });

  it("reports the status of a container that ended while the engine was down", async () => {
    const id = newId("ended");
    await startInDoomedEngine(id, ["sh", "-c", "sleep 0.2; exit 3"]);
    await sleep(600);
    const c = await runtime.attach(id);
    c.stdout.resume();
    c.stderr.resume();
    expect(await c.wait()).toEqual({ kind: "exited", exitCode: 3 });
    await runtime.delete(id);
    await expectNoLeftovers(id);
  });

  it("does not wait forever when the shim itself was killed (reported as a kill)", async () => {
    const id = newId("noshim");
    await startInDoomedEngine(id, ["sleep", "60"]);
    const c = await runtime.attach(id);
    const ppid = async (pid: number): Promise<number> => Number((await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ")[1]);
    const crunPid = await ppid(c.pid);
    const shimPid = await ppid(crunPid);
    expect((await readFile(`/proc/${shimPid}/cmdline`, "utf8")).startsWith("/bin/sh")).toBe(true);
    process.kill(shimPid, "SIGKILL");
    await runtime.kill(id, "SIGKILL");
    expect(await c.wait()).toEqual({ kind: "signaled", signal: 9, signalName: "SIGKILL", exitCode: 137 });
    await runtime.delete(id);
    await expectNoLeftovers(id);
  });

  it("cleanup keeps the containers the engine re-attaches, which can then be killed (137)", async () => {
    const id = newId("kept");
    await startInDoomedEngine(id, ["sleep", "60"]);
    const { removed } = await runtime.cleanup({ keep: [id] });
    expect(removed).not.toContain(id);
    const c = await runtime.attach(id);
    expect(c.pid).toBeGreaterThan(0);
    await runtime.kill(id, "SIGKILL");
    expect(await c.wait()).toEqual({ kind: "signaled", signal: 9, signalName: "SIGKILL", exitCode: 137 });
    await runtime.delete(id);
    await expectNoLeftovers(id);
    expect(isHtkError(await runtime.attach(id).catch((e: unknown) => e), "HTK-RUNTIME-0106")).toBe(true);
  });
});

describe("CrunRuntime.start", () => {
  it("execs into a running container, pauses and resumes it, reads its stats, and kills it (137)", async () => {
    const id = newId("long");
    const c = await runtime.start({ id, spec: await spec(["sleep", "60"], { resources: { memory: 64 * 1024 * 1024, pidsLimit: 100 } }) });
    expect(c.pid).toBeGreaterThan(0);
    expect((await runtime.state(id)).status).toBe("running");

    const e = await runtime.exec(id, { args: ["sh", "-c", "echo hi; id -u; exit 5"], user: "nobody" });
    let out = "";
    e.stdout.on("data", (b: Buffer) => (out += b.toString()));
    expect(await e.wait()).toEqual({ kind: "exited", exitCode: 5 });
    expect(out).toBe("hi\n65534\n");
    const missing = await runtime.exec(id, { args: ["no-such-command"] });
    missing.stdout.resume();
    missing.stderr.resume();
    expect(await missing.wait()).toEqual({ kind: "exited", exitCode: 127 });

    const stats = await runtime.stats(id);
    expect(stats.memory.usage).toBeGreaterThan(0);
    expect(stats.memory.limit).toBe(64 * 1024 * 1024);
    expect(stats.pids.limit).toBe(100);
    expect(stats.pids.current).toBeGreaterThanOrEqual(1);
    expect(stats.cpu.systemUsage).toBeGreaterThan(0);
    expect(await runtime.processes(id)).toContain(c.pid);

    await runtime.pause(id);
    expect((await runtime.state(id)).status).toBe("paused");
    await runtime.resume(id);
    expect((await runtime.state(id)).status).toBe("running");

    await runtime.update(id, { pids: { limit: 50 }, memory: { limit: 96 * 1024 * 1024, swap: 192 * 1024 * 1024 } });
    const updated = await runtime.stats(id);
    expect(updated.pids.limit).toBe(50);
    expect(updated.memory.limit).toBe(96 * 1024 * 1024);
    expect(Array.isArray(updated.blkio)).toBe(true);

    // A running container is not deleted without force.
    const refused = await runtime.delete(id).catch((err: unknown) => err);
    expect(isHtkError(refused, "HTK-RUNTIME-0105")).toBe(true);

    await runtime.kill(id, "SIGKILL");
    expect(await c.wait()).toEqual({ kind: "signaled", signal: 9, signalName: "SIGKILL", exitCode: 137 });
    await runtime.delete(id);
    await expectNoLeftovers(id);
    const gone = await runtime.kill(id, "SIGTERM").catch((err: unknown) => err);
    expect(isHtkError(gone, "HTK-RUNTIME-0106")).toBe(true);
  });

  it("passes stdin to a started container (docker run -i) and gives it EOF when stdin is closed", async () => {
    const id = newId("stdin-start");
    const c = await runtime.start({ id, spec: await spec(["sh", "-c", "cat; echo done >&2"]), openStdin: true });
    let out = "";
    let err = "";
    c.stdout.on("data", (b: Buffer) => (out += b.toString()));
    c.stderr.on("data", (b: Buffer) => (err += b.toString()));
    c.stdin?.write("abc\n");
    c.stdin?.end("def\n");
    expect(await c.wait()).toEqual({ kind: "exited", exitCode: 0 });
    for (let i = 0; i < 50 && !err.includes("done"); i++) await sleep(20);
    expect(out).toBe("abc\ndef\n");
    expect(err).toBe("done\n");
    await runtime.delete(id);
    await expectNoLeftovers(id);
  });

  it("reports a start failure as HTK-RUNTIME-0101 and an OOM kill of a started container", async () => {
    const missing = newId("start-missing");
    const err = await runtime.start({ id: missing, spec: await spec(["no-such-command"]) }).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-RUNTIME-0101")).toBe(true);
    await expectNoLeftovers(missing);

    const id = newId("start-oom");
    const c = await runtime.start({ id, spec: await spec(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], { resources: { memory: 16 * 1024 * 1024 } }) });
    c.stdout.resume();
    c.stderr.resume();
    expect(await c.wait()).toEqual({ kind: "oom-killed", exitCode: 137 });
    await runtime.delete(id);
    await expectNoLeftovers(id);
  });

  it("streams a started container's output and reports SIGTERM as 143", async () => {
    const id = newId("term");
    const c = await runtime.start({ id, spec: await spec(["sh", "-c", "trap 'echo bye; exit 143' TERM; echo up; while true; do sleep 0.1; done"]), openStdin: false });
    let out = "";
    c.stdout.on("data", (b: Buffer) => (out += b.toString()));
    for (let i = 0; i < 100 && !out.includes("up"); i++) await sleep(20);
    await runtime.kill(id, "SIGTERM");
    expect((await c.wait()).exitCode).toBe(143);
    expect(out).toBe("up\nbye\n");
    await runtime.delete(id);
  });

  it("gives a TTY through the console socket, with resize", async () => {
    const id = newId("tty");
    const c = await runtime.start({ id, spec: await spec(["sh", "-c", "sleep 0.3; tty; stty size"], { tty: true }) });
    c.resize?.(33, 101);
    let out = "";
    c.stdout.on("data", (b: Buffer) => (out += b.toString()));
    expect(await c.wait()).toEqual({ kind: "exited", exitCode: 0 });
    for (let i = 0; i < 50 && !out.includes("101"); i++) await sleep(20);
    // As `docker run -t busybox tty`: the pty crun made, in the container's own devpts.
    expect(out.replace(/\r/g, "")).toBe("/dev/pts/0\n33 101\n");
    await runtime.delete(id);
    await expectNoLeftovers(id);
  });

  it("execs with a TTY: input typed, output merged, resized", async () => {
    const id = newId("exectty");
    const c = await runtime.start({ id, spec: await spec(["sleep", "60"]) });
    const e = await runtime.exec(id, { args: ["sh", "-c", "read line; echo got:$line; echo err >&2; tty; stty size; echo $TERM"], tty: true });
    e.resize?.(40, 120);
    let out = "";
    e.stdout.on("data", (b: Buffer) => (out += b.toString()));
    e.stdin?.write("typed\n");
    expect(await e.wait()).toEqual({ kind: "exited", exitCode: 0 });
    for (let i = 0; i < 50 && !out.includes("xterm"); i++) await sleep(20);
    // The terminal echoes the input line, then the output: stdout and stderr in one stream.
    expect(out.replace(/\r/g, "")).toBe("typed\ngot:typed\nerr\n/dev/pts/0\n40 120\nxterm\n");
    await runtime.kill(id);
    await c.wait();
    await runtime.delete(id);
    const after = await runtime.exec(id, { args: ["true"] }).catch((err: unknown) => err);
    expect(isHtkError(after, "HTK-RUNTIME-0106")).toBe(true);
  });

  it("says when the terminal relay cannot run (HTK-RUNTIME-0107)", async () => {
    const err = await startTerminalRelay("x", "/nonexistent/python3").catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-RUNTIME-0107")).toBe(true);
  });

  it("removes what a crashed engine left at start-up (cleanup)", async () => {
    const id = newId("leftover");
    const c = await runtime.start({ id, spec: await spec(["sleep", "60"]) });
    // A second runtime on the same data root plays the restarted engine: it did not start `id`.
    const restarted = new CrunRuntime({ dataRoot, cgroupParent });
    const { removed } = await restarted.cleanup();
    expect(removed).toContain(id);
    expect((await c.wait()).kind).toBe("signaled");
    await runtime.delete(id);
    await expectNoLeftovers(id);
    expect(await readdir(runtime.bundlesDir)).toEqual([]);
  });

  it("cleanup leaves the cgroups of IDs its data root does not know (another engine's, made a moment before its process joins)", async () => {
    const foreign = newId("foreign");
    // What crun of another engine sharing the parent has made but not yet entered: empty directories.
    const dirs = ["pids", "memory"].map((c) => join("/sys/fs/cgroup", c, cgroupParent, foreign)).filter((d) => existsSync(join(d, "..", "..")));
    for (const d of dirs) await mkdir(d, { recursive: true });
    try {
      const other = new CrunRuntime({ dataRoot: await tempDir("crun-other"), cgroupParent });
      await other.cleanup();
      for (const d of dirs) expect(existsSync(d), d).toBe(true);
    } finally {
      for (const d of dirs) await rmdir(d).catch(() => undefined);
    }
  });
});
