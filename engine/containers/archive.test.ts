import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { encodeTarHeader, readTar, tarEnd, tarPadding, type TarWriteHeader } from "../snapshots/index.ts";
import { tempDataRoot } from "../state/test-support.ts";
import { archiveResource, exportRootfs, extractArchive } from "./archive.ts";
import { statResource, type ContainerFsView } from "./container-fs.ts";

/** A tar made by hand (entries as given, data for files). */
function tar(entries: ReadonlyArray<Partial<TarWriteHeader> & { name: string; data?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    parts.push(encodeTarHeader({ type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, ...e, size: e.type === undefined || e.type === "file" ? data.length : 0 }));
    if (data.length > 0) parts.push(data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

async function* chunks(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

async function names(source: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(source)) out.push(`${e.header.type === "directory" ? "d" : e.header.type === "symlink" ? "l" : e.header.type === "hardlink" ? "h" : "f"} ${e.header.name}`);
  return out;
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isHtkError(err)) return `${err.id} ${err.plainCause}`;
    throw err;
  }
  return "no error";
}

describe("docker cp archives", () => {
  let base = "";
  let root = "";
  let view: ContainerFsView;
  const signal = new AbortController().signal;
  beforeEach(() => {
    base = tempDataRoot("archive");
    root = `${base}/root`;
    mkdirSync(`${root}/etc`, { recursive: true });
    mkdirSync(`${root}/tmp/d/sub`, { recursive: true });
    writeFileSync(`${root}/etc/passwd`, "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
    writeFileSync(`${root}/etc/group`, "root:x:0:\n");
    writeFileSync(`${root}/tmp/d/a`, "a\n");
    writeFileSync(`${root}/tmp/d/sub/b`, "b\n");
    execFileSync("ln", [`${root}/tmp/d/a`, `${root}/tmp/d/hard`]);
    symlinkSync("/etc", `${root}/tmp/d/link`);
    view = { root, mounts: [] };
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("names a directory's entries after the path asked for ('d', 'd/.'), keeps links and hard links", async () => {
    const d = await statResource(view, "/tmp/d");
    expect(await names(archiveResource(view, d!, signal))).toEqual(["d d/", "f d/a", "h d/hard", "l d/link", "d d/sub/", "f d/sub/b"]);
    const contents = await statResource(view, "/tmp/d/.");
    expect((await names(archiveResource(view, contents!, signal))).slice(0, 2)).toEqual(["d ./", "f ./a"]);
    const file = await statResource(view, "/tmp/d/sub/b");
    const entries: string[] = [];
    for await (const e of readTar(archiveResource(view, file!, signal))) {
      entries.push(`${e.header.name} ${e.header.mode.toString(8)} ${e.header.size}`);
      let body = "";
      for await (const c of e.body) body += c.toString();
      expect(body).toBe("b\n");
    }
    expect(entries).toEqual(["b 644 2"]);
    // export: relative names, from the root's children.
    expect((await names(exportRootfs(view, signal))).slice(0, 3)).toEqual(["d etc/", "f etc/group", "f etc/passwd"]);
  });

  it("writes the container's user and group names", async () => {
    const file = await statResource(view, "/etc/passwd");
    const out = execFileSync("tar", ["-tvf", "-"], { input: Buffer.concat(await collect(archiveResource(view, file!, signal))) }).toString();
    expect(out).toMatch(/^-rw-r--r-- root\/root/);
  });

  it("extracts into a directory: parents made, entries replaced, owners and modes from the archive", async () => {
    writeFileSync(`${root}/tmp/old`, "old");
    const archive = tar([
      { name: "new/deeper/x", data: "x", mode: 0o600, uid: 65534, gid: 65534 },
      { name: "old", data: "replaced" },
      { name: "ln", type: "symlink", linkname: "new/deeper/x" },
      { name: "hl", type: "hardlink", linkname: "old" },
      { name: "./dir/", type: "directory", mode: 0o750 },
    ]);
    await extractArchive(view, "/tmp", chunks(archive), { noOverwriteDirNonDir: true, signal });
    expect(readFileSync(`${root}/tmp/new/deeper/x`, "utf8")).toBe("x");
    const st = statSync(`${root}/tmp/new/deeper/x`);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o600]);
    expect(statSync(`${root}/tmp/new`).mode & 0o777).toBe(0o755);
    expect(readFileSync(`${root}/tmp/old`, "utf8")).toBe("replaced");
    expect(readlinkSync(`${root}/tmp/ln`)).toBe("new/deeper/x");
    expect(statSync(`${root}/tmp/hl`).ino).toBe(statSync(`${root}/tmp/old`).ino);
    expect(statSync(`${root}/tmp/dir`).mode & 0o777).toBe(0o750);
    expect(Math.floor(statSync(`${root}/tmp/dir`).mtimeMs / 1000)).toBe(1_600_000_000);
    // copyUIDGID: the container user's IDs instead.
    await extractArchive(view, "/tmp", chunks(tar([{ name: "owned", data: "o", uid: 7, gid: 7 }])), { noOverwriteDirNonDir: false, owner: { uid: 65534, gid: 65534 }, signal });
    expect(statSync(`${root}/tmp/owned`).uid).toBe(65534);
  });

  it("never writes outside the container: a link in the way is followed inside it, breakouts are refused", async () => {
    // /tmp/d/link -> /etc: entries below it land in the container's /etc, not the host's.
    await extractArchive(view, "/tmp/d", chunks(tar([{ name: "link/created", data: "inside" }])), { noOverwriteDirNonDir: true, signal });
    expect(readFileSync(`${root}/etc/created`, "utf8")).toBe("inside");
    symlinkSync("../../../../../../../../", `${root}/tmp/up`);
    await extractArchive(view, "/tmp", chunks(tar([{ name: "up/escaped", data: "still inside" }])), { noOverwriteDirNonDir: true, signal });
    expect(readFileSync(`${root}/escaped`, "utf8")).toBe("still inside");
    expect(await failure(extractArchive(view, "/tmp", chunks(tar([{ name: "../../outside", data: "no" }])), { noOverwriteDirNonDir: true, signal }))).toBe(
      'HTK-ENGINE-0519 "../../outside" is outside of "/tmp"',
    );
    expect(existsSync(`${base}/outside`)).toBe(false);
    expect(await failure(extractArchive(view, "/tmp", chunks(tar([{ name: "evil", type: "symlink", linkname: "../../etc" }])), { noOverwriteDirNonDir: true, signal }))).toBe(
      'HTK-ENGINE-0520 invalid symlink "/tmp/evil" -> "../../etc"',
    );
    expect(await failure(extractArchive(view, "/tmp", chunks(tar([{ name: "h", type: "hardlink", linkname: "../etc/passwd" }])), { noOverwriteDirNonDir: true, signal }))).toBe(
      'HTK-ENGINE-0520 invalid hardlink "/etc/passwd" -> "../etc/passwd"',
    );
  });

  it("noOverwriteDirNonDir, damaged archives, and files that cannot be written", async () => {
    expect(await failure(extractArchive(view, "/tmp", chunks(tar([{ name: "d", data: "file" }])), { noOverwriteDirNonDir: true, signal }))).toBe(
      'HTK-ENGINE-0517 cannot overwrite directory "/tmp/d" with non-directory "/tmp"',
    );
    expect(await failure(extractArchive(view, "/tmp/d", chunks(tar([{ name: "a", type: "directory" }])), { noOverwriteDirNonDir: true, signal }))).toBe(
      'HTK-ENGINE-0518 cannot overwrite non-directory "/tmp/d/a" with directory "/tmp/d"',
    );
    expect(await failure(extractArchive(view, "/tmp", chunks(Buffer.from("not a tar".repeat(100))), { noOverwriteDirNonDir: true, signal }))).toContain("HTK-ENGINE-0521");
    const cut = tar([{ name: "big", data: "x".repeat(5000) }]).subarray(0, 2000);
    expect(await failure(extractArchive(view, "/tmp", chunks(cut), { noOverwriteDirNonDir: true, signal }))).toContain("HTK-ENGINE-0521");
    // A parent that is a file: the file system refuses (HTK-ENGINE-0523).
    expect(await failure(extractArchive(view, "/tmp/d", chunks(tar([{ name: "a/below", data: "x" }])), { noOverwriteDirNonDir: true, signal }))).toContain("HTK-ENGINE-0523");
    expect(lstatSync(`${root}/tmp/d/a`).isFile()).toBe(true);
  });
});

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of source) out.push(c);
  return out;
}
