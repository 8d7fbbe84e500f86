import { describe, expect, it } from "vitest";
import { ipBatch, runHostCommand, type HostCommand } from "./host.ts";

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
});
