import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
});
