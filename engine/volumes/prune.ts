import { htkError } from "../../base/errors/index.ts";
import { matchKeyValues, validateFilterKeys, values, type Filters, type VolumeRecord } from "../state/index.ts";
import { ANONYMOUS_LABEL, directorySize, LOCAL_DRIVER, removeVolume, volumeDataPath, type VolumeHost } from "./local.ts";

/** `POST /volumes/prune` filters (volume/service: acceptedPruneFilters). */
export const VOLUME_PRUNE_FILTERS = ["label", "label!", "all"] as const;

/**
 * Which volumes a prune removes, pure: local ones without driver options (their space is not the
 * engine's to reclaim), not used by any container, matching `label` and not `label!`; without
 * `all=true` only anonymous ones (API ≥ 1.42 — an older client's prune means all, which the caller
 * passes as `all`).
 */
export function prunableVolumes(volumes: readonly VolumeRecord[], filters: Filters, inUse: ReadonlySet<string>): VolumeRecord[] {
  validateFilterKeys(filters, VOLUME_PRUNE_FILTERS);
  const all = values(filters, "all");
  if (all.length > 1) throw htkError("HTK-ENGINE-0461", { values: all.join(" ") });
  let everything = false;
  if (all.length === 1) {
    const parsed = parseGoBool(all[0] ?? "");
    if (parsed === undefined) throw htkError("HTK-ENGINE-0460", { value: all[0] ?? "" });
    everything = parsed;
  }
  const labelFilters: Filters = everything ? filters : { ...filters, label: [...values(filters, "label"), ANONYMOUS_LABEL] };
  return volumes.filter(
    (v) =>
      v.driver === LOCAL_DRIVER &&
      Object.keys(v.options).length === 0 &&
      !inUse.has(v.name) &&
      matchKeyValues(labelFilters, "label", v.labels) &&
      (values(filters, "label!").length === 0 || !matchKeyValues(filters, "label!", v.labels)),
  );
}

/** Go's strconv.ParseBool. */
export function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

export interface VolumePruneReport {
  readonly VolumesDeleted: string[];
  readonly SpaceReclaimed: number;
}

const running = new Set<string>();

/**
 * Removes the prunable volumes (their sizes measured first), then records Docker's `prune` event
 * (Actor.ID empty, attribute `reclaimed`). One prune per data root at a time (HTK-ENGINE-0459). A
 * volume that a container took meanwhile is skipped, as Docker skips what it cannot remove.
 */
export async function pruneVolumes(host: VolumeHost, filters: Filters, signal?: AbortSignal): Promise<VolumePruneReport> {
  if (running.has(host.dataRoot)) throw htkError("HTK-ENGINE-0459", {});
  running.add(host.dataRoot);
  try {
    const inUse = new Set(host.state.volumes.list().map((v) => v.name));
    for (const name of host.state.volumes.unused()) inUse.delete(name);
    const candidates = prunableVolumes(host.state.volumes.list(), filters, inUse);
    const report: VolumePruneReport = { VolumesDeleted: [], SpaceReclaimed: 0 };
    let reclaimed = 0;
    for (const v of candidates) {
      if (signal?.aborted === true) break;
      const size = await directorySize(volumeDataPath(host.dataRoot, v.name), signal).catch(() => 0);
      try {
        await removeVolume(host, v.name);
      } catch {
        continue;
      }
      reclaimed += size;
      report.VolumesDeleted.push(v.name);
    }
    host.state.recordEvent({ Type: "volume", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(reclaimed) } } });
    return { ...report, SpaceReclaimed: reclaimed };
  } finally {
    running.delete(host.dataRoot);
  }
}
