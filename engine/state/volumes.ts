import { htkError } from "../../base/errors/index.ts";
import type { StateContext } from "./context.ts";
import type { EventDraft, VolumeRecord } from "./types.ts";

interface VolumeRow {
  name: string;
  driver: string;
  labels_json: string;
  options_json: string;
  mountpoint: string;
  created_at: string;
  anonymous: number;
  scope: "local" | "global";
}

/**
 * Volumes' records (the `local` driver's directories live under the data root). Which containers use a
 * volume is the `container_volumes` table, written when a container is created.
 */
export class VolumeStore {
  readonly #ctx: StateContext;

  constructor(ctx: StateContext) {
    this.#ctx = ctx;
  }

  /** Records `create`. Docker answers a create for an existing name with the existing volume, so do we. */
  create(v: VolumeRecord): VolumeRecord {
    return this.#ctx.tx(() => {
      const existing = this.find(v.name);
      if (existing !== undefined) return existing;
      this.#ctx.db
        .prepare(
          "INSERT INTO volumes (name, driver, labels_json, options_json, mountpoint, created_at, anonymous, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .run(v.name, v.driver, JSON.stringify(v.labels), JSON.stringify(v.options), v.mountpoint, v.createdAt, v.anonymous ? 1 : 0, v.scope);
      this.#ctx.emit(volumeEvent(v, "create"));
      return v;
    });
  }

  find(name: string): VolumeRecord | undefined {
    const row = this.#ctx.db.prepare("SELECT * FROM volumes WHERE name = ?").get(name) as VolumeRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /** HTK-ENGINE-0122 when unknown. */
  get(name: string): VolumeRecord {
    const v = this.find(name);
    if (v === undefined) throw htkError("HTK-ENGINE-0122", { name });
    return v;
  }

  list(): VolumeRecord[] {
    return (this.#ctx.db.prepare("SELECT * FROM volumes ORDER BY name").all() as VolumeRow[]).map(fromRow);
  }

  /** Names of volumes no container uses (the `dangling=true` filter, prune). */
  unused(): string[] {
    return (
      this.#ctx.db.prepare("SELECT name FROM volumes WHERE name NOT IN (SELECT volume_name FROM container_volumes) ORDER BY name").all() as Array<{
        name: string;
      }>
    ).map((r) => r.name);
  }

  /** Removes the record (the caller removes the directory). In use → HTK-ENGINE-0123 with the users, as Docker lists them. */
  remove(name: string): void {
    this.#ctx.tx(() => {
      const v = this.get(name);
      const users = (this.#ctx.db.prepare("SELECT container_id FROM container_volumes WHERE volume_name = ? ORDER BY container_id").all(name) as Array<{
        container_id: string;
      }>).map((r) => r.container_id);
      if (users.length > 0) throw htkError("HTK-ENGINE-0123", { name, containers: users.join(", ") });
      this.#ctx.db.prepare("DELETE FROM volumes WHERE name = ?").run(name);
      this.#ctx.emit(volumeEvent(v, "destroy"));
    });
  }
}

/** Docker's volume events: Actor.ID is the name, with the driver as attribute. */
export function volumeEvent(v: VolumeRecord, action: string, extra: Readonly<Record<string, string>> = {}): EventDraft {
  return { Type: "volume", Action: action, Actor: { ID: v.name, Attributes: { driver: v.driver, ...extra } } };
}

function fromRow(r: VolumeRow): VolumeRecord {
  return {
    name: r.name,
    driver: r.driver,
    labels: JSON.parse(r.labels_json) as Record<string, string>,
    options: JSON.parse(r.options_json) as Record<string, string>,
    mountpoint: r.mountpoint,
    createdAt: r.created_at,
    anonymous: r.anonymous === 1,
    scope: r.scope,
  };
}
