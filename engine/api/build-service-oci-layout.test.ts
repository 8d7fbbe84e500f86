import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ContentStore, RefCounter, type Digest } from "../../cache/index.ts";
import { BlobLeases } from "../images/index.ts";
import { ingestOciLayout, parseOciLayoutAttr } from "./build-service-oci-layout.ts";

const sha = (b: Buffer): Digest => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("OCI layout build contexts in the engine", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function layout(): Promise<{ dir: string; content: ContentStore; leases: BlobLeases; refs: RefCounter; blob(b: Buffer): Digest }> {
    const dir = mkdtempSync(join(tmpdir(), "htk-oci-ctx-"));
    dirs.push(dir);
    mkdirSync(join(dir, "layout", "blobs", "sha256"), { recursive: true });
    const refs = new RefCounter();
    const content = await ContentStore.open(join(dir, "content"), { leaseCount: refs.blobLeaseCount });
    const blob = (b: Buffer): Digest => {
      const d = sha(b);
      writeFileSync(join(dir, "layout", "blobs", "sha256", d.slice(7)), b);
      return d;
    };
    return { dir: join(dir, "layout"), content, leases: new BlobLeases(refs, content, "test"), refs, blob };
  }

  it("reads the plugin's attribute", () => {
    const d = `sha256:${"b".repeat(64)}`;
    expect(parseOciLayoutAttr(`oci-layout://oci-layout-base:v1@${d}`)).toEqual({ local: "oci-layout-base", digest: d });
    expect(parseOciLayoutAttr(`oci-layout://oci-layout-base@${d}`)).toEqual({ local: "oci-layout-base", digest: d });
    expect(parseOciLayoutAttr("oci-layout:///some/path:v1")).toBeUndefined();
  });

  it("stores (leased) the manifest of the platform an index names, its config and layers; refuses what it cannot use", async () => {
    const l = await layout();
    const layer = l.blob(Buffer.from("layer"));
    const config = l.blob(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer] } })));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 0 }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layer, size: 5 }] }));
    const m = l.blob(manifest);
    const index = l.blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: m, size: manifest.length, platform: { os: "linux", architecture: "amd64" } }] })));
    const signal = new AbortController().signal;
    expect(await ingestOciLayout("base", l.dir, index, { os: "linux", architecture: "amd64" }, l.content, l.leases, signal)).toBe(m);
    for (const d of [index, m, config, layer]) {
      expect(await l.content.has(d)).toBe(true);
      expect(l.refs.blobLeaseCount(d)).toBe(1);
    }
    await expect(ingestOciLayout("base", l.dir, index, { os: "linux", architecture: "arm64" }, l.content, l.leases, signal)).rejects.toThrow(/HTK-ENGINE-0921.*has no image for linux\/arm64; it has linux\/amd64/);
    await expect(ingestOciLayout("base", l.dir, `sha256:${"c".repeat(64)}`, { os: "linux", architecture: "amd64" }, l.content, l.leases, signal)).rejects.toThrow(/HTK-ENGINE-0920/);
    await expect(ingestOciLayout("base", l.dir, layer, { os: "linux", architecture: "amd64" }, l.content, l.leases, signal)).rejects.toThrow(/HTK-ENGINE-0922/);
    l.leases.release();
  });
  it("refuses blobs that are links or special files, and blobs/ or blobs/sha256/ that are links, without reading them (HTK-ENGINE-0923)", async () => {
    const amd64 = { os: "linux", architecture: "amd64" };
    const signal = new AbortController().signal;
    // A blob that is a link to a file of the engine's host: refused, and its digest is not told.
    const host = readFileSync("/etc/hostname");
    const hostDigest = sha(host);
    const l = await layout();
    symlinkSync("/etc/hostname", join(l.dir, "blobs", "sha256", hostDigest.slice(7)));
    const refused = ingestOciLayout("base", l.dir, hostDigest, amd64, l.content, l.leases, signal);
    await expect(refused).rejects.toThrow(/HTK-ENGINE-0923.*"base".*symbolic link.*blobs\/sha256\/[0-9a-f]{64}/s);
    await expect(refused).rejects.toMatchObject({ nextStep: expect.stringContaining("skopeo copy") });
    expect(await l.content.has(hostDigest)).toBe(false);
    // The digest of what the link points to appears nowhere when another digest is asked for.
    const other = `sha256:${"d".repeat(64)}` as Digest;
    symlinkSync("/etc/hostname", join(l.dir, "blobs", "sha256", other.slice(7)));
    const err = await ingestOciLayout("base", l.dir, other, amd64, l.content, l.leases, signal).then(() => undefined, (e: unknown) => e);
    expect(String(err)).toMatch(/HTK-ENGINE-0923/);
    expect(JSON.stringify({ ...(err as object), message: String(err) })).not.toContain(hostDigest.slice(7));
    expect(await l.content.has(hostDigest)).toBe(false);
    // A FIFO is not a file either (and must not hang the build).
    const fifo = `sha256:${"e".repeat(64)}` as Digest;
    execFileSync("mkfifo", [join(l.dir, "blobs", "sha256", fifo.slice(7))]);
    await expect(ingestOciLayout("base", l.dir, fifo, amd64, l.content, l.leases, signal)).rejects.toThrow(/HTK-ENGINE-0923/);

    // blobs/sha256 a link to a directory outside the layout (holding a real blob under the asked name).
    const outside = await layout();
    const secret = outside.blob(Buffer.from("a file of the engine's host"));
    const m = await layout();
    rmSync(join(m.dir, "blobs", "sha256"), { recursive: true });
    symlinkSync(join(outside.dir, "blobs", "sha256"), join(m.dir, "blobs", "sha256"));
    await expect(ingestOciLayout("base", m.dir, secret, amd64, m.content, m.leases, signal)).rejects.toThrow(/HTK-ENGINE-0923.*blobs\/sha256\//s);
    expect(await m.content.has(secret)).toBe(false);
    // blobs a link.
    const b = await layout();
    rmSync(join(b.dir, "blobs"), { recursive: true });
    symlinkSync(join(outside.dir, "blobs"), join(b.dir, "blobs"));
    await expect(ingestOciLayout("base", b.dir, secret, amd64, b.content, b.leases, signal)).rejects.toThrow(/HTK-ENGINE-0923.*blobs\//s);
    expect(await b.content.has(secret)).toBe(false);
    // The same layout with real directories is read.
    renameSync(join(outside.dir, "blobs"), join(b.dir, "blobs.real"));
    rmSync(join(b.dir, "blobs"));
    renameSync(join(b.dir, "blobs.real"), join(b.dir, "blobs"));
    await expect(ingestOciLayout("base", b.dir, secret, amd64, b.content, b.leases, signal)).rejects.toThrow(/HTK-ENGINE-0922/);
    expect(await b.content.has(secret)).toBe(true);
    for (const x of [l, outside, m, b]) x.leases.release();
  });
});
