import { htkError } from "../../base/errors/index.ts";
import type { StateContext } from "./context.ts";
import type { EndpointRecord, EventDraft, Ipam, NetworkRecord } from "./types.ts";

interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  scope: NetworkRecord["scope"];
  created: string;
  ipam_json: string;
  labels_json: string;
  options_json: string;
  internal: number;
  attachable: number;
  ingress: number;
  enable_ipv6: number;
}

interface EndpointRow {
  network_id: string;
  container_id: string;
  endpoint_id: string;
  mac_address: string;
  ipv4_address: string;
  ipv6_address: string;
  aliases_json: string;
}

/** Networks and their endpoints (which container is attached where, with which addresses). */
export class NetworkStore {
  readonly #ctx: StateContext;

  constructor(ctx: StateContext) {
    this.#ctx = ctx;
  }

  /** Records `create`. A taken name → HTK-ENGINE-0125 (API ≥ 1.44 always checks duplicates). */
  create(n: NetworkRecord): NetworkRecord {
    return this.#ctx.tx(() => {
      if (this.#ctx.db.prepare("SELECT 1 FROM networks WHERE name = ?").get(n.name) !== undefined) {
        throw htkError("HTK-ENGINE-0125", { name: n.name });
      }
      this.#insert(n);
      this.#ctx.emit(networkEvent(n, "create"));
      return n;
    });
  }

  /**
   * Inserts a network the engine defines itself (the predefined bridge, host and none) unless one of
   * that name exists, which is returned as it is. Records no event: Docker logs none for them.
   */
  ensure(n: NetworkRecord): NetworkRecord {
    return this.#ctx.tx(() => {
      const existing = this.#ctx.db.prepare("SELECT * FROM networks WHERE name = ?").get(n.name) as NetworkRow | undefined;
      if (existing !== undefined) return fromRow(existing);
      this.#insert(n);
      return n;
    });
  }

  /**
   * Docker's lookup (daemon.FindNetwork): full ID, then exact name, then a unique ID prefix.
   * Unknown → HTK-ENGINE-0124; ambiguous prefix → HTK-ENGINE-0487.
   */
  resolve(ref: string): NetworkRecord {
    const db = this.#ctx.db;
    const row =
      (db.prepare("SELECT * FROM networks WHERE id = ?").get(ref) as NetworkRow | undefined) ??
      (db.prepare("SELECT * FROM networks WHERE name = ?").get(ref) as NetworkRow | undefined);
    if (row !== undefined) return fromRow(row);
    if (/^[0-9a-f]+$/.test(ref)) {
      const rows = db.prepare("SELECT * FROM networks WHERE id >= ? AND id < ? ORDER BY id").all(ref, `${ref}g`) as NetworkRow[];
      if (rows.length > 1) throw htkError("HTK-ENGINE-0487", { ref, count: rows.length });
      const only = rows[0];
      if (only !== undefined) return fromRow(only);
    }
    throw htkError("HTK-ENGINE-0124", { name: ref });
  }

  #insert(n: NetworkRecord): void {
    this.#ctx.db
      .prepare(
        `INSERT INTO networks (id, name, driver, scope, created, ipam_json, labels_json, options_json, internal, attachable, ingress, enable_ipv6)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        n.id,
        n.name,
        n.driver,
        n.scope,
        n.created,
        JSON.stringify(n.ipam),
        JSON.stringify(n.labels),
        JSON.stringify(n.options),
        n.internal ? 1 : 0,
        n.attachable ? 1 : 0,
        n.ingress ? 1 : 0,
        n.enableIPv6 ? 1 : 0,
      );
  }

  /**
   * Replaces a network's IPAM (the datapath moves the default bridge off a subnet the host already
   * routes elsewhere, as Docker picks the default bridge's pool at daemon start), and with
   * `enableIPv6` its IPv6 switch (the default bridge follows daemon.json's `ipv6`). Records no event.
   */
  setIpam(id: string, ipam: NetworkRecord["ipam"], enableIPv6?: boolean): void {
    if (enableIPv6 === undefined) this.#ctx.db.prepare("UPDATE networks SET ipam_json = ? WHERE id = ?").run(JSON.stringify(ipam), id);
    else this.#ctx.db.prepare("UPDATE networks SET ipam_json = ?, enable_ipv6 = ? WHERE id = ?").run(JSON.stringify(ipam), enableIPv6 ? 1 : 0, id);
  }

  list(): NetworkRecord[] {
    return (this.#ctx.db.prepare("SELECT * FROM networks ORDER BY name").all() as NetworkRow[]).map(fromRow);
  }

  /** Attaches a container; records the network's `connect` (attribute `container`). */
  connect(n: NetworkRecord, e: EndpointRecord): void {
    this.#ctx.tx(() => {
      this.#ctx.db
        .prepare(
          `INSERT INTO endpoints (network_id, container_id, endpoint_id, mac_address, ipv4_address, ipv6_address, aliases_json)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (network_id, container_id) DO UPDATE SET endpoint_id = excluded.endpoint_id, mac_address = excluded.mac_address,
             ipv4_address = excluded.ipv4_address, ipv6_address = excluded.ipv6_address, aliases_json = excluded.aliases_json`,
        )
        .run(n.id, e.containerId, e.endpointId, e.macAddress, e.ipv4Address, e.ipv6Address, JSON.stringify(e.aliases));
      this.#ctx.emit(networkEvent(n, "connect", { container: e.containerId }));
    });
  }

  /** Detaches; true if it was attached. Records `disconnect`. */
  disconnect(n: NetworkRecord, containerId: string): boolean {
    return this.#ctx.tx(() => {
      const res = this.#ctx.db.prepare("DELETE FROM endpoints WHERE network_id = ? AND container_id = ?").run(n.id, containerId);
      if (res.changes === 0) return false;
      this.#ctx.emit(networkEvent(n, "disconnect", { container: containerId }));
      return true;
    });
  }

  endpoints(networkId: string): EndpointRecord[] {
    return (this.#ctx.db.prepare("SELECT * FROM endpoints WHERE network_id = ? ORDER BY container_id").all(networkId) as EndpointRow[]).map(endpointFromRow);
  }

  endpointsOfContainer(containerId: string): EndpointRecord[] {
    return (this.#ctx.db.prepare("SELECT * FROM endpoints WHERE container_id = ? ORDER BY network_id").all(containerId) as EndpointRow[]).map(endpointFromRow);
  }

  /** Records `destroy`. With endpoints → HTK-ENGINE-0126 (Docker's 403). */
  remove(n: NetworkRecord): void {
    this.#ctx.tx(() => {
      if (this.#ctx.db.prepare("SELECT 1 FROM endpoints WHERE network_id = ? LIMIT 1").get(n.id) !== undefined) {
        throw htkError("HTK-ENGINE-0126", { name: n.name, id: n.id });
      }
      const res = this.#ctx.db.prepare("DELETE FROM networks WHERE id = ?").run(n.id);
      if (res.changes === 0) throw htkError("HTK-ENGINE-0124", { name: n.name });
      this.#ctx.emit(networkEvent(n, "destroy"));
    });
  }
}

/** Docker's network events: Actor.ID is the network ID, attributes `name` and `type` (the driver). */
export function networkEvent(n: NetworkRecord, action: string, extra: Readonly<Record<string, string>> = {}): EventDraft {
  return { Type: "network", Action: action, Actor: { ID: n.id, Attributes: { name: n.name, type: n.driver, ...extra } } };
}

function fromRow(r: NetworkRow): NetworkRecord {
  return {
    id: r.id,
    name: r.name,
    driver: r.driver,
    scope: r.scope,
    created: r.created,
    ipam: JSON.parse(r.ipam_json) as Ipam,
    labels: JSON.parse(r.labels_json) as Record<string, string>,
    options: JSON.parse(r.options_json) as Record<string, string>,
    internal: r.internal === 1,
    attachable: r.attachable === 1,
    ingress: r.ingress === 1,
    enableIPv6: r.enable_ipv6 === 1,
  };
}

function endpointFromRow(r: EndpointRow): EndpointRecord {
  return {
    networkId: r.network_id,
    containerId: r.container_id,
    endpointId: r.endpoint_id,
    macAddress: r.mac_address,
    ipv4Address: r.ipv4_address,
    ipv6Address: r.ipv6_address,
    aliases: JSON.parse(r.aliases_json) as string[],
  };
}
