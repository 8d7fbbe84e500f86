import { describe, expect, it } from "vitest";
import { formatGoDuration, goList, goQuoteList, parseGoDuration } from "./go-format.ts";

describe("Go formatting", () => {
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
    expect([0, 3e9, 90e9, 3600e9, 1.5e9, 5e8, 2500, 7].map(formatGoDuration)).toEqual(["0s", "3s", "1m30s", "1h0m0s", "1.5s", "500ms", "2.5µs", "7ns"]);
  });

  it("formats string slices as %q and %v", () => {
    expect(goQuoteList(["/bin/sh", "-c", 'echo "hi"'])).toBe('["/bin/sh" "-c" "echo \\"hi\\""]');
    expect(goList(["/data", "/x"])).toBe("[/data /x]");
  });
});

describe("Go %q of an integer", () => {
  it("is a quoted rune, as strconv.QuoteRune", async () => {
    const { goQuoteRune } = await import("./go-format.ts");
    expect([0, 3, 9, 39, 65, 92, 127, 0x263a].map(goQuoteRune)).toEqual(["'\\x00'", "'\\x03'", "'\\t'", "'\\''", "'A'", "'\\\\'", "'\\x7f'", "'☺'"]);
  });
});
