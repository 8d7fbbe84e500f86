import { didYouMean, htkError } from "../../base/errors/index.ts";
import { isDigest } from "../../base/oci/digest.ts";
import type { ArtifactOptions, CacheExportSpec, CacheImportSpec } from "./types.ts";

/** Types BuildKit has and HATAKE does not: named, so the error can say so instead of "unknown". */
const OTHER_TYPES = new Set(["gha", "s3", "azblob", "gcs", "oss", "ipfs"]);
/** BuildKit attributes accepted and ignored (they only tune BuildKit's compression). */
const IGNORED = new Set(["compression-level", "force-compression"]);
const ARTIFACT_KEYS = ["mode", "image-manifest", "oci-mediatypes", "compression", "ignore-error", "cache-mounts", ...IGNORED];

type Flag = "--cache-to" | "--cache-from";

/** buildx's CSV form: `key=value` pairs separated by commas (values may be double-quoted). */
function fields(flag: Flag, spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of splitCsv(spec)) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) throw htkError("HTK-CACHE-0200", { flag, spec, detail: `"${part}" is not KEY=VALUE` });
    const key = part.slice(0, eq).trim().toLowerCase();
    if (out.has(key)) throw htkError("HTK-CACHE-0200", { flag, spec, detail: `"${key}" is given twice` });
    out.set(key, part.slice(eq + 1).trim());
  }
  return out;
}

function splitCsv(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Go's strconv.ParseBool, which BuildKit uses for these attributes. */
function bool(flag: Flag, spec: string, key: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw htkError("HTK-CACHE-0200", { flag, spec, detail: `${key}="${value}" is not true or false` });
}

function checkKeys(flag: Flag, spec: string, f: ReadonlyMap<string, string>, allowed: readonly string[]): void {
  for (const key of f.keys()) {
    if (allowed.includes(key)) continue;
    const hint = didYouMean(key, allowed);
    throw htkError("HTK-CACHE-0200", { flag, spec, detail: `"${key}" is not an option of type=${f.get("type") ?? "registry"}${hint === undefined ? "" : ` (did you mean "${hint}"?)`}` });
  }
}

function typeOf(flag: Flag, spec: string, f: ReadonlyMap<string, string>): string {
  const type = f.get("type") ?? (f.has("ref") ? "registry" : f.has("src") || f.has("dest") ? "local" : "registry");
  if (OTHER_TYPES.has(type)) throw htkError("HTK-CACHE-0201", { flag, type });
  if (type !== "registry" && type !== "local" && type !== "inline") {
    const hint = didYouMean(type, ["registry", "local", "inline"]);
    throw htkError("HTK-CACHE-0200", { flag, spec, detail: `type "${type}" is not registry, local or inline${hint === undefined ? "" : ` (did you mean "${hint}"?)`}` });
  }
  return type;
}

function artifactOptions(flag: Flag, spec: string, f: ReadonlyMap<string, string>): ArtifactOptions {
  const mode = f.get("mode") ?? "min";
  if (mode !== "min" && mode !== "max") throw htkError("HTK-CACHE-0200", { flag, spec, detail: `mode "${mode}" is not min or max` });
  const oci = bool(flag, spec, "oci-mediatypes", f.get("oci-mediatypes"), true);
  // BuildKit's rule: the image-manifest layout needs OCI media types, and defaults off without them.
  const imageManifest = bool(flag, spec, "image-manifest", f.get("image-manifest"), oci);
  if (imageManifest && !oci) throw htkError("HTK-CACHE-0200", { flag, spec, detail: "image-manifest=true needs OCI media types (oci-mediatypes=true)" });
  const compression = f.get("compression") ?? "gzip";
  if (compression !== "gzip" && compression !== "uncompressed") {
    throw htkError("HTK-CACHE-0200", { flag, spec, detail: `compression "${compression}" is not gzip or uncompressed${compression === "zstd" || compression === "estargz" ? " (zstd and estargz are not supported yet)" : ""}` });
  }
  const mounts = cacheMountsOption(flag, spec, f.get("cache-mounts"));
  return {
    mode,
    layout: imageManifest ? "image-manifest" : "index",
    oci,
    compression,
    ignoreError: bool(flag, spec, "ignore-error", f.get("ignore-error"), false),
    ...(mounts === undefined ? {} : { cacheMounts: mounts }),
  };
}

/** `cache-mounts=true|false|ID[;ID…]`. */
function cacheMountsOption(flag: Flag, spec: string, value: string | undefined): "all" | readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return "all";
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return undefined;
  const ids = value.split(/[;\s]+/).filter((id) => id !== "");
  if (ids.length === 0) throw htkError("HTK-CACHE-0200", { flag, spec, detail: "cache-mounts= needs true, false or the ids of the cache mounts to export (id1;id2)" });
  return ids;
}

/** `--cache-to`: `type=registry,ref=…`, `type=local,dest=DIR`, `type=inline`, with BuildKit's options. */
export function parseCacheTo(spec: string): CacheExportSpec {
  const flag = "--cache-to";
  if (!spec.includes("=")) return { type: "registry", ref: spec, ...artifactOptions(flag, spec, new Map()) };
  const f = fields(flag, spec);
  switch (typeOf(flag, spec, f)) {
    case "registry": {
      checkKeys(flag, spec, f, ["type", "ref", ...ARTIFACT_KEYS]);
      const ref = f.get("ref");
      if (ref === undefined || ref === "") throw htkError("HTK-CACHE-0200", { flag, spec, detail: "type=registry needs ref=REFERENCE" });
      return { type: "registry", ref, ...artifactOptions(flag, spec, f) };
    }
    case "local": {
      checkKeys(flag, spec, f, ["type", "dest", "tag", ...ARTIFACT_KEYS]);
      const dest = f.get("dest");
      if (dest === undefined || dest === "") throw htkError("HTK-CACHE-0200", { flag, spec, detail: "type=local needs dest=DIRECTORY" });
      return { type: "local", dest, tag: f.get("tag") ?? "latest", ...artifactOptions(flag, spec, f) };
    }
    default: {
      checkKeys(flag, spec, f, ["type", "mode"]);
      if ((f.get("mode") ?? "min") !== "min") throw htkError("HTK-CACHE-0200", { flag, spec, detail: "type=inline holds the final image's steps only (mode=min); use type=registry or type=local for mode=max" });
      return { type: "inline" };
    }
  }
}

/** `--cache-from`: `REF` (a registry cache or an image with an inline cache), `type=registry,ref=…`, `type=local,src=DIR`. */
export function parseCacheFrom(spec: string): CacheImportSpec {
  const flag = "--cache-from";
  if (!spec.includes("=")) return { type: "registry", ref: spec, ignoreError: false };
  const f = fields(flag, spec);
  const type = typeOf(flag, spec, f);
  // The same string often serves both flags: export-only options are accepted and ignored here.
  const ignoreError = bool(flag, spec, "ignore-error", f.get("ignore-error"), false);
  switch (type) {
    case "registry": {
      checkKeys(flag, spec, f, ["type", "ref", ...ARTIFACT_KEYS]);
      const ref = f.get("ref");
      if (ref === undefined || ref === "") throw htkError("HTK-CACHE-0200", { flag, spec, detail: "type=registry needs ref=REFERENCE" });
      return { type: "registry", ref, ignoreError };
    }
    case "local": {
      checkKeys(flag, spec, f, ["type", "src", "tag", "digest", "dest", ...ARTIFACT_KEYS]);
      const src = f.get("src");
      if (src === undefined || src === "") throw htkError("HTK-CACHE-0200", { flag, spec, detail: "type=local needs src=DIRECTORY" });
      const digest = f.get("digest");
      if (digest !== undefined && !isDigest(digest)) throw htkError("HTK-CACHE-0200", { flag, spec, detail: `digest "${digest}" is not a sha256 digest` });
      return { type: "local", src, tag: f.get("tag") ?? "latest", ...(digest === undefined ? {} : { digest }), ignoreError };
    }
    default:
      throw htkError("HTK-CACHE-0200", { flag, spec, detail: "type=inline is read from an image: use --cache-from IMAGE (or type=registry,ref=IMAGE)" });
  }
}

/** The option that names the other layout, for a registry that refused one (HTK-CACHE-0204). */
export function otherLayoutOption(layout: ArtifactOptions["layout"]): string {
  return layout === "image-manifest" ? "image-manifest=false" : "image-manifest=true";
}
