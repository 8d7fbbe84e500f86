import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ExportStore } from "./build-service-exports.ts";

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
const never = new AbortController().signal;

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

describe("build outputs on their way to the client", () => {
  it("streams a directory as a tar and a file as it is, once each, then removes them (HTK-ENGINE-0606)", async () => {
    const root = mkdtempSync(join(tmpdir(), "htk-exports-"));
    roots.push(root);
    const store = new ExportStore(join(root, "exports"));
    await store.open();
    const dir = await store.dirFor("ref1");
    mkdirSync(join(dir, "0-local", "sub"), { recursive: true });
    writeFileSync(join(dir, "0-local", "sub", "f.txt"), "hello");
    writeFileSync(join(dir, "1-tar"), "TARBYTES");
    const local = store.register(join(dir, "0-local"), "local");
    const file = store.register(join(dir, "1-tar"), "file");
    const tar = await readAll(store.read(local.id, never));
    expect(tar.subarray(257, 262).toString()).toBe("ustar");
    expect(tar.includes(Buffer.from("hello"))).toBe(true);
    expect((await readAll(store.read(file.id, never))).toString()).toBe("TARBYTES");
    expect(existsSync(join(dir, "0-local"))).toBe(false);
    await expect(readAll(store.read(local.id, never))).rejects.toThrow(/HTK-ENGINE-0606/);
  });

  it("says so when the output cannot be packed (HTK-ENGINE-0607)", async () => {
    const root = mkdtempSync(join(tmpdir(), "htk-exports-"));
    roots.push(root);
    const store = new ExportStore(join(root, "exports"));
    const h = store.register(join(root, "gone"), "local");
    await expect(readAll(store.read(h.id, never))).rejects.toThrow(/HTK-ENGINE-0607: Packing the build output failed/);
  });
});
