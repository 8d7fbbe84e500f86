/**
 * `engine/volumes/`: the local volume driver — the one place volumes are created and removed (records
 * in engine/state, folders under `<dataRoot>/volumes`), option rules, prune, sizes. See README.md.
 */
export {
  ANONYMOUS_LABEL,
  LOCAL_DRIVER,
  directorySize,
  ensureVolume,
  isNoSuchVolume,
  localVolumeMount,
  ramInBytes,
  removeVolume,
  validateLocalOptions,
  validateVolumeName,
  volumeDataPath,
  volumeDir,
  volumesRoot,
  type EnsuredVolume,
  type LocalVolumeMount,
  type RemoveVolumeOptions,
  type VolumeHost,
  type VolumeRequest,
} from "./local.ts";
export { VOLUME_PRUNE_FILTERS, parseGoBool, prunableVolumes, pruneVolumes, type VolumePruneReport } from "./prune.ts";
