import type { Database } from "better-sqlite3";

/**
 * Schema migrations, numbered from 1, applied in order. Each runs in its own transaction together with
 * the `user_version` bump, so a crash or an error leaves the database at the previous version, never
 * half-migrated. A shipped migration is never edited: a change is a new, higher number.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database): void;
}

const STATUSES = "'created','running','paused','restarting','removing','exited','dead'";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "containers, exec instances, events",
    up(db) {
      db.exec(`
        CREATE TABLE containers (
          id TEXT PRIMARY KEY CHECK (length(id) = 64),
          -- With Docker's leading slash; unique because Docker's names are (its name conflict error).
          name TEXT NOT NULL UNIQUE,
          status TEXT NOT NULL CHECK (status IN (${STATUSES})),
          created_ns INTEGER NOT NULL,
          created TEXT NOT NULL,
          image TEXT NOT NULL,
          image_id TEXT NOT NULL,
          path TEXT NOT NULL,
          args_json TEXT NOT NULL,
          config_json TEXT NOT NULL,
          host_config_json TEXT NOT NULL,
          -- sha256 of the canonical JSON of the container's spec (image, path, args, Config, HostConfig).
          config_sha256 TEXT NOT NULL,
          state_json TEXT NOT NULL,
          restart_count INTEGER NOT NULL DEFAULT 0,
          mounts_json TEXT NOT NULL DEFAULT '[]',
          network_settings_json TEXT NOT NULL DEFAULT '{}',
          paths_json TEXT NOT NULL DEFAULT '{}',
          driver TEXT NOT NULL,
          platform TEXT NOT NULL,
          version INTEGER NOT NULL DEFAULT 1
        ) STRICT;
        CREATE INDEX containers_created ON containers (created_ns);

        CREATE TABLE execs (
          id TEXT PRIMARY KEY,
          container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
          config_json TEXT NOT NULL,
          running INTEGER NOT NULL DEFAULT 0,
          exit_code INTEGER,
          pid INTEGER NOT NULL DEFAULT 0,
          can_remove INTEGER NOT NULL DEFAULT 0,
          created_ns INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX execs_container ON execs (container_id);

        CREATE TABLE events (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          time_nano INTEGER NOT NULL,
          type TEXT NOT NULL,
          action TEXT NOT NULL,
          actor_id TEXT NOT NULL,
          attributes_json TEXT NOT NULL
        ) STRICT;
        CREATE INDEX events_time ON events (time_nano);
      `);
    },
  },
  {
    version: 2,
    name: "images, volumes, networks",
    up(db) {
      db.exec(`
        CREATE TABLE images (
          id TEXT PRIMARY KEY,
          record_json TEXT NOT NULL,
          -- sha256 of the canonical JSON of record_json.
          record_sha256 TEXT NOT NULL,
          created_ns INTEGER NOT NULL
        ) STRICT;
        -- A tag names one image at a time (tagging moves it), hence the key on the tag.
        CREATE TABLE image_tags (
          tag TEXT PRIMARY KEY,
          image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE
        ) STRICT;
        CREATE INDEX image_tags_image ON image_tags (image_id);

        CREATE TABLE volumes (
          name TEXT PRIMARY KEY,
          driver TEXT NOT NULL,
          labels_json TEXT NOT NULL,
          options_json TEXT NOT NULL,
          mountpoint TEXT NOT NULL,
          created_at TEXT NOT NULL,
          anonymous INTEGER NOT NULL DEFAULT 0,
          scope TEXT NOT NULL DEFAULT 'local'
        ) STRICT;
        -- Which container uses which volume: RESTRICT keeps a used volume from being deleted (Docker's
        -- "volume is in use"), CASCADE drops the use with the container.
        CREATE TABLE container_volumes (
          container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
          volume_name TEXT NOT NULL REFERENCES volumes (name) ON DELETE RESTRICT,
          PRIMARY KEY (container_id, volume_name)
        ) STRICT;
        CREATE INDEX container_volumes_volume ON container_volumes (volume_name);

        CREATE TABLE networks (
          id TEXT PRIMARY KEY,
          -- Unique since API 1.44 (CheckDuplicate is always on).
          name TEXT NOT NULL UNIQUE,
          driver TEXT NOT NULL,
          scope TEXT NOT NULL,
          created TEXT NOT NULL,
          ipam_json TEXT NOT NULL,
          labels_json TEXT NOT NULL,
          options_json TEXT NOT NULL,
          internal INTEGER NOT NULL DEFAULT 0,
          attachable INTEGER NOT NULL DEFAULT 0,
          ingress INTEGER NOT NULL DEFAULT 0,
          enable_ipv6 INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        -- RESTRICT on the network: a network with endpoints cannot be removed (Docker's "has active endpoints").
        CREATE TABLE endpoints (
          network_id TEXT NOT NULL REFERENCES networks (id) ON DELETE RESTRICT,
          container_id TEXT NOT NULL REFERENCES containers (id) ON DELETE CASCADE,
          endpoint_id TEXT NOT NULL,
          mac_address TEXT NOT NULL DEFAULT '',
          ipv4_address TEXT NOT NULL DEFAULT '',
          ipv6_address TEXT NOT NULL DEFAULT '',
          aliases_json TEXT NOT NULL DEFAULT '[]',
          PRIMARY KEY (network_id, container_id)
        ) STRICT;
        CREATE INDEX endpoints_container ON endpoints (container_id);
      `);
    },
  },
  {
    version: 3,
    name: "durable leases of the content store's RefCounter",
    up(db) {
      db.exec(`
        -- LeaseInfo as JSON: the RefCounter (cache/refs.ts) owns its shape; the engine only keeps it.
        CREATE TABLE leases (
          id TEXT PRIMARY KEY,
          info_json TEXT NOT NULL
        ) STRICT;
      `);
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
