import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import type { EndpointRecord, NetworkRecord, StateStore } from "../state/index.ts";
import { EmbeddedDns } from "./dns.ts";
import { runHostCommand, withHostNetworkLock, type HostCommand } from "./host.ts";
import { firstHost, formatAddress, formatPrefix, freeDefaultPool, macForAddress, masked, overlaps, parseAddress, parsePrefix, type Prefix } from "./ipam.ts";

const NETNS_DIR = "/run/netns";
/** `<tag>` → the data root of the engine that uses it (for sweeping engines whose data root is gone). */
const OWNERS_DIR = "/run/hatake/owners";

/** The names one engine gives its host objects: all carry the engine's tag (a hash of its data root). */
export interface DatapathNames {
  readonly tag: string;
  bridge(n: NetworkRecord): string;
  veth(endpointId: string): string;
  netns(containerId: string): string;
  readonly natPost: string;
  readonly natDnat: string;
  readonly filterForward: string;
  /** Docker's DOCKER-ISOLATION-STAGE-1 and -2: traffic between two of the engine's bridges is dropped. */
  readonly filterIsolation1: string;
  readonly filterIsolation2: string;
}

export function datapathNames(dataRoot: string): DatapathNames {
  let root = dataRoot;
  try {
    root = realpathSync(dataRoot);
  } catch {
    // not created yet: the path as given
  }
  const tag = createHash("sha256").update(root).digest("hex").slice(0, 8);
  return {
    tag,
    // Linux interface names have at most 15 characters: prefix (2) + tag (8) + 5 of the ID.
    bridge: (n) => `hb${tag}${n.id.slice(0, 5)}`,
    veth: (endpointId) => `hv${tag}${endpointId.slice(0, 5)}`,
    netns: (containerId) => `htk-${tag}-${containerId.slice(0, 12)}`,
    natPost: `HTK-${tag}-POST`,
    natDnat: `HTK-${tag}-DNAT`,
    filterForward: `HTK-${tag}-FWD`,
    filterIsolation1: `HTK-${tag}-ISOA`,
    filterIsolation2: `HTK-${tag}-ISOB`,
  };
}

interface RouteJson {
  readonly dst?: string;
  readonly dev?: string;
}

/** The IPv4 subnet and gateway of a bridge network ("172.17.0.0/16", "172.17.0.1"), if it has one. */
export function bridgeSubnet(n: NetworkRecord): { readonly subnet: Prefix; readonly gateway: string } | undefined {
  for (const c of n.ipam.Config) {
    const p = parsePrefix(c.Subnet ?? "");
    if (p?.family === "IPv4") return { subnet: masked(p), gateway: c.Gateway ?? formatAddress(firstHost(p)) };
  }
  return undefined;
}

/** The IPv6 subnet and gateway of a bridge network made with `--ipv6`, if it has one. */
export function bridgeSubnet6(n: NetworkRecord): { readonly subnet: Prefix; readonly gateway: string } | undefined {
  if (!n.enableIPv6) return undefined;
  for (const c of n.ipam.Config) {
    const p = parsePrefix(c.Subnet ?? "");
    if (p?.family === "IPv6") return { subnet: masked(p), gateway: c.Gateway ?? formatAddress(firstHost(p)) };
  }
  return undefined;
}

/**
 * The host side of bridge networking for one engine: a Linux bridge per network (gateway address on
 * it), a named network namespace per container with a veth pair per endpoint, and iptables rules in
 * the engine's own chains (`HTK-<tag>-POST` for MASQUERADE, `HTK-<tag>-FWD` for forwarding,
 * `HTK-<tag>-DNAT` for published ports). Every rule carries a comment naming its network or
 * container, so removal is exact and never touches another engine's (or Docker's) rules.
 */
export class BridgeDatapath {
  readonly names: DatapathNames;
  /** The embedded DNS server of user-defined networks (one listener per network, on its gateway). */
  readonly dns: EmbeddedDns;
  readonly #state: StateStore;
  readonly #log: Logger;
  readonly #run: HostCommand;
  #prepared = false;
  /** Containers this process added rules for (release lists the chains only for them; recovery covers the rest). */
  readonly #withRules = new Set<string>();
  readonly #dataRoot: string;
  /** Containers whose namespace this process made or re-adopted: the embedded DNS answers their names (a container is attached before its state says running). */
  readonly #attached = new Set<string>();
  /** Addresses build steps hold on the default bridge (not endpoints in the state). */
  readonly #stepAddresses = new Set<bigint>();

  constructor(opts: { readonly dataRoot: string; readonly state: StateStore; readonly log: Logger; readonly run?: HostCommand }) {
    this.names = datapathNames(opts.dataRoot);
    this.#dataRoot = opts.dataRoot;
    this.#state = opts.state;
    this.#log = opts.log.child({ component: "datapath" });
    this.#run = opts.run ?? runHostCommand;
    this.dns = new EmbeddedDns({ state: opts.state, log: this.#log, attached: (id) => this.#attached.has(id) });
  }

  async #ip(...args: string[]): Promise<string> {
    return this.#run("ip", args);
  }

  async #ipt(table: "nat" | "filter", ...args: string[]): Promise<string> {
    return this.#run("iptables", ["-w", "-t", table, ...args]);
  }

  /** Prefixes the host routes through devices that are not this network's bridge. */
  async #foreignRoutes(ownDevice: string | undefined): Promise<Array<{ prefix: Prefix; dev: string }>> {
    const routes = JSON.parse((await this.#ip("-j", "-4", "route", "show", "table", "all")) || "[]") as RouteJson[];
    const out: Array<{ prefix: Prefix; dev: string }> = [];
    for (const r of routes) {
      if (r.dst === undefined || r.dst === "default" || r.dev === ownDevice) continue;
      const p = parsePrefix(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
      if (p !== undefined && p.family === "IPv4" && p.bits > 0) out.push({ prefix: masked(p), dev: r.dev ?? "" });
    }
    return out;
  }

  async #linkExists(name: string): Promise<boolean> {
    return this.#ip("link", "show", "dev", name).then(
      () => true,
      () => false,
    );
  }

  /** Host routes' prefixes, for choosing a default pool that the host does not use (Docker checks them too). */
  async hostPrefixes(): Promise<Prefix[]> {
    const own = new Set(this.#state.networks.list().map((n) => this.names.bridge(n)));
    return (await this.#foreignRoutes(undefined)).filter((r) => !own.has(r.dev)).map((r) => r.prefix);
  }

  /** Serialises subnet choice and bridge creation with the other engines of this host. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    return withHostNetworkLock(fn);
  }

  /**
   * At daemon start: IP forwarding on (as Docker; it is left on at exit), the engine's chains and
   * their jumps, and the default bridge's subnet moved off one the host already routes elsewhere (two
   * engines on one host both start with 172.17.0.0/16; the second gets the next free default pool).
   */
  async prepare(): Promise<void> {
    await this.locked(async () => {
      await this.#run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
      await this.#sweepOrphans();
      const n = this.#chains();
      for (const [table, chain, parent, match] of [
        ["nat", n.natPost, "POSTROUTING", []],
        ["nat", n.natDnat, "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL"]],
        ["nat", n.natDnat, "OUTPUT", ["!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL"]],
        ["filter", n.filterForward, "FORWARD", []],
      ] as const) {
        await this.#ipt(table, "-N", chain).catch(() => undefined);
        const rule = [...match, "-j", chain];
        const present = await this.#ipt(table, "-C", parent, ...rule).then(
          () => true,
          () => false,
        );
        if (!present) await this.#ipt(table, "-I", parent, "1", ...rule);
      }
      // Isolation first in the engine's FORWARD chain (as Docker's DOCKER-ISOLATION-STAGE-1 comes first in FORWARD).
      for (const chain of [n.filterIsolation1, n.filterIsolation2]) await this.#ipt("filter", "-N", chain).catch(() => undefined);
      const toIso = await this.#ipt("filter", "-C", n.filterForward, "-j", n.filterIsolation1).then(
        () => true,
        () => false,
      );
      if (!toIso) await this.#ipt("filter", "-I", n.filterForward, "1", "-j", n.filterIsolation1);
      await this.#moveDefaultSubnet();
      // The default bridge is made now, under the lock: its route is what the next engine sees.
      const def = this.#state.networks.list().find((x) => x.name === "bridge");
      if (def !== undefined && bridgeSubnet(def) !== undefined) await this.#makeBridge(def);
    });
    this.#prepared = true;
  }

  async #moveDefaultSubnet(): Promise<void> {
    const def = this.#state.networks.list().find((x) => x.name === "bridge");
    const sub = def === undefined ? undefined : bridgeSubnet(def);
    if (def === undefined || sub === undefined) return;
    const foreign = await this.#foreignRoutes(this.names.bridge(def));
    if (!foreign.some((r) => overlaps(r.prefix, sub.subnet))) return;
    if (this.#state.networks.endpoints(def.id).length > 0) return;
    const taken = [...foreign.map((r) => r.prefix), ...this.#state.networks.list().flatMap((x) => (x.id === def.id ? [] : [bridgeSubnet(x)?.subnet].filter((p): p is Prefix => p !== undefined)))];
    const pool = freeDefaultPool(taken);
    if (pool === undefined) return;
    this.#state.networks.setIpam(def.id, { ...def.ipam, Config: [{ Subnet: formatPrefix(pool), Gateway: formatAddress(firstHost(pool)) }] });
    this.#log.info({ from: formatPrefix(sub.subnet), to: formatPrefix(pool) }, "the default bridge's subnet is routed elsewhere on this host; moved to the next free pool");
    // A bridge left from before with the old address is re-made by ensureBridge.
    await this.#ip("link", "del", "dev", this.names.bridge(def)).catch(() => undefined);
  }

  #chains(): { natPost: string; natDnat: string; filterForward: string; filterIsolation1: string; filterIsolation2: string } {
    const { natPost, natDnat, filterForward, filterIsolation1, filterIsolation2 } = this.names;
    return { natPost, natDnat, filterForward, filterIsolation1, filterIsolation2 };
  }

  /**
   * `docker network create` of a bridge network: under the host lock, `create` (engine/networks'
   * createNetwork) gets the host's route prefixes for its pool choice, and the bridge is made before
   * another engine can look at the routes. A bridge that cannot be made removes the record again.
   */
  async createBridgeNetwork(create: (hostPrefixes: readonly Prefix[]) => NetworkRecord): Promise<NetworkRecord> {
    if (!this.#prepared) await this.prepare();
    return this.locked(async () => {
      const n = create(await this.hostPrefixes());
      try {
        await this.#makeBridge(n);
      } catch (err) {
        this.#state.networks.remove(n);
        throw err;
      }
      return n;
    });
  }

  /**
   * The network's bridge, made if missing: gateway address, up, forwarding accepted (internal
   * networks: only inside the bridge) and MASQUERADE for the subnet out of the host (not internal).
   * A subnet the host routes through another device is refused (HTK-ENGINE-0660).
   */
  async ensureBridge(n: NetworkRecord): Promise<string> {
    if (!this.#prepared) await this.prepare();
    const dev = this.names.bridge(n);
    const sub = bridgeSubnet(n);
    if (sub === undefined) throw htkError("HTK-ENGINE-0661", { network: n.name });
    if (await this.#linkExists(dev)) return dev;
    return this.locked(() => this.#makeBridge(n));
  }

  async #makeBridge(n: NetworkRecord): Promise<string> {
    const dev = this.names.bridge(n);
    const sub = bridgeSubnet(n);
    if (sub === undefined) throw htkError("HTK-ENGINE-0661", { network: n.name });
    if (await this.#linkExists(dev)) return dev;
    const clash = (await this.#foreignRoutes(dev)).find((r) => overlaps(r.prefix, sub.subnet));
    if (clash !== undefined) throw htkError("HTK-ENGINE-0660", { network: n.name, subnet: formatPrefix(sub.subnet), route: formatPrefix(clash.prefix), dev: clash.dev });
    await this.#ip("link", "add", "name", dev, "type", "bridge");
    try {
      await this.#ip("addr", "add", `${sub.gateway}/${sub.subnet.bits}`, "dev", dev);
      const sub6 = bridgeSubnet6(n);
      // IPv6 (--ipv6): the gateway on the bridge, no duplicate address detection (the address is ours alone).
      if (sub6 !== undefined) await this.#ip("-6", "addr", "add", `${sub6.gateway}/${sub6.subnet.bits}`, "dev", dev, "nodad");
      await this.#ip("link", "set", "dev", dev, "up");
      await this.#addNetworkRules(n, dev, formatPrefix(sub.subnet));
    } catch (err) {
      await this.removeBridge(n).catch(() => undefined);
      throw err;
    }
    return dev;
  }

  async #addNetworkRules(n: NetworkRecord, dev: string, subnet: string): Promise<void> {
    const tag = ["-m", "comment", "--comment", `htk-net:${n.id.slice(0, 12)}`];
    // Docker's inter-network isolation: what leaves this bridge for another one is looked at in
    // stage 2, where going out of any of the engine's bridges is dropped.
    await this.#ipt("filter", "-A", this.names.filterIsolation1, "-i", dev, "!", "-o", dev, ...tag, "-j", this.names.filterIsolation2);
    await this.#ipt("filter", "-A", this.names.filterIsolation2, "-o", dev, ...tag, "-j", "DROP");
    if (n.internal) {
      await this.#ipt("filter", "-A", this.names.filterForward, "-i", dev, "!", "-o", dev, ...tag, "-j", "DROP");
      await this.#ipt("filter", "-A", this.names.filterForward, "-o", dev, "!", "-i", dev, ...tag, "-j", "DROP");
      await this.#ipt("filter", "-A", this.names.filterForward, "-i", dev, "-o", dev, ...tag, "-j", "ACCEPT");
      return;
    }
    await this.#ipt("filter", "-A", this.names.filterForward, "-i", dev, ...tag, "-j", "ACCEPT");
    await this.#ipt("filter", "-A", this.names.filterForward, "-o", dev, ...tag, "-j", "ACCEPT");
    if (n.options["com.docker.network.bridge.enable_ip_masquerade"] !== "false") {
      await this.#ipt("nat", "-A", this.names.natPost, "-s", subnet, "!", "-o", dev, ...tag, "-j", "MASQUERADE");
    }
  }

  /** Deletes the rules of this engine's chains whose comment is `comment` (exact: nothing else). */
  async #deleteRulesTagged(match: (comment: string) => boolean): Promise<void> {
    for (const [table, chain] of [
      ["nat", this.names.natPost],
      ["nat", this.names.natDnat],
      ["filter", this.names.filterForward],
      ["filter", this.names.filterIsolation1],
      ["filter", this.names.filterIsolation2],
    ] as const) {
      const rules = await this.#ipt(table, "-S", chain).catch(() => "");
      for (const line of rules.split("\n")) {
        const m = /--comment "?(htk-[a-z]+:[0-9a-f]+)"?/.exec(line);
        if (!line.startsWith("-A ") || m?.[1] === undefined || !match(m[1])) continue;
        await this.#ipt(table, "-D", ...line.slice(3).replace(/"/g, "").split(" ")).catch((err: unknown) => this.#log.warn({ err, rule: line }, "removing a rule"));
      }
    }
  }

  /** Removes a network's bridge and rules (network removal, or leftovers). */
  async removeBridge(n: NetworkRecord): Promise<void> {
    await this.dns.close(n.id);
    await this.#deleteRulesTagged((c) => c === `htk-net:${n.id.slice(0, 12)}`);
    await this.#ip("link", "del", "dev", this.names.bridge(n)).catch(() => undefined);
  }

  /** A fresh named namespace for a container (loopback up); its path for the runtime to join. */
  async createNamespace(containerId: string): Promise<string> {
    const name = this.names.netns(containerId);
    await this.#ip("netns", "del", name).catch(() => undefined);
    await this.#ip("netns", "add", name);
    this.#attached.add(containerId);
    await this.#ip("-n", name, "link", "set", "dev", "lo", "up");
    return `${NETNS_DIR}/${name}`;
  }

  /**
   * A veth pair for one endpoint: the host end on the network's bridge, the other end in the
   * container's namespace as `ifname` with the endpoint's MAC and address; `defaultRoute` adds the
   * default route via the network's gateway.
   */
  async plug(containerId: string, n: NetworkRecord, ep: EndpointRecord, ifname: string, defaultRoute: boolean): Promise<void> {
    const dev = await this.ensureBridge(n);
    const ns = this.names.netns(containerId);
    const host = this.names.veth(ep.endpointId);
    await this.#ip("link", "del", "dev", host).catch(() => undefined);
    await this.#ip("link", "add", "name", host, "type", "veth", "peer", "name", ifname, "netns", ns);
    try {
      await this.#ip("link", "set", "dev", host, "master", dev, "up");
      if (ep.macAddress !== "") await this.#ip("-n", ns, "link", "set", "dev", ifname, "address", ep.macAddress);
      if (ep.ipv4Address !== "") await this.#ip("-n", ns, "addr", "add", ep.ipv4Address, "dev", ifname);
      const sub6 = bridgeSubnet6(n);
      if (ep.ipv6Address !== "" && sub6 !== undefined) await this.#ip("-n", ns, "-6", "addr", "add", ep.ipv6Address.includes("/") ? ep.ipv6Address : `${ep.ipv6Address}/${sub6.subnet.bits}`, "dev", ifname, "nodad");
      await this.#ip("-n", ns, "link", "set", "dev", ifname, "up");
      const sub = bridgeSubnet(n);
      if (defaultRoute && sub !== undefined && !n.internal) await this.#ip("-n", ns, "route", "replace", "default", "via", sub.gateway, "dev", ifname);
      if (defaultRoute && sub6 !== undefined && ep.ipv6Address !== "" && !n.internal) await this.#ip("-n", ns, "-6", "route", "replace", "default", "via", sub6.gateway, "dev", ifname);
    } catch (err) {
      await this.#ip("link", "del", "dev", host).catch(() => undefined);
      throw err;
    }
  }

  /** Removes one endpoint's veth pair (docker network disconnect on a running container). */
  async unplug(ep: EndpointRecord): Promise<void> {
    await this.#ip("link", "del", "dev", this.names.veth(ep.endpointId)).catch(() => undefined);
  }

  /** The interface names in a container's namespace (to choose the next ethN). */
  async interfaces(containerId: string): Promise<string[]> {
    const out = JSON.parse((await this.#ip("-n", this.names.netns(containerId), "-j", "link", "show")) || "[]") as Array<{ ifname?: string }>;
    return out.map((l) => l.ifname ?? "");
  }

  /** Everything made for a container: its namespace (its veth pairs go with it) and its rules. */
  async release(containerId: string): Promise<void> {
    this.#attached.delete(containerId);
    if (this.#withRules.delete(containerId)) await this.#deleteRulesTagged((c) => c === `htk-ctr:${containerId.slice(0, 12)}`);
    await this.#deleteNamespace(this.names.netns(containerId));
  }

  /**
   * Deletes a namespace's veths first (deleting one end removes the pair at once; the kernel
   * destroys a namespace's devices asynchronously after `ip netns del`), then the namespace.
   */
  async #deleteNamespace(name: string): Promise<void> {
    const links = JSON.parse((await this.#ip("-n", name, "-j", "link", "show").catch(() => "[]")) || "[]") as Array<{ ifname?: string }>;
    for (const l of links) if (l.ifname !== undefined && l.ifname !== "lo") await this.#ip("-n", name, "link", "del", "dev", l.ifname).catch(() => undefined);
    await this.#ip("netns", "del", name).catch(() => undefined);
  }

  /**
   * Daemon start: removes what a crashed engine left — namespaces, veths and container rules of
   * containers not running now, and bridges (and their rules) of networks the state no longer has.
   * Only objects carrying this engine's tag are looked at.
   */
  async recover(running: ReadonlySet<string>): Promise<void> {
    const prefix = `htk-${this.names.tag}-`;
    const alive = new Set([...running].map((id) => id.slice(0, 12)));
    let entries: string[] = [];
    try {
      entries = readdirSync(NETNS_DIR);
    } catch {
      entries = [];
    }
    for (const e of entries) {
      if (!e.startsWith(prefix) || alive.has(e.slice(prefix.length))) continue;
      this.#log.info({ netns: e }, "removing a leftover network namespace");
      await this.#deleteNamespace(e);
    }
    const byShort = new Map([...running].map((id) => [id.slice(0, 12), id]));
    await this.#deleteRulesTagged((c) => {
      if (!c.startsWith("htk-ctr:")) return false;
      const full = byShort.get(c.slice("htk-ctr:".length));
      if (full !== undefined) this.#withRules.add(full); // a re-attached container's rules go at its exit
      return full === undefined;
    });
    const networks = this.#state.networks.list();
    const liveNets = new Set(networks.map((n) => n.id.slice(0, 12)));
    await this.#deleteRulesTagged((c) => c.startsWith("htk-net:") && !liveNets.has(c.slice("htk-net:".length)));
    const bridges = new Set(networks.map((n) => this.names.bridge(n)));
    const liveVeths = new Set<string>();
    for (const n of networks) for (const ep of this.#state.networks.endpoints(n.id)) if (running.has(ep.containerId)) liveVeths.add(this.names.veth(ep.endpointId));
    const links = JSON.parse((await this.#ip("-j", "link", "show").catch(() => "[]")) || "[]") as Array<{ ifname?: string }>;
    for (const l of links) {
      const name = (l.ifname ?? "").split("@")[0] ?? "";
      const stale = (name.startsWith(`hv${this.names.tag}`) && !liveVeths.has(name)) || (name.startsWith(`hb${this.names.tag}`) && !bridges.has(name));
      if (!stale) continue;
      this.#log.info({ link: name }, "removing a leftover link");
      await this.#ip("link", "del", "dev", name).catch(() => undefined);
    }
  }

  /**
   * Daemon stop (its containers are stopped): this engine's bridges, namespaces, rules, chains and
   * jumps all removed, so a stopped engine leaves nothing on the host (Docker keeps docker0; an engine
   * per test data root would otherwise leave one bridge each). The next start makes them again.
   */
  async teardown(): Promise<void> {
    await this.dns.closeAll();
    await this.recover(new Set());
    await this.locked(() => this.#removeTag(this.names.tag));
    await rm(join(OWNERS_DIR, this.names.tag), { force: true });
    this.#prepared = false;
  }

  /** Everything carrying `tag` on the host: namespaces, links, chains and the jumps to them. */
  async #removeTag(tag: string): Promise<void> {
    let entries: string[] = [];
    try {
      entries = readdirSync(NETNS_DIR);
    } catch {
      entries = [];
    }
    for (const e of entries) if (e.startsWith(`htk-${tag}-`)) await this.#deleteNamespace(e);
    const links = JSON.parse((await this.#ip("-j", "link", "show").catch(() => "[]")) || "[]") as Array<{ ifname?: string }>;
    for (const l of links) {
      const name = (l.ifname ?? "").split("@")[0] ?? "";
      if (name.startsWith(`hv${tag}`) || name.startsWith(`hb${tag}`)) await this.#ip("link", "del", "dev", name).catch(() => undefined);
    }
    for (const table of ["nat", "filter"] as const) {
      const rules = await this.#ipt(table, "-S").catch(() => "");
      for (const line of rules.split("\n")) {
        if (line.startsWith("-A ") && line.includes(`-j HTK-${tag}-`) && !line.startsWith(`-A HTK-${tag}-`)) {
          await this.#ipt(table, "-D", ...line.slice(3).replace(/"/g, "").split(" ")).catch(() => undefined);
        }
      }
      // All flushed before any is deleted: the engine's chains jump to each other.
      const chains = rules
        .split("\n")
        .map((line) => /^-N (HTK-[0-9a-f]{8}-[A-Z]+)$/.exec(line)?.[1])
        .filter((c): c is string => c !== undefined && c.startsWith(`HTK-${tag}-`));
      for (const chain of chains) await this.#ipt(table, "-F", chain).catch(() => undefined);
      for (const chain of chains) await this.#ipt(table, "-X", chain).catch(() => undefined);
    }
  }

  /**
   * Under the host lock at start: records this engine's data root under its tag, and removes what
   * engines whose data root no longer exists left (a test engine killed with its temporary folder
   * deleted can never come back to clean up; nothing of a live engine is touched).
   */
  async #sweepOrphans(): Promise<void> {
    mkdirSync(OWNERS_DIR, { recursive: true, mode: 0o755 });
    writeFileSync(join(OWNERS_DIR, this.names.tag), this.#dataRoot);
    for (const tag of readdirSync(OWNERS_DIR)) {
      if (tag === this.names.tag || !/^[0-9a-f]{8}$/.test(tag)) continue;
      let root = "";
      try {
        root = readFileSync(join(OWNERS_DIR, tag), "utf8");
      } catch {
        continue;
      }
      if (root === "" || existsSync(root)) continue;
      this.#log.info({ tag, dataRoot: root }, "removing the network objects of an engine whose data root is gone");
      await this.#removeTag(tag);
      await rm(join(OWNERS_DIR, tag), { force: true });
    }
  }

  /**
   * A namespace on the default bridge for one build step (RUN with network `default`): eth0 with an
   * address taken from the top of the subnet downwards (containers take the lowest free ones, so the
   * two meet only in a nearly full subnet), the default route via the gateway. `release` removes it.
   */
  async openStep(signal: AbortSignal): Promise<{ readonly path: string; release(): Promise<void> }> {
    signal.throwIfAborted();
    const def = this.#state.networks.resolve("bridge");
    const sub = bridgeSubnet(def);
    if (sub === undefined) throw htkError("HTK-ENGINE-0661", { network: def.name });
    const used = new Set(this.#stepAddresses);
    for (const ep of this.#state.networks.endpoints(def.id)) {
      const a = parseAddress(ep.ipv4Address.split("/")[0] ?? "");
      if (a !== undefined) used.add(a.value);
    }
    const gw = parseAddress(sub.gateway)?.value;
    const size = 1n << BigInt(32 - sub.subnet.bits);
    const base = sub.subnet.addr;
    let value: bigint | undefined;
    for (let v = base + size - 2n; v > base; v--) {
      if (v !== gw && !used.has(v)) {
        value = v;
        break;
      }
    }
    if (value === undefined) throw htkError("HTK-ENGINE-0474", { family: "IPv4" });
    this.#stepAddresses.add(value);
    const id = randomBytes(32).toString("hex");
    const address = { family: "IPv4" as const, value };
    const ep: EndpointRecord = { networkId: def.id, containerId: id, endpointId: id, macAddress: macForAddress(address), ipv4Address: `${formatAddress(address)}/${sub.subnet.bits}`, ipv6Address: "", aliases: [] };
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await this.release(id);
      await this.unplug(ep);
      this.#stepAddresses.delete(value);
    };
    try {
      const path = await this.createNamespace(id);
      await this.plug(id, def, ep, "eth0", true);
      return { path, release };
    } catch (err) {
      await release();
      throw err;
    }
  }

  /**
   * The embedded DNS for a container on user-defined networks: 127.0.0.11:53 (UDP and TCP) in its
   * namespace is sent to the resolver's listener on the gateway of its first such network (the network
   * mode's when it is one), with the source rewritten to the container's address there, so the
   * resolver knows who asks. Loopback-sourced packets may leave only with `route_localnet`, which is
   * set in the container's namespace alone; a filter rule there drops packets to 127/8 arriving from
   * outside that are not answers (the guard kube-proxy uses with route_localnet). Re-run it to point
   * the redirect elsewhere (after `network connect`/`disconnect`, or a new listener after an engine
   * restart): the namespace's own chains are replaced. Whether the container has embedded DNS.
   */
  async redirectDns(containerId: string): Promise<boolean> {
    const target = this.#dnsTarget(containerId);
    if (target === undefined) return false;
    const port = await this.dns.listen(target.network, target.gateway);
    const { gateway, address } = target;
    const rules = [
      "*nat",
      ":HTK-DNS-OUT - [0:0]",
      ":HTK-DNS-POST - [0:0]",
      ...["udp", "tcp"].map((p) => `-A HTK-DNS-OUT -d 127.0.0.11/32 -p ${p} -m ${p} --dport 53 -j DNAT --to-destination ${gateway}:${port}`),
      ...["udp", "tcp"].map((p) => `-A HTK-DNS-POST -s 127.0.0.0/8 -d ${gateway}/32 -p ${p} -m ${p} --dport ${port} -j SNAT --to-source ${address}`),
      "COMMIT",
      "*filter",
      ":HTK-DNS-IN - [0:0]",
      "-A HTK-DNS-IN ! -i lo -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP",
      "COMMIT",
      "",
    ].join("\n");
    const jumps = [
      ["nat", "OUTPUT", "-d 127.0.0.11/32 -j HTK-DNS-OUT"],
      ["nat", "POSTROUTING", "-j HTK-DNS-POST"],
      ["filter", "INPUT", "-j HTK-DNS-IN"],
    ]
      .map(([t, c, r]) => `iptables -w -t ${t} -C ${c} ${r} 2>/dev/null || iptables -w -t ${t} -A ${c} ${r}`)
      .join(" && ");
    const script = `sysctl -q -w net.ipv4.conf.all.route_localnet=1 && printf '%s' "$1" | iptables-restore -w --noflush && ${jumps}`;
    await this.#ip("netns", "exec", this.names.netns(containerId), "sh", "-c", script, "htk-dns", rules);
    return true;
  }

  /** Which network's resolver a container asks: its network mode's if user-defined, else its first user-defined bridge network. */
  #dnsTarget(containerId: string): { network: NetworkRecord; gateway: string; address: string } | undefined {
    const c = this.#state.containers.get(containerId);
    if (c === undefined) return undefined;
    const nets = new Map(this.#state.networks.list().map((n) => [n.id, n]));
    const mode = String(c.hostConfig.NetworkMode ?? "");
    const candidates = this.#state.networks
      .endpointsOfContainer(containerId)
      .map((ep) => ({ ep, n: nets.get(ep.networkId) }))
      .filter((x): x is { ep: EndpointRecord; n: NetworkRecord } => x.n !== undefined && x.n.driver === "bridge" && x.n.name !== "bridge" && x.ep.ipv4Address !== "")
      .sort((a, b) => Number(b.n.name === mode || b.n.id === mode) - Number(a.n.name === mode || a.n.id === mode));
    for (const { ep, n } of candidates) {
      const sub = bridgeSubnet(n);
      if (sub !== undefined) return { network: n, gateway: sub.gateway, address: ep.ipv4Address.split("/")[0] ?? "" };
    }
    return undefined;
  }

  /**
   * After an engine restart: the resolver listens on new ports, so the re-attached containers'
   * redirects are pointed at them again.
   */
  async restoreDns(running: ReadonlySet<string>): Promise<void> {
    for (const id of running) {
      this.#attached.add(id);
      await this.redirectDns(id).catch((err: unknown) => this.#log.warn({ err, id }, "pointing a re-attached container's DNS at the resolver"));
    }
  }

  /** Adds a rule for a container in one of the engine's chains, tagged so `release` removes it. */
  async addContainerRule(containerId: string, table: "nat" | "filter", chain: "dnat" | "forward", rule: readonly string[]): Promise<void> {
    const c = chain === "dnat" ? this.names.natDnat : this.names.filterForward;
    this.#withRules.add(containerId);
    await this.#ipt(table, "-A", c, "-m", "comment", "--comment", `htk-ctr:${containerId.slice(0, 12)}`, ...rule);
  }
}
