/**
 * `engine/snapshots`: layer snapshots. Unpacking image layers (OCI whiteouts both ways), overlayfs
 * mounts with a copying fallback, diffs of finished steps into layer tars, and crash clean-up.
 * See README.md.
 */
export { applyLayer, safeEntryPath, type ApplyLayerOptions, type ApplyLayerResult, type WhiteoutMode } from "./apply-layer.ts";
export { compressGzip, diffDirectories, diffOverlayUpper, type DiffOptions, type LayerStream } from "./diff.ts";
export {
  Snapshotter,
  chainId,
  type ActiveSnapshot,
  type LayerSource,
  type RecoveryReport,
  type SnapshotInfo,
  type SnapshotMode,
  type SnapshotRef,
  type SnapshotterOptions,
  type WritableSnapshot,
} from "./snapshotter.ts";
export { readTar, encodeTarHeader, tarEnd, tarPadding, TarFormatError, TarTruncatedError, type TarEntry, type TarEntryType, type TarHeader, type TarWriteHeader } from "./tar.ts";
export { isMountPoint, mountsUnder, unmount } from "./mounts.ts";
export { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from "./whiteouts.ts";
export { contentLayerSources, unpackImageLayers } from "./image-layers.ts";
