import { describe, expect, it } from "vitest";
import { encodeTarHeader, readTar, tarEnd, tarPadding } from "../snapshots/index.ts";
import { EMPTY_TAR_DIFF_ID, mergeCommitConfig, withoutInitLayer } from "./commit.ts";
import { createHash } from "node:crypto";

async function* of(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

function layer(entries: ReadonlyArray<{ name: string; type?: "file" | "directory"; data?: string }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    parts.push(encodeTarHeader({ name: e.name, type: e.type ?? "file", mode: e.type === "directory" ? 0o755 : 0o644, uid: 0, gid: 0, size: e.type === "directory" ? 0 : data.length, mtime: 1 }));
    if (data.length > 0) parts.push(data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

async function entries(b: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of readTar(b)) out.push(e.header.name);
  return out;
}

describe("docker commit's layer and config", () => {
  it("leaves the runtime's mount points (Docker's init layer) out of the layer, and /etc when nothing else changed in it", async () => {
    const measure = { contentSize: 0 };
    const filtered = withoutInitLayer(
      of(
        layer([
          { name: "etc", type: "directory" },
          { name: "etc/hostname" },
          { name: "etc/hosts" },
          { name: "etc/resolv.conf" },
          { name: "tmp", type: "directory" },
          { name: "tmp/made", data: "made\n" },
          { name: "tmp/.wh.gone" },
        ]),
      ),
      measure,
    );
    expect(await entries(filtered)).toEqual(["tmp/", "tmp/made", "tmp/.wh.gone"]);
    expect(measure.contentSize).toBe(5);
    const kept = withoutInitLayer(of(layer([{ name: "etc", type: "directory" }, { name: "etc/hosts" }, { name: "etc/motd", data: "hi" }])), { contentSize: 0 });
    expect(await entries(kept)).toEqual(["etc/", "etc/motd"]);
    // Nothing left: the empty tar, whose digest is Docker's empty-layer diff ID.
    const chunks: Buffer[] = [];
    for await (const c of withoutInitLayer(of(layer([{ name: "etc", type: "directory" }, { name: "etc/hosts" }])), { contentSize: 0 })) chunks.push(c);
    expect(`sha256:${createHash("sha256").update(Buffer.concat(chunks)).digest("hex")}`).toBe(EMPTY_TAR_DIFF_ID);
  });

  it("merges the new config with the container's as Docker's commit does (no hostname made up)", () => {
    const container = { Hostname: "abc", Env: ["PATH=/bin", "A=1"], Cmd: ["sh"], Labels: { x: "1" }, WorkingDir: "/w", User: "nobody" };
    expect(mergeCommitConfig({ Env: ["A=2"], Cmd: ["true"], Labels: { y: "2" } }, container)).toMatchObject({
      Hostname: "abc",
      Env: ["A=2", "PATH=/bin"],
      Cmd: ["true"],
      Labels: { x: "1", y: "2" },
      WorkingDir: "/w",
      User: "nobody",
    });
    expect(mergeCommitConfig({}, { Cmd: ["sh"] })["Hostname"]).toBeUndefined();
  });
});
