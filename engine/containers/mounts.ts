import { posix } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import type { MountRequest } from "../runtime/index.ts";
import type { ContainerConfig, HostConfig, MountPoint } from "../state/index.ts";
import { ANONYMOUS_LABEL, validateVolumeName } from "../volumes/index.ts";

/**
 * A container's mounts, Docker's way (volume/mounts/linux_parser.go, daemon/volumes.go,
 * daemon/create_unix.go): `-v` binds and volumes (`HostConfig.Binds`), `--mount` (`HostConfig.Mounts`),
 * and anonymous volumes for the image's and the user's `Volumes` that nothing else covers. Planned
 * once at create (the mount points are what `docker inspect` shows as `Mounts`, and the volumes they
 * name are created then); turned into runtime mounts at every start. Pure.
 */

/** A volume the container needs, created at `docker create` unless it exists. */
export interface VolumeNeed {
  readonly name: string;
  /** Random-named (`-v /path`, an image VOLUME, `--mount type=volume` without source). */
  readonly anonymous: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly driverOpts: Readonly<Record<string, string>>;
}

export interface MountPlan {
  readonly points: readonly MountPoint[];
  readonly volumes: readonly VolumeNeed[];
}

export interface PlanOptions {
  /** Where a volume's data lives (`<dataRoot>/volumes/<name>/_data`). */
  readonly volumePath: (name: string) => string;
  /** A fresh name for an anonymous volume (64 hex digits, as Docker's). */
  readonly anonymousName: () => string;
  /** Whether a host path exists (`--mount type=bind` refuses a missing source). */
  readonly hostPathExists: (path: string) => boolean;
}


const PROPAGATIONS = new Set(["private", "rprivate", "shared", "rshared", "slave", "rslave"]);
const RW_MODES = new Set(["rw", "ro"]);
const LABEL_MODES = new Set(["z", "Z"]);
const COPY_MODES = new Set(["nocopy"]);
const CONSISTENCY_MODES = new Set(["consistent", "cached", "delegated"]);

function mountConfigError(type: string, detail: string): never {
  throw htkError("HTK-ENGINE-0356", { type, detail });
}

function specError(spec: string, detail = ""): never {
  throw htkError("HTK-ENGINE-0357", { spec, detail: detail === "" ? "" : `: ${detail}` });
}

/** linuxValidMountMode: known options, at most one of each kind. */
function validMode(mode: string): boolean {
  if (mode === "") return true;
  const counts = new Map<string, number>();
  for (const o of mode.split(",")) {
    const kind = RW_MODES.has(o) || o === "rro" || o.startsWith("ro-")
      ? "rw"
      : LABEL_MODES.has(o)
        ? "label"
        : PROPAGATIONS.has(o)
          ? "propagation"
          : COPY_MODES.has(o)
            ? "copy"
            : CONSISTENCY_MODES.has(o)
              ? "consistency"
              : undefined;
    if (kind === undefined) return false;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts.values()].every((n) => n <= 1);
}

function checkTarget(type: string, target: string): string {
  if (target === "") mountConfigError(type, "field Target must not be empty");
  if (posix.normalize(target) === "/") mountConfigError(type, "invalid specification: destination can't be '/'");
  if (!target.startsWith("/")) mountConfigError(type, `invalid mount path: '${target}' mount path must be absolute`);
  return posix.normalize(target).replace(/(.)\/$/, "$1");
}

interface RawMount {
  readonly Type?: string;
  readonly Source?: string;
  readonly Target?: string;
  readonly ReadOnly?: boolean;
  readonly BindOptions?: { readonly Propagation?: string; readonly CreateMountpoint?: boolean } | null;
  readonly VolumeOptions?: { readonly NoCopy?: boolean; readonly Labels?: Record<string, string>; readonly DriverConfig?: { Name?: string; Options?: Record<string, string> } | null } | null;
  readonly TmpfsOptions?: { readonly SizeBytes?: number; readonly Mode?: number } | null;
}

/** Mount points and the volumes they need, in Docker's order: binds, `--mount`s, then anonymous volumes. */
export function planMounts(config: ContainerConfig, hostConfig: HostConfig, opts: PlanOptions): MountPlan {
  const points: MountPoint[] = [];
  const volumes: VolumeNeed[] = [];
  const taken = new Set<string>();
  const add = (p: MountPoint): void => {
    if (taken.has(p.Destination)) throw htkError("HTK-ENGINE-0396", { destination: p.Destination });
    taken.add(p.Destination);
    points.push(p);
  };
  const needVolume = (name: string | undefined, raw: RawMount | undefined): string => {
    if (name !== undefined && name !== "") {
      validateVolumeName(name);
      if (!volumes.some((v) => v.name === name)) volumes.push({ name, anonymous: false, labels: raw?.VolumeOptions?.Labels ?? {}, driverOpts: raw?.VolumeOptions?.DriverConfig?.Options ?? {} });
      return name;
    }
    const fresh = opts.anonymousName();
    volumes.push({ name: fresh, anonymous: true, labels: { [ANONYMOUS_LABEL]: "", ...(raw?.VolumeOptions?.Labels ?? {}) }, driverOpts: {} });
    return fresh;
  };

  for (const spec of (hostConfig["Binds"] as string[] | null | undefined) ?? []) {
    const parts = spec.split(":");
    if (parts[0] === "" || parts.length > 3) specError(spec);
    let source = "";
    let target: string;
    let mode = "";
    if (parts.length === 1) target = parts[0] ?? "";
    else if (parts.length === 2) {
      if (validMode(parts[1] ?? "")) specError(spec);
      source = parts[0] ?? "";
      target = parts[1] ?? "";
    } else {
      source = parts[0] ?? "";
      target = parts[1] ?? "";
      mode = parts[2] ?? "";
    }
    if (!validMode(mode)) throw htkError("HTK-ENGINE-0359", { mode });
    const type = source.startsWith("/") ? "bind" : "volume";
    let destination: string;
    try {
      destination = checkTarget(type, target);
    } catch (err) {
      specError(spec, err instanceof Error && "plainCause" in err ? String((err as { plainCause: unknown }).plainCause) : "");
    }
    const options = mode.split(",");
    const rw = !options.some((o) => o === "ro" || o === "rro" || o.startsWith("ro-"));
    if (type === "bind") {
      const propagation = options.find((o) => PROPAGATIONS.has(o)) ?? "rprivate";
      add({ Type: "bind", Source: posix.normalize(source), Destination: destination, Mode: mode, RW: rw, Propagation: propagation });
    } else {
      if (options.some((o) => o === "rro" || o.startsWith("ro-"))) specError(spec, `mount mode "${mode}" requires a bind mount`);
      const name = needVolume(source, undefined);
      add({ Type: "volume", Name: name, Source: opts.volumePath(name), Destination: destination, Driver: "local", Mode: mode === "" ? "z" : mode, RW: rw, Propagation: "" });
    }
  }

  for (const raw of (hostConfig["Mounts"] as RawMount[] | null | undefined) ?? []) {
    const type = raw.Type ?? "";
    if (!["bind", "volume", "tmpfs"].includes(type)) {
      if (type === "npipe" || type === "cluster" || type === "image") mountConfigError(type, `mount type "${type}" is not supported on this engine`);
      mountConfigError(type, "mount type unknown");
    }
    const destination = checkTarget(type, raw.Target ?? "");
    const ro = raw.ReadOnly === true;
    switch (type) {
      case "bind": {
        const source = raw.Source ?? "";
        if (source === "") mountConfigError(type, "field Source must not be empty");
        const propagation = raw.BindOptions?.Propagation ?? "";
        if (propagation !== "" && !PROPAGATIONS.has(propagation)) mountConfigError(type, `invalid propagation mode: ${propagation}`);
        if (raw.VolumeOptions !== undefined && raw.VolumeOptions !== null) mountConfigError(type, "field VolumeOptions must not be specified");
        if (!source.startsWith("/")) mountConfigError(type, `invalid mount path: '${source}' mount path must be absolute`);
        if (raw.BindOptions?.CreateMountpoint !== true && !opts.hostPathExists(source)) mountConfigError(type, `bind source path does not exist: ${source}`);
        add({ Type: "bind", Source: posix.normalize(source), Destination: destination, Mode: "", RW: !ro, Propagation: propagation === "" ? "rprivate" : propagation });
        break;
      }
      case "volume": {
        if (raw.BindOptions !== undefined && raw.BindOptions !== null) mountConfigError(type, "field BindOptions must not be specified");
        const source = raw.Source ?? "";
        if (source === "" && ro) mountConfigError(type, "must not set ReadOnly mode when using anonymous volumes");
        const name = needVolume(source, raw);
        add({ Type: "volume", Name: name, Source: opts.volumePath(name), Destination: destination, Driver: "local", Mode: "z", RW: !ro, Propagation: "" });
        break;
      }
      case "tmpfs": {
        if (raw.BindOptions !== undefined && raw.BindOptions !== null) mountConfigError(type, "field BindOptions must not be specified");
        if ((raw.Source ?? "") !== "") mountConfigError(type, "field Source must not be specified");
        add({ Type: "tmpfs", Source: "", Destination: destination, Mode: "", RW: !ro, Propagation: "" });
        break;
      }
      default:
        mountConfigError(type, "mount type unknown");
    }
  }

  // Config.Volumes (the image's VOLUMEs and `-v /path`): an anonymous volume unless something is mounted there.
  const tmpfs = new Set(Object.keys((hostConfig["Tmpfs"] as Record<string, string> | null | undefined) ?? {}).map((t) => posix.normalize(t)));
  for (const target of Object.keys((config["Volumes"] as Record<string, unknown> | null | undefined) ?? {})) {
    const destination = posix.normalize(target);
    if (taken.has(destination) || tmpfs.has(destination)) continue;
    const name = needVolume(undefined, undefined);
    add({ Type: "volume", Name: name, Source: opts.volumePath(name), Destination: destination, Driver: "local", Mode: "", RW: true, Propagation: "" });
  }
  return { points, volumes };
}

/** `ConvertTmpfsOptions`: the `--mount type=tmpfs` options as mount data ("size=64m,mode=1777"). */
export function tmpfsOptions(opt: RawMount["TmpfsOptions"], readOnly: boolean): string {
  const out: string[] = [];
  if (readOnly) out.push("ro");
  if (opt?.Mode !== undefined && opt.Mode !== 0) out.push(`mode=${opt.Mode.toString(8)}`);
  if (opt?.SizeBytes !== undefined && opt.SizeBytes !== 0) {
    let size = opt.SizeBytes;
    let suffix = "";
    for (const [s, d] of [["g", 1 << 30], ["m", 1 << 20], ["k", 1 << 10]] as const) {
      if (size % d === 0) {
        size /= d;
        suffix = s;
        break;
      }
    }
    out.push(`size=${size}${suffix}`);
  }
  return out.join(",");
}

/** Whether a volume's content is copied up from the image on first use (`nocopy` turns it off). */
export function copiesImageContent(point: MountPoint, hostConfig: HostConfig): boolean {
  if (point.Type !== "volume") return false;
  const raw = ((hostConfig["Mounts"] as RawMount[] | null | undefined) ?? []).find((m) => m.Type === "volume" && posix.normalize(m.Target ?? "") === point.Destination);
  if (raw?.VolumeOptions?.NoCopy === true) return false;
  return !point.Mode.split(",").includes("nocopy");
}

/** The runtime mounts of a container at start: its mount points (volumes are binds of their data) and `--tmpfs`. */
export function runtimeMounts(points: readonly MountPoint[], hostConfig: HostConfig): MountRequest[] {
  const out: MountRequest[] = [];
  const raws = (hostConfig["Mounts"] as RawMount[] | null | undefined) ?? [];
  for (const p of points) {
    switch (p.Type) {
      case "bind":
      case "volume": {
        const propagation = p.Propagation === "" ? "rprivate" : p.Propagation;
        out.push({
          kind: "bind",
          source: p.Source,
          target: p.Destination,
          readonly: !p.RW,
          propagation: PROPAGATIONS.has(propagation) ? (propagation as "rprivate") : "rprivate",
        });
        break;
      }
      case "tmpfs": {
        const raw = raws.find((m) => m.Type === "tmpfs" && posix.normalize(m.Target ?? "") === p.Destination);
        out.push({ kind: "tmpfs", target: p.Destination, options: tmpfsOptions(raw?.TmpfsOptions, !p.RW) });
        break;
      }
      case "npipe":
      case "cluster":
        break;
      default: {
        const never: never = p.Type;
        throw new Error(`unknown mount type ${String(never)}`);
      }
    }
  }
  for (const [target, options] of Object.entries((hostConfig["Tmpfs"] as Record<string, string> | null | undefined) ?? {})) {
    out.push({ kind: "tmpfs", target: posix.normalize(target), options });
  }
  return out;
}
