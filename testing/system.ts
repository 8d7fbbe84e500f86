import { accessSync, constants } from "node:fs";
import { open } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { htkError } from "../base/errors/index.ts";

/** A program the harness needs and the Debian package that provides it. */
export interface RequiredProgram {
  readonly program: string;
  readonly aptPackage: string;
}

/** What the real-component tests run, with the package to install (also listed in tools/apt-packages.txt). */
export const PROGRAMS = {
  crun: { program: "crun", aptPackage: "crun" },
  registry: { program: "docker-registry", aptPackage: "docker-registry" },
  busybox: { program: "busybox", aptPackage: "busybox-static" },
  htpasswd: { program: "htpasswd", aptPackage: "apache2-utils" },
  skopeo: { program: "skopeo", aptPackage: "skopeo" },
  tar: { program: "tar", aptPackage: "tar" },
  unshare: { program: "unshare", aptPackage: "util-linux" },
  setpriv: { program: "setpriv", aptPackage: "util-linux" },
  debootstrap: { program: "debootstrap", aptPackage: "debootstrap" },
} as const satisfies Record<string, RequiredProgram>;

// sbin folders are not on every PATH (a login shell of a normal user), but the programs live there.
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/** The absolute path of `program`, searched on PATH and the usual bin/sbin folders; undefined if absent. */
export function findProgram(program: string): string | undefined {
  if (program.includes("/")) return isExecutable(program) ? program : undefined;
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== ""), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, program);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of the program, or HTK-TEST-0001 naming the package to install. Installs nothing itself. */
export function requireProgram(required: RequiredProgram): string {
  const path = findProgram(required.program);
  if (path === undefined) {
    throw htkError("HTK-TEST-0001", { program: required.program, aptPackage: required.aptPackage });
  }
  return path;
}

/** Check all at once, so one failure names every missing program and the packages to install. */
export function requirePrograms(list: readonly RequiredProgram[]): Map<string, string> {
  const found = new Map<string, string>();
  const missing: RequiredProgram[] = [];
  for (const p of list) {
    const path = findProgram(p.program);
    if (path === undefined) missing.push(p);
    else found.set(p.program, path);
  }
  if (missing.length > 0) {
    throw htkError("HTK-TEST-0001", {
      program: missing.map((m) => m.program).join(", "),
      aptPackage: [...new Set(missing.map((m) => m.aptPackage))].join(" "),
    });
  }
  return found;
}

/**
 * True if the ELF file at `path` asks for a program interpreter (PT_INTERP), i.e. is dynamically
 * linked. Reads only the ELF and program headers.
 */
export async function isDynamicallyLinked(path: string): Promise<boolean> {
  const file = await open(path, "r");
  try {
    const ident = Buffer.alloc(64);
    await file.read(ident, 0, 64, 0);
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path} is not an ELF file`);
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? ident.readBigUInt64LE(0x20) : ident.readBigUInt64BE(0x20)) : u32(ident, 0x1c);
    const phentsize = u16(ident, is64 ? 0x36 : 0x2a);
    const phnum = u16(ident, is64 ? 0x38 : 0x2c);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    const PT_INTERP = 3;
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === PT_INTERP) return true;
    return false;
  } finally {
    await file.close();
  }
}

/** HTK-TEST-0003 unless `path` is a static binary (the busybox fixture image has no libc). */
export async function requireStaticBinary(path: string, aptPackage: string): Promise<void> {
  if (await isDynamicallyLinked(path)) throw htkError("HTK-TEST-0003", { path, aptPackage });
}
