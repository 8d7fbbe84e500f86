/**
 * The normalized form of an image reference, as Docker spells it: `busybox` →
 * `docker.io/library/busybox:latest`, `me/app@sha256:…` → `docker.io/me/app@sha256:…`. The builder
 * stores the normalized form so that two spellings of one image share an op digest (and a cache).
 * A deliberately small parser: it normalizes, it does not validate beyond what normalizing needs.
 */
export function normalizeImageRef(ref: string): string {
  const trimmed = ref.trim();
  const at = trimmed.indexOf("@");
  const namePart = at === -1 ? trimmed : trimmed.slice(0, at);
  const digest = at === -1 ? "" : trimmed.slice(at);
  // A tag is a ":" after the last "/" (a ":" before it belongs to a registry port).
  const lastSlash = namePart.lastIndexOf("/");
  const colon = namePart.indexOf(":", lastSlash + 1);
  let name = colon === -1 ? namePart : namePart.slice(0, colon);
  const tag = colon === -1 ? "" : namePart.slice(colon);
  const first = name.split("/")[0] ?? "";
  const hasDomain = name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  if (!hasDomain) name = `docker.io/${name}`;
  if (name === "index.docker.io" || name.startsWith("index.docker.io/")) name = `docker.io${name.slice("index.docker.io".length)}`;
  if (name.startsWith("docker.io/") && !name.slice("docker.io/".length).includes("/")) {
    name = `docker.io/library/${name.slice("docker.io/".length)}`;
  }
  // Docker adds :latest only when there is neither a tag nor a digest.
  return `${name}${tag === "" && digest === "" ? ":latest" : tag}${digest}`;
}
