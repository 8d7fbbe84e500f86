import { describe, expect, it } from "vitest";
import { goList, goQuoteList } from "./go-format.ts";

describe("Go formatting", () => {
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
