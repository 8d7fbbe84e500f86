import { once } from "node:events";
import { relative, resolve } from "node:path";
import { loadDockerignore, walkContext } from "../../base/dockerignore/index.ts";
import { htkError } from "../../base/errors/index.ts";
import { parseOptions } from "../options.ts";
import { commandGroup, type Subcommand } from "../command-group.ts";
import type { Command } from "../types.ts";

/**
 * `hatake context ls`: what a build would send as its context, after `.dockerignore` (or
 * `<Dockerfile>.dockerignore`), with Docker's exact matching rules. `--size` answers "why is my context
 * big": the total, the ten largest directories and the five largest files. Not to be confused with
 * `docker context` (engine endpoints).
 */
const LARGEST = 10;
const LARGEST_FILES = 5;

const ls: Subcommand = {
  name: "ls",
  summary: "List what a build would send from a context directory",
  usage: `Usage: hatake context ls [-f DOCKERFILE] [--size] DIR

Lists the paths of DIR that a build would send to the builder, one per line, in the order
BuildKit sends them: depth first, the entries of each directory sorted by name (byte order).
Directories are listed with a trailing "/" because BuildKit sends them as entries of their own:
every directory that is not excluded (even when empty), and an excluded directory only when a
"!" exception re-includes something inside it. Symbolic links are listed, never followed.

The ignore file is DOCKERFILE.dockerignore next to the Dockerfile when it exists (default
Dockerfile: DIR/Dockerfile), otherwise DIR/.dockerignore.

  -f, --file DOCKERFILE  the Dockerfile of the build (relative to the current directory)
  --size                 after the list, print the total size, the largest directories and the
                         largest files`,
  async run(args, io) {
    const { values, positionals } = parseOptions("context ls", args, {
      file: { type: "string", short: "f" },
      size: { type: "boolean" },
    });
    const [dir, ...extra] = positionals;
    if (dir === undefined || extra.length > 0) {
      const detail = dir === undefined ? "a context directory is required" : `one context directory is expected, got ${positionals.length}`;
      throw htkError("HTK-CLI-0002", { command: "context ls", detail });
    }
    const root = resolve(io.cwd, dir);
    const ignore = await loadDockerignore(root, values.file === undefined ? { cwd: io.cwd } : { cwd: io.cwd, dockerfile: values.file });
    const out = new LineWriter(io.stdout);
    const sizes = values.size === true ? new SizeTally() : undefined;
    for await (const e of walkContext(root, ignore.matcher, { signal: io.signal })) {
      await out.line(e.kind === "dir" ? `${e.path}/` : e.path);
      sizes?.add(e.path, e.kind, e.stats.size);
    }
    if (sizes !== undefined) {
      await out.line("");
      const source = ignore.file === undefined ? "none" : relative(io.cwd, ignore.file) || ignore.file;
      for (const l of sizes.report(source)) await out.line(l);
    }
    await out.flush();
    return 0;
  },
};

/** Batches lines and honours back-pressure, so a context with a million files streams in bounded memory. */
class LineWriter {
  private buf = "";
  constructor(private readonly stream: NodeJS.WritableStream) {}

  async line(text: string): Promise<void> {
    this.buf += `${text}\n`;
    if (this.buf.length >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.buf === "") return;
    const chunk = this.buf;
    this.buf = "";
    if (!this.stream.write(chunk)) await once(this.stream, "drain");
  }
}

/** Counts what would be sent; directory sizes are the bytes of the regular files below them. */
class SizeTally {
  private files = 0;
  private dirs = 0;
  private links = 0;
  private total = 0;
  private readonly perDir = new Map<string, number>();
  /** The largest files so far, biggest first; never longer than LARGEST_FILES. */
  private readonly bigFiles: Array<[string, number]> = [];

  add(path: string, kind: "file" | "dir" | "symlink" | "other", size: number): void {
    switch (kind) {
      case "dir":
        this.dirs++;
        return;
      case "symlink":
        this.links++;
        return;
      case "other":
        return;
      case "file":
        break;
      default:
        assertNever(kind);
    }
    this.files++;
    this.total += size;
    this.noteFile(path, size);
    for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
      const d = path.slice(0, i);
      this.perDir.set(d, (this.perDir.get(d) ?? 0) + size);
    }
  }

  private noteFile(path: string, size: number): void {
    const last = this.bigFiles.at(-1);
    if (this.bigFiles.length >= LARGEST_FILES && last !== undefined && last[1] >= size) return;
    let i = this.bigFiles.findIndex(([, n]) => n < size);
    if (i < 0) i = this.bigFiles.length;
    this.bigFiles.splice(i, 0, [path, size]);
    if (this.bigFiles.length > LARGEST_FILES) this.bigFiles.pop();
  }

  report(ignoreFile: string): string[] {
    const lines = [
      `Ignore file: ${ignoreFile}`,
      `Total: ${plural(this.files, "file")}, ${plural(this.dirs, "directory", "directories")}, ${plural(this.links, "symlink")}; ${humanBytes(this.total)} (${this.total} bytes)`,
    ];
    const top = [...this.perDir].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, LARGEST);
    if (top.length > 0) {
      lines.push("Largest directories:");
      for (const [d, n] of top) lines.push(`  ${humanBytes(n).padStart(10)}  ${d}/`);
    }
    if (this.bigFiles.length > 0) {
      lines.push("Largest files:");
      for (const [f, n] of this.bigFiles) lines.push(`  ${humanBytes(n).padStart(10)}  ${f}`);
    }
    return lines;
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u] ?? ""}`;
}

const subcommands: readonly Subcommand[] = [ls];

export const contextCommand: Command = commandGroup({
  name: "context",
  summary: "Show what a build sends as its context (ls)",
  description: "Shows what a build would send as its context.",
  subcommands,
});
