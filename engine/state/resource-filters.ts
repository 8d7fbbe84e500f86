import { htkError } from "../../base/errors/index.ts";
import { exactMatch, match, matchKeyValues, validateFilterKeys, values } from "./filters.ts";
import type { Filters, NetworkRecord, VolumeRecord } from "./types.ts";

/** GET /volumes filters (Docker 26.1: volume/service/volumes.go). */
export const VOLUME_FILTERS = ["dangling", "driver", "label", "name"] as const;

/** GET /networks filters (Docker 26.1: daemon/network/filter.go). */
export const NETWORK_FILTERS = ["dangling", "driver", "id", "label", "name", "scope", "type"] as const;

/** The networks Docker creates itself; `type=builtin` selects them. */
const BUILTIN_NETWORKS = ["bridge", "host", "none"];

function boolValue(filter: string, v: string): boolean {
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw htkError("HTK-ENGINE-0117", { filter, value: v, accepted: "true, false, 1, 0" });
}

/**
 * Docker's volume list filters, pure. `inUse` says which volumes a container uses (the `dangling`
 * filter: true → unused only). `name` is Docker's Match (substring or regular expression).
 */
export function filterVolumes(volumes: readonly VolumeRecord[], filters: Filters, inUse: ReadonlySet<string>): VolumeRecord[] {
  validateFilterKeys(filters, VOLUME_FILTERS);
  const dangling = values(filters, "dangling").map((v) => boolValue("dangling", v));
  return volumes.filter(
    (v) =>
      match(filters, "name", v.name) &&
      match(filters, "driver", v.driver) &&
      matchKeyValues(filters, "label", v.labels) &&
      (dangling.length === 0 || dangling.some((d) => d === !inUse.has(v.name))),
  );
}

/**
 * Docker's network list filters, pure. `attached` says which networks have endpoints (`dangling=true`:
 * networks no container uses, the built-in ones excluded as Docker excludes them).
 */
export function filterNetworks(networks: readonly NetworkRecord[], filters: Filters, attached: ReadonlySet<string>): NetworkRecord[] {
  validateFilterKeys(filters, NETWORK_FILTERS);
  const types = values(filters, "type");
  for (const ty of types) {
    if (ty !== "custom" && ty !== "builtin") throw htkError("HTK-ENGINE-0117", { filter: "type", value: ty, accepted: "custom, builtin" });
  }
  const dangling = values(filters, "dangling").map((v) => boolValue("dangling", v));
  return networks.filter((n) => {
    const builtin = BUILTIN_NETWORKS.includes(n.name);
    if (types.length > 0 && !types.includes(builtin ? "builtin" : "custom")) return false;
    if (dangling.length > 0 && !dangling.some((d) => (d ? !builtin && !attached.has(n.id) : builtin || attached.has(n.id)))) return false;
    return (
      exactMatch(filters, "driver", n.driver) &&
      // IDs match by prefix, names as Docker's Match (substring or regular expression).
      (values(filters, "id").length === 0 || values(filters, "id").some((p) => n.id.startsWith(p))) &&
      match(filters, "name", n.name) &&
      exactMatch(filters, "scope", n.scope) &&
      matchKeyValues(filters, "label", n.labels)
    );
  });
}
