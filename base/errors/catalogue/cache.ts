import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** CACHE diagnostics. IDs are HTK-CACHE-NNNN, ascending; never renumber one that has shipped. */
export const cacheDiagnostics = {
  "HTK-CACHE-0001": {
    title: "Damaged blob in the build cache",
    cause: "The stored blob {digest} does not match its digest: {detail}.",
    next: "The damaged copy was moved aside to {quarantine}; the next build fetches or rebuilds it. If this happens again, check the disk that holds {root}.",
    http: 500,
  },
  "HTK-CACHE-0002": {
    title: "Received data does not match its digest",
    cause: "The data received for {expected} did not match: it was {actual} with {size} bytes, {expectedSize} bytes were expected.",
    next: "Nothing was stored. Run the build again; if the mismatch repeats, the source that served {expected} sends content other than it announces.",
    http: 500,
  },
  "HTK-CACHE-0003": {
    title: "Build cache not usable",
    cause: "The build cache at {root} could not be used while trying to {operation}: {detail}.",
    next: "Check that {root} exists, is on a mounted disk and can be read and written by the HATAKE engine, then try again.",
    http: 500,
  },
  "HTK-CACHE-0004": {
    title: "No space left for the build cache",
    cause: "The disk that holds the build cache at {root} is full; HATAKE could not {operation}.",
    next: "Free space on that disk or remove unused build cache with \"hatake builder prune\", then run the build again.",
    http: 503,
  },
  "HTK-CACHE-0005": {
    title: "Blob not in the build cache",
    cause: "The build cache at {root} has no blob {digest}.",
    next: "It may have been removed by cache clean-up. Run the build again so that it is fetched or rebuilt.",
    http: 404,
  },
  "HTK-CACHE-0006": {
    title: "Source not found in the build context",
    cause: "\"{path}\" was not found in the build context.",
    next: "Check the source path of the COPY or ADD instruction against the files in the context, and whether .dockerignore excludes \"{path}\".",
    http: 400,
  },
  "HTK-CACHE-0007": {
    title: "Too many symbolic links",
    cause: "Resolving \"{path}\" in the build context followed more than {limit} symbolic links.",
    next: "Look for a symbolic link loop under \"{path}\" in the build context.",
    http: 400,
  },
  "HTK-CACHE-0008": {
    title: "Build context file unreadable",
    cause: "\"{path}\" in the build context could not be read: {detail}.",
    next: "Check that the HATAKE engine may read \"{path}\", or exclude it in .dockerignore if the build does not need it.",
    http: 400,
  },
  "HTK-CACHE-0100": {
    title: "Invalid cache size",
    cause: "\"{value}\" given to {option} is not a size.",
    next: "Give a number of bytes with an optional unit, such as 512MB, 10GB or 2GiB.",
    http: 400,
  },
  "HTK-CACHE-0101": {
    title: "Invalid build cache filter",
    cause: "The filter \"{filter}\" cannot be used: {detail}.",
    next: "Use until=DURATION (such as 24h or 2h30m), type=TYPE (regular, source.local, exec.cachemount, internal, frontend) or id=ID.",
    http: 400,
  },
  "HTK-CACHE-0102": {
    title: "Prune not confirmed",
    cause: "\"hatake prune\" asks before it removes build cache from {root}, and the answer was not yes ({answer}).",
    next: "Answer y to the question, or run it again with -f (--force) to remove the build cache without asking.",
    http: 400,
  },
  "HTK-CACHE-0103": {
    title: "No build cache at this data root",
    cause: "{root} is not a directory, so it holds no build cache.",
    next: "Check the --data-root path: it is the folder that \"hatake build --data-root\" was given.",
    http: 404,
  },
  "HTK-CACHE-0200": {
    title: "Invalid cache option",
    cause: "The {flag} value \"{spec}\" cannot be used: {detail}.",
    next: "Write it as type=registry,ref=REF[,mode=min|max,image-manifest=true|false,oci-mediatypes=true|false,compression=gzip|uncompressed,ignore-error=true], type=local,dest=DIR (src=DIR[,tag=TAG] for --cache-from) or type=inline.",
    http: 400,
  },
  "HTK-CACHE-0201": {
    title: "Cache type not supported",
    cause: "The {flag} type \"{type}\" is not supported here.",
    next: "Use type=registry (any OCI registry: a CI job's registry replaces gha or s3), type=local or type=inline.",
    http: 400,
  },
  "HTK-CACHE-0202": {
    title: "No cache to import",
    cause: "There is no build cache at {source} yet: {detail}.",
    next: "The build runs without it. A build with --cache-to for the same place creates it.",
    http: 404,
  },
  "HTK-CACHE-0203": {
    title: "Cache source unreachable",
    cause: "The build cache at {source} could not be read: {detail}.",
    next: "Check the reference and your access to it (docker login), or add ignore-error=true to --cache-from to build without the cache when it cannot be read.",
    http: 503,
  },
  "HTK-CACHE-0204": {
    title: "Registry refused the cache manifest",
    cause: "The registry \"{host}\" refused the cache manifest in the {layout} layout ({mediaType}): {detail}.",
    next: "Export with the other layout, which this registry may accept: --cache-to type=registry,ref={ref},{option}.",
    http: 400,
  },
  "HTK-CACHE-0205": {
    title: "Cache export failed",
    cause: "Exporting the build cache to {target} failed: {detail}.",
    next: "The build itself succeeded. Fix the cause and build again (the build is then fully cached), or add ignore-error=true to --cache-to so that a failed cache export does not fail the build.",
    http: 500,
  },
  "HTK-CACHE-0206": {
    title: "Unusable cache artifact",
    cause: "The build cache at {source} cannot be used: {detail}.",
    next: "Export it again with --cache-to (HATAKE reads BuildKit's cache config v0 in the image-manifest and index layouts, and inline caches in image configs).",
    http: 400,
  },
  "HTK-CACHE-0207": {
    title: "Stages left out of a mode=min cache",
    cause: "The cache exported to {target} holds only the steps of the final image (mode=min): the results of {stages} ({count} steps) are not in it, so a build that imports it runs them again when they change.",
    next: "Export with mode=max to cache every stage: --cache-to {spec},mode=max.",
    http: 400,
  },
  "HTK-CACHE-0208": {
    title: "Inline cache without an image",
    cause: "The inline cache (--cache-to type=inline) goes into the image's config, but this build exports no image.",
    next: "Name the image with -t or export it with -o type=oci|docker, or export the cache with type=registry or type=local.",
    http: 400,
  },
  "HTK-CACHE-0209": {
    title: "Cached layer not available",
    cause: "The layer {digest} of the imported cache could not be fetched from {source}: {detail}.",
    next: "The step that needed it runs instead; the rest of the cache is still used.",
    http: 503,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
