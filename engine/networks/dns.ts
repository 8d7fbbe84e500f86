import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync, statSync } from "node:fs";
import { connect, createServer, isIP, type Server, type Socket } from "node:net";
import { htkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { isIn, type Container, type NetworkRecord, type StateStore } from "../state/index.ts";
import {
  encodeError,
  encodeResponse,
  parseQuery,
  RCODE_NOERROR,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  reverseAddress,
  TYPE_A,
  TYPE_AAAA,
  TYPE_PTR,
  type DnsQuery,
  type DnsRecordData,
} from "./dns-message.ts";
import { parseAddress } from "./ipam.ts";

/**
 * The embedded DNS server of user-defined networks (Docker's libnetwork resolver): containers ask
 * 127.0.0.11:53 in their namespace; the datapath redirects that (DNAT, with SNAT to the container's
 * own address) to the listener of the network on its bridge's gateway address, so the engine — in
 * the host's namespace — knows who asks from the source address. Names of running containers on the
 * networks the asker shares with them are answered here (A, AAAA, PTR); everything else is forwarded
 * to the container's `--dns` servers or the host's resolv.conf servers (loopback ones work: the
 * engine forwards from the host's namespace, as Docker does for them) — unless every network of the
 * asker is `--internal`, where Docker answers REFUSED without recursion.
 */

/** Docker's TTL for the names it answers. */
const TTL = 600;
/** Docker's time for one upstream exchange (extIOTimeout). */
const UPSTREAM_TIMEOUT_MS = 4000;
/** At most this many forwarded queries at once per network; beyond it, SERVFAIL (Docker: 1024 in flight). */
const MAX_IN_FLIGHT = 256;
/** A TCP client that says nothing for this long is closed. */
const TCP_IDLE_MS = 10_000;

/** One peer as the resolver sees it. */
export interface DnsPeer {
  readonly containerName: string;
  /** Lower-case names it answers to on its network (DNSNames). */
  readonly names: readonly string[];
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface DnsNetworkView {
  readonly name: string;
  readonly internal: boolean;
  readonly peers: readonly DnsPeer[];
}

export type LocalAnswer =
  | { readonly kind: "records"; readonly records: readonly DnsRecordData[] }
  /** The name is a container's, but has no record of this type: NOERROR without answers. */
  | { readonly kind: "nodata" }
  | { readonly kind: "forward" };

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function sameAddress(a: string, b: string): boolean {
  const x = parseAddress(a);
  const y = parseAddress(b);
  return x !== undefined && y !== undefined && x.family === y.family && x.value === y.value;
}

/**
 * What the embedded server answers itself, as libnetwork's Sandbox.ResolveName/ResolveIP: a name of a
 * peer on one of the asker's networks (the first network, in the asker's order, that has it; all its
 * holders, shuffled — aliases shared by several containers balance), then `name.network` on that
 * network; reverse names of peers' addresses give `name.network`. Pure.
 */
export function localAnswer(networks: readonly DnsNetworkView[], name: string, type: number): LocalAnswer {
  const q = name.toLowerCase().replace(/\.$/, "");
  if (type === TYPE_PTR) {
    const rev = reverseAddress(q);
    if (rev === undefined) return { kind: "forward" };
    for (const n of networks) {
      for (const p of n.peers) {
        const own = rev.family === 4 ? p.ipv4 : p.ipv6;
        if (own !== "" && sameAddress(own, rev.address)) return { kind: "records", records: [{ type: TYPE_PTR, target: `${p.containerName}.${n.name}` }] };
      }
    }
    return { kind: "forward" };
  }
  if (type !== TYPE_A && type !== TYPE_AAAA) return { kind: "forward" };
  let holders: readonly DnsPeer[] = [];
  for (const n of networks) {
    holders = n.peers.filter((p) => p.names.includes(q));
    if (holders.length > 0) break;
  }
  if (holders.length === 0) {
    for (const n of networks) {
      const suffix = `.${n.name.toLowerCase()}`;
      if (!q.endsWith(suffix)) continue;
      const short = q.slice(0, -suffix.length);
      holders = n.peers.filter((p) => p.names.includes(short));
      if (holders.length > 0) break;
    }
  }
  if (holders.length === 0) return { kind: "forward" };
  const records: DnsRecordData[] = [];
  for (const p of shuffled(holders)) {
    const text = type === TYPE_A ? p.ipv4 : p.ipv6;
    const a = parseAddress(text);
    if (a === undefined) continue;
    const bytes = Buffer.alloc(a.family === "IPv4" ? 4 : 16);
    let v = a.value;
    for (let i = bytes.length - 1; i >= 0; i--) {
      bytes[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    records.push({ type: type === TYPE_A ? TYPE_A : TYPE_AAAA, address: bytes });
  }
  return records.length === 0 ? { kind: "nodata" } : { kind: "records", records };
}

/** The nameservers of a resolv.conf text, in order. */
export function nameservers(resolvConf: string): string[] {
  return resolvConf
    .split("\n")
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined && isIP(x.replace(/%.*$/, "")) !== 0);
}

interface Listener {
  readonly networkId: string;
  readonly gateway: string;
  readonly port: number;
  readonly udp: UdpSocket;
  readonly tcp: Server;
  readonly connections: Set<Socket>;
  inFlight: number;
}

/** Who asks, and what it may see: the resolver's view for one source address on one network. */
interface Asker {
  readonly networks: readonly DnsNetworkView[];
  /** Upstream servers, or none when forwarding is off (internal networks only). */
  readonly upstreams: readonly string[];
}

/** Everything the resolver keeps per network. One per engine (the datapath owns it). */
export class EmbeddedDns {
  readonly #state: StateStore;
  readonly #log: Logger;
  readonly #listeners = new Map<string, Listener>();
  readonly #opening = new Map<string, Promise<Listener>>();
  readonly #hostResolvPath: string;
  #hostResolv: { mtimeMs: number; servers: string[] } | undefined;

  readonly #attached: (containerId: string) => boolean;

  /**
   * `attached` says whether a container's network is up (the datapath made its namespace): its names
   * are answered from then until it is released — a container's first queries come before the state
   * records it running. Without it, the state's running and paused containers.
   */
  constructor(opts: { readonly state: StateStore; readonly log: Logger; readonly hostResolvConf?: string; readonly attached?: (containerId: string) => boolean }) {
    this.#state = opts.state;
    this.#attached = opts.attached ?? ((id) => {
      const c = this.#state.containers.get(id);
      return c !== undefined && isIn(c, ["running", "paused"]);
    });
    this.#log = opts.log.child({ component: "dns" });
    this.#hostResolvPath = opts.hostResolvConf ?? "/etc/resolv.conf";
  }

  /** The port of a network's listener, if it has one. */
  port(networkId: string): number | undefined {
    return this.#listeners.get(networkId)?.port;
  }

  /**
   * The network's listener on `gateway` (UDP and TCP on one port the kernel picks: the redirect in the
   * containers' namespaces names it, so no host service on port 53 is in the way). Idempotent.
   */
  async listen(n: NetworkRecord, gateway: string): Promise<number> {
    const have = this.#listeners.get(n.id);
    if (have !== undefined && have.gateway === gateway) return have.port;
    if (have !== undefined) await this.close(n.id);
    let opening = this.#opening.get(n.id);
    if (opening === undefined) {
      opening = this.#open(n.id, gateway).finally(() => this.#opening.delete(n.id));
      this.#opening.set(n.id, opening);
    }
    return (await opening).port;
  }

  async #open(networkId: string, gateway: string): Promise<Listener> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 8; attempt++) {
      const udp = createSocket({ type: isIP(gateway) === 6 ? "udp6" : "udp4" });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once("error", reject);
          udp.bind(0, gateway, () => {
            udp.off("error", reject);
            resolve();
          });
        });
        const port = udp.address().port;
        const tcp = createServer();
        await new Promise<void>((resolve, reject) => {
          tcp.once("error", reject);
          tcp.listen(port, gateway, () => {
            tcp.off("error", reject);
            resolve();
          });
        });
        const l: Listener = { networkId, gateway, port, udp, tcp, connections: new Set(), inFlight: 0 };
        udp.on("error", (err) => this.#log.warn({ err, network: networkId }, "DNS listener"));
        udp.on("message", (msg, rinfo) => void this.#onUdp(l, msg, rinfo.address, rinfo.port));
        tcp.on("connection", (s) => this.#onTcp(l, s));
        tcp.on("error", (err) => this.#log.warn({ err, network: networkId }, "DNS listener (TCP)"));
        this.#listeners.set(networkId, l);
        this.#log.debug({ network: networkId, gateway, port }, "embedded DNS listening");
        return l;
      } catch (err) {
        lastErr = err;
        udp.close();
      }
    }
    throw htkError("HTK-ENGINE-0800", { gateway, detail: lastErr instanceof Error ? lastErr.message : String(lastErr) });
  }

  /** Closes a network's listener (the network's bridge goes). */
  async close(networkId: string): Promise<void> {
    const l = this.#listeners.get(networkId);
    if (l === undefined) return;
    this.#listeners.delete(networkId);
    l.udp.close();
    for (const s of l.connections) s.destroy();
    await new Promise<void>((resolve) => l.tcp.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.#listeners.keys()]) await this.close(id);
  }

  async #onUdp(l: Listener, msg: Buffer, address: string, port: number): Promise<void> {
    const reply = await this.answer(l, msg, address, "udp").catch((err: unknown) => {
      this.#log.debug({ err }, "answering a DNS query");
      return undefined;
    });
    if (reply === undefined || !this.#listeners.has(l.networkId)) return;
    l.udp.send(reply, port, address);
  }

  #onTcp(l: Listener, s: Socket): void {
    l.connections.add(s);
    s.setTimeout(TCP_IDLE_MS, () => s.destroy());
    s.on("error", () => undefined);
    s.on("close", () => l.connections.delete(s));
    let buffered = Buffer.alloc(0);
    let busy = false;
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (buffered.length >= 2) {
          const len = buffered.readUInt16BE(0);
          if (buffered.length < 2 + len) break;
          const msg = buffered.subarray(2, 2 + len);
          buffered = buffered.subarray(2 + len);
          const reply = await this.answer(l, msg, s.remoteAddress ?? "", "tcp");
          if (reply === undefined || s.destroyed) continue;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length, 0);
          s.write(Buffer.concat([head, reply]));
        }
      } finally {
        busy = false;
      }
    };
    s.on("data", (chunk: Buffer) => {
      // One message is at most 65535 + 2 bytes; a client sending more before reading is cut off.
      if (buffered.length + chunk.length > 2 * 65537) {
        s.destroy();
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      pump().catch(() => s.destroy());
    });
  }

  /** The answer to one query from `source` on the listener's network (undefined: no answer at all). */
  async answer(l: Pick<Listener, "networkId" | "inFlight">, msg: Buffer, source: string, transport: "udp" | "tcp"): Promise<Buffer | undefined> {
    const parsed = parseQuery(msg);
    if (!parsed.ok) return parsed.id === undefined ? undefined : encodeError(parsed.id, parsed.rcode);
    const { query } = parsed;
    const asker = this.#asker(l.networkId, source);
    const forwarding = asker.upstreams.length > 0;
    const maxSize = transport === "udp" ? 512 : 65535;
    const local = query.opcode === 0 ? localAnswer(asker.networks, query.question.name, query.question.type) : ({ kind: "forward" } as const);
    switch (local.kind) {
      case "records":
        return encodeResponse(query, { rcode: RCODE_NOERROR, answers: local.records, ttl: TTL, recursionAvailable: forwarding, maxSize });
      case "nodata":
        return encodeResponse(query, { rcode: RCODE_NOERROR, recursionAvailable: forwarding, maxSize });
      case "forward":
        break;
      default: {
        const never: never = local;
        throw new Error(`unknown answer ${JSON.stringify(never)}`);
      }
    }
    if (!forwarding) return encodeResponse(query, { rcode: RCODE_REFUSED, recursionAvailable: false, maxSize });
    if (l.inFlight >= MAX_IN_FLIGHT) return encodeResponse(query, { rcode: RCODE_SERVFAIL, recursionAvailable: true, maxSize });
    l.inFlight++;
    try {
      for (const server of asker.upstreams) {
        const reply = await (transport === "udp" ? forwardUdp(server, msg) : forwardTcp(server, msg)).catch((err: unknown) => {
          this.#log.debug({ err, server, name: query.question.name }, "a DNS server did not answer");
          return undefined;
        });
        if (reply !== undefined && reply.length >= 12 && reply.readUInt16BE(0) === query.id) return reply;
      }
      return encodeResponse(query, { rcode: RCODE_SERVFAIL, recursionAvailable: true, maxSize });
    } finally {
      l.inFlight--;
    }
  }

  /**
   * The asker behind `source` on a network: its container's networks (its network mode's first) with
   * their running peers, and where to forward — its `--dns` servers, else the host's. A source the
   * state does not know (nothing of ours) sees only that network.
   */
  #asker(networkId: string, source: string): Asker {
    const nets = new Map(this.#state.networks.list().map((n) => [n.id, n]));
    const ep = this.#state.networks.endpoints(networkId).find((e) => e.ipv4Address !== "" && sameAddress(e.ipv4Address.split("/")[0] ?? "", source.replace(/^::ffff:/, "")));
    const c = ep === undefined ? undefined : this.#state.containers.get(ep.containerId);
    const own = c === undefined ? [networkId] : this.#state.networks.endpointsOfContainer(c.id).map((e) => e.networkId);
    const mode = c === undefined ? "" : String(c.hostConfig.NetworkMode ?? "");
    const ordered = own
      .map((id) => nets.get(id))
      .filter((n): n is NetworkRecord => n !== undefined && n.driver === "bridge" && n.name !== "bridge")
      .sort((a, b) => Number(b.name === mode || b.id === mode) - Number(a.name === mode || a.id === mode));
    const links = c === undefined ? new Map<string, string[]>() : linkAliases(c);
    const views = ordered.map((n) => this.#view(n, links));
    const dns = ((c?.hostConfig["Dns"] as string[] | null | undefined) ?? []).filter((s) => isIP(s) !== 0);
    const external = ordered.some((n) => !n.internal);
    return { networks: views, upstreams: external ? (dns.length > 0 ? dns : this.#hostServers()) : [] };
  }

  /** `links`: the asker's link aliases by target container name (only it resolves them, as Docker). */
  #view(n: NetworkRecord, links: ReadonlyMap<string, readonly string[]> = new Map()): DnsNetworkView {
    const peers: DnsPeer[] = [];
    for (const e of this.#state.networks.endpoints(n.id)) {
      const c = this.#state.containers.get(e.containerId);
      if (c === undefined || !this.#attached(c.id)) continue;
      peers.push({
        containerName: c.name.replace(/^\//, ""),
        names: peerNames(c, [...e.aliases, ...(links.get(c.name.replace(/^\//, "").toLowerCase()) ?? [])]),
        ipv4: e.ipv4Address.split("/")[0] ?? "",
        ipv6: e.ipv6Address.split("/")[0] ?? "",
      });
    }
    return { name: n.name, internal: n.internal, peers };
  }

  /** The host's nameservers (re-read when resolv.conf changes); Google's when there are none, as Docker. */
  #hostServers(): string[] {
    try {
      const st = statSync(this.#hostResolvPath);
      if (this.#hostResolv?.mtimeMs !== st.mtimeMs) this.#hostResolv = { mtimeMs: st.mtimeMs, servers: nameservers(readFileSync(this.#hostResolvPath, "utf8")) };
    } catch {
      this.#hostResolv = { mtimeMs: 0, servers: [] };
    }
    const servers = this.#hostResolv.servers;
    return servers.length > 0 ? servers : ["8.8.8.8", "8.8.4.4"];
  }
}

/**
 * A container's links (`--link NAME[:ALIAS]`, Compose's `links:`; HostConfig.Links and its endpoints'
 * Links) as aliases of the linked containers: on user-defined networks Docker resolves them in the
 * linking container's DNS only (libnetwork's endpoint aliases), not in /etc/hosts.
 */
export function linkAliases(c: Pick<Container, "hostConfig" | "networkSettings">): Map<string, string[]> {
  const endpointLinks = Object.values(c.networkSettings.Networks ?? {}).flatMap((ep) => (Array.isArray(ep["Links"]) ? (ep["Links"] as unknown[]) : []));
  const hostLinks = Array.isArray(c.hostConfig["Links"]) ? (c.hostConfig["Links"] as unknown[]) : [];
  const out = new Map<string, string[]>();
  for (const link of [...hostLinks, ...endpointLinks]) {
    if (typeof link !== "string" || link === "") continue;
    const [name = "", alias = name] = link.split(":");
    const target = name.replace(/^\//, "").toLowerCase();
    // The stored form of a legacy link is "/target:/self/alias".
    const short = alias.slice(alias.lastIndexOf("/") + 1).toLowerCase();
    if (target === "" || short === "") continue;
    out.set(target, [...new Set([...(out.get(target) ?? []), short])]);
  }
  return out;
}

/** The names a peer answers to: container name, aliases, short ID, hostname (Docker 26's DNSNames), lower case. */
function peerNames(c: Container, aliases: readonly string[]): string[] {
  const hostname = typeof c.config["Hostname"] === "string" ? c.config["Hostname"] : "";
  return [...new Set([c.name.replace(/^\//, ""), ...aliases, c.id.slice(0, 12), hostname].filter((n) => n !== "").map((n) => n.toLowerCase()))];
}

/** One UDP exchange with an upstream server (port 53), its answer or a rejection after the timeout. */
function forwardUdp(server: string, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: isIP(server) === 6 ? "udp6" : "udp4" });
    const id = msg.readUInt16BE(0);
    const done = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      sock.close();
      if (err !== undefined) reject(err);
      else resolve(reply as Buffer);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${server} in ${UPSTREAM_TIMEOUT_MS} ms`)), UPSTREAM_TIMEOUT_MS);
    sock.on("error", (err) => done(err));
    sock.on("message", (reply) => {
      if (reply.length >= 2 && reply.readUInt16BE(0) === id) done(undefined, reply);
    });
    sock.send(msg, 53, server);
  });
}

/** One TCP exchange with an upstream server: the length-prefixed query, the first length-prefixed answer. */
function forwardTcp(server: string, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: server, port: 53 });
    let buffered = Buffer.alloc(0);
    const done = (err: Error | undefined, reply?: Buffer): void => {
      clearTimeout(timer);
      s.destroy();
      if (err !== undefined) reject(err);
      else resolve(reply as Buffer);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${server} in ${UPSTREAM_TIMEOUT_MS} ms`)), UPSTREAM_TIMEOUT_MS);
    s.on("error", (err) => done(err));
    s.on("connect", () => {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(msg.length, 0);
      s.write(Buffer.concat([head, msg]));
    });
    s.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) done(undefined, buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      else if (buffered.length > 65537) done(new Error("oversized answer"));
    });
    s.on("end", () => done(new Error(`${server} closed the connection without an answer`)));
  });
}

export type { DnsQuery };
