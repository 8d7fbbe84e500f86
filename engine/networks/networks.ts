import { createHash } from "node:crypto";
import { htkError } from "../../base/errors/index.ts";
import {
  generateId,
  matchKeyValues,
  parseDockerTime,
  parseRfc3339Nano,
  rfc3339Nano,
  validateFilterKeys,
  values,
  type Container,
  type EndpointRecord,
  type Filters,
  type IpamConfig,
  type NetworkRecord,
  type StateStore,
} from "../state/index.ts";
import {
  contains,
  firstHost,
  formatAddress,
  formatPrefix,
  freeAddress,
  freeDefaultPool,
  ipamProblems,
  macForAddress,
  masked,
  overlaps,
  parseAddress,
  parsePrefix,
  type Address,
  type Prefix,
} from "./ipam.ts";

/** The networks the engine makes itself, present from the first start (Docker's predefined networks). */
export const PREDEFINED_NETWORKS = ["bridge", "host", "none"] as const;

export function isPredefined(name: string): boolean {
  return (PREDEFINED_NETWORKS as readonly string[]).includes(name);
}

/**
 * The Linux bridge device the datapath will use for the default network. Docker's is docker0; ours has
 * its own name so an engine can run beside a Docker Engine without taking over its bridge.
 */
export const DEFAULT_BRIDGE_DEVICE = "hatake0";

/** The default bridge network's settings, as Docker 26 shows them in `docker network inspect bridge`. */
function predefinedRecord(name: (typeof PREDEFINED_NETWORKS)[number], nowNs: bigint): NetworkRecord {
  const base = {
    id: generateId(),
    name,
    scope: "local" as const,
    created: rfc3339Nano(nowNs),
    labels: {},
    internal: false,
    attachable: false,
    ingress: false,
    enableIPv6: false,
  };
  switch (name) {
    case "bridge":
      return {
        ...base,
        driver: "bridge",
        ipam: { Driver: "default", Options: {}, Config: [{ Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }] },
        options: {
          "com.docker.network.bridge.default_bridge": "true",
          "com.docker.network.bridge.enable_icc": "true",
          "com.docker.network.bridge.enable_ip_masquerade": "true",
          "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
          "com.docker.network.bridge.name": DEFAULT_BRIDGE_DEVICE,
          "com.docker.network.driver.mtu": "1500",
        },
      };
    case "host":
      return { ...base, driver: "host", ipam: { Driver: "default", Options: {}, Config: [] }, options: {} };
    case "none":
      return { ...base, driver: "null", ipam: { Driver: "default", Options: {}, Config: [] }, options: {} };
    default: {
      const never: never = name;
      return never;
    }
  }
}

/**
 * Makes sure bridge, host and none exist (called once when the daemon opens its state). Their IDs are
 * made on the first start and kept in the state, so they are stable across restarts. Nothing is
 * created on the host here: the datapath (datapath.ts) makes the default bridge at daemon start.
 */
export function ensurePredefinedNetworks(state: StateStore): NetworkRecord[] {
  return PREDEFINED_NETWORKS.map((name) => state.networks.ensure(predefinedRecord(name, state.ctx.clock())));
}

/**
 * The default bridge follows daemon.json's `ipv6` / `fixed-cidr-v6` at each start (as dockerd makes
 * its default bridge from them): with `ipv6Subnet` it has IPv6 on and that subnet (gateway: its first
 * address) beside its IPv4 one; without, IPv6 off and no IPv6 subnet.
 */
export function configureDefaultBridgeIPv6(state: StateStore, ipv6Subnet: string | undefined): void {
  const def = state.networks.list().find((n) => n.name === "bridge" && n.driver === "bridge");
  if (def === undefined) return;
  const v4 = def.ipam.Config.filter((c) => parsePrefix(c.Subnet ?? "")?.family !== "IPv6");
  const p = ipv6Subnet === undefined ? undefined : parsePrefix(ipv6Subnet);
  if (ipv6Subnet !== undefined && p?.family !== "IPv6") throw htkError("HTK-ENGINE-0900", { subnet: ipv6Subnet });
  const v6 = p === undefined ? [] : [{ Subnet: formatPrefix(masked(p)), Gateway: formatAddress(firstHost(masked(p))) }];
  const current = def.ipam.Config.filter((c) => parsePrefix(c.Subnet ?? "")?.family === "IPv6");
  if (def.enableIPv6 === (p !== undefined) && JSON.stringify(current) === JSON.stringify(v6)) return;
  state.networks.setIpam(def.id, { ...def.ipam, Config: [...v4, ...v6] }, p !== undefined);
}

/**
 * Docker 27+'s IPv6 default pool: a ULA /48 (fd + a 40-bit global ID, RFC 4193) derived from
 * something stable of this engine — dockerd hashes its engine ID; here the default bridge's ID, made
 * at the first start and kept — split into /64s; the first /64 no network uses.
 */
function freeUlaSubnet(state: StateStore, taken: readonly Prefix[]): Prefix | undefined {
  const seed = state.networks.list().find((n) => n.name === "bridge")?.id ?? "";
  const globalId = BigInt(`0x${createHash("sha256").update(`hatake-ula:${seed}`).digest("hex").slice(0, 10)}`);
  const base = ((0xfdn << 40n) | globalId) << 80n;
  for (let i = 0n; i < 65536n; i++) {
    const candidate: Prefix = { family: "IPv6", addr: base | (i << 64n), bits: 64 };
    if (!taken.some((t) => t.family === "IPv6" && overlaps(t, candidate))) return candidate;
  }
  return undefined;
}

/** `POST /networks/create`'s request (NetworkCreateRequest), decoded. */
export interface NetworkCreateRequest {
  readonly name: string;
  readonly driver?: string | undefined;
  readonly scope?: string | undefined;
  readonly internal?: boolean | undefined;
  readonly attachable?: boolean | undefined;
  readonly ingress?: boolean | undefined;
  readonly enableIPv6?: boolean | undefined;
  readonly ipam?: { readonly driver?: string | undefined; readonly config?: readonly IpamConfig[] | undefined; readonly options?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly options?: Readonly<Record<string, string>> | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

/** Subnets in use by the engine's networks (for overlap checks and the default pools). */
function takenPrefixes(state: StateStore): Prefix[] {
  const out: Prefix[] = [];
  for (const n of state.networks.list()) {
    for (const c of n.ipam.Config) {
      const p = parsePrefix(c.Subnet ?? "");
      if (p !== undefined) out.push(masked(p));
    }
  }
  return out;
}

/**
 * Creates a network as Docker 26 does, in its order of checks: a predefined name (403), swarm-only
 * drivers and scopes, the IPAM configuration (Docker's ValidateIPAM texts), the name (empty, taken:
 * 409), the driver (bridge; host and null exist once; unknown ones are "plugin not found"), then the
 * address pool: the given subnets must not overlap another network's, and a network without a subnet
 * gets the next free default pool (172.18.0.0/16, …; not one of `hostPrefixes`, the host's routes)
 * with its first address as the gateway. Records `create`. The bridge is the datapath's.
 */
export function createNetwork(state: StateStore, req: NetworkCreateRequest, hostPrefixes: readonly Prefix[] = []): NetworkRecord {
  if (isPredefined(req.name)) throw htkError("HTK-ENGINE-0470", { name: req.name });
  const driver = req.driver === undefined || req.driver === "" ? "bridge" : req.driver;
  if (driver === "overlay" || req.scope === "swarm" || req.ingress === true) throw htkError("HTK-ENGINE-0477", {});
  const enableIPv6 = req.enableIPv6 ?? parseBoolOption(req.options?.["com.docker.network.enable_ipv6"]) ?? false;
  const configs = req.ipam?.config ?? [];
  const problems = ipamProblems(configs, enableIPv6);
  if (problems.length > 0) throw htkError("HTK-ENGINE-0472", { errors: problems.map((p) => `* ${p}`).join("\n") });
  if (req.name.trim() === "") throw htkError("HTK-ENGINE-0488", { name: req.name });
  return state.ctx.tx(() => {
    if (state.networks.list().some((n) => n.name === req.name)) throw htkError("HTK-ENGINE-0125", { name: req.name });
    if (driver === "host" || driver === "null") throw htkError("HTK-ENGINE-0476", { driver, network: driver === "null" ? "none" : "host" });
    if (driver === "macvlan" || driver === "ipvlan") throw htkError("HTK-ENGINE-0478", { driver });
    if (driver !== "bridge") throw htkError("HTK-ENGINE-0475", { driver });
    const ipamDriver = req.ipam?.driver === undefined || req.ipam.driver === "" ? "default" : req.ipam.driver;
    if (ipamDriver !== "default") throw htkError("HTK-ENGINE-0475", { driver: ipamDriver });

    const taken = takenPrefixes(state);
    const finalConfigs: IpamConfig[] = [];
    for (const c of configs) {
      const subnet = masked(parsePrefix(c.Subnet ?? "") as Prefix);
      if (subnet.family === "IPv6" && !enableIPv6) {
        finalConfigs.push(c);
        continue;
      }
      if (taken.some((t) => overlaps(t, subnet)) || finalConfigs.some((f) => overlaps(parsePrefix(f.Subnet ?? "") as Prefix, subnet))) {
        throw htkError("HTK-ENGINE-0473", {});
      }
      finalConfigs.push({
        Subnet: formatPrefix(subnet),
        ...(c.IPRange === undefined || c.IPRange === "" ? {} : { IPRange: c.IPRange }),
        Gateway: c.Gateway === undefined || c.Gateway === "" ? formatAddress(firstHost(subnet)) : c.Gateway,
        ...(c.AuxiliaryAddresses === undefined || Object.keys(c.AuxiliaryAddresses).length === 0 ? {} : { AuxiliaryAddresses: c.AuxiliaryAddresses }),
      });
    }
    const families = new Set(finalConfigs.map((c) => parsePrefix(c.Subnet ?? "")?.family));
    if (!families.has("IPv4")) {
      const pool = freeDefaultPool([...taken, ...hostPrefixes]);
      if (pool === undefined) throw htkError("HTK-ENGINE-0474", { family: "IPv4" });
      finalConfigs.unshift({ Subnet: formatPrefix(pool), Gateway: formatAddress(firstHost(pool)) });
    }
    if (enableIPv6 && !families.has("IPv6")) {
      const pool = freeUlaSubnet(state, [...taken, ...finalConfigs.map((c) => parsePrefix(c.Subnet ?? "")).filter((p): p is Prefix => p !== undefined)]);
      if (pool === undefined) throw htkError("HTK-ENGINE-0474", { family: "IPv6" });
      finalConfigs.push({ Subnet: formatPrefix(pool), Gateway: formatAddress(firstHost(pool)) });
    }
    return state.networks.create({
      id: generateId(),
      name: req.name,
      driver,
      scope: "local",
      created: rfc3339Nano(state.ctx.clock()),
      ipam: { Driver: ipamDriver, Options: { ...(req.ipam?.options ?? {}) }, Config: finalConfigs },
      labels: { ...(req.labels ?? {}) },
      options: { ...(req.options ?? {}) },
      internal: req.internal ?? false,
      attachable: req.attachable ?? false,
      ingress: false,
      enableIPv6,
    });
  });
}

function parseBoolOption(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  return ["1", "t", "T", "true", "TRUE", "True"].includes(v);
}

/**
 * Removes a network: predefined ones never (Docker's 403 text), one with endpoints neither (HTK-ENGINE-0126).
 * Records `destroy`.
 */
export function removeNetwork(state: StateStore, ref: string): NetworkRecord {
  const n = state.networks.resolve(ref);
  if (isPredefined(n.name)) throw htkError("HTK-ENGINE-0471", { name: n.name });
  state.networks.remove(n);
  return n;
}

/** `POST /networks/prune` filters (daemon/prune.go networksAcceptedFilters). */
export const NETWORK_PRUNE_FILTERS = ["until", "label", "label!"] as const;

/**
 * Which networks a prune removes, pure: user-defined, without endpoints, created before `until`,
 * matching `label` and not `label!`.
 */
export function prunableNetworks(networks: readonly NetworkRecord[], filters: Filters, attached: ReadonlySet<string>, nowNs: bigint): NetworkRecord[] {
  validateFilterKeys(filters, NETWORK_PRUNE_FILTERS);
  const until = values(filters, "until");
  let untilNs: bigint | undefined;
  if (until.length > 0) {
    if (until.length > 1) throw htkError("HTK-ENGINE-0492", { value: until.join(" ") });
    untilNs = parseDockerTime(until[0] ?? "", nowNs);
    if (untilNs === undefined) throw htkError("HTK-ENGINE-0492", { value: until[0] ?? "" });
  }
  return networks.filter(
    (n) =>
      !isPredefined(n.name) &&
      !attached.has(n.id) &&
      (untilNs === undefined || (parseRfc3339Nano(n.created) ?? 0n) < untilNs) &&
      matchKeyValues(filters, "label", n.labels) &&
      (values(filters, "label!").length === 0 || !matchKeyValues(filters, "label!", n.labels)),
  );
}

/** IDs of the networks that have endpoints. */
export function attachedNetworks(state: StateStore): Set<string> {
  return new Set(state.networks.list().filter((n) => state.networks.endpoints(n.id).length > 0).map((n) => n.id));
}

const pruning = new WeakSet<StateStore>();

/** Removes the prunable networks and records Docker's `prune` event (attribute `reclaimed` "0"). One at a time (HTK-ENGINE-0459). */
export function pruneNetworks(state: StateStore, filters: Filters): { NetworksDeleted: string[] } {
  if (pruning.has(state)) throw htkError("HTK-ENGINE-0459", {});
  pruning.add(state);
  try {
    const deleted: string[] = [];
    for (const n of prunableNetworks(state.networks.list(), filters, attachedNetworks(state), state.ctx.clock())) {
      try {
        state.networks.remove(n);
        deleted.push(n.name);
      } catch {
        // A container attached meanwhile: Docker skips what it cannot remove.
      }
    }
    state.recordEvent({ Type: "network", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: "0" } } });
    return { NetworksDeleted: deleted };
  } finally {
    pruning.delete(state);
  }
}

/** `EndpointSettings` of a connect request, the parts the state keeps. */
export interface EndpointRequest {
  readonly aliases?: readonly string[] | undefined;
  /** `IPAMConfig.IPv4Address` (`--ip`). */
  readonly ipv4Address?: string | undefined;
  readonly ipv6Address?: string | undefined;
}

/**
 * Attaches a container to a network as Docker's ConnectToNetwork checks it (shared network namespace,
 * host and none rules, static addresses and aliases only on user-defined networks, already attached),
 * allocates its address (the lowest free one in the ip-range or subnet, or the requested one) and MAC
 * (02:42 + the IPv4 address, as Docker 26's bridge driver), and records the endpoint and `connect`.
 * Only the records: the veth and the address inside the container are the datapath's part.
 */
export function connectContainer(state: StateStore, networkRef: string, container: Container, req: EndpointRequest = {}): EndpointRecord {
  const n = state.networks.resolve(networkRef);
  const mode = String(container.hostConfig.NetworkMode ?? "default");
  const name = container.name.replace(/^\//, "");
  return state.ctx.tx(() => {
    const current = state.networks.endpointsOfContainer(container.id);
    if (mode.startsWith("container:")) throw htkError("HTK-ENGINE-0483", {});
    if (current.some((e) => e.networkId === n.id)) throw htkError("HTK-ENGINE-0479", { container: name, network: n.name });
    const currentNames = current.map((e) => state.networks.list().find((x) => x.id === e.networkId)?.name);
    if (n.name === "host" || mode === "host" || currentNames.includes("host")) throw htkError("HTK-ENGINE-0481", {});
    if (n.name === "none" ? current.length > 0 : mode === "none" || currentNames.includes("none")) throw htkError("HTK-ENGINE-0482", {});
    const userDefined = !isPredefined(n.name);
    const wantsIp = (req.ipv4Address ?? "") !== "" || (req.ipv6Address ?? "") !== "";
    if (!userDefined && wantsIp) throw htkError("HTK-ENGINE-0484", {});
    if (!userDefined && (req.aliases ?? []).length > 0) throw htkError("HTK-ENGINE-0491", {});

    let ipv4 = "";
    let mac = "";
    if (n.driver === "bridge") {
      const v4 = allocateAddress(state, n, "IPv4", req.ipv4Address ?? "");
      if (v4 !== undefined) {
        ipv4 = `${formatAddress(v4.address)}/${v4.bits}`;
        mac = macForAddress(v4.address);
      }
    }
    let ipv6 = "";
    if (n.driver === "bridge" && n.enableIPv6) {
      // IPv6 networks (--ipv6): the lowest free address of the IPv6 subnet (or ip-range), or the one asked for.
      const v6 = allocateAddress(state, n, "IPv6", req.ipv6Address ?? "");
      if (v6 !== undefined) ipv6 = `${formatAddress(v6.address)}/${v6.bits}`;
    }
    const endpoint: EndpointRecord = {
      networkId: n.id,
      containerId: container.id,
      endpointId: generateId(),
      macAddress: mac,
      ipv4Address: ipv4,
      ipv6Address: ipv6 !== "" ? ipv6 : req.ipv6Address === undefined || req.ipv6Address === "" ? "" : req.ipv6Address,
      aliases: [...(req.aliases ?? [])],
    };
    state.networks.connect(n, endpoint);
    return endpoint;
  });
}

/** Detaches a container (Docker's text when it is not attached, unless `force`); records `disconnect`. */
/**
 * An endpoint's address of one family on network `n`: the `requested` one (checked: of that family,
 * in the subnet or ip-range, not taken) or the lowest free one of the ip-range or subnet. Taken: the
 * other endpoints' addresses, the gateway and the auxiliary addresses. Undefined when the network has
 * no subnet of that family.
 */
function allocateAddress(state: StateStore, n: NetworkRecord, family: "IPv4" | "IPv6", requested: string): { address: Address; bits: number } | undefined {
  const cfg = n.ipam.Config.find((c) => parsePrefix(c.Subnet ?? "")?.family === family);
  const subnet = cfg === undefined ? undefined : parsePrefix(cfg.Subnet ?? "");
  if (cfg === undefined || subnet === undefined) return undefined;
  const used = new Set<bigint>();
  const endpointAddresses = state.networks.endpoints(n.id).map((e) => (family === "IPv4" ? e.ipv4Address : e.ipv6Address));
  for (const r of [...endpointAddresses.map((a) => a.split("/")[0]), cfg.Gateway, ...Object.values(cfg.AuxiliaryAddresses ?? {})]) {
    const a = parseAddress(r ?? "");
    if (a !== undefined) used.add(a.value);
  }
  const range = cfg.IPRange === undefined ? undefined : parsePrefix(cfg.IPRange);
  if (requested === "") {
    const address = freeAddress(subnet, range, used);
    if (address === undefined) throw htkError("HTK-ENGINE-0474", { family });
    return { address, bits: subnet.bits };
  }
  const address = parseAddress(requested);
  if (address === undefined || address.family !== family) throw htkError("HTK-ENGINE-0489", { address: requested });
  if (!contains(subnet, address) && (range === undefined || !contains(range, address))) throw htkError("HTK-ENGINE-0485", { address: requested });
  if (used.has(address.value)) throw htkError("HTK-ENGINE-0486", {});
  return { address, bits: subnet.bits };
}

export function disconnectContainer(state: StateStore, networkRef: string, container: Container, force = false): void {
  const n = state.networks.resolve(networkRef);
  if (!state.networks.disconnect(n, container.id) && !force) throw htkError("HTK-ENGINE-0480", { id: container.id, network: n.name });
}

/** A Go map's JSON: keys sorted. */
function sorted(m: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k] as string;
  return out;
}

/**
 * Docker 26's network JSON (`network.Inspect`), fields in its order. `containers` fills `Containers`
 * from the endpoints (inspect); the list leaves it empty, as Docker's does since API 1.28.
 */
export function networkJson(state: StateStore, n: NetworkRecord, opts: { readonly containers: boolean }): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  if (opts.containers) {
    for (const e of state.networks.endpoints(n.id)) {
      const c = state.containers.get(e.containerId);
      containers[e.containerId] = {
        Name: c === undefined ? "" : c.name.replace(/^\//, ""),
        EndpointID: e.endpointId,
        MacAddress: e.macAddress,
        IPv4Address: e.ipv4Address,
        IPv6Address: e.ipv6Address,
      };
    }
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: n.scope,
    Driver: n.driver,
    EnableIPv6: n.enableIPv6,
    IPAM: {
      Driver: n.ipam.Driver,
      Options: sorted(n.ipam.Options),
      Config: n.ipam.Config.map((c) => ({
        ...(c.Subnet === undefined ? {} : { Subnet: c.Subnet }),
        ...(c.IPRange === undefined ? {} : { IPRange: c.IPRange }),
        ...(c.Gateway === undefined ? {} : { Gateway: c.Gateway }),
        ...(c.AuxiliaryAddresses === undefined ? {} : { AuxiliaryAddresses: sorted(c.AuxiliaryAddresses) }),
      })),
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: n.ingress,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: sorted(n.options),
    Labels: sorted(n.labels),
  };
}
