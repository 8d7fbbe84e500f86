/**
 * The bits of containerd's `platforms` package the checks need: `Parse` (to tell a constant platform
 * from an invalid one, FromPlatformFlagConstDisallowed) and the default platform behind BUILDPLATFORM
 * and TARGETPLATFORM.
 */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant: string;
}

const KNOWN_OS = new Set([
  "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris",
  "windows", "zos",
]);
const KNOWN_ARCH = new Set([
  "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le",
  "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
]);
const COMPONENT = /^[A-Za-z0-9_-]+$/;

/** The host's platform as Linux containers see it (BuildKit's default build and target platform). */
export function hostPlatform(): Platform {
  const arch = process.arch === "x64" ? "amd64" : process.arch === "ia32" ? "386" : process.arch;
  return normalize({ os: "linux", architecture: arch, variant: arch === "arm" ? "v7" : "" });
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== "").join("/");
}

/** containerd `platforms.Parse`; undefined where it returns an error. */
export function parsePlatform(spec: string): Platform | undefined {
  if (spec.includes("*")) return undefined;
  const parts = spec.split("/");
  if (parts.length > 3 || parts.some((p) => !COMPONENT.test(p))) return undefined;
  const [a = "", b, c] = parts;
  if (parts.length === 1) {
    const os = normalizeOS(a);
    if (KNOWN_OS.has(os)) {
      const host = hostPlatform();
      return { os, architecture: host.architecture, variant: host.variant };
    }
    const arch = normalizeArch(a, "");
    if (KNOWN_ARCH.has(arch.architecture)) return { os: "linux", ...arch };
    return undefined;
  }
  return { os: normalizeOS(a), ...normalizeArch(b ?? "", c ?? "") };
}

function normalize(p: Platform): Platform {
  return { os: normalizeOS(p.os), ...normalizeArch(p.architecture, p.variant) };
}

function normalizeOS(os: string): string {
  const l = os.toLowerCase();
  return l === "macos" ? "darwin" : l;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case "i386":
      return { architecture: "386", variant: "" };
    case "x86_64":
    case "x86-64":
    case "amd64":
      return { architecture: "amd64", variant: v === "v1" ? "" : v };
    case "aarch64":
    case "arm64":
      return { architecture: "arm64", variant: v === "8" || v === "v8" ? "" : v };
    case "armhf":
      return { architecture: "arm", variant: "v7" };
    case "armel":
      return { architecture: "arm", variant: "v6" };
    case "arm":
      if (v === "" || v === "7") return { architecture: "arm", variant: "v7" };
      if (v === "5" || v === "6" || v === "8") return { architecture: "arm", variant: `v${v}` };
      return { architecture: "arm", variant: v };
    default:
      return { architecture: a, variant: v };
  }
}
