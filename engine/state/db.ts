import { createHash } from "node:crypto";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import type { Database } from "better-sqlite3";
import { htkError } from "../../base/errors/index.ts";
import { MIGRATIONS, type Migration } from "./migrations.ts";

export interface OpenStateDbOptions {
  /**
   * How long a writer waits for another connection's write lock before failing with SQLITE_BUSY.
   * Two connections exist in practice (the daemon and `hatake` maintenance commands); 5 s rides out any
   * write the engine makes, which are all short.
   */
  readonly busyTimeoutMs?: number;
  /**
   * `quick` (default) runs PRAGMA quick_check at open: it reads every page and checks the b-trees, in
   * time linear in the database size, without cross-checking index contents. `full` runs integrity_check.
   */
  readonly integrity?: "quick" | "full" | "none";
  /** For tests: the migrations to apply (default: all of MIGRATIONS). */
  readonly migrations?: readonly Migration[];
}

/** The opened state database. The owner closes it (the daemon, at stop). */
export interface StateDb {
  readonly db: Database;
  readonly path: string;
  /** The schema version after the migrations ran. */
  readonly schemaVersion: number;
  close(): void;
}

/** `<dataRoot>/state/engine.db`. */
export function stateDbPath(dataRoot: string): string {
  return join(dataRoot, "state", "engine.db");
}

/** Opens (creating if needed) the state database under a data root. */
export function openStateDb(dataRoot: string, options: OpenStateDbOptions = {}): StateDb {
  const dir = join(dataRoot, "state");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return openStateDbAt(join(dir, "engine.db"), options);
}

/**
 * Opens the database at a path, checks it and migrates it forward.
 *
 * - WAL: readers (inspect, ps, events) never block the writer, and a commit is one append to the log.
 * - synchronous=NORMAL: in WAL mode a commit is not fsynced, only checkpoints are. A power cut may lose
 *   the last transactions but never corrupts the database, and a crash of the engine alone (kill -9)
 *   loses nothing because the log is in the OS page cache. The state describes processes that die with
 *   the machine anyway (start-up reconciliation re-derives it), so per-commit fsync (FULL) would cost
 *   latency on every `docker run` for no gain.
 * - foreign_keys=ON: SQLite's default is off per connection; exec instances, volume uses and endpoints
 *   rely on their cascades and restrictions.
 *
 * A database that fails its integrity check is reported (HTK-ENGINE-0100) and left untouched: silently
 * replacing it would make every container the user had disappear.
 */
export function openStateDbAt(path: string, options: OpenStateDbOptions = {}): StateDb {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  let db: Database;
  try {
    db = new BetterSqlite3(path, { timeout: busyTimeoutMs });
  } catch (err) {
    throw isCorruption(err) ? corrupt(path, err) : err;
  }
  try {
    // Container configs hold environment variables (often secrets): owner-only, as Docker's
    // config.v2.json files are. SQLite gives the -wal and -shm files the database file's mode.
    if (path !== ":memory:") chmodSync(path, 0o600);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (String(mode).toLowerCase() !== "wal") throw new Error(`journal_mode is ${String(mode)}, WAL is required`);
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    const integrity = options.integrity ?? "quick";
    if (integrity !== "none") {
      const rows = db.pragma(integrity === "full" ? "integrity_check(20)" : "quick_check(20)") as Array<Record<string, unknown>>;
      const problems = rows.map((r) => String(Object.values(r)[0])).filter((line) => line !== "ok");
      if (problems.length > 0) throw htkError("HTK-ENGINE-0100", { path, detail: problems.slice(0, 5).join("; ") });
    }
  } catch (err) {
    db.close();
    throw isCorruption(err) ? corrupt(path, err) : err;
  }
  let schemaVersion: number;
  try {
    schemaVersion = migrate(db, path, options.migrations ?? MIGRATIONS).to;
  } catch (err) {
    db.close();
    throw err;
  }
  return {
    db,
    path,
    schemaVersion,
    close() {
      if (db.open) db.close();
    },
  };
}

/**
 * Applies the migrations above the database's `user_version`, each in its own transaction. A database
 * newer than this engine is refused (HTK-ENGINE-0101) rather than written to by code that does not know
 * its schema.
 */
export function migrate(db: Database, path: string, migrations: readonly Migration[]): { from: number; to: number } {
  const from = Number(db.pragma("user_version", { simple: true }));
  const known = migrations.length === 0 ? 0 : Math.max(...migrations.map((m) => m.version));
  if (from > known) throw htkError("HTK-ENGINE-0101", { path, found: from, known });
  const pending = [...migrations].filter((m) => m.version > from).sort((a, b) => a.version - b.version);
  let current = from;
  for (const m of pending) {
    if (m.version !== current + 1) throw new Error(`migration ${current + 1} is missing (next is ${m.version}: ${m.name})`);
    // IMMEDIATE: take the write lock first, so two engines racing to migrate serialise instead of
    // both reading the old version.
    db.transaction(() => {
      const now = Number(db.pragma("user_version", { simple: true }));
      if (now >= m.version) return;
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
    current = m.version;
  }
  return { from, to: current };
}

/** SQLite's codes for a damaged file; anything else (busy, permissions) is not corruption. */
function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB"));
}

function corrupt(path: string, err: unknown): Error {
  const detail = err instanceof Error ? err.message : String(err);
  return htkError("HTK-ENGINE-0100", { path, detail: detail.replace(/\.$/, "") }, { cause: err });
}

/**
 * JSON with object keys sorted at every level and no whitespace: the same value always gives the same
 * bytes, so its hash is a checksum of the value rather than of one serialisation of it.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The checksum stored beside a critical record. */
export function checksumOf(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

/**
 * Checks a stored record against its checksum; a mismatch is reported as HTK-ENGINE-0102, never
 * ignored (a damaged Config could start a container with a different command or binds).
 */
export function verifyChecksum(kind: string, key: string, value: unknown, expected: string): void {
  const actual = checksumOf(value);
  if (actual !== expected) throw htkError("HTK-ENGINE-0102", { kind, key, expected, actual });
}
