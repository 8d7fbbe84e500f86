import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { htkError } from "../base/errors/index.ts";

/**
 * buildx's `--build-context NAME=oci-layout://PATH[:TAG][@sha256:…]`: the layout on the client, the
 * image named by digest, else by tag (`org.opencontainers.image.ref.name` in index.json, default
 * `latest`), resolved here as buildx resolves it. The directory then travels as local contexts do
 * (synced, incrementally); the engine reads the image's blobs from its copy
 * (engine/api/build-service-oci-layout.ts).
 */
export interface OciLayoutSpec {
  readonly dir: string;
  readonly tag: string;
  readonly digest: string;
}

const REF_NAME = "org.opencontainers.image.ref.name";

export function resolveOciLayout(value: string, cwd: string): OciLayoutSpec {
  const rest = value.slice("oci-layout://".length);
  const at = rest.indexOf("@");
  const beforeDigest = at < 0 ? rest : rest.slice(0, at);
  const digest = at < 0 ? undefined : rest.slice(at + 1);
  // buildx cuts the tag at the first ":" of the path (strings.Cut), as here.
  const colon = beforeDigest.indexOf(":");
  const path = colon < 0 ? beforeDigest : beforeDigest.slice(0, colon);
  const tag = colon < 0 ? "latest" : beforeDigest.slice(colon + 1);
  const dir = resolve(cwd, path);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw htkError("HTK-BUILDX-0164", { value, detail: `${dir} is not a directory` });
  if (digest !== undefined) {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw htkError("HTK-BUILDX-0164", { value, detail: `"${digest}" is not a sha256 digest` });
    return { dir, tag, digest };
  }
  let index: { manifests?: Array<{ digest?: unknown; annotations?: Record<string, unknown> }> };
  try {
    index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as typeof index;
  } catch (err) {
    throw htkError("HTK-BUILDX-0164", { value, detail: `its index.json cannot be read (${err instanceof Error ? err.message : String(err)})` });
  }
  const found = (index.manifests ?? []).find((m) => m.annotations?.[REF_NAME] === tag);
  if (found === undefined || typeof found.digest !== "string") throw htkError("HTK-BUILDX-0164", { value, detail: `index.json has no image tagged "${tag}" (${REF_NAME})` });
  return { dir, tag, digest: found.digest };
}
