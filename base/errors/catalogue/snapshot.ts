import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** RUNTIME 0200–0299: layer snapshots (unpacking layers, overlay mounts, diffs into layers). */
export const snapshotDiagnostics = {
  "HTK-RUNTIME-0200": {
    title: "Unsafe path in a layer",
    cause: "The layer {layer} has the entry \"{path}\", which {reason}; the layer was refused and nothing of it was kept.",
    next: "Layers made by Docker, BuildKit or HATAKE never do this: rebuild the image with a standard tool, or pull it from a source you trust.",
  },
  "HTK-RUNTIME-0201": {
    title: "Layer unreadable",
    cause: "The layer {layer} could not be unpacked: {detail}. Nothing of it was kept.",
    next: "Pull the image again; if the blob stored locally is damaged, remove the image and pull it once more.",
  },
  "HTK-RUNTIME-0202": {
    title: "Mount failed",
    cause: "Mounting the {what} at \"{target}\" failed: {detail}.",
    next: "Check that the kernel has overlayfs and that the data root is on a local filesystem (ext4 or xfs); the engine falls back to copying snapshots where overlayfs cannot be used.",
  },
  "HTK-RUNTIME-0203": {
    title: "Snapshot in use",
    cause: "The snapshot \"{id}\" cannot be removed while it is in use: {holders}.",
    next: "Remove the containers, images or snapshots that use it first, or wait for the builds that hold it to finish.",
    http: 409,
  },
  "HTK-RUNTIME-0204": {
    title: "Layer compression not supported",
    cause: "The layer {layer} is compressed with {compression}, which this engine cannot decompress.",
    next: "Pull a gzip or uncompressed variant of the image, or install the \"zstd\" program so the engine can use it.",
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
