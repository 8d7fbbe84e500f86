import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * Cache import and export through the engine's build paths (the build service, `POST /build`) and the
 * buildx plugin's `--cache-from` / `--cache-to` (issue 6). The cache format's own errors are CACHE.
 */
export const buildCacheDiagnostics = {
  "HTK-ENGINE-0700": {
    title: "Local cache directory not sent",
    cause: "The build imports a local cache (--cache-from type=local,src={src}), but the client sent no copy of that directory with the build.",
    http: 400,
    next: "Use the docker buildx plugin of this engine (it sends the directory), or import the cache from a registry (type=registry,ref=…).",
  },
  "HTK-ENGINE-0701": {
    title: "Cache option not valid here",
    cause: "The cache option {what} cannot be used by this build: {detail}.",
    http: 400,
    next: "Fix the --cache-from / --cache-to value; docker buildx build --help lists the forms.",
  },
  "HTK-BUILDX-0050": {
    title: "Cache backend not available",
    cause: "The cache type \"{type}\" ({flag}) is a BuildKit backend this builder does not have.",
    next: "Use type=registry,ref=REGISTRY/REPO:TAG (any registry, also a local one), type=local,dest=DIR / src=DIR, or type=inline.",
  },
  "HTK-BUILDX-0051": {
    title: "Local cache directory not usable",
    cause: "The local cache directory {dir} ({flag}) cannot be used: {detail}.",
    next: "Check the path and its permissions; for --cache-from it must be a directory a --cache-to type=local,dest=… wrote.",
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
