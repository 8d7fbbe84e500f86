import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { htkError } from "../base/errors/index.ts";
import type { DockerCli } from "./docker-cli.ts";

/**
 * The builder store, where and as buildx keeps it, so builders created by either are seen by both:
 * `$BUILDX_CONFIG` or `<docker config>/buildx/`, with
 *
 * - `instances/<name>`: one JSON node group per builder (`{"Name","Driver","Nodes":[{"Name",
 *   "Endpoint","Platforms","DriverOpts","Flags","Files"}],"Dynamic"}`, Go's nil as null);
 * - `current`: `{"Key","Name","Global"}` — the builder chosen with `use`, for the docker endpoint
 *   `Key` (a context name, or the default context's host) unless `Global`;
 * - `defaults/<hash of key>`: the builder `use --default` made the default for an endpoint;
 * - `activity/<name>`: the last time it was used (RFC 3339).
 *
 * Writes go through a temporary file and a rename, as buildx's AtomicWriteFile does.
 */
export interface StoredNode {
  readonly Name: string;
  readonly Endpoint: string;
  readonly Platforms: readonly { readonly os: string; readonly architecture: string; readonly variant?: string }[] | null;
  readonly DriverOpts: Readonly<Record<string, string>> | null;
  readonly Flags: readonly string[] | null;
  readonly Files: Readonly<Record<string, string>> | null;
}

export interface NodeGroup {
  readonly Name: string;
  readonly Driver: string;
  readonly Nodes: readonly StoredNode[];
  readonly Dynamic: boolean;
}

interface Current {
  readonly Key: string;
  readonly Name: string;
  readonly Global: boolean;
}

const NAME = /^[a-zA-Z][a-zA-Z0-9.\-_]*$/;

/** buildx's ValidateName: the pattern, then lower case. HTK-BUILDX-0004 otherwise. */
export function validateName(name: string): string {
  if (!NAME.test(name)) throw htkError("HTK-BUILDX-0004", { name });
  return name.toLowerCase();
}

export class BuilderStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  static for(cli: DockerCli): BuilderStore {
    return new BuilderStore(cli.env["BUILDX_CONFIG"] || join(cli.configDir, "buildx"));
  }

  list(): NodeGroup[] {
    let names: string[] = [];
    try {
      names = readdirSync(join(this.root, "instances"));
    } catch {
      return [];
    }
    const out: NodeGroup[] = [];
    for (const n of names) {
      if (n.startsWith(".")) continue;
      const ng = this.get(n);
      if (ng !== undefined) out.push(ng);
    }
    return out.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  }

  /** The builder of that name; undefined when there is none (an invalid name never names one). */
  get(name: string): NodeGroup | undefined {
    if (!NAME.test(name)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.root, "instances", name.toLowerCase()), "utf8")) as NodeGroup;
    } catch {
      return undefined;
    }
  }

  save(ng: NodeGroup): void {
    const name = validateName(ng.Name);
    this.#write(join("instances", name), JSON.stringify(ng));
    this.touch(name);
  }

  remove(name: string): void {
    const n = validateName(name);
    rmSync(join(this.root, "activity", n), { force: true });
    rmSync(join(this.root, "instances", n), { force: true });
  }

  /** Records a use of the builder (buildx's UpdateLastActivity). */
  touch(name: string): void {
    this.#write(join("activity", name.toLowerCase()), new Date().toISOString().replace(/\.\d+Z$/, "Z"));
  }

  lastActivity(name: string): Date | undefined {
    try {
      const d = new Date(readFileSync(join(this.root, "activity", name.toLowerCase()), "utf8").trim());
      return Number.isNaN(d.getTime()) ? undefined : d;
    } catch {
      return undefined;
    }
  }

  setCurrent(key: string, name: string, global: boolean, makeDefault: boolean): void {
    this.#write("current", JSON.stringify({ Key: key, Name: name, Global: global } satisfies Current));
    const h = keyHash(key);
    if (makeDefault) this.#write(join("defaults", h), name);
    else rmSync(join(this.root, "defaults", h), { force: true });
  }

  /** The builder chosen for the endpoint `key` (buildx's Txn.Current); undefined: the context's own. */
  current(key: string): NodeGroup | undefined {
    let c: Current | undefined;
    try {
      c = JSON.parse(readFileSync(join(this.root, "current"), "utf8")) as Current;
    } catch {
      c = undefined;
    }
    if (c !== undefined && c.Name !== "") {
      if (c.Global) {
        const ng = this.get(c.Name);
        if (ng !== undefined) return ng;
      }
      if (c.Key === key) return this.get(c.Name);
    }
    let def: string;
    try {
      def = readFileSync(join(this.root, "defaults", keyHash(key)), "utf8");
    } catch {
      return undefined;
    }
    const ng = this.get(def);
    this.setCurrent(key, def, false, true);
    return ng;
  }

  /** buildx's generated names: `builder_` and 12 random characters, not taken. */
  generateName(): string {
    for (let i = 0; i < 6; i++) {
      const name = `builder_${randomId(12)}`;
      if (this.get(name) === undefined) return name;
    }
    throw new Error("failed to generate random name");
  }

  #write(rel: string, data: string): void {
    const file = join(this.root, rel);
    mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
    const tmp = join(file, "..", `.tmp-${rel.split("/").at(-1) ?? "x"}${randomBytes(4).toString("hex")}`);
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, file);
  }
}

/** buildx's toHash: the first 20 hex digits of sha256(key). */
const keyHash = (key: string): string => createHash("sha256").update(key).digest("hex").slice(0, 20);

/** A random lower-case alphanumeric id (BuildKit's identity.NewID alphabet). */
export function randomId(length: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = randomBytes(length);
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}
