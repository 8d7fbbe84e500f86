import { describe, expect, it } from "vitest";
import { parsePortSpec } from "./ports.ts";

describe("EXPOSE port specs (nat.ParsePortSpecs)", () => {
  it("reads ports, protocols, ranges and host forms", () => {
    expect(parsePortSpec("80")).toEqual({ ok: true, keys: ["80/tcp"] });
    expect(parsePortSpec("53/UDP")).toEqual({ ok: true, keys: ["53/udp"] });
    expect(parsePortSpec("80/")).toEqual({ ok: true, keys: ["80/tcp"] });
    expect(parsePortSpec("7000-7002/sctp")).toEqual({ ok: true, keys: ["7000/sctp", "7001/sctp", "7002/sctp"] });
    expect(parsePortSpec("127.0.0.1:8080:80")).toEqual({ ok: true, keys: ["80/tcp"] });
  });

  it("rejects what nat rejects", () => {
    expect(parsePortSpec("80/icmp")).toEqual({ ok: false, message: "invalid proto: icmp" });
    expect(parsePortSpec("70000")).toMatchObject({ ok: false });
    expect(parsePortSpec("9-1")).toMatchObject({ ok: false });
  });
});
