import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { main } from "./hatake.ts";
import { memoryIo } from "./testing.ts";
import pkg from "../package.json" with { type: "json" };

describe("hatake", () => {
  it("prints its version", async () => {
    const io = memoryIo();
    expect(await main(["--version"], io)).toBe(0);
    expect(io.out()).toBe(`hatake version ${pkg.version}\n`);
  });

  it("lists the commands", async () => {
    const io = memoryIo();
    expect(await main(["help"], io)).toBe(0);
    expect(io.out()).toMatch(/^Usage: hatake/);
    expect(io.out()).toContain("  version");
  });

  it("shows a command's help", async () => {
    const io = memoryIo();
    expect(await main(["help", "version"], io)).toBe(0);
    expect(io.out()).toMatch(/^Usage: hatake version/);
  });

  it("rejects an unknown command with HTK-CLI-0001 and a suggestion", async () => {
    const io = memoryIo();
    expect(await main(["verison"], io)).toBe(1);
    expect(io.err()).toContain('ERROR HTK-CLI-0001: "verison" is not a hatake command. Did you mean "version"?');
    expect(io.err()).toContain("next step: Run \"hatake help\"");
  });

  it("rejects an unknown option with HTK-CLI-0002", async () => {
    const io = memoryIo();
    expect(await main(["version", "--bogus"], io)).toBe(1);
    expect(io.err()).toMatch(/^ERROR HTK-CLI-0002: The options of "hatake version" could not be read: Unknown option '--bogus'/);
  });

  it("says HTK-CLI-0003 when the bundle was not built", () => {
    const root = mkdtempSync(join(tmpdir(), "htk-bin-"));
    try {
      const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
      cpSync(join(repo, "bin"), join(root, "bin"), { recursive: true });
      const r = spawnSync(process.execPath, [join(root, "bin", "hatake"), "--version"], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("HTK-CLI-0003");
      expect(r.stderr).toContain("npm run build");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
