import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { familiarTag } from "./build-classic.ts";
import { detectCompression, extractContext, isGitUrl, locateDockerfile, safeContextPath } from "./build-context.ts";

const dirs: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "htk-build-context-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function* chunks(buf: Buffer, size = 1000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

function tarOf(dir: string, ...args: string[]): Buffer {
  return execFileSync("tar", ["-c", "-C", dir, ...args, "."]);
}

describe("build context upload", () => {
  it("tells compressions apart by their magic bytes", () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8]))).toBe("gzip");
    expect(detectCompression(Buffer.from("BZh91AY"))).toBe("bzip2");
    expect(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe("xz");
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd");
    expect(detectCompression(Buffer.from("Dockerfile"))).toBe("none");
  });

  it("extracts files, modes, symbolic links and hard links from plain and compressed tars", async () => {
    const src = temp();
    mkdirSync(join(src, "sub"));
    writeFileSync(join(src, "sub", "run.sh"), "#!/bin/sh\n");
    execFileSync("chmod", ["0755", join(src, "sub", "run.sh")]);
    writeFileSync(join(src, "big.bin"), Buffer.alloc(300_000, 7));
    symlinkSync("sub/run.sh", join(src, "link"));
    execFileSync("ln", [join(src, "big.bin"), join(src, "hard.bin")]);
    for (const tool of ["none", "gzip", "bzip2", "xz"]) {
      const plain = tarOf(src);
      const body = tool === "none" ? plain : execFileSync(tool, ["-c"], { input: plain });
      const dest = temp();
      const stats = await extractContext(chunks(body), dest, new AbortController().signal);
      expect(stats.entries, tool).toBeGreaterThanOrEqual(5);
      expect(readFileSync(join(dest, "sub", "run.sh"), "utf8")).toBe("#!/bin/sh\n");
      expect(statSync(join(dest, "sub", "run.sh")).mode & 0o777).toBe(0o755);
      expect(readlinkSync(join(dest, "link"))).toBe("sub/run.sh");
      expect(statSync(join(dest, "hard.bin")).ino).toBe(statSync(join(dest, "big.bin")).ino);
      expect(readFileSync(join(dest, "big.bin")).length).toBe(300_000);
    }
  });

  it("an empty body is an empty context; an archive ending right after an entry's data is complete (as Go's reader)", async () => {
    const dest = temp();
    expect(await extractContext(chunks(Buffer.alloc(0)), dest, new AbortController().signal)).toEqual({ entries: 0, bytes: 0 });
    const src = temp();
    writeFileSync(join(src, "Dockerfile"), "FROM scratch\n");
    const tar = execFileSync("tar", ["-c", "-C", src, "Dockerfile"]);
    // Header (512) + 13 bytes of data, no padding, no end blocks: what `docker build -f outside` sends.
    const cut = tar.subarray(0, 512 + 13);
    const d2 = temp();
    await extractContext(chunks(cut), d2, new AbortController().signal);
    expect(readFileSync(join(d2, "Dockerfile"), "utf8")).toBe("FROM scratch\n");
  });

  it("refuses truncated, unreadable and unsafe archives", async () => {
    const src = temp();
    writeFileSync(join(src, "f"), Buffer.alloc(5000, 1));
    const tar = tarOf(src);
    const signal = new AbortController().signal;
    await expect(extractContext(chunks(tar.subarray(0, 2000)), temp(), signal)).rejects.toMatchObject({ id: "HTK-BUILD-0300" });
    const gz = execFileSync("gzip", ["-c"], { input: tar });
    await expect(extractContext(chunks(gz.subarray(0, gz.length - 30)), temp(), signal)).rejects.toMatchObject({ id: "HTK-BUILD-0300" });
    const bz = execFileSync("bzip2", ["-c"], { input: tar });
    await expect(extractContext(chunks(bz.subarray(0, bz.length - 20)), temp(), signal)).rejects.toMatchObject({ id: "HTK-BUILD-0300" });
    await expect(extractContext(chunks(Buffer.from("not a tar at all".repeat(64))), temp(), signal)).rejects.toMatchObject({ id: "HTK-BUILD-0302" });

    // A symbolic link to outside, then an entry through it: refused, nothing written outside.
    const evil = temp();
    const outside = temp();
    symlinkSync(outside, join(evil, "escape"));
    const first = execFileSync("tar", ["-b", "1", "-c", "-C", evil, "escape"]);
    const payload = temp();
    mkdirSync(join(payload, "escape"));
    writeFileSync(join(payload, "escape", "pwned"), "x");
    const second = execFileSync("tar", ["-c", "-C", payload, "escape/pwned"]);
    const combined = Buffer.concat([first.subarray(0, first.length - 1024), second]);
    await expect(extractContext(chunks(combined), temp(), signal)).rejects.toMatchObject({ id: "HTK-BUILD-0301" });
    expect(() => readFileSync(join(outside, "pwned"))).toThrow();
    expect(() => safeContextPath("../x")).toThrow(/HTK-BUILD-0301/);
    expect(() => safeContextPath("/etc/passwd")).toThrow(/HTK-BUILD-0301/);
    expect(safeContextPath("./a//b/")).toBe("a/b");
  });

  it("finds the Dockerfile inside the context only", async () => {
    const ctx = temp();
    writeFileSync(join(ctx, "dockerfile"), "FROM scratch\n");
    mkdirSync(join(ctx, "d"));
    writeFileSync(join(ctx, "d", "Build"), "FROM scratch\n");
    const outside = join(temp(), "Dockerfile");
    writeFileSync(outside, "FROM scratch\n");
    symlinkSync(outside, join(ctx, "linked"));
    expect(await locateDockerfile(ctx, undefined)).toMatch(/\/dockerfile$/);
    expect(await locateDockerfile(ctx, "d/Build")).toMatch(/\/d\/Build$/);
    expect(await locateDockerfile(ctx, "/d/Build")).toMatch(/\/d\/Build$/);
    await expect(locateDockerfile(ctx, "Nope")).rejects.toMatchObject({ id: "HTK-BUILD-0303" });
    await expect(locateDockerfile(ctx, "../Dockerfile")).rejects.toMatchObject({ id: "HTK-BUILD-0304" });
    await expect(locateDockerfile(ctx, "linked")).rejects.toMatchObject({ id: "HTK-BUILD-0304" });
  });

  it("knows git URLs as Docker does, and prints tags as Docker's tagger", () => {
    expect(isGitUrl("https://example.com/repo.git")).toBe(true);
    expect(isGitUrl("https://example.com/repo.git#main:sub")).toBe(true);
    expect(isGitUrl("git://example.com/repo")).toBe(true);
    expect(isGitUrl("github.com/moby/moby")).toBe(true);
    expect(isGitUrl("git@github.com:moby/moby.git")).toBe(true);
    expect(isGitUrl("https://example.com/context.tar.gz")).toBe(false);
    expect(familiarTag("x")).toBe("x:latest");
    expect(familiarTag("docker.io/library/busybox:1")).toBe("busybox:1");
    expect(familiarTag("127.0.0.1:5000/a/b")).toBe("127.0.0.1:5000/a/b:latest");
  });
});
