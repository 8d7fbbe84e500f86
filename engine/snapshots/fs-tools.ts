import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";

/**
 * The few filesystem calls Node has no API for — mknod (devices, FIFOs and overlay whiteouts),
 * setxattr and getxattr — go through small programs, batched so a layer costs a handful of process
 * starts, not one per entry: `sh` runs every mknod of a layer in one go, `setfattr --restore` sets
 * every extended attribute in one go, and `getfattr -R` dumps a whole tree's attributes at once.
 * `setfattr`/`getfattr` come from Debian's `attr` package.
 */

const run = promisify(execFile);

export interface SpecialNode {
  readonly path: string;
  readonly kind: "char" | "block" | "fifo";
  readonly major: number;
  readonly minor: number;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Creates device nodes and FIFOs (each path must not exist). */
export async function makeNodes(nodes: readonly SpecialNode[], signal: AbortSignal): Promise<void> {
  if (nodes.length === 0) return;
  const lines = ["set -e"];
  for (const n of nodes) {
    const type = n.kind === "char" ? "c" : n.kind === "block" ? "b" : "p";
    const numbers = n.kind === "fifo" ? "" : ` ${n.major} ${n.minor}`;
    lines.push(`mknod -m 000 -- ${shellQuote(n.path)} ${type}${numbers}`);
  }
  await runWithInput("sh", ["-s"], `${lines.join("\n")}\n`, signal);
}

export interface XattrSet {
  readonly path: string;
  readonly attrs: ReadonlyMap<string, Buffer>;
}

/** getfattr/setfattr escape these bytes in names as backslash-octal. */
function escapeName(p: string): string {
  return p.replace(/[\\\n\r\t ]|[^\x20-\x7e]/gu, (c) =>
    [...Buffer.from(c, "utf8")].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join(""),
  );
}

function unescapeName(p: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "\\" && /^[0-7]{3}$/.test(p.slice(i + 1, i + 4))) {
      bytes.push(parseInt(p.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(p[i] ?? "", "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Sets extended attributes on many paths in one `setfattr --restore` (never following symlinks). */
export async function setXattrs(sets: readonly XattrSet[], signal: AbortSignal): Promise<void> {
  const parts: string[] = [];
  for (const s of sets) {
    if (s.attrs.size === 0) continue;
    parts.push(`# file: ${escapeName(s.path)}`);
    for (const [k, v] of s.attrs) parts.push(`${k}=0x${v.toString("hex")}`);
    parts.push("");
  }
  if (parts.length === 0) return;
  await runWithInput("setfattr", ["-h", "--restore=-"], `${parts.join("\n")}\n`, signal);
}

/**
 * Every extended attribute below `root` (symlinks not followed), keyed by absolute path. One process
 * for the whole tree: the output is only as large as the attributes themselves.
 */
export async function getXattrsTree(root: string, signal: AbortSignal): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  let stdout: string;
  try {
    ({ stdout } = await run("getfattr", ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", "--", root], {
      signal,
      maxBuffer: 256 * 1024 * 1024,
      encoding: "utf8",
    }));
  } catch (err) {
    // getfattr exits 1 when some file vanished or has no attributes support; its stdout is still usable.
    const e = err as { stdout?: string; code?: unknown };
    if (typeof e.stdout !== "string" || e.code === "ENOENT") throw err;
    stdout = e.stdout;
  }
  let current: Map<string, Buffer> | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = new Map();
      out.set(unescapeName(line.slice("# file: ".length)), current);
    } else if (current !== undefined && line.includes("=")) {
      const eq = line.indexOf("=");
      const value = line.slice(eq + 1);
      current.set(line.slice(0, eq), value.startsWith("0x") ? Buffer.from(value.slice(2), "hex") : Buffer.from(value.replace(/^"|"$/g, ""), "utf8"));
    }
  }
  return out;
}

/** True when the programs this module needs are installed. */
export async function haveXattrTools(): Promise<boolean> {
  try {
    await run("setfattr", ["--version"]);
    await run("getfattr", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

async function runWithInput(cmd: string, args: readonly string[], input: string, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "ignore", "pipe"], signal });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      // Say which package is missing rather than "spawn ENOENT".
      if (err.code === "ENOENT") reject(new Error(`the program "${cmd}" is not installed${cmd.endsWith("fattr") ? ' (Debian package "attr")' : ""}; it is needed for ${cmd === "sh" ? "device nodes" : "extended attributes"}`, { cause: err }));
      else reject(err);
    });
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} failed (exit ${code ?? "signal"}): ${stderr.trim()}`));
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}
