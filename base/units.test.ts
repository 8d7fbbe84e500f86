import { describe, expect, it } from "vitest";
import { humanDuration, humanSize } from "./units.ts";

describe("go-units", () => {
  it("HumanSize: decimal units, four significant digits", () => {
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(999)).toBe("999B");
    expect(humanSize(1000)).toBe("1kB");
    expect(humanSize(1_981_440)).toBe("1.981MB");
    expect(humanSize(52_428_800)).toBe("52.43MB");
    expect(humanSize(3e12)).toBe("3TB");
  });
  it("HumanDuration: Docker's approximations", () => {
    expect(humanDuration(500)).toBe("Less than a second");
    expect(humanDuration(1_000)).toBe("1 second");
    expect(humanDuration(59_000)).toBe("59 seconds");
    expect(humanDuration(90_000)).toBe("About a minute");
    expect(humanDuration(5 * 60_000)).toBe("5 minutes");
    expect(humanDuration(3_600_000)).toBe("About an hour");
    expect(humanDuration(30 * 3_600_000)).toBe("30 hours");
    expect(humanDuration(3 * 24 * 3_600_000)).toBe("3 days");
  });
});
