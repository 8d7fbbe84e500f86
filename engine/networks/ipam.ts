import { isIP } from "node:net";
import type { IpamConfig } from "../state/index.ts";

/**
 * IP address management for the engine's networks, pure: Docker's IPAM validation (api/types/network
 * ValidateIPAM, with its error texts), pool overlap, the default local address pools, and the choice
 * of gateway and container addresses. Addresses are bigints so IPv4 and IPv6 share one code path.
 */

export type Family = "IPv4" | "IPv6";

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

export interface Prefix {
  readonly family: Family;
  /** The address as written (host bits may be set). */
  readonly addr: bigint;
  readonly bits: number;
}

const WIDTH: Readonly<Record<Family, number>> = { IPv4: 32, IPv6: 128 };

/** Go's netip.ParseAddr for the forms Docker sees (dotted IPv4, IPv6 with `::` and an optional embedded IPv4). */
export function parseAddress(text: string): Address | undefined {
  const kind = isIP(text);
  if (kind === 4) {
    if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(text) || text.split(".").some((o) => o.length > 1 && o.startsWith("0"))) return undefined;
    return { family: "IPv4", value: text.split(".").reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) };
  }
  if (kind === 6) {
    if (text.includes("%")) return undefined;
    let t = text;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
    if (v4 !== null) {
      const a = parseAddress(v4[1] ?? "");
      if (a === undefined) return undefined;
      t = `${t.slice(0, t.length - (v4[1] ?? "").length)}${(a.value >> 16n).toString(16)}:${(a.value & 0xffffn).toString(16)}`;
    }
    const [head = "", tail] = t.split("::");
    const h = head === "" ? [] : head.split(":");
    const tl = tail === undefined || tail === "" ? [] : tail.split(":");
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill("0"), ...tl];
    if (groups.length !== 8) return undefined;
    return { family: "IPv6", value: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  return undefined;
}

export function formatAddress(a: Address): string {
  if (a.family === "IPv4") return [24n, 16n, 8n, 0n].map((s) => String((a.value >> s) & 0xffn)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => Number((a.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export function parsePrefix(text: string): Prefix | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  const a = parseAddress(m[1] ?? "");
  const bits = Number(m[2]);
  if (a === undefined || bits > WIDTH[a.family] || (m[2] ?? "").length > 1 && (m[2] ?? "").startsWith("0")) return undefined;
  return { family: a.family, addr: a.value, bits };
}

function mask(family: Family, bits: number): bigint {
  const w = BigInt(WIDTH[family]);
  return ((1n << w) - 1n) ^ ((1n << (w - BigInt(bits))) - 1n);
}

export function masked(p: Prefix): Prefix {
  return { ...p, addr: p.addr & mask(p.family, p.bits) };
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddress({ family: p.family, value: p.addr })}/${p.bits}`;
}

export function contains(p: Prefix, a: Address): boolean {
  return p.family === a.family && (a.value & mask(p.family, p.bits)) === (p.addr & mask(p.family, p.bits));
}

export function overlaps(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.bits, b.bits);
  return (a.addr & mask(a.family, bits)) === (b.addr & mask(b.family, bits));
}

/**
 * Docker's ValidateIPAM: each config's subnet is CIDR with no host bits set, its ip-range inside it,
 * its gateway and auxiliary addresses inside it; IPv6 configs are checked only when IPv6 is enabled.
 * Returns every problem, as Docker lists them (joined under "invalid network config:").
 */
export function ipamProblems(configs: readonly IpamConfig[], enableIPv6: boolean): string[] {
  const errs: string[] = [];
  for (const cfg of configs) {
    const subnet = parsePrefix(cfg.Subnet ?? "");
    if (subnet === undefined) {
      errs.push(`invalid subnet ${cfg.Subnet ?? ""}: invalid CIDR block notation`);
      continue;
    }
    if (!enableIPv6 && subnet.family === "IPv6") continue;
    const norm = masked(subnet);
    if (norm.addr !== subnet.addr) errs.push(`invalid subnet ${formatPrefix(subnet)}: it should be ${formatPrefix(norm)}`);
    if (cfg.IPRange !== undefined && cfg.IPRange !== "") {
      const range = parsePrefix(cfg.IPRange);
      if (range === undefined) errs.push(`invalid ip-range ${cfg.IPRange}: invalid CIDR block notation`);
      else if (range.family !== subnet.family) errs.push(`invalid ip-range ${cfg.IPRange}: parent subnet is an ${subnet.family} block`);
      else {
        if (range.bits < subnet.bits) errs.push(`invalid ip-range ${cfg.IPRange}: CIDR block is bigger than its parent subnet ${formatPrefix(subnet)}`);
        if (masked(range).addr !== range.addr) errs.push(`invalid ip-range ${formatPrefix(range)}: it should be ${formatPrefix(masked(range))}`);
        if (!overlaps(subnet, range)) errs.push(`invalid ip-range ${cfg.IPRange}: parent subnet ${formatPrefix(subnet)} doesn't contain ip-range`);
      }
    }
    const addressProblem = (text: string): string | undefined => {
      const a = parseAddress(text);
      if (a === undefined) return "invalid address";
      if (a.family !== subnet.family) return `parent subnet is an ${subnet.family} block`;
      if (!contains(subnet, a)) return `parent subnet ${formatPrefix(subnet)} doesn't contain this address`;
      return undefined;
    };
    if (cfg.Gateway !== undefined && cfg.Gateway !== "") {
      const p = addressProblem(cfg.Gateway);
      if (p !== undefined) errs.push(`invalid gateway ${cfg.Gateway}: ${p}`);
    }
    for (const [name, aux] of Object.entries(cfg.AuxiliaryAddresses ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const p = addressProblem(aux);
      if (p !== undefined) errs.push(`invalid auxiliary address ${name}: ${p}`);
    }
  }
  return errs;
}

/**
 * Docker 26's default local address pools (ipamutils): 172.17.0.0/16 … 172.31.0.0/16, then
 * 192.168.0.0/16 in /20s. The default bridge takes the first; user networks the next free one.
 */
export function* defaultPools(): Generator<Prefix> {
  for (let second = 17; second <= 31; second++) yield { family: "IPv4", addr: (172n << 24n) | (BigInt(second) << 16n), bits: 16 };
  for (let third = 0; third < 256; third += 16) yield { family: "IPv4", addr: (192n << 24n) | (168n << 16n) | (BigInt(third) << 8n), bits: 20 };
}

/** The first default pool that overlaps none of `taken`; undefined when all are used. */
export function freeDefaultPool(taken: readonly Prefix[]): Prefix | undefined {
  for (const p of defaultPools()) if (!taken.some((t) => overlaps(t, p))) return p;
  return undefined;
}

/** The first usable address of a subnet (Docker's default gateway): network address + 1. */
export function firstHost(p: Prefix): Address {
  return { family: p.family, value: masked(p).addr + 1n };
}

/**
 * The lowest free address for a container: inside `range` (or the subnet), not the network or (IPv4)
 * broadcast address, not the gateway, an auxiliary address or one in `used`.
 */
export function freeAddress(subnet: Prefix, range: Prefix | undefined, used: ReadonlySet<bigint>): Address | undefined {
  const net = masked(subnet);
  const width = BigInt(WIDTH[subnet.family]);
  const size = 1n << (width - BigInt(subnet.bits));
  const broadcast = net.addr + size - 1n;
  const scope = masked(range ?? subnet);
  const scopeSize = 1n << (width - BigInt(scope.bits));
  // Very large (IPv6) ranges are searched a bounded distance: addresses are handed out in order.
  const limit = scopeSize < 1n << 20n ? scopeSize : 1n << 20n;
  for (let i = 0n; i < limit; i++) {
    const v = scope.addr + i;
    if (v === net.addr) continue;
    if (subnet.family === "IPv4" && v === broadcast && subnet.bits < 31) continue;
    if (used.has(v)) continue;
    return { family: subnet.family, value: v };
  }
  return undefined;
}

/** Docker 26's bridge driver MAC for an IPv4 address: 02:42 followed by the address' four bytes. */
export function macForAddress(a: Address): string {
  const bytes = [0x02, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((a.value >> s) & 0xffn))];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
