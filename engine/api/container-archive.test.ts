import { describe, expect, it } from "vitest";
import { negotiateEncoding } from "./container-archive.ts";

describe("the archive's content encoding (gddo's NegotiateContentEncoding over gzip, deflate)", () => {
  it("picks what the client accepts, gzip on a tie, identity otherwise", () => {
    expect(negotiateEncoding(undefined)).toBeUndefined();
    expect(negotiateEncoding("gzip")).toBe("gzip");
    expect(negotiateEncoding("deflate, gzip")).toBe("gzip");
    expect(negotiateEncoding("gzip;q=0.5, deflate")).toBe("deflate");
    expect(negotiateEncoding("br")).toBeUndefined();
    expect(negotiateEncoding("*")).toBe("gzip");
    expect(negotiateEncoding("gzip;q=0, *;q=0")).toBeUndefined();
  });
});
