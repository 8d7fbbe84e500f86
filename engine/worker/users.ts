import { readFile } from "node:fs/promises";
import type { Chown, UserSpec } from "../../llb/index.ts";
import { htkError } from "../../base/errors/index.ts";
import { resolveInRoot } from "./rootfs-path.ts";

/** uid and gid for a COPY --chown / mkdir owner, with names looked up in the filesystem being changed. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

interface Entry {
  readonly name: string;
  readonly id: number;
  readonly gid: number;
}

async function readDb(root: string, file: "/etc/passwd" | "/etc/group"): Promise<Entry[]> {
  let text = "";
  try {
    text = await readFile(await resolveInRoot(root, file, true), "utf8");
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 3 || line.startsWith("#")) continue;
    const id = Number(f[2]);
    // passwd: name:pw:uid:gid:…; group: name:pw:gid:members
    const gid = file === "/etc/passwd" ? Number(f[3]) : id;
    if (Number.isInteger(id)) out.push({ name: f[0] ?? "", id, gid: Number.isInteger(gid) ? gid : id });
  }
  return out;
}

/**
 * Resolves an owner as BuildKit does for COPY --chown: names are looked up in the destination's
 * /etc/passwd and /etc/group; a user given without a group gets the user's primary group when the user
 * is a name, and the same number when it is a number (`--chown=1000` is 1000:1000).
 */
export async function resolveOwner(root: string, chown: Chown): Promise<Owner> {
  let uid: number;
  let primaryGid: number;
  if (chown.user.kind === "id") {
    uid = chown.user.id;
    primaryGid = chown.user.id;
  } else {
    const name = chown.user.name;
    const user = (await readDb(root, "/etc/passwd")).find((e) => e.name === name);
    if (user === undefined) throw htkError("HTK-BUILD-0002", { kind: "user", name, file: "/etc/passwd" });
    uid = user.id;
    primaryGid = user.gid;
  }
  const gid = chown.group === undefined ? primaryGid : await resolveGroup(root, chown.group);
  return { uid, gid };
}

async function resolveGroup(root: string, group: UserSpec): Promise<number> {
  if (group.kind === "id") return group.id;
  const name = group.name;
  const found = (await readDb(root, "/etc/group")).find((e) => e.name === name);
  if (found === undefined) throw htkError("HTK-BUILD-0002", { kind: "group", name, file: "/etc/group" });
  return found.id;
}
