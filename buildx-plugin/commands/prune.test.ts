import { describe, expect, it } from "vitest";
import { tableRecords, verboseRecords } from "./prune.ts";

describe("buildx du/prune output", () => {
  const now = Date.parse("2026-11-29T12:00:00Z");
  const records = [
    { ID: "abc123", Type: "regular", InUse: false, Shared: false, Size: 1_500_000, LastUsedAt: "2026-11-29T11:58:30Z", UsageCount: 2, Description: "RUN make" },
    { ID: "mnt456", Type: "exec.cachemount", InUse: true, Shared: true, Size: 2_000, LastUsedAt: null },
  ];
  it("prints buildx's table: * after mutable IDs and shared sizes, reclaimable = not in use", () => {
    const lines = tableRecords(records, now).split("\n");
    expect(lines[0]).toMatch(/^ID\s+RECLAIMABLE\s+SIZE\s+LAST ACCESSED$/);
    expect(lines[1]).toMatch(/^abc123\s+true\s+1\.5MB\s+About a minute ago$/);
    expect(lines[2]).toMatch(/^mnt456\*\s+false\s+2kB\*\s*$/);
  });
  it("prints --verbose blocks", () => {
    const text = verboseRecords(records, now);
    expect(text).toContain("ID:");
    expect(text).toMatch(/Reclaimable:\s+true/);
    expect(text).toMatch(/Description:\s+RUN make/);
    expect(text).toMatch(/Mutable:\s+true/);
  });
});
