import { describe, expect, it } from "vitest";
import { parseDockerTime, parseRfc3339Nano, rfc3339Nano, systemClock } from "./clock.ts";

describe("time", () => {
  it("formats like Go's RFC3339Nano and parses it back", () => {
    expect(rfc3339Nano(1_700_000_000_000_000_000n)).toBe("2023-11-14T22:13:20Z");
    expect(rfc3339Nano(1_700_000_000_120_000_000n)).toBe("2023-11-14T22:13:20.12Z");
    expect(rfc3339Nano(1_700_000_000_000_000_001n)).toBe("2023-11-14T22:13:20.000000001Z");
    expect(parseRfc3339Nano("2023-11-14T22:13:20.000000001Z")).toBe(1_700_000_000_000_000_001n);
    expect(parseRfc3339Nano("0001-01-01T00:00:00Z")).toBeUndefined();
  });

  it("is strictly increasing", () => {
    const a = systemClock();
    const b = systemClock();
    expect(b > a).toBe(true);
  });

  it("parses Docker's since/until forms", () => {
    const now = 1_700_000_000_000_000_000n;
    expect(parseDockerTime("10m", now)).toBe(now - 600_000_000_000n);
    expect(parseDockerTime("1h30m", now)).toBe(now - 5_400_000_000_000n);
    expect(parseDockerTime("1.5s", now)).toBe(now - 1_500_000_000n);
    // "0" is the epoch, as GetTimestamp has it, not a duration of nothing.
    expect(parseDockerTime("0", now)).toBe(0n);
    expect(parseDockerTime("1700000000", now)).toBe(now);
    expect(parseDockerTime("1700000000.5", now)).toBe(now + 500_000_000n);
    expect(parseDockerTime("2023-11-14T22:13:20Z", now)).toBe(now);
    expect(parseDockerTime("2023-11-14T22:13:20.25+00:00", now)).toBe(now + 250_000_000n);
    expect(parseDockerTime("2023-11-14", now)).toBe(1_699_920_000_000_000_000n);
    expect(parseDockerTime("2023-11-14T22:13", now)).toBe(now - 20_000_000_000n);
    expect(parseDockerTime("yesterday", now)).toBeUndefined();
    expect(parseDockerTime("", now)).toBeUndefined();
  });
});
