import { readFile } from "node:fs/promises";
import { htkError } from "../../base/errors/index.ts";
import { resolveInRoot } from "../worker/rootfs-path.ts";

/**
 * The user a container process runs as, resolved from the image's /etc/passwd and /etc/group the way
 * Docker does (runc's `user.GetExecUser`, then moby's `getUser`):
 *
 * - `name` or `uid`, optionally `:group` or `:gid`;
 * - a name must exist in /etc/passwd (`unable to find user X: no matching entries in passwd file`),
 *   a number need not (uid N with gid 0 and home "/");
 * - a group name must exist in /etc/group, a number need not;
 * - without an explicit group, the user's groups are the primary gid from /etc/passwd plus every
 *   /etc/group entry that lists the user's name as a member (supplementary groups);
 * - `--group-add` entries are appended (names looked up, numbers as they are);
 * - the primary gid is also the first supplementary group (moby's fix for CVE-2022-36109, so a process
 *   cannot shed it with setgroups).
 */

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** The image's user database, parsed. Empty lists when the files are missing (scratch images). */
export interface UserDatabase {
  readonly passwd: readonly PasswdEntry[];
  readonly group: readonly GroupEntry[];
}

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups, the primary gid first, no duplicates. */
  readonly additionalGids: readonly number[];
  /** HOME for the process when the environment has none. */
  readonly home: string;
}

const UINT32_MAX = 0xffffffff;

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= UINT32_MAX ? n : undefined;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name = "", , uid = "", gid = "", , home = ""] = line.split(":");
    const u = parseId(uid);
    const g = parseId(gid);
    if (u === undefined || g === undefined) continue;
    out.push({ name, uid: u, gid: g, home });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const [name = "", , gid = "", members = ""] = line.split(":");
    const g = parseId(gid);
    if (g === undefined) continue;
    out.push({ name, gid: g, members: members.split(",").map((m) => m.trim()).filter((m) => m !== "") });
  }
  return out;
}

/** Reads /etc/passwd and /etc/group of a root filesystem (symbolic links resolved inside it). */
export async function readUserDatabase(rootfs: string): Promise<UserDatabase> {
  const read = async (path: string): Promise<string> => {
    try {
      return await readFile(await resolveInRoot(rootfs, path, true), "utf8");
    } catch {
      return "";
    }
  };
  const [passwd, group] = await Promise.all([read("/etc/passwd"), read("/etc/group")]);
  return { passwd: parsePasswd(passwd), group: parseGroup(group) };
}

/** Resolves Docker's `--user` (`""` is root) and `--group-add` against the image's database. */
export function resolveUser(db: UserDatabase, user: string, groupAdd: readonly string[] = []): ResolvedUser {
  const spec = user.trim();
  const colon = spec.indexOf(":");
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);

  let uid = 0;
  let gid = 0;
  let home = "/";
  let matchedName: string | undefined;
  // No user means uid 0 (runc matches the passwd entry of the current uid, which is root's).
  const numeric = userPart === "" ? 0 : parseId(userPart);
  const entry = numeric === undefined ? db.passwd.find((e) => e.name === userPart) : db.passwd.find((e) => e.uid === numeric);
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
    home = entry.home === "" ? "/" : entry.home;
    matchedName = entry.name;
  } else if (numeric !== undefined) {
    uid = numeric;
  } else if (/^-?\d+$/.test(userPart)) {
    throw htkError("HTK-RUNTIME-0104", { setting: "user", value: user, reason: "a uid must be between 0 and 4294967295" });
  } else {
    throw htkError("HTK-RUNTIME-0102", { kind: "user", name: userPart, file: "passwd file" });
  }

  const sgids: number[] = [];
  if (groupPart !== undefined && groupPart !== "") {
    gid = lookupGroup(db, groupPart);
  } else if (matchedName !== undefined) {
    // Supplementary groups only in the implicit form (no group given), as runc does.
    for (const g of db.group) if (g.members.includes(matchedName)) sgids.push(g.gid);
  }
  for (const g of groupAdd) sgids.push(lookupGroup(db, g));
  const additionalGids = [...new Set([gid, ...sgids])];
  return { uid, gid, additionalGids, home };
}

function lookupGroup(db: UserDatabase, group: string): number {
  const numeric = parseId(group);
  if (numeric !== undefined) return numeric;
  const entry = db.group.find((g) => g.name === group);
  if (!entry) throw htkError("HTK-RUNTIME-0102", { kind: "group", name: group, file: "group file" });
  return entry.gid;
}
