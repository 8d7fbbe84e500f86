import { describe, expect, it } from "vitest";
import { formatAddress, formatPrefix, freeAddress, freeDefaultPool, ipamProblems, macForAddress, overlaps, parseAddress, parsePrefix, type Prefix } from "./ipam.ts";

const p = (s: string): Prefix => {
  const r = parsePrefix(s);
  if (r === undefined) throw new Error(s);
  return r;
};

describe("addresses and prefixes", () => {
  it("parses and formats IPv4 and IPv6 as Go's netip", () => {
    expect(formatAddress(parseAddress("10.1.2.3") ?? { family: "IPv4", value: 0n })).toBe("10.1.2.3");
    expect(parseAddress("010.1.2.3")).toBeUndefined();
    expect(parseAddress("256.1.2.3")).toBeUndefined();
    expect(parseAddress("nope")).toBeUndefined();
    expect(formatAddress(parseAddress("2001:db8:0:0:0:0:0:1") ?? { family: "IPv6", value: 0n })).toBe("2001:db8::1");
    expect(formatAddress(parseAddress("::ffff:10.0.0.1") ?? { family: "IPv6", value: 0n })).toBe("::ffff:a00:1");
    expect(formatPrefix(p("fd00:1::/64"))).toBe("fd00:1::/64");
    expect(parsePrefix("10.0.0.0/33")).toBeUndefined();
    expect(parsePrefix("10.0.0.0")).toBeUndefined();
  });

  it("finds overlaps in either direction and only within a family", () => {
    expect(overlaps(p("10.0.0.0/8"), p("10.5.0.0/24"))).toBe(true);
    expect(overlaps(p("10.5.0.0/24"), p("10.0.0.0/8"))).toBe(true);
    expect(overlaps(p("10.5.0.0/24"), p("10.5.1.0/24"))).toBe(false);
    expect(overlaps(p("10.0.0.0/8"), p("fd00::/8"))).toBe(false);
  });
});

describe("Docker's ValidateIPAM", () => {
  it("accepts well-formed configurations", () => {
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", IPRange: "10.5.0.128/25", Gateway: "10.5.0.1", AuxiliaryAddresses: { host: "10.5.0.2" } }], false)).toEqual([]);
    expect(ipamProblems([], false)).toEqual([]);
  });

  it("reports each problem with Docker 26's text", () => {
    expect(ipamProblems([{ Subnet: "10.5.0.1/24" }], false)).toEqual(["invalid subnet 10.5.0.1/24: it should be 10.5.0.0/24"]);
    expect(ipamProblems([{ Subnet: "10.5.0/24" }], false)).toEqual(["invalid subnet 10.5.0/24: invalid CIDR block notation"]);
    expect(ipamProblems([{ Subnet: "" }], false)).toEqual(["invalid subnet : invalid CIDR block notation"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", IPRange: "10.6.0.0/25" }], false)).toEqual(["invalid ip-range 10.6.0.0/25: parent subnet 10.5.0.0/24 doesn't contain ip-range"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", IPRange: "10.0.0.0/8" }], false)).toEqual(["invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.5.0.0/24"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", IPRange: "10.5.0.1/25" }], false)).toEqual(["invalid ip-range 10.5.0.1/25: it should be 10.5.0.0/25"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", IPRange: "fd00::/64" }], false)).toEqual(["invalid ip-range fd00::/64: parent subnet is an IPv4 block"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", Gateway: "10.6.0.1" }], false)).toEqual(["invalid gateway 10.6.0.1: parent subnet 10.5.0.0/24 doesn't contain this address"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", Gateway: "gw" }], false)).toEqual(["invalid gateway gw: invalid address"]);
    expect(ipamProblems([{ Subnet: "10.5.0.0/24", AuxiliaryAddresses: { b: "10.9.0.1", a: "fd00::1" } }], false)).toEqual([
      "invalid auxiliary address a: parent subnet is an IPv4 block",
      "invalid auxiliary address b: parent subnet 10.5.0.0/24 doesn't contain this address",
    ]);
  });

  it("checks IPv6 configurations only when IPv6 is enabled", () => {
    expect(ipamProblems([{ Subnet: "fd00::1/64" }], false)).toEqual([]);
    expect(ipamProblems([{ Subnet: "fd00::1/64" }], true)).toEqual(["invalid subnet fd00::1/64: it should be fd00::/64"]);
  });
});

describe("pools and addresses", () => {
  it("takes the default pools in Docker's order", () => {
    expect(formatPrefix(freeDefaultPool([]) ?? p("0.0.0.0/0"))).toBe("172.17.0.0/16");
    expect(formatPrefix(freeDefaultPool([p("172.17.0.0/16"), p("172.19.0.0/24")]) ?? p("0.0.0.0/0"))).toBe("172.18.0.0/16");
    const sixteens = Array.from({ length: 15 }, (_, i) => p(`172.${17 + i}.0.0/16`));
    expect(formatPrefix(freeDefaultPool(sixteens) ?? p("0.0.0.0/0"))).toBe("192.168.0.0/20");
    expect(formatPrefix(freeDefaultPool([...sixteens, p("192.168.0.0/24")]) ?? p("0.0.0.0/0"))).toBe("192.168.16.0/20");
    expect(freeDefaultPool([p("172.16.0.0/12"), p("192.168.0.0/16")])).toBeUndefined();
  });

  it("hands out the lowest free address, skipping the network, broadcast and used ones", () => {
    const used = new Set([(parseAddress("10.5.0.1") ?? { value: 0n }).value]);
    expect(formatAddress(freeAddress(p("10.5.0.0/24"), undefined, used) ?? { family: "IPv4", value: 0n })).toBe("10.5.0.2");
    expect(formatAddress(freeAddress(p("10.5.0.0/24"), p("10.5.0.128/25"), used) ?? { family: "IPv4", value: 0n })).toBe("10.5.0.128");
    const full = new Set([1n, 2n].map((x) => ((10n << 24n) | x)));
    expect(freeAddress(p("10.0.0.0/30"), undefined, full)).toBeUndefined();
    expect(macForAddress(parseAddress("172.18.0.2") ?? { family: "IPv4", value: 0n })).toBe("02:42:ac:12:00:02");
  });
});
