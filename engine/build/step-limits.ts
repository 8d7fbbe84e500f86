import { htkError } from "../../base/errors/index.ts";
import { ULIMIT_NAMES, goParseInt64, parseUlimit, type UlimitValue } from "../../base/units.ts";

/**
 * What a build sets on every RUN step's container besides its command (BuildKit's build options
 * `shm-size`, `ulimit`, `cgroup-parent`; docker build's --shm-size, --ulimit, --cgroup-parent). The
 * Dockerfile compiler takes these as they are (CompileOptions), puts them on each ExecOp (and so in its
 * digest), and the worker turns them into the step's /dev/shm, rlimits and cgroup.
 */
export interface StepLimits {
  /** /dev/shm in bytes; absent: 64 MiB. */
  readonly shmSize?: number;
  readonly ulimits?: readonly UlimitValue[];
  /** The cgroup steps run under (`/<parent>/buildkit/<step>`); absent: the runtime's own. */
  readonly cgroupParent?: string;
}

/**
 * The limits from a Solve's frontend attributes, as BuildKit's dockerfile frontend reads them (buildx
 * sends `shm-size` in bytes, `ulimit` as `name=soft:hard` joined with commas, `cgroup-parent` as given).
 * Bad values fail with the frontend's texts: HTK-BUILD-0421, HTK-BUILD-0420.
 */
export function stepLimitsFromAttrs(attrs: Readonly<Record<string, string>>): StepLimits {
  const shm = attrs["shm-size"] ?? "";
  let shmSize: number | undefined;
  if (shm !== "") {
    const n = goParseInt64(shm);
    if (!n.ok) throw htkError("HTK-BUILD-0421", { detail: n.message });
    if (n.value < 0) throw htkError("HTK-BUILD-0421", { detail: `invalid size: '${shm}'` });
    if (n.value > 0) shmSize = n.value;
  }
  const ulimits = new Map<string, UlimitValue>();
  // A CSV record of ulimits; they hold no quotes or commas of their own.
  for (const field of (attrs["ulimit"] ?? "").split(",").filter((f) => f !== "")) {
    const u = parseUlimit(field);
    if (!u.ok) throw htkError("HTK-BUILD-0420", { detail: u.message });
    // One per name, the last one winning (buildx keeps its --ulimit values in a map by name).
    ulimits.set(u.value.name, u.value);
  }
  const cgroupParent = attrs["cgroup-parent"] ?? "";
  return checkedLimits({
    ...(shmSize === undefined ? {} : { shmSize }),
    ...(ulimits.size === 0 ? {} : { ulimits: [...ulimits.values()] }),
    ...(cgroupParent === "" ? {} : { cgroupParent }),
  });
}

/**
 * Limits that reach a build from an API (POST /build's `ulimits` JSON): names outside Docker's list
 * are refused (HTK-BUILD-0422), and a cgroup parent may not climb out of the cgroup tree (HTK-BUILD-0423).
 */
export function checkedLimits(limits: StepLimits): StepLimits {
  for (const u of limits.ulimits ?? []) {
    if (!ULIMIT_NAMES.includes(u.name)) throw htkError("HTK-BUILD-0422", { name: u.name, names: ULIMIT_NAMES.join(", ") });
    if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard)) throw htkError("HTK-BUILD-0420", { detail: `ulimit soft limit must be less than or equal to hard limit: ${u.soft} > ${u.hard}` });
  }
  if (limits.cgroupParent !== undefined && limits.cgroupParent.split("/").includes("..")) throw htkError("HTK-BUILD-0423", { parent: limits.cgroupParent });
  return limits;
}
