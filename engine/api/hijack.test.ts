import { describe, expect, it } from "vitest";
import { demultiplex, frame } from "./hijack.ts";
import { rfc3339NanoFixed } from "./containers.ts";

describe("stdcopy framing", () => {
  it("writes Docker's 8-byte headers and reads them back", () => {
    const f = frame(1, Buffer.from("hi\n"));
    expect([...f.subarray(0, 8)]).toEqual([1, 0, 0, 0, 0, 0, 0, 3]);
    const both = Buffer.concat([f, frame(2, Buffer.from("oops")), Buffer.from([1, 0])]);
    const d = demultiplex(both);
    expect(d.stdout.toString()).toBe("hi\n");
    expect(d.stderr.toString()).toBe("oops");
    expect(d.rest.length).toBe(2);
  });

  it("formats --timestamps with nine fraction digits (Go's RFC3339NanoFixed)", () => {
    expect(rfc3339NanoFixed(1_700_000_000_120_000_000n)).toBe("2023-11-14T22:13:20.120000000Z");
  });
});
