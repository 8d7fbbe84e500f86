import { describe, expect, it } from "vitest";
import { runHostCommand } from "./host.ts";

describe("runHostCommand", () => {
  it("passes input on stdin and resolves with stdout", async () => {
    await expect(runHostCommand("sh", ["-c", "cat"], "line one\n")).resolves.toBe("line one\n");
  });

  it("rejects (and throws nothing uncaught) when the tool exits before reading its input", async () => {
    // 8 MiB on stdin to a process that never reads it: the pipe closes under the write (EPIPE).
    const input = "x".repeat(8 * 1024 * 1024);
    await expect(runHostCommand("sh", ["-c", "echo refused >&2; exit 3"], input)).rejects.toThrow(/sh -c .*: refused/);
  });
});
