import type { OciDescriptor, ParseResult, Platform } from "./types.ts";

/**
 * Platform normalisation and matching by the rules containerd's `platforms` package applies (and so
 * Docker and BuildKit): OS and architecture aliases (`x86_64` → amd64, `aarch64` → arm64, `armhf` →
 * arm/v7), default variants (arm64 → v8, arm → v7, amd64 → v1) so that "linux/arm64" and
 * "linux/arm64/v8" are one platform, and a preference vector of compatible platforms: a host that runs
 * arm/v7 also runs v6 and v5, an arm64 host runs 32-bit arm, an amd64/v3 host runs v2, v1 and 386.
 */

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === "macos" ? "darwin" : lower;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case "i386":
    case "386":
      return { architecture: "386", variant: "" };
    case "x86_64":
    case "x86-64":
    case "amd64":
      return { architecture: "amd64", variant: v === "" ? "v1" : v };
    case "aarch64":
    case "arm64":
      switch (v) {
        case "":
        case "8":
        case "v8":
        case "v8.0":
          return { architecture: "arm64", variant: "v8" };
        default:
          return { architecture: "arm64", variant: /^\d/.test(v) ? `v${v}` : v };
      }
    case "armhf":
      return { architecture: "arm", variant: "v7" };
    case "armel":
      return { architecture: "arm", variant: "v6" };
    case "arm":
      switch (v) {
        case "":
        case "7":
          return { architecture: "arm", variant: "v7" };
        case "5":
        case "6":
        case "8":
          return { architecture: "arm", variant: `v${v}` };
        default:
          return { architecture: "arm", variant: v };
      }
    default:
      return { architecture: a, variant: v };
  }
}

/**
 * The canonical form: aliases resolved and the default variant written out. Two platforms are the
 * same platform exactly when their normalised forms have equal os, architecture and variant.
 */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? "");
  return {
    architecture,
    os: normalizeOs(p.os),
    ...(variant !== "" ? { variant } : {}),
    ...(p["os.version"] !== undefined ? { "os.version": p["os.version"] } : {}),
    ...(p["os.features"] !== undefined ? { "os.features": p["os.features"] } : {}),
  };
}

/** "linux/arm64/v8" (default variants of amd64 are left out, as Docker prints them). */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  const variant = n.variant === undefined || (n.architecture === "amd64" && n.variant === "v1") ? "" : `/${n.variant}`;
  return `${n.os}/${n.architecture}${variant}`;
}

/**
 * "os[/arch[/variant]]" or "arch" alone as `docker --platform` accepts it; "linux" alone means the host
 * architecture on Linux. Returns the normalised platform.
 */
export function parsePlatform(spec: string, host: Platform = hostPlatform()): ParseResult<Platform> {
  const parts = spec.trim().split("/");
  if (parts.some((x) => x === "" || !/^[A-Za-z0-9_.-]+$/.test(x)) || parts.length > 3) {
    return { ok: false, error: `"${spec}" is not a platform: expected os/arch[/variant], e.g. linux/amd64` };
  }
  const [a, b, c] = parts as [string, string | undefined, string | undefined];
  if (b === undefined) {
    const lower = a.toLowerCase();
    const knownOs = ["linux", "windows", "darwin", "freebsd", "macos", "netbsd", "openbsd", "solaris", "illumos", "aix", "plan9"];
    if (knownOs.includes(lower)) {
      if (normalizeOs(lower) !== host.os) return { ok: false, error: `"${spec}" names only an OS; add the architecture, e.g. ${lower}/amd64` };
      return { ok: true, value: normalizePlatform({ ...host, os: lower }) };
    }
    return { ok: true, value: normalizePlatform({ os: host.os, architecture: a }) };
  }
  return { ok: true, value: normalizePlatform({ os: a, architecture: b, ...(c !== undefined ? { variant: c } : {}) }) };
}

/** The platform of this process (what `docker pull` picks by default). */
export function hostPlatform(): Platform {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const archMap: Readonly<Record<string, string>> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64", mips: "mips", mipsel: "mipsle" };
  const architecture = archMap[process.arch] ?? process.arch;
  let variant = "";
  if (architecture === "arm") {
    const v = (process.config.variables as Record<string, unknown>)["arm_version"];
    variant = typeof v === "string" || typeof v === "number" ? `v${v}` : "v7";
  }
  return normalizePlatform({ os, architecture, ...(variant !== "" ? { variant } : {}) });
}

function same(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? "") === (b.variant ?? "");
}

/** True when `have` is the same platform as `want` after normalisation (no compatibility fallbacks). */
export function platformEquals(want: Platform, have: Platform): boolean {
  return same(normalizePlatform(want), normalizePlatform(have));
}

/**
 * The platforms a `want` host runs, most preferred first (containerd's `platforms.Only`): the exact
 * platform, then lower variants of the same architecture, then the 32-bit sibling architecture.
 */
export function compatiblePlatforms(want: Platform): Platform[] {
  const p = normalizePlatform(want);
  const base = { os: p.os };
  const out: Platform[] = [p];
  const variantNumber = (v: string | undefined): number | undefined => {
    const m = /^v(\d+)(?:\.(\d+))?$/.exec(v ?? "");
    return m === null ? undefined : Number(m[1]);
  };
  switch (p.architecture) {
    case "arm": {
      const n = variantNumber(p.variant);
      if (n !== undefined) for (let v = Math.min(n, 8) - 1; v >= 5; v--) out.push({ ...base, architecture: "arm", variant: `v${v}` });
      break;
    }
    case "arm64": {
      const n = variantNumber(p.variant);
      if (n !== undefined && n > 8) for (let v = n - 1; v >= 8; v--) out.push({ ...base, architecture: "arm64", variant: `v${v}` });
      if (p.variant !== "v8") out.push({ ...base, architecture: "arm64", variant: "v8" });
      // 32-bit arm runs on arm64 (AArch32), preferred from the newest variant down.
      for (let v = 8; v >= 5; v--) out.push({ ...base, architecture: "arm", variant: `v${v}` });
      break;
    }
    case "amd64": {
      const n = variantNumber(p.variant);
      if (n !== undefined) for (let v = n - 1; v >= 1; v--) out.push({ ...base, architecture: "amd64", variant: `v${v}` });
      out.push({ ...base, architecture: "386" });
      break;
    }
    default:
      break;
  }
  return out.filter((x, i) => out.findIndex((y) => same(x, y)) === i);
}

/** How well `have` suits `want`: 0 is exact, higher is less preferred, undefined is not runnable. */
export function platformRank(want: Platform, have: Platform): number | undefined {
  const h = normalizePlatform(have);
  const i = compatiblePlatforms(want).findIndex((c) => same(c, h));
  return i === -1 ? undefined : i;
}

/** True when an image for `have` runs on `want` (exactly or by a compatible fallback). */
export function platformMatches(want: Platform, have: Platform): boolean {
  return platformRank(want, have) !== undefined;
}

/**
 * The entry of an index to use for `want`: the best-ranked compatible platform, the first in index
 * order among equals (as containerd's `images.Manifest` does). Entries without a platform are skipped
 * (attestation manifests carry `unknown/unknown`, which never matches).
 */
export function selectManifest(manifests: readonly OciDescriptor[], want: Platform): OciDescriptor | undefined {
  let best: { d: OciDescriptor; rank: number } | undefined;
  for (const d of manifests) {
    if (d.platform === undefined) continue;
    const rank = platformRank(want, d.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { d, rank };
  }
  return best?.d;
}
