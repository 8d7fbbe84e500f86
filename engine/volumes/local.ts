import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { isMountPoint, unmount } from "../snapshots/index.ts";
import { generateId, type StateStore, type VolumeRecord } from "../state/index.ts";

/** The label Docker (since 23.0) puts on a volume created without a name; prune removes only these by default. */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

/** The one volume driver the engine has. */
export const LOCAL_DRIVER = "local";

/** Where volumes live and whose records they are: the daemon's state and data root. */
export interface VolumeHost {
  readonly state: StateStore;
  readonly dataRoot: string;
}

/** What `POST /volumes/create` (or a container's `-v name:/path`, `VOLUME` in an image) asks for. */
export interface VolumeRequest {
  /** Absent or "": an anonymous volume with a generated 64-hex name and the anonymous label. */
  readonly name?: string | undefined;
  /** Absent or "": `local`. Any other driver is Docker's plugin-not-found error (HTK-ENGINE-0453). */
  readonly driver?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** The local driver's `driver_opts`: `type`, `o`, `device`, `size` (Docker's rules, validated). */
  readonly options?: Readonly<Record<string, string>> | undefined;
}

export interface EnsuredVolume {
  readonly volume: VolumeRecord;
  /** False when a volume of that name existed (Docker answers a create with the existing volume). */
  readonly created: boolean;
}

/** `<dataRoot>/volumes`, as Docker's `<data-root>/volumes`. */
export function volumesRoot(dataRoot: string): string {
  return join(dataRoot, "volumes");
}

/** The folder of one volume; its data is `_data` inside (Docker's layout, so paths look familiar). */
export function volumeDir(dataRoot: string, name: string): string {
  return join(volumesRoot(dataRoot), name);
}

export function volumeDataPath(dataRoot: string, name: string): string {
  return join(volumeDir(dataRoot, name), "_data");
}

/** Docker's RestrictedNamePattern for local volume names (they become folder names). */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Docker's local driver name check: one character is "too short", other bad names list the allowed characters. */
export function validateVolumeName(name: string): void {
  if (name.length === 1) throw htkError("HTK-ENGINE-0454", { name });
  if (!NAME_PATTERN.test(name)) throw htkError("HTK-ENGINE-0455", { name });
}

/** The local driver's options and which others each needs (volume/local: validOpts, mandatoryOpts). */
const VALID_OPTIONS = ["type", "o", "device", "size"] as const;
const REQUIRED_WITH: ReadonlyArray<readonly [string, readonly string[]]> = [
  ["device", ["type"]],
  ["type", ["device"]],
  ["o", ["device", "type"]],
];

/**
 * Docker's `validateOpts` for the local driver: only type/o/device/size; type and device together, o
 * only with both; a size needs project quotas, which the engine does not set up (HTK-ENGINE-0458). The
 * values themselves (mount options, the device) are checked by mount(2) when a container first uses
 * the volume, as in Docker.
 */
export function validateLocalOptions(name: string, options: Readonly<Record<string, string>>): void {
  const keys = Object.keys(options).sort();
  if (keys.length === 0) return;
  for (const k of keys) {
    if (!(VALID_OPTIONS as readonly string[]).includes(k)) throw htkError("HTK-ENGINE-0456", { name, option: k });
  }
  const size = options["size"];
  if (size !== undefined) {
    const bytes = ramInBytes(size);
    if (bytes === undefined) throw htkError("HTK-ENGINE-0490", { name, value: size });
    if (bytes > 0) throw htkError("HTK-ENGINE-0458", { name });
  }
  for (const [opt, needs] of REQUIRED_WITH) {
    if (!Object.hasOwn(options, opt)) continue;
    for (const other of needs) if (!Object.hasOwn(options, other)) throw htkError("HTK-ENGINE-0457", { name, option: other });
  }
}

/** go-units RAMInBytes: "100m", "1.5GiB", "512" (binary units, case-insensitive); undefined when it is not a size. */
export function ramInBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?(i?b)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? "").toLowerCase();
  const power = unit === "" ? 0 : "kmgtp".indexOf(unit) + 1;
  return Math.trunc(Number(m[1]) * 1024 ** power);
}

/**
 * How a container gets a local volume's data: the `_data` folder itself, or (with options, Docker's
 * `needsMount`) a mount of `device` with `type` and `o` onto `_data` made when the first container
 * uses it — `type=none,o=bind,device=/srv/x` is a bind mount, `type=tmpfs,device=tmpfs,o=size=64m` a
 * tmpfs. Making and counting those mounts is the container runtime's part.
 */
export type LocalVolumeMount =
  | { readonly kind: "directory"; readonly path: string }
  | { readonly kind: "mount"; readonly target: string; readonly device: string; readonly fsType: string; readonly options: string };

export function localVolumeMount(dataRoot: string, v: VolumeRecord): LocalVolumeMount {
  const path = volumeDataPath(dataRoot, v.name);
  const device = v.options["device"];
  const type = v.options["type"];
  if ((device === undefined || device === "") && (type === undefined || type === "")) return { kind: "directory", path };
  return { kind: "mount", target: path, device: device ?? "", fsType: type ?? "", options: v.options["o"] ?? "" };
}

/**
 * One operation at a time per volume name in this process (Docker's local driver holds a lock too): a
 * create racing a remove of the same name must not leave a record without its folder.
 */
const locks = new Map<string, Promise<unknown>>();

async function withVolumeLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

/**
 * Creates a volume (record, `create` event and its folder under `<dataRoot>/volumes/<name>/_data`), or
 * returns the existing one of that name unchanged, as Docker does. The single way volumes come into
 * being: the volume API and containers (named `-v` volumes, anonymous ones for image `VOLUME`s and
 * `-v /path`) both call it.
 */
export async function ensureVolume(host: VolumeHost, request: VolumeRequest = {}): Promise<EnsuredVolume> {
  const anonymous = request.name === undefined || request.name === "";
  let name = anonymous ? generateId() : (request.name as string);
  while (anonymous && host.state.volumes.find(name) !== undefined) name = generateId();
  const driver = request.driver === undefined || request.driver === "" ? LOCAL_DRIVER : request.driver;
  if (driver !== LOCAL_DRIVER) throw htkError("HTK-ENGINE-0453", { name, driver });
  if (!anonymous) validateVolumeName(name);
  const options = { ...(request.options ?? {}) };
  validateLocalOptions(name, options);
  const labels: Record<string, string> = { ...(request.labels ?? {}) };
  if (anonymous) labels[ANONYMOUS_LABEL] = "";

  return withVolumeLock(`${host.dataRoot}\0${name}`, async () => {
    const existing = host.state.volumes.find(name);
    const data = volumeDataPath(host.dataRoot, name);
    const failed = (err: unknown): never => {
      throw htkError("HTK-ENGINE-0463", { name, path: data, action: "created", detail: (err as Error).message }, { cause: err });
    };
    await mkdir(volumesRoot(host.dataRoot), { recursive: true, mode: 0o701 }).catch(failed);
    const madeDir = await mkdir(volumeDir(host.dataRoot, name), { recursive: true, mode: 0o755 }).catch(failed);
    await mkdir(data, { recursive: true, mode: 0o755 }).catch(failed);
    if (existing !== undefined) return { volume: existing, created: false };
    try {
      const volume = host.state.volumes.create({
        name,
        driver,
        labels,
        options,
        mountpoint: data,
        createdAt: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        anonymous,
        scope: "local",
      });
      return { volume, created: true };
    } catch (err) {
      if (madeDir !== undefined) await rm(volumeDir(host.dataRoot, name), { recursive: true, force: true });
      throw err;
    }
  });
}

export interface RemoveVolumeOptions {
  /** Docker's `force`: a volume that does not exist is not an error. An in-use volume is never removed. */
  readonly force?: boolean;
}

/**
 * Removes a volume: the record (in use → HTK-ENGINE-0123 with Docker's text; records `destroy`), then
 * its folder. A `_data` left mounted (a bind or tmpfs volume whose container died with the engine) is
 * unmounted first, so removing the folder never deletes the bind source's files. Returns false when
 * there was no such volume and `force` was given.
 */
export async function removeVolume(host: VolumeHost, name: string, options: RemoveVolumeOptions = {}): Promise<boolean> {
  return withVolumeLock(`${host.dataRoot}\0${name}`, async () => {
    if (options.force === true && host.state.volumes.find(name) === undefined) return false;
    host.state.volumes.remove(name);
    const dir = volumeDir(host.dataRoot, name);
    const data = volumeDataPath(host.dataRoot, name);
    try {
      if (await isMountPoint(data)) await unmount(data);
      if (await isMountPoint(data)) throw new Error(`${data} is still mounted`);
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      throw htkError("HTK-ENGINE-0463", { name, path: dir, action: "removed", detail: (err as Error).message }, { cause: err });
    }
    return true;
  });
}

/**
 * Docker's directory.Size: the apparent sizes of the files under `path` (directories not counted, a
 * hard-linked file once). An entry that vanishes while walking is skipped; a missing `path` is 0.
 */
export async function directorySize(path: string, signal?: AbortSignal): Promise<number> {
  const seen = new Set<string>();
  const stack: string[] = [path];
  let total = 0;
  while (stack.length > 0) {
    signal?.throwIfAborted();
    const p = stack.pop() as string;
    let st;
    try {
      st = await lstat(p);
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    if (st.isDirectory()) {
      const names = await readdir(p).catch((err: unknown) => {
        if (isNotFound(err)) return [] as string[];
        throw err;
      });
      for (const n of names) stack.push(join(p, n));
      continue;
    }
    if (st.size === 0) continue;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    total += st.size;
  }
  return total;
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR";
}

/** True for the errors a volume lookup throws when the volume does not exist (HTK-ENGINE-0122). */
export function isNoSuchVolume(err: unknown): boolean {
  return isHtkError(err) && err.id === "HTK-ENGINE-0122";
}
