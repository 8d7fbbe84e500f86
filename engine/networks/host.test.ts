import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ipBatch, runHostCommand, sweepDeadOwners, writeOwner, type HostCommand } from "./host.ts";

describe("runHostCommand", () => {
  it("passes input on stdin and resolves with stdout", async () => {
    await expect(runHostCommand("sh", ["-c", "cat"], "line one\n")).resolves.toBe("line one\n");
  });

  it("rejects (and throws nothing uncaught) when the tool exits before reading its input", async () => {
    // 8 MiB on stdin to a process that never reads it: the pipe closes under the write (EPIPE).
    const input = "x".repeat(8 * 1024 * 1024);
    await expect(runHostCommand("sh", ["-c", "echo refused >&2; exit 3"], input)).rejects.toThrow(/sh -c .*: refused/);
  });

  it("ipBatch sends its lines to one `ip [global] -batch -`", async () => {
    const calls: Array<{ args: readonly string[]; input: string | undefined }> = [];
    const run: HostCommand = async (_file, args, input) => {
      calls.push({ args, input });
      return "";
    };
    await ipBatch(run, ["-n", "ns1", "-force"], ["link del dev eth0", "netns del ns1"]);
    expect(calls).toEqual([{ args: ["-n", "ns1", "-force", "-batch", "-"], input: "link del dev eth0\nnetns del ns1\n" }]);
  });

  it("sweepDeadOwners: a data root that is gone, or a dead pid with nothing running; never a live pid, self or an old-form owner whose root exists", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-owners-"));
    const live = mkdtempSync(join(tmpdir(), "htk-owner-root-"));
    // A pid that cannot run: above the kernel's pid_max.
    const dead = 4_194_305;
    writeOwner(dir, "aaaaaaaa", "/nonexistent/htk-gone"); // root gone
    writeFileSync(join(dir, "bbbbbbbb"), live);
    writeFileSync(join(dir, "bbbbbbbb.pid"), `${dead}\n`); // dead, idle
    writeFileSync(join(dir, "cccccccc"), live);
    writeFileSync(join(dir, "cccccccc.pid"), `${dead}\n`); // dead, not idle
    writeOwner(dir, "dddddddd", live); // this process: alive
    writeFileSync(join(dir, "eeeeeeee"), live); // the old form, root exists
    writeFileSync(join(dir, "ffffffff.pid"), `${dead}\n`); // an orphan pid file
    writeOwner(dir, "11111111", "/nonexistent/htk-self"); // self
    const removed: string[] = [];
    await sweepDeadOwners({ dir, self: "11111111", idle: (tag) => tag !== "cccccccc", remove: async (tag) => void removed.push(tag) });
    expect(removed.sort()).toEqual(["aaaaaaaa", "bbbbbbbb"]);
    expect(readdirSync(dir).sort()).toEqual(["11111111", "11111111.pid", "cccccccc", "cccccccc.pid", "dddddddd", "dddddddd.pid", "eeeeeeee"]);
    expect(existsSync(join(dir, "aaaaaaaa.pid"))).toBe(false);
  });
});
