import { randomBytes } from "node:crypto";
import { htkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import type { EndpointRecord, NetworkRecord, StateStore } from "../state/index.ts";
import { EmbeddedDns } from "./dns.ts";
import {
  dataRootTag,
  hostRoutes,
  ipBatch,
  linkNames,
  namespacesWith,
  NETNS_DIR,
  removeOwner,
  runHostCommand,
  sweepDeadOwners,
  withHostNetworkLock,
  writeOwner,
  type HostCommand,
} from "./host.ts";
import { firstHost, formatAddress, formatPrefix, freeDefaultPool, macForAddress, masked, overlaps, parseAddress, parsePrefix, type Prefix } from "./ipam.ts";

/** The two packet filters: iptables for IPv4, ip6tables for IPv6 (the same chain names in each). */
export type IpFamily = 4 | 6;
const XTABLES = { 4: "iptables", 6: "ip6tables" } as const;
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
  const tag = dataRootTag(dataRoot);
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
  /** The ip6tables chains are hooked (made with the first IPv6 network's bridge). */
  #prepared6 = false;
  /** Containers this process added rules for, and in which filters (release looks only there; recovery covers the rest). */
  readonly #withRules = new Map<string, Set<IpFamily>>();
  readonly #dataRoot: string;
  /** Containers whose namespace this process made or re-adopted: the embedded DNS answers their names (a container is attached before its state says running). */
  readonly #attached = new Set<string>();
  /** Addresses build steps hold on the default bridge (not endpoints in the state). */
  readonly #stepAddresses = new Set<bigint>();
  /** Bridges known to exist, by network ID (so a plug costs no `ip link show`; forgotten when a plug fails). */
  readonly #bridges = new Map<string, string>();

  /** daemon.json `ip6tables` (default true): IPv6 networks get ip6tables rules and forwarding. */
  readonly #ip6tables: boolean;

  constructor(opts: { readonly dataRoot: string; readonly state: StateStore; readonly log: Logger; readonly run?: HostCommand; readonly ip6tables?: boolean }) {
    this.names = datapathNames(opts.dataRoot);
    this.#ip6tables = opts.ip6tables ?? true;
    this.#dataRoot = opts.dataRoot;
    this.#state = opts.state;
    this.#log = opts.log.child({ component: "datapath" });
    this.#run = opts.run ?? runHostCommand;
    this.dns = new EmbeddedDns({ state: opts.state, log: this.#log, attached: (id) => this.#attached.has(id) });
  }

  /**
   * IPv6 networks get ip6tables rules (daemon.json `ip6tables`, default true). Off, there are no
   * ip6tables chains to add to: a published port on an IPv6 host address is served by its relay
   * alone (Docker with ip6tables=false adds no IPv6 rules either).
   */
  get ipv6Rules(): boolean {
    return this.#ip6tables;
  }

  async #ip(...args: string[]): Promise<string> {
    return this.#run("ip", args);
  }

  async #xt(family: IpFamily, table: "nat" | "filter", ...args: string[]): Promise<string> {
    return this.#run(XTABLES[family], ["-w", "-t", table, ...args]);
  }

  /** `iptables-restore --noflush` of `tables` (table → rule lines): one process, all or nothing. */
  async #restore(family: IpFamily, tables: ReadonlyArray<readonly [string, readonly string[]]>): Promise<void> {
    const text = tables
      .filter(([, lines]) => lines.length > 0)
      .map(([table, lines]) => `*${table}\n${lines.join("\n")}\nCOMMIT\n`)
      .join("");
    if (text !== "") await this.#run(`${XTABLES[family]}-restore`, ["-w", "--noflush"], text);
  }

  /** The rules of the nat and filter tables (`iptables-save`: one process for both), by table. */
  async #saved(family: IpFamily): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    let table = "";
    const text = await this.#run(`${XTABLES[family]}-save`, []).catch(() => "");
    for (const line of text.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1).trim();
      else if (table === "nat" || table === "filter") {
        const list = out.get(table) ?? [];
        list.push(line);
        out.set(table, list);
      }
    }
    return out;
  }

  /** Prefixes the host routes through devices that are not this network's bridge. */
  async #foreignRoutes(ownDevice: string | undefined): Promise<Array<{ readonly prefix: Prefix; readonly dev: string }>> {
    return (await hostRoutes(this.#run)).filter((r) => r.dev !== ownDevice);
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
      await this.#hookChains(4);
      await this.#moveDefaultSubnet();
      // The default bridge is made now, under the lock: its route is what the next engine sees.
      const def = this.#state.networks.list().find((x) => x.name === "bridge");
      if (def !== undefined && bridgeSubnet(def) !== undefined) await this.#makeBridge(def);
    });
    this.#prepared = true;
  }

  /**
   * The engine's chains in one filter and the jumps to them (made once; a restart finds them): nat
   * POST from POSTROUTING, nat DNAT from PREROUTING and OUTPUT for local destinations (loopback
   * excepted: the relay serves it), filter FWD from FORWARD with the isolation chains first in it.
   */
  async #hookChains(family: IpFamily): Promise<void> {
    const n = this.names;
    const loopback = family === 4 ? "127.0.0.0/8" : "::1/128";
    for (const [table, chain, parent, match] of [
      ["nat", n.natPost, "POSTROUTING", []],
      ["nat", n.natDnat, "PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL"]],
      ["nat", n.natDnat, "OUTPUT", ["!", "-d", loopback, "-m", "addrtype", "--dst-type", "LOCAL"]],
      ["filter", n.filterForward, "FORWARD", []],
    ] as const) {
      await this.#xt(family, table, "-N", chain).catch(() => undefined);
      const rule = [...match, "-j", chain];
      const present = await this.#xt(family, table, "-C", parent, ...rule).then(
        () => true,
        () => false,
      );
      if (!present) await this.#xt(family, table, "-I", parent, "1", ...rule);
    }
    // Isolation first in the engine's FORWARD chain (as Docker's DOCKER-ISOLATION-STAGE-1 comes first in FORWARD).
    for (const chain of [n.filterIsolation1, n.filterIsolation2]) await this.#xt(family, "filter", "-N", chain).catch(() => undefined);
    const toIso = await this.#xt(family, "filter", "-C", n.filterForward, "-j", n.filterIsolation1).then(
      () => true,
      () => false,
    );
    if (!toIso) await this.#xt(family, "filter", "-I", n.filterForward, "1", "-j", n.filterIsolation1);
  }

  /**
   * Before the first IPv6 bridge (under the host lock): IPv6 forwarding as Docker 28's bridge driver
   * sets it (`net.ipv6.conf.default.forwarding` and `.all.forwarding` to 1 when they are not; left on
   * at exit, as Docker; when this turned it on, ip6tables' FORWARD policy becomes DROP, as Docker's,
   * so the host does not start routing IPv6 between its other interfaces), then the engine's
   * ip6tables chains.
   */
  async #prepareIPv6(): Promise<void> {
    if (this.#prepared6) return;
    const keys = ["net.ipv6.conf.default.forwarding", "net.ipv6.conf.all.forwarding"];
    const now = (await this.#run("sysctl", ["-n", ...keys]).catch(() => "")).split("\n");
    let changed = false;
    for (const [i, key] of keys.entries()) {
      if (now[i]?.trim() === "1") continue;
      await this.#run("sysctl", ["-q", "-w", `${key}=1`]);
      changed = true;
    }
    if (changed) {
      await this.#xt(6, "filter", "-P", "FORWARD", "DROP");
      this.#log.info({}, "IPv6 forwarding turned on (as Docker does for IPv6 networks); ip6tables FORWARD policy set to DROP");
    }
    await this.#hookChains(6);
    this.#prepared6 = true;
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
    const v6 = def.ipam.Config.filter((c) => parsePrefix(c.Subnet ?? "")?.family === "IPv6");
    this.#state.networks.setIpam(def.id, { ...def.ipam, Config: [{ Subnet: formatPrefix(pool), Gateway: formatAddress(firstHost(pool)) }, ...v6] });
    this.#log.info({ from: formatPrefix(sub.subnet), to: formatPrefix(pool) }, "the default bridge's subnet is routed elsewhere on this host; moved to the next free pool");
    // A bridge left from before with the old address is re-made by ensureBridge.
    this.#bridges.delete(def.id);
    await this.#ip("link", "del", "dev", this.names.bridge(def)).catch(() => undefined);
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
   * A subnet the host routes through another device is refused (HTK-ENGINE-0660). Remembered while
   * the engine runs: the next plug on the network costs no look at the host.
   */
  async ensureBridge(n: NetworkRecord): Promise<string> {
    if (!this.#prepared) await this.prepare();
    const known = this.#bridges.get(n.id);
    if (known !== undefined) return known;
    const dev = this.names.bridge(n);
    const sub = bridgeSubnet(n);
    if (sub === undefined) throw htkError("HTK-ENGINE-0661", { network: n.name });
    if (await this.#linkExists(dev)) {
      this.#bridges.set(n.id, dev);
      return dev;
    }
    return this.locked(() => this.#makeBridge(n));
  }

  async #makeBridge(n: NetworkRecord): Promise<string> {
    const dev = this.names.bridge(n);
    const sub = bridgeSubnet(n);
    if (sub === undefined) throw htkError("HTK-ENGINE-0661", { network: n.name });
    if (await this.#linkExists(dev)) {
      this.#bridges.set(n.id, dev);
      return dev;
    }
    const clash = (await this.#foreignRoutes(dev)).find((r) => overlaps(r.prefix, sub.subnet));
    if (clash !== undefined) throw htkError("HTK-ENGINE-0660", { network: n.name, subnet: formatPrefix(sub.subnet), route: formatPrefix(clash.prefix), dev: clash.dev });
    const sub6 = bridgeSubnet6(n);
    // The same for the IPv6 subnet (a bridge with this host's own IPv6 prefix would take its route).
    const clash6 = sub6 === undefined ? undefined : (await hostRoutes(this.#run, 6)).find((r) => r.dev !== dev && overlaps(r.prefix, sub6.subnet));
    if (sub6 !== undefined && clash6 !== undefined) throw htkError("HTK-ENGINE-0660", { network: n.name, subnet: formatPrefix(sub6.subnet), route: formatPrefix(clash6.prefix), dev: clash6.dev });
    const rules6 = sub6 !== undefined && this.#ip6tables;
    if (rules6) await this.#prepareIPv6();
    await this.#ip("link", "add", "name", dev, "type", "bridge");
    try {
      // IPv6 (--ipv6): the gateway on the bridge, no duplicate address detection (the address is ours alone).
      await ipBatch(this.#run, [], [
        `addr add ${sub.gateway}/${sub.subnet.bits} dev ${dev}`,
        ...(sub6 === undefined ? [] : [`addr add ${sub6.gateway}/${sub6.subnet.bits} dev ${dev} nodad`]),
        `link set dev ${dev} up`,
      ]);
      await this.#addNetworkRules(n, dev, 4, formatPrefix(sub.subnet));
      if (rules6) await this.#addNetworkRules(n, dev, 6, formatPrefix(sub6.subnet));
    } catch (err) {
      await this.removeBridge(n).catch(() => undefined);
      throw err;
    }
    this.#bridges.set(n.id, dev);
    return dev;
  }

  /**
   * A network's rules in one filter (one `iptables-restore`): Docker's isolation (what leaves this
   * bridge for another one is looked at in stage 2, where going out of any of the engine's bridges is
   * dropped), forwarding in and out (internal: only inside the bridge), MASQUERADE for the subnet.
   */
  async #addNetworkRules(n: NetworkRecord, dev: string, family: IpFamily, subnet: string): Promise<void> {
    const tag = `-m comment --comment htk-net:${n.id.slice(0, 12)}`;
    const { filterForward: fwd, filterIsolation1: iso1, filterIsolation2: iso2, natPost } = this.names;
    const filter = [`-A ${iso1} -i ${dev} ! -o ${dev} ${tag} -j ${iso2}`, `-A ${iso2} -o ${dev} ${tag} -j DROP`];
    const nat: string[] = [];
    if (n.internal) {
      filter.push(`-A ${fwd} -i ${dev} ! -o ${dev} ${tag} -j DROP`, `-A ${fwd} -o ${dev} ! -i ${dev} ${tag} -j DROP`, `-A ${fwd} -i ${dev} -o ${dev} ${tag} -j ACCEPT`);
    } else {
      filter.push(`-A ${fwd} -i ${dev} ${tag} -j ACCEPT`, `-A ${fwd} -o ${dev} ${tag} -j ACCEPT`);
      if (n.options["com.docker.network.bridge.enable_ip_masquerade"] !== "false") nat.push(`-A ${natPost} -s ${subnet} ! -o ${dev} ${tag} -j MASQUERADE`);
    }
    await this.#restore(family, [
      ["filter", filter],
      ["nat", nat],
    ]);
  }

  /**
   * Deletes the rules of this engine's chains whose comment `match`es (exact: nothing else), in the
   * given filters: one `iptables-save` and one `iptables-restore` per filter (rule by rule if the
   * restore fails, e.g. a rule went meanwhile).
   */
  async #deleteRulesTagged(match: (comment: string) => boolean, families: Iterable<IpFamily> = [4, 6]): Promise<void> {
    const own = new Set([this.names.natPost, this.names.natDnat, this.names.filterForward, this.names.filterIsolation1, this.names.filterIsolation2]);
    for (const family of families) {
      const tables: Array<[string, string[]]> = [];
      for (const [table, lines] of await this.#saved(family)) {
        const del: string[] = [];
        for (const line of lines) {
          if (!line.startsWith("-A ") || !own.has(line.split(" ")[1] ?? "")) continue;
          const m = /--comment "?(htk-[a-z]+:[0-9a-f]+)"?/.exec(line);
          if (m?.[1] !== undefined && match(m[1])) del.push(`-D ${line.slice(3)}`);
        }
        tables.push([table, del]);
      }
      try {
        await this.#restore(family, tables);
      } catch {
        for (const [table, del] of tables) {
          for (const line of del) {
            await this.#xt(family, table as "nat" | "filter", ...line.replace(/"/g, "").split(" ")).catch((err: unknown) => this.#log.warn({ err, rule: line }, "removing a rule"));
          }
        }
      }
    }
  }

  /** Removes a network's bridge and rules (network removal, or leftovers). */
  async removeBridge(n: NetworkRecord): Promise<void> {
    this.#bridges.delete(n.id);
    await this.dns.close(n.id);
    await this.#deleteRulesTagged((c) => c === `htk-net:${n.id.slice(0, 12)}`, bridgeSubnet6(n) === undefined ? [4] : [4, 6]);
    await this.#ip("link", "del", "dev", this.names.bridge(n)).catch(() => undefined);
  }

  /** A fresh named namespace for a container; its path for the runtime to join (loopback comes up with the first plug). */
  async createNamespace(containerId: string): Promise<string> {
    const name = this.names.netns(containerId);
    // One left by a crash (recovery removes them; a race with it is possible only in tests): replaced.
    await this.#ip("netns", "add", name).catch(async () => {
      await this.#ip("netns", "del", name).catch(() => undefined);
      await this.#ip("netns", "add", name);
    });
    this.#attached.add(containerId);
    return `${NETNS_DIR}/${name}`;
  }

  /**
   * A veth pair for one endpoint: the host end on the network's bridge, the other end in the
   * container's namespace as `ifname` with the endpoint's MAC and address; `defaultRoute` adds the
   * default route via the network's gateway. Two `ip -batch` processes: the host's side, then the
   * namespace's (loopback up there too).
   */
  async plug(containerId: string, n: NetworkRecord, ep: EndpointRecord, ifname: string, defaultRoute: boolean): Promise<void> {
    await this.#plug(containerId, n, ep, ifname, defaultRoute, false);
  }

  /** `plug`; `newNamespace`: the namespace is made in the same `ip -batch` (a build step's two processes). */
  async #plug(containerId: string, n: NetworkRecord, ep: EndpointRecord, ifname: string, defaultRoute: boolean, newNamespace: boolean): Promise<void> {
    const ns = this.names.netns(containerId);
    const host = this.names.veth(ep.endpointId);
    const mac = ep.macAddress === "" ? "" : ` address ${ep.macAddress}`;
    const hostSide = (dev: string): string[] => [
      ...(newNamespace ? [`netns add ${ns}`] : []),
      `link add name ${host} type veth peer name ${ifname} netns ${ns}${mac}`,
      `link set dev ${host} master ${dev} up`,
    ];
    let dev = await this.ensureBridge(n);
    try {
      await ipBatch(this.#run, [], hostSide(dev));
    } catch {
      // A veth or namespace left by a crash, or a bridge that went behind our back: looked at again, once.
      await this.#ip("link", "del", "dev", host).catch(() => undefined);
      if (newNamespace) await this.#ip("netns", "del", ns).catch(() => undefined);
      this.#bridges.delete(n.id);
      dev = await this.ensureBridge(n);
      await ipBatch(this.#run, [], hostSide(dev));
    }
    try {
      const sub = bridgeSubnet(n);
      const sub6 = bridgeSubnet6(n);
      const inside = ["link set dev lo up"];
      if (ep.ipv4Address !== "") inside.push(`addr add ${ep.ipv4Address} dev ${ifname}`);
      if (ep.ipv6Address !== "" && sub6 !== undefined) inside.push(`addr add ${ep.ipv6Address.includes("/") ? ep.ipv6Address : `${ep.ipv6Address}/${sub6.subnet.bits}`} dev ${ifname} nodad`);
      inside.push(`link set dev ${ifname} up`);
      if (defaultRoute && sub !== undefined && !n.internal) inside.push(`route replace default via ${sub.gateway} dev ${ifname}`);
      if (defaultRoute && sub6 !== undefined && ep.ipv6Address !== "" && !n.internal) inside.push(`route replace ::/0 via ${sub6.gateway} dev ${ifname}`);
      await ipBatch(this.#run, ["-n", ns], inside);
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
    const families = this.#withRules.get(containerId);
    this.#withRules.delete(containerId);
    if (families !== undefined) await this.#deleteRulesTagged((c) => c === `htk-ctr:${containerId.slice(0, 12)}`, families);
    await this.#deleteNamespace(this.names.netns(containerId));
  }

  /**
   * Deletes a namespace's veths first (deleting one end removes the pair at once; the kernel
   * destroys a namespace's devices asynchronously after `ip netns del`), then the namespace: its
   * links listed, then one `ip -batch` in it (`ifnames`, when known, saves the listing).
   */
  async #deleteNamespace(name: string, ifnames?: readonly string[]): Promise<void> {
    const links = ifnames ?? (JSON.parse((await this.#ip("-n", name, "-j", "link", "show").catch(() => "[]")) || "[]") as Array<{ ifname?: string }>).map((l) => l.ifname ?? "");
    const del = links.filter((l) => l !== "" && l !== "lo").map((l) => `link del dev ${l}`);
    await ipBatch(this.#run, ["-n", name, "-force"], [...del, `netns del ${name}`]).catch(() => this.#ip("netns", "del", name).catch(() => undefined));
  }

  /**
   * Daemon start: removes what a crashed engine left — namespaces, veths and container rules of
   * containers not running now, and bridges (and their rules) of networks the state no longer has.
   * Only objects carrying this engine's tag are looked at.
   */
  async recover(running: ReadonlySet<string>): Promise<void> {
    const prefix = `htk-${this.names.tag}-`;
    const alive = new Set([...running].map((id) => id.slice(0, 12)));
    for (const e of namespacesWith(prefix)) {
      if (alive.has(e.slice(prefix.length))) continue;
      this.#log.info({ netns: e }, "removing a leftover network namespace");
      await this.#deleteNamespace(e);
    }
    const byShort = new Map([...running].map((id) => [id.slice(0, 12), id]));
    const networks = this.#state.networks.list();
    const liveNets = new Set(networks.map((n) => n.id.slice(0, 12)));
    await this.#deleteRulesTagged((c) => {
      if (c.startsWith("htk-net:")) return !liveNets.has(c.slice("htk-net:".length));
      if (!c.startsWith("htk-ctr:")) return false;
      const full = byShort.get(c.slice("htk-ctr:".length));
      // A re-attached container's rules go at its exit (both filters: which ones it has is not known here).
      if (full !== undefined) this.#withRules.set(full, new Set([4, 6]));
      return full === undefined;
    });
    const bridges = new Set(networks.map((n) => this.names.bridge(n)));
    const liveVeths = new Set<string>();
    for (const n of networks) for (const ep of this.#state.networks.endpoints(n.id)) if (running.has(ep.containerId)) liveVeths.add(this.names.veth(ep.endpointId));
    for (const name of await linkNames(this.#run)) {
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
    await removeOwner(OWNERS_DIR, this.names.tag);
    this.#bridges.clear();
    this.#prepared = false;
    this.#prepared6 = false;
  }

  /** Everything carrying `tag` on the host: namespaces, links, chains and the jumps to them, in both filters. */
  async #removeTag(tag: string): Promise<void> {
    for (const e of namespacesWith(`htk-${tag}-`)) await this.#deleteNamespace(e);
    for (const name of await linkNames(this.#run)) {
      if (name.startsWith(`hv${tag}`) || name.startsWith(`hb${tag}`)) await this.#ip("link", "del", "dev", name).catch(() => undefined);
    }
    for (const family of [4, 6] as const) {
      const tables: Array<[string, string[]]> = [];
      for (const [table, lines] of await this.#saved(family)) {
        const chains = lines.map((line) => /^:(HTK-[0-9a-f]{8}-[A-Z]+) /.exec(line)?.[1]).filter((c): c is string => c !== undefined && c.startsWith(`HTK-${tag}-`));
        if (chains.length === 0) continue;
        // The jumps from outside first; all flushed before any is deleted (the engine's chains jump to each other).
        const jumps = lines.filter((l) => l.startsWith("-A ") && l.includes(`-j HTK-${tag}-`) && !l.startsWith(`-A HTK-${tag}-`)).map((l) => `-D ${l.slice(3)}`);
        tables.push([table, [...jumps, ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`)]]);
      }
      try {
        await this.#restore(family, tables);
      } catch (err) {
        this.#log.warn({ err, tag, family }, "removing an engine's chains in one go failed; one by one");
        for (const [table, lines] of tables) for (const line of lines) await this.#xt(family, table as "nat" | "filter", ...line.replace(/"/g, "").split(" ")).catch(() => undefined);
      }
    }
  }

  /**
   * Under the host lock at start: records this engine's data root (and pid) under its tag, and
   * removes what dead engines left: those whose data root no longer exists (a test engine killed with
   * its temporary folder deleted can never come back to clean up), and those whose process is dead
   * and which have no container namespace left (killed and never restarted; a restart makes its
   * bridges and chains again). Nothing of a live engine is touched.
   */
  async #sweepOrphans(): Promise<void> {
    writeOwner(OWNERS_DIR, this.names.tag, this.#dataRoot);
    await sweepDeadOwners({
      dir: OWNERS_DIR,
      self: this.names.tag,
      idle: (tag) => namespacesWith(`htk-${tag}-`).length === 0,
      remove: (tag) => this.#removeTag(tag),
      log: this.#log,
    });
  }

  /**
   * A namespace on the default bridge for one build step (RUN with network `default`): eth0 with an
   * address taken from the top of the subnet downwards (containers take the lowest free ones, so the
   * two meet only in a nearly full subnet), the default route via the gateway. Two `ip -batch`
   * processes to make it, one to remove it (`release`).
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
    const ns = this.names.netns(id);
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      this.#attached.delete(id);
      await this.#deleteNamespace(ns, ["eth0"]);
      this.#stepAddresses.delete(value);
    };
    try {
      this.#attached.add(id);
      await this.#plug(id, def, ep, "eth0", true, true);
      return { path: `${NETNS_DIR}/${ns}`, release };
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

  /** Adds a rule for a container in one of the engine's chains (iptables, or ip6tables for `family` 6), tagged so `release` removes it. */
  async addContainerRule(containerId: string, table: "nat" | "filter", chain: "dnat" | "forward", rule: readonly string[], family: IpFamily = 4): Promise<void> {
    const c = chain === "dnat" ? this.names.natDnat : this.names.filterForward;
    const families = this.#withRules.get(containerId) ?? new Set<IpFamily>();
    families.add(family);
    this.#withRules.set(containerId, families);
    await this.#xt(family, table, "-A", c, "-m", "comment", "--comment", `htk-ctr:${containerId.slice(0, 12)}`, ...rule);
  }
}
