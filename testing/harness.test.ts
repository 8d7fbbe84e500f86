import { existsSync } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isHtkError } from "../base/errors/index.ts";
import { busyboxRootfsEntries } from "./busybox-image.ts";
import { writeLayer } from "./oci/index.ts";
import { freePort, run, runChecked, startService } from "./process.ts";
import { isDynamicallyLinked, requireProgram, requirePrograms, requireStaticBinary } from "./system.ts";
import { sweepStaleTempDirs } from "./temp.ts";
import { tempDir } from "./index.ts";

const node = process.execPath;

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

describe("system checks", () => {
  it("HTK-TEST-0001 names the missing program and its package, installing nothing", async () => {
    const err = await caught(() => requireProgram({ program: "htk-no-such-program", aptPackage: "htk-no-such-package" }));
    expect(isHtkError(err, "HTK-TEST-0001")).toBe(true);
    if (!isHtkError(err)) return;
    expect(err.plainCause).toContain("htk-no-such-program");
    expect(err.nextStep).toContain('apt-get install -y htk-no-such-package');
  });

  it("HTK-TEST-0001 lists every missing program at once", async () => {
    const err = await caught(() =>
      requirePrograms([
        { program: "sh", aptPackage: "dash" },
        { program: "htk-missing-a", aptPackage: "pkg-a" },
        { program: "htk-missing-b", aptPackage: "pkg-b" },
      ]),
    );
    expect(isHtkError(err, "HTK-TEST-0001")).toBe(true);
    expect(String((err as Error).message)).toContain("htk-missing-a, htk-missing-b");
    expect(isHtkError(err) && err.nextStep).toContain("pkg-a pkg-b");
  });

  it("HTK-TEST-0003 for a dynamically linked busybox", async () => {
    // node itself is dynamically linked: it stands in for Debian's non-static busybox package.
    expect(await isDynamicallyLinked(node)).toBe(true);
    const err = await caught(() => requireStaticBinary(node, "busybox-static"));
    expect(isHtkError(err, "HTK-TEST-0003")).toBe(true);
    expect(isHtkError(err) && err.nextStep).toContain("busybox-static");
  });
});

describe("processes", () => {
  it("run reports exit code and output", async () => {
    const r = await run(node, ["-e", "process.stdout.write('out'); process.stderr.write('err'); process.exit(3)"]);
    expect(r).toMatchObject({ code: 3, signal: null, stdout: "out", stderr: "err", timedOut: false });
  });

  it("run passes stdin and kills on timeout", async () => {
    const echo = await run(node, ["-e", "process.stdin.pipe(process.stdout)"], { input: "hello" });
    expect(echo.stdout).toBe("hello");
    const slow = await run(node, ["-e", "setTimeout(() => {}, 60000)"], { timeoutMs: 200 });
    expect(slow.timedOut).toBe(true);
    expect(slow.signal).toBe("SIGKILL");
  });

  it("run rejects when aborted", async () => {
    const controller = new AbortController();
    const p = run(node, ["-e", "setTimeout(() => {}, 60000)"], { signal: controller.signal });
    controller.abort(new Error("stop now"));
    await expect(p).rejects.toThrow("stop now");
  });

  it("HTK-TEST-0004 when a checked command fails", async () => {
    const err = await caught(() => runChecked(node, ["-e", "console.error('boom'); process.exit(4)"]));
    expect(isHtkError(err, "HTK-TEST-0004")).toBe(true);
    expect((err as Error).message).toContain("exit code 4");
    expect((err as Error).message).toContain("boom");
  });

  it("HTK-TEST-0002 when a service exits before it is ready", async () => {
    const dir = await tempDir("service");
    const logFile = join(dir, "service.log");
    const port = await freePort();
    const err = await caught(() =>
      startService({
        name: "doomed",
        command: node,
        args: ["-e", "console.log('listen failed'); process.exit(1)"],
        logFile,
        port,
        ready: () => Promise.resolve(false),
        timeoutMs: 5_000,
      }),
    );
    expect(isHtkError(err, "HTK-TEST-0002")).toBe(true);
    expect((err as Error).message).toContain("exited with code 1");
    expect((err as Error).message).toContain("listen failed");
    expect(isHtkError(err) && err.nextStep).toContain(logFile);
  });

  it("HTK-TEST-0002 when a service never gets ready, and the service is killed", async () => {
    const dir = await tempDir("service");
    const pidFile = join(dir, "pid");
    const err = await caught(() =>
      startService({
        name: "sleepy",
        command: node,
        args: ["-e", `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 60000)`],
        logFile: join(dir, "log"),
        port: 1,
        ready: () => Promise.resolve(false),
        timeoutMs: 500,
      }),
    );
    expect(isHtkError(err, "HTK-TEST-0002")).toBe(true);
    const pid = Number(await readFile(pidFile, "utf8"));
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it("freePort gives a usable port", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(1024);
  });
});

describe("temporary folders", () => {
  let fromHook = "";
  beforeAll(async () => {
    // Outside a test: kept until the file ends.
    fromHook = await tempDir("hook");
  });
  it("tempDir in a hook lives for the whole file", () => {
    expect(existsSync(fromHook)).toBe(true);
  });

  let kept = "";
  it("tempDir makes a folder …", async () => {
    kept = await tempDir("check");
    expect((await stat(kept)).isDirectory()).toBe(true);
  });
  it("… that is gone after the test", () => {
    expect(kept).not.toBe("");
    expect(existsSync(kept)).toBe(false);
  });

  it("the sweep removes folders of dead runs and keeps live ones", async () => {
    const parent = await tempDir("sweep");
    // pid 2^22+1 is above Linux's pid_max limit, so no process has it.
    await mkdir(join(parent, "htk-test-4194305-registry-abc"));
    await mkdir(join(parent, `htk-test-${process.pid}-registry-def`));
    await mkdir(join(parent, "unrelated"));
    const removed = await sweepStaleTempDirs(parent);
    expect(removed).toEqual(["htk-test-4194305-registry-abc"]);
    expect(existsSync(join(parent, `htk-test-${process.pid}-registry-def`))).toBe(true);
    expect(existsSync(join(parent, "unrelated"))).toBe(true);
  });
});

describe("busybox fixture contents", () => {
  it("is deterministic: the same binary gives the same digests", async () => {
    const dir = await tempDir("busybox");
    const fakeBinary = Buffer.from("\x7fELF pretend busybox");
    const applets = ["sh", "echo", "ls", "[", "busybox"];
    const a = await writeLayer(busyboxRootfsEntries(fakeBinary, applets), join(dir, "a.tgz"));
    const b = await writeLayer(busyboxRootfsEntries(fakeBinary, [...applets].reverse()), join(dir, "b.tgz"));
    expect(a.descriptor.digest).toBe(b.descriptor.digest);
    expect(a.diffId).toBe(b.diffId);
    const other = await writeLayer(busyboxRootfsEntries(Buffer.from("another binary"), applets), join(dir, "c.tgz"));
    expect(other.descriptor.digest).not.toBe(a.descriptor.digest);
  });

  it("has /bin links for every applet, passwd, group and a sticky /tmp", () => {
    // As in Docker's busybox layer, the first name in archive order ("[") is the file, the rest link to it.
    const entries = busyboxRootfsEntries(Buffer.from("x"), ["sh", "echo", "["]);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get("bin/[")?.type).toBe("file");
    for (const name of ["busybox", "echo", "sh"]) {
      expect(byPath.get(`bin/${name}`)).toMatchObject({ type: "hardlink", target: "bin/[" });
    }
    expect(byPath.get("tmp")).toMatchObject({ type: "directory", mode: 0o1777 });
    for (const p of ["etc/passwd", "etc/group", "root", "home", "var", "dev", "proc", "sys"]) expect(byPath.has(p)).toBe(true);
  });
});
