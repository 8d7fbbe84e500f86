import { execFile } from "node:child_process";
import { chmod, chown, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { isMountPoint, unmount } from "../snapshots/index.ts";
import type { VolumeRecord } from "../state/index.ts";
import { localVolumeMount } from "../volumes/index.ts";

const run = promisify(execFile);

/**
 * The container side of volumes (engine/volumes creates and removes them): Docker's copy-up of the
 * image's content into a new, empty volume, and the mounts of volumes with driver options
 * (`docker volume create -o type=tmpfs …`), made when the first container using one starts and
 * undone when the last one stops.
 */

async function isEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}

/**
 * Docker's copy-up (`copyExistingContents`): a volume mounted where the image has content gets that
 * content while the volume is empty; its root takes the owner and mode of the image's directory.
 * `nocopy` turns it off (the caller decides). True when it copied.
 */
export async function copyImageContent(rootfs: string, destination: string, volumePath: string): Promise<boolean> {
  const source = join(rootfs, destination);
  let st;
  try {
    st = await lstat(source);
  } catch {
    return false;
  }
  if (!st.isDirectory() || !(await isEmptyDir(volumePath))) return false;
  if (!(await isEmptyDir(source))) await run("cp", ["-a", "--", `${source}/.`, volumePath]);
  await chown(volumePath, st.uid, st.gid);
  await chmod(volumePath, st.mode & 0o7777);
  return true;
}

/** Reference-counted mounts of volumes with driver options (`type`, `device`, `o`) onto their `_data`. */
export class VolumeMounts {
  readonly #dataRoot: string;
  readonly #users = new Map<string, number>();

  constructor(dataRoot: string) {
    this.#dataRoot = dataRoot;
  }

  /** A container using `v` starts: mount it unless it is a plain folder or mounted already. */
  async acquire(v: VolumeRecord): Promise<void> {
    const how = localVolumeMount(this.#dataRoot, v);
    if (how.kind === "directory") return;
    const users = this.#users.get(v.name) ?? 0;
    if (users === 0 && !(await isMountPoint(how.target))) {
      // Docker's local driver mounts `device` with `type` and `o` (`type=none,o=bind` is a bind mount).
      await run("mount", ["-t", how.fsType === "" ? "none" : how.fsType, ...(how.options === "" ? [] : ["-o", how.options]), how.device, how.target]);
    }
    this.#users.set(v.name, users + 1);
  }

  /** Counts a user that outlived an engine restart (its mount is in place already). */
  adopt(v: VolumeRecord): void {
    if (localVolumeMount(this.#dataRoot, v).kind === "directory") return;
    this.#users.set(v.name, (this.#users.get(v.name) ?? 0) + 1);
  }

  /** A container using it stopped: the last one unmounts. */
  async release(v: VolumeRecord): Promise<void> {
    const how = localVolumeMount(this.#dataRoot, v);
    if (how.kind === "directory") return;
    const users = (this.#users.get(v.name) ?? 1) - 1;
    if (users > 0) {
      this.#users.set(v.name, users);
      return;
    }
    this.#users.delete(v.name);
    if (await isMountPoint(how.target)) await unmount(how.target);
  }
}
