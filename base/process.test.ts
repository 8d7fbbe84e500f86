import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { processAlive } from "./process.ts";

describe("processAlive", () => {
  it("is true for this process and pid 1, false for a process that has exited", () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(1)).toBe(true);
    const gone = spawnSync("true").pid;
    expect(gone).toBeGreaterThan(0);
    expect(processAlive(gone ?? 0)).toBe(false);
  });
});
