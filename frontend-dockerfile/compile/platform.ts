import type { Platform } from "../../llb/index.ts";

/**
 * Platforms as containerd's `platforms` package reads and normalizes them (BuildKit uses it for
 * `FROM --platform`, TARGETPLATFORM and BUILDPLATFORM): aliases (`x86_64` → `amd64`, `aarch64` →
 * `arm64`), `arm64/v8` → `arm64`, bare `arm` → `arm/v7`.
 */

const KNOWN_OS = new Set(["aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows", "zos"]);
const KNOWN_ARCH = new Set(["386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"]);

export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase() === "macos" ? "darwin" : p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  switch (arch) {
    case "i386":
      arch = "386";
      variant = "";
      break;
    case "x86_64":
    case "x86-64":
    case "amd64":
      arch = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "aarch64":
    case "arm64":
      arch = "arm64";
      if (variant === "8" || variant === "v8" || variant === "8.0" || variant === "v8.0") variant = "";
      break;
    case "armhf":
      arch = "arm";
      variant = "v7";
      break;
    case "armel":
      arch = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (variant === "5" || variant === "6" || variant === "8") variant = `v${variant}`;
      break;
  }
  return variant === "" ? { os, architecture: arch } : { os, architecture: arch, variant };
}

export type PlatformParse = { readonly ok: true; readonly platform: Platform } | { readonly ok: false; readonly message: string };

/** containerd `platforms.Parse` (`linux`, `arm64`, `linux/arm/v7` …), normalized. */
export function parsePlatformSpec(spec: string, defaults: Platform): PlatformParse {
  const bad = (why: string): PlatformParse => ({ ok: false, message: `"${spec}": ${why}: invalid argument` });
  if (spec.includes("*")) return bad("wildcards not yet supported");
  const parts = spec.split("/");
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) return bad("invalid platform component");
  const [a = "", b, c, ...rest] = parts;
  if (rest.length > 0) return bad("cannot parse platform specifier");
  if (b === undefined) {
    const lower = a.toLowerCase();
    if (KNOWN_OS.has(lower)) return { ok: true, platform: normalizePlatform({ os: lower, architecture: defaults.architecture, ...(defaults.variant === undefined ? {} : { variant: defaults.variant }) }) };
    const arch = normalizePlatform({ os: defaults.os, architecture: lower });
    if (KNOWN_ARCH.has(arch.architecture)) return { ok: true, platform: arch };
    return bad("unknown operating system or architecture");
  }
  const p = normalizePlatform({ os: a, architecture: b, ...(c === undefined ? {} : { variant: c }) });
  if (!KNOWN_OS.has(p.os)) return bad("unknown operating system or architecture");
  if (!KNOWN_ARCH.has(p.architecture)) return bad("unknown operating system or architecture");
  return { ok: true, platform: p };
}

/** containerd `platforms.Format`: `os/arch[/variant]`. */
export function formatPlatformSpec(p: Platform): string {
  return p.variant === undefined || p.variant === "" ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

/** The platform of this machine as Go names it (the default BUILDPLATFORM). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };
  return normalizePlatform({ os: "linux", architecture: arch[process.arch] ?? process.arch });
}
