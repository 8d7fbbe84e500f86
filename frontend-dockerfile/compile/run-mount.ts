import { posix } from "node:path";
import { didYouMean } from "../../base/errors/index.ts";
import type { CacheSharing } from "../../llb/index.ts";

/**
 * `RUN --mount=…`, as BuildKit's `instructions.parseMount` reads it: one CSV record of `key=value`
 * fields (and the bare words `ro`, `readonly`, `rw`, `readwrite`, `required`); keys are
 * case-insensitive; `type` defaults to `bind`; a bind or secret mount is read-only unless `rw` is
 * given, a cache or tmpfs mount writable. Values are expanded with the stage's variables before they
 * are read (except `from`, which must be a literal stage or image name).
 */
export type RunMount = BindRunMount | CacheRunMount | TmpfsRunMount | SecretRunMount | SshRunMount;
export type RunMountKind = RunMount["kind"];

export interface BindRunMount {
  readonly kind: "bind";
  /** As written: relative targets are taken from the working directory at compile time. */
  readonly target: string;
  /** Path inside the source ("" for all of it). */
  readonly source: string;
  /** A stage name or an image; absent: the build context. */
  readonly from?: string;
  readonly readonly: boolean;
}

export interface CacheRunMount {
  readonly kind: "cache";
  readonly target: string;
  /** Defaults to the target as written (BuildKit: "defaults to value of target"). */
  readonly id: string;
  readonly sharing: CacheSharing;
  /** A stage or image a new cache starts from; absent: an empty directory. */
  readonly from?: string;
  readonly source: string;
  readonly readonly: boolean;
  /** Owner and mode of a new, empty cache directory; absent means BuildKit's 0:0 and 0755. */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

export interface TmpfsRunMount {
  readonly kind: "tmpfs";
  readonly target: string;
  /** Bytes; 0 for the kernel default. */
  readonly sizeBytes: number;
}

export interface SecretRunMount {
  readonly kind: "secret";
  readonly id: string;
  /** A file path, absent when the secret is only an environment variable. */
  readonly target?: string;
  /** The environment variable the secret is exposed as (`env=NAME`). */
  readonly env?: string;
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface SshRunMount {
  readonly kind: "ssh";
  readonly id: string;
  /** Absent: `/run/buildkit/ssh_agent.N`, N counting the ssh mounts of the RUN. */
  readonly target?: string;
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export const MOUNT_KEYS = ["type", "from", "source", "target", "readonly", "id", "sharing", "required", "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "size", "env"] as const;
const MOUNT_TYPES = ["bind", "cache", "tmpfs", "secret", "ssh"] as const;
const SHARING = ["shared", "private", "locked"] as const;

/** BuildKit's text for the problem, and a suggestion when a word was mistyped. */
export interface MountProblem {
  readonly message: string;
  readonly suggestion?: string;
}

export type MountParse = { readonly ok: true; readonly mount: RunMount } | { readonly ok: false; readonly problem: MountProblem };

/** Expands a value; returns a problem message on a lexer error. */
export type MountExpander = (value: string) => { ok: true; value: string } | { ok: false; message: string };

/** Go's `encoding/csv` reading one record (no lazy quotes, leading spaces kept). */
export function readCsvRecord(text: string): { ok: true; fields: string[] } | { ok: false; message: string } {
  if (text === "") return { ok: false, message: "failed to parse csv mounts: EOF" };
  const line = text.replace(/\r?\n$/, "");
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q === -1) return { ok: false, message: `failed to parse csv mounts: parse error on line 1, column ${line.length + 1}: extraneous or missing " in quoted-field` };
        field += line.slice(i, q);
        i = q + 1;
        if (line[i] === '"') {
          field += '"';
          i++;
          continue;
        }
        if (i < line.length && line[i] !== ",") {
          return { ok: false, message: `failed to parse csv mounts: parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field` };
        }
        break;
      }
    } else {
      const end = line.indexOf(",", i);
      field = end === -1 ? line.slice(i) : line.slice(i, end);
      const bare = field.indexOf('"');
      if (bare !== -1) return { ok: false, message: `failed to parse csv mounts: parse error on line 1, column ${i + bare + 1}: bare " in non-quoted-field` };
      i = end === -1 ? line.length : end;
    }
    fields.push(field);
    if (i >= line.length) break;
    i++; // the comma
    if (i === line.length) {
      fields.push("");
      break;
    }
  }
  return { ok: true, fields };
}

function parseBool(v: string): boolean | undefined {
  // Go strconv.ParseBool
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

function parseUint(v: string, base: 8 | 10): number | undefined {
  const re = base === 8 ? /^[0-7]+$/ : /^\d+$/;
  if (!re.test(v)) return undefined;
  const n = Number.parseInt(v, base);
  return n <= 0xffffffff ? n : undefined;
}

/** docker/go-units `RAMInBytes`: `64m`, `1.5g`, `512k`, `100` (binary multiples; b, k, m, g, t, p, optional `b`/`ib`). */
export function ramInBytes(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (m === null) return undefined;
  const mult: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
  const unit = m[2]?.toLowerCase();
  return Math.floor(Number(m[1]) * (unit === undefined ? 1 : (mult[unit] ?? 1)));
}

interface Draft {
  type: RunMountKind;
  from?: string;
  source: string;
  target: string;
  readonly?: boolean;
  required: boolean;
  sizeBytes: number;
  id: string;
  sharing?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  env?: string;
}

/** Parses one `--mount` value. `expand` is applied to every value but `from`. */
export function parseRunMount(text: string, expand: MountExpander): MountParse {
  const csv = readCsvRecord(text);
  if (!csv.ok) return { ok: false, problem: { message: csv.message } };
  const d: Draft = { type: "bind", source: "", target: "", required: false, sizeBytes: 0, id: "" };
  const fail = (message: string, suggestion?: string): MountParse => ({ ok: false, problem: suggestion === undefined ? { message } : { message, suggestion } });
  for (const field of csv.fields) {
    const eq = field.indexOf("=");
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1) {
      switch (key) {
        case "readonly":
        case "ro":
          d.readonly = true;
          continue;
        case "readwrite":
        case "rw":
          d.readonly = false;
          continue;
        case "required":
          if (d.type === "secret" || d.type === "ssh") {
            d.required = true;
            continue;
          }
          return fail(`unexpected key '${key}' for mount type '${d.type}'`);
        default:
          return fail(`invalid field '${field}' must be a key=value pair`);
      }
    }
    let value = field.slice(eq + 1);
    if (key === "from") {
      // BuildKit resolves `from` to a stage before variables are known: no expansion there.
      if (/\$./.test(value)) return fail(`'${key}' doesn't support variable expansion, define alias stage instead`);
    } else {
      const r = expand(value);
      if (!r.ok) return fail(r.message);
      value = r.value;
    }
    switch (key) {
      case "type": {
        const t = MOUNT_TYPES.find((x) => x === value.toLowerCase());
        if (t === undefined) {
          const guess = didYouMean(value, MOUNT_TYPES);
          return fail(`unsupported mount type "${value}"${guess === undefined ? "" : ` (did you mean ${guess}?)`}`, guess);
        }
        d.type = t;
        break;
      }
      case "from":
        d.from = value;
        break;
      case "source":
      case "src":
        d.source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        d.target = value;
        break;
      case "readonly":
      case "ro":
      case "readwrite":
      case "rw": {
        const b = parseBool(value);
        if (b === undefined) return fail(`invalid value for ${key}: ${value}`);
        d.readonly = key === "readonly" || key === "ro" ? b : !b;
        break;
      }
      case "required": {
        if (d.type !== "secret" && d.type !== "ssh") return fail(`unexpected key '${key}' for mount type '${d.type}'`);
        const b = parseBool(value);
        if (b === undefined) return fail(`invalid value for ${key}: ${value}`);
        d.required = b;
        break;
      }
      case "size": {
        if (d.type !== "tmpfs") return fail(`unexpected key '${key}' for mount type '${d.type}'`);
        const n = ramInBytes(value);
        if (n === undefined) return fail(`invalid value for ${key}: ${value}`);
        d.sizeBytes = n;
        break;
      }
      case "id":
        d.id = value;
        break;
      case "sharing": {
        const s = SHARING.find((x) => x === value.toLowerCase());
        if (s === undefined) {
          const guess = didYouMean(value, SHARING);
          return fail(`unsupported sharing value "${value}"${guess === undefined ? "" : ` (did you mean ${guess}?)`}`, guess);
        }
        d.sharing = s;
        break;
      }
      case "mode": {
        const n = parseUint(value, 8);
        if (n === undefined) return fail(`invalid value ${value} for mode`);
        d.mode = n;
        break;
      }
      case "uid":
      case "gid": {
        const n = parseUint(value, 10);
        if (n === undefined) return fail(`invalid value ${value} for ${key}`);
        d[key] = n;
        break;
      }
      case "env":
        if (d.type !== "secret") return fail(`unexpected key '${key}' for mount type '${d.type}'`);
        d.env = value;
        break;
      default: {
        const guess = didYouMean(key, MOUNT_KEYS);
        return fail(`unexpected key '${key}' in '${field}'${guess === undefined ? "" : ` (did you mean ${guess}?)`}`, guess);
      }
    }
  }
  return finish(d);
}

function finish(d: Draft): MountParse {
  const fail = (message: string): MountParse => ({ ok: false, problem: { message } });
  const fileInfoAllowed = d.type === "secret" || d.type === "ssh" || d.type === "cache";
  if (!fileInfoAllowed) {
    for (const k of ["mode", "uid", "gid"] as const) if (d[k] !== undefined) return fail(`${k} not allowed for "${d.type}" type mounts`);
  }
  if (d.sharing !== undefined && d.type !== "cache") return fail(`invalid cache sharing set for ${d.type} mount`);
  switch (d.type) {
    case "bind":
      if (d.target === "") return fail("mount target is required");
      return { ok: true, mount: { kind: "bind", target: d.target, source: d.source, ...(d.from === undefined ? {} : { from: d.from }), readonly: d.readonly ?? true } };
    case "cache":
      if (d.target === "") return fail("mount target is required");
      return {
        ok: true,
        mount: {
          kind: "cache",
          target: d.target,
          id: d.id === "" ? d.target : d.id,
          sharing: (d.sharing ?? "shared") as CacheSharing,
          ...(d.from === undefined ? {} : { from: d.from }),
          source: d.source,
          readonly: d.readonly ?? false,
          ...(d.mode === undefined ? {} : { mode: d.mode }),
          ...(d.uid === undefined ? {} : { uid: d.uid }),
          ...(d.gid === undefined ? {} : { gid: d.gid }),
        },
      };
    case "tmpfs":
      if (d.target === "") return fail("mount target is required");
      return { ok: true, mount: { kind: "tmpfs", target: d.target, sizeBytes: d.sizeBytes } };
    case "secret": {
      if (d.from !== undefined) return fail("secret mount should not have a from");
      if (d.source === "" && d.target === "" && d.id === "" && d.env === undefined) return fail("invalid secret mount. one of source, target required");
      if (d.source !== "" && d.id !== "") return fail("both source and id can't be set");
      let id = d.source !== "" ? d.source : d.id;
      if (id === "") id = d.target === "" ? (d.env ?? "") : posix.basename(d.target);
      // A secret exposed only as an environment variable gets no file (BuildKit: env without target).
      const target = d.target !== "" ? d.target : d.env === undefined ? `/run/secrets/${posix.basename(id)}` : undefined;
      return {
        ok: true,
        mount: {
          kind: "secret",
          id,
          ...(target === undefined ? {} : { target }),
          ...(d.env === undefined ? {} : { env: d.env }),
          required: d.required,
          mode: d.mode ?? 0o400,
          uid: d.uid ?? 0,
          gid: d.gid ?? 0,
        },
      };
    }
    case "ssh":
      if (d.source !== "") return fail("ssh does not support source");
      if (d.from !== undefined) return fail("ssh mount should not have a from");
      return {
        ok: true,
        mount: {
          kind: "ssh",
          id: d.id === "" ? "default" : d.id,
          ...(d.target === "" ? {} : { target: d.target }),
          required: d.required,
          mode: d.mode ?? 0o600,
          uid: d.uid ?? 0,
          gid: d.gid ?? 0,
        },
      };
    default:
      return assertKind(d.type);
  }
}

function assertKind(x: never): never {
  throw new Error(`unexpected mount type ${String(x)}`);
}
