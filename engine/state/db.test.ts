import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { canonicalJson, checksumOf, openStateDb, stateDbPath } from "./db.ts";
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from "./migrations.ts";
import { openStateStore } from "./store.ts";
import { spec, tempDataRoot } from "./test-support.ts";

const roots: string[] = [];
function root(): string {
  const r = tempDataRoot("db");
  roots.push(r);
  return r;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("opening the state database", () => {
  it("creates <dataRoot>/state/engine.db in WAL mode with NORMAL sync, foreign keys and a busy timeout", () => {
    const dataRoot = root();
    const s = openStateDb(dataRoot, { busyTimeoutMs: 1234 });
    try {
      expect(s.path).toBe(stateDbPath(dataRoot));
      expect(s.db.pragma("journal_mode", { simple: true })).toBe("wal");
      // 1 = NORMAL
      expect(s.db.pragma("synchronous", { simple: true })).toBe(1);
      expect(s.db.pragma("foreign_keys", { simple: true })).toBe(1);
      expect(s.db.pragma("busy_timeout", { simple: true })).toBe(1234);
      expect(s.db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(s.schemaVersion).toBe(SCHEMA_VERSION);
      // Configs carry environment variables: owner-only.
      expect(statSync(s.path).mode & 0o777).toBe(0o600);
    } finally {
      s.close();
    }
    // Reopening is a no-op migration.
    const again = openStateDb(dataRoot, { integrity: "full" });
    expect(again.schemaVersion).toBe(SCHEMA_VERSION);
    again.close();
  });

  it("migrates an old schema forward and keeps its data", () => {
    const dataRoot = root();
    const v1 = openStateDb(dataRoot, { migrations: MIGRATIONS.slice(0, 1) });
    expect(v1.schemaVersion).toBe(1);
    expect(v1.db.prepare("SELECT name FROM sqlite_master WHERE name = 'volumes'").get()).toBeUndefined();
    // A version-1 engine wrote a container (raw SQL: today's code writes today's schema).
    const id = "c".repeat(64);
    const config = { Image: "busybox", Cmd: ["true"] };
    const hostConfig = { NetworkMode: "bridge" };
    v1.db
      .prepare(
        `INSERT INTO containers (id, name, status, created_ns, created, image, image_id, path, args_json, config_json,
           host_config_json, config_sha256, state_json, driver, platform)
         VALUES (?, '/kept', 'exited', 1700000000000000000, '2023-11-14T22:13:20Z', 'busybox', 'sha256:x', 'true', '[]', ?, ?, ?, ?, 'overlayfs', 'linux')`,
      )
      .run(
        id,
        JSON.stringify(config),
        JSON.stringify(hostConfig),
        checksumOf({ Image: "busybox", ImageID: "sha256:x", Path: "true", Args: [], Config: config, HostConfig: hostConfig }),
        JSON.stringify({ Pid: 0, ExitCode: 3, Error: "", OOMKilled: false, StartedAt: "2023-11-14T22:13:20Z", FinishedAt: "2023-11-14T22:13:21Z", ManuallyStopped: false }),
      );
    v1.close();
    const c = { id };

    const current = openStateStore(dataRoot);
    try {
      expect(current.schemaVersion).toBe(SCHEMA_VERSION);
      expect(current.containers.resolve("kept").id).toBe(c.id);
      expect(current.volumes.list()).toEqual([]);
      expect(current.containers.resolve("kept").state.ExitCode).toBe(3);
      // The new tables work with the old rows: a volume can be used by a new container.
      current.volumes.create({ name: "data", driver: "local", labels: {}, options: {}, mountpoint: "/v/data", createdAt: "2024-01-01T00:00:00Z", anonymous: false, scope: "local" });
      const user = current.containers.create(spec({ mounts: [{ Type: "volume", Name: "data", Source: "/v/data", Destination: "/data", Mode: "z", RW: true, Propagation: "" }] }));
      expect(current.containers.usersOfVolume("data")).toEqual([user.id]);
    } finally {
      current.close();
    }
  });

  it("rolls a failing migration back entirely: the version and the schema stay as they were", () => {
    const dataRoot = root();
    openStateDb(dataRoot, { migrations: MIGRATIONS.slice(0, 1) }).close();
    const broken: Migration = {
      version: 2,
      name: "fails half way",
      up(db) {
        db.exec("CREATE TABLE half_done (x INTEGER)");
        throw new Error("disk full");
      },
    };
    expect(() => openStateDb(dataRoot, { migrations: [MIGRATIONS[0] as Migration, broken] })).toThrow(/disk full/);
    const s = openStateDb(dataRoot, { migrations: MIGRATIONS.slice(0, 1) });
    expect(s.schemaVersion).toBe(1);
    expect(s.db.prepare("SELECT name FROM sqlite_master WHERE name = 'half_done'").get()).toBeUndefined();
    s.close();
  });

  it("refuses a database written by a newer engine (HTK-ENGINE-0101)", () => {
    const dataRoot = root();
    const s = openStateDb(dataRoot);
    s.db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    s.close();
    const err = thrown(() => openStateDb(dataRoot));
    expect(isHtkError(err, "HTK-ENGINE-0101")).toBe(true);
    expect(String(err)).toContain(`schema version ${SCHEMA_VERSION + 5}`);
  });

  it("reports a corrupt database (HTK-ENGINE-0100) and never replaces it", () => {
    const dataRoot = root();
    mkdirSync(join(dataRoot, "state"), { recursive: true });
    const path = stateDbPath(dataRoot);
    const junk = Buffer.from("this is not an SQLite database, it is a test's garbage ".repeat(100));
    writeFileSync(path, junk);
    const err = thrown(() => openStateDb(dataRoot));
    expect(isHtkError(err, "HTK-ENGINE-0100")).toBe(true);
    expect(isHtkError(err) ? err.nextStep : "").toContain("never replaces it");
    expect(readFileSync(path).equals(junk)).toBe(true);
  });

  it("finds damaged pages with the integrity check (HTK-ENGINE-0100)", () => {
    const dataRoot = root();
    const store = openStateStore(dataRoot);
    for (let i = 0; i < 200; i++) store.containers.create(spec({ name: `c${i}` }));
    store.close();
    const path = stateDbPath(dataRoot);
    const bytes = readFileSync(path);
    // Overwrite the middle of the file (b-tree pages) but keep the header, so SQLite opens it.
    bytes.fill(0x5a, 8192, Math.min(bytes.length - 4096, 8192 + 16384));
    writeFileSync(path, bytes);
    const err = thrown(() => openStateDb(dataRoot));
    expect(isHtkError(err, "HTK-ENGINE-0100"), String(err)).toBe(true);
    expect(existsSync(path)).toBe(true);
  });
});

describe("checksums on critical records", () => {
  it("canonical JSON ignores key order and undefined fields", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe('{"a":{"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(checksumOf({ a: 1, b: 2 })).toBe(checksumOf({ b: 2, a: 1 }));
  });

  it("reports a container whose config was changed behind the engine's back (HTK-ENGINE-0102)", () => {
    const dataRoot = root();
    const store = openStateStore(dataRoot);
    const c = store.containers.create(spec({ name: "tampered" }));
    const ok = store.containers.create(spec({ name: "fine" }));
    // Read (and cache) it first: a later change of the row is still caught.
    expect(store.containers.resolve("tampered").id).toBe(c.id);
    store.ctx.db
      .prepare("UPDATE containers SET config_json = ? WHERE id = ?")
      .run(JSON.stringify({ ...c.config, Cmd: ["rm", "-rf", "/"] }), c.id);
    const err = thrown(() => store.containers.resolve("tampered"));
    expect(isHtkError(err, "HTK-ENGINE-0102")).toBe(true);
    expect(String(err)).toContain(`container record ${c.id}`);
    // The list reports it through the hook and still shows the others.
    expect(() => store.containers.all()).toThrow(/HTK-ENGINE-0102/);
    store.close();
    const reported: string[] = [];
    const lenient = openStateStore(dataRoot, { onCorruptRecord: (e) => reported.push(e.id) });
    expect(lenient.containers.all().map((x) => x.id)).toEqual([ok.id]);
    expect(reported).toEqual(["HTK-ENGINE-0102"]);
    lenient.close();
  });

  it("reports an image record that does not match its checksum (HTK-ENGINE-0102)", () => {
    const store = openStateStore(root());
    const id = `sha256:${"ab".repeat(32)}`;
    store.images.save({ version: 1, images: { [id]: { id, size: 10 } }, references: { "app:1": id } });
    expect(store.images.load()?.images[id]).toEqual({ id, size: 10 });
    store.ctx.db.prepare("UPDATE images SET record_json = replace(record_json, '\"size\":10', '\"size\":11')").run();
    const err = thrown(() => store.images.load());
    expect(isHtkError(err, "HTK-ENGINE-0102")).toBe(true);
    expect(String(err)).toContain(`image record ${id}`);
    store.close();
  });
});
