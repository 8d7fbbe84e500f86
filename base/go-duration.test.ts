import { describe, expect, it } from "vitest";
import { formatGoDuration, parseGoDuration } from "./go-duration.ts";

describe("Go durations", () => {
  it("parses durations as time.ParseDuration", () => {
    expect(parseGoDuration("30s")).toBe(30e9);
    expect(parseGoDuration("1h30m")).toBe(5400e9);
    expect(parseGoDuration("1.5s")).toBe(1.5e9);
    expect(parseGoDuration("300ms")).toBe(3e8);
    expect(parseGoDuration("10us")).toBe(1e4);
    expect(parseGoDuration("0")).toBe(0);
    for (const bad of ["", "10", "s", "1x", "1.s5"]) expect(parseGoDuration(bad), bad).toBeUndefined();
  });

  it("formats durations as time.Duration.String", () => {
    expect([0, 3e9, 90e9, 60e9, 3600e9, 1.5e9, 5e8, 2500, 7, -1.5e9].map(formatGoDuration)).toEqual(["0s", "3s", "1m30s", "1m0s", "1h0m0s", "1.5s", "500ms", "2.5µs", "7ns", "-1.5s"]);
  });

});
