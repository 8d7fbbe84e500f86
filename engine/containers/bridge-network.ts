import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HtkError, htkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { bridgeSubnet, bridgeSubnet6, connectContainer, disconnectContainer, isPredefined, type BridgeDatapath } from "../networks/index.ts";
import type { Container, EndpointRecord, NetworkRecord, NetworkSettings, StateStore } from "../state/index.ts";
import { holderOf, hostListensOnIPv6, isIPv6Binding, PortPublisher, portsJson, requestedBindings, type PortBinding } from "./ports.ts";
import { dnsNames, emptyEndpoint, emptyNetworkSettings, endpointWish, ipamConfigJson, LoopbackNetworks, parseNetworkMode, resolvConf, type NetworkAttacher, type NetworkAttachment } from "./network.ts";

/**
 * The bridge driver's `NetworkAttacher`: a container on a bridge network (the default `bridge` or a
 * user-defined one) gets a named network namespace with a veth pair per endpoint (eth0 for its
 * network mode's network, eth1… for networks connected before start), its endpoint's MAC and IPv4
 * address, and the default route via the gateway. `none`, `host` and `container:` are as
 * `LoopbackNetworks`. On user-defined networks the container asks the embedded DNS server
 * (engine/networks/dns.ts) at 127.0.0.11 for its peers' names; /etc/hosts has only its own line, as
 * Docker's.
 */
export class BridgeNetworks implements NetworkAttacher {
  readonly #state: StateStore;
  readonly #datapath: BridgeDatapath;
  readonly #fallback: LoopbackNetworks;
  readonly #containerDir: (id: string) => string;
  readonly #log: Logger;
  /** Running containers' published ports (their relays), by container ID. */
  readonly #ports = new Map<string, PortPublisher>();

  constructor(opts: {
    readonly state: StateStore;
    readonly datapath: BridgeDatapath;
    readonly pidOf: (ref: string) => number | undefined;
    readonly containerDir: (id: string) => string;
    readonly log: Logger;
  }) {
    this.#state = opts.state;
    this.#datapath = opts.datapath;
    this.#fallback = new LoopbackNetworks(opts.state.networks, opts.pidOf);
    this.#containerDir = opts.containerDir;
    this.#log = opts.log.child({ component: "bridge-network" });
  }

  async attach(c: Container, signal: AbortSignal): Promise<NetworkAttachment> {
    const mode = parseNetworkMode(c.hostConfig.NetworkMode);
    if (mode.kind !== "bridge") return this.#fallback.attach(c, signal);
    const primary = this.#state.networks.resolve(mode.network);
    if (primary.driver !== "bridge") return this.#fallback.attach(c, signal);
    const wishes = c.networkSettings.Networks ?? {};
    const have = new Set(this.#state.networks.endpointsOfContainer(c.id).map((e) => e.networkId));
    if (!have.has(primary.id)) connectContainer(this.#state, primary.id, c, endpointWish(wishes[primary.name]));
    // Networks named at create beside the network mode (EndpointsConfig) get their endpoints now, as Docker's start.
    for (const [name, entry] of Object.entries(wishes)) {
      if (name === primary.name) continue;
      const n = this.#state.networks.list().find((x) => x.name === name);
      if (n === undefined || n.driver !== "bridge" || have.has(n.id)) continue;
      connectContainer(this.#state, n.id, c, endpointWish(entry));
    }
    const eps = this.#ordered(c.id, primary.id);
    let embeddedDns = false;
    try {
      await this.#datapath.createNamespace(c.id);
      let index = 0;
      for (const { ep, net } of eps) {
        await this.#datapath.plug(c.id, net, ep, `eth${index}`, index === 0);
        index++;
      }
      embeddedDns = await this.#datapath.redirectDns(c.id);
    } catch (err) {
      await this.detach(c.id).catch(() => undefined);
      if (err instanceof HtkError) throw err;
      throw htkError("HTK-ENGINE-0662", { id: c.id, detail: err instanceof Error ? err.message : String(err) });
    }
    const first = eps[0];
    const address = first?.ep.ipv4Address.split("/")[0] ?? "";
    const address6 = first !== undefined && bridgeSubnet6(first.net) !== undefined ? (first.ep.ipv6Address.split("/")[0] ?? "") : "";
    let published: PortBinding[] = [];
    const requested = requestedBindings(c.hostConfig, c.config, await hostListensOnIPv6());
    if (requested.length > 0 && first !== undefined && address !== "") {
      const publisher = new PortPublisher();
      this.#ports.set(c.id, publisher);
      try {
        published = await publisher.publish(requested, { ipv4: address, ipv6: address6 }, { name: c.name.replace(/^\//, ""), id: first.ep.endpointId });
        const dev = this.#datapath.names.bridge(first.net);
        for (const b of published) {
          // The relay serves loopback (DNAT cannot reach it); an IPv6 binding of an IPv4-only container is the relay's alone (docker-proxy's way).
          if (b.hostIp.startsWith("127.") || b.hostIp === "::1") continue;
          const v6 = isIPv6Binding(b);
          // …and so is one of any container when ip6tables is off (daemon.json "ip6tables": false): no ip6tables chains, no IPv6 DNAT.
          if (v6 && (address6 === "" || !this.#datapath.ipv6Rules)) continue;
          const any = b.hostIp === "0.0.0.0" || b.hostIp === "::";
          const dst = any ? [] : ["-d", b.hostIp];
          const to = v6 ? `[${address6}]:${b.containerPort}` : `${address}:${b.containerPort}`;
          await this.#datapath.addContainerRule(c.id, "nat", "dnat", ["-p", b.proto, ...dst, "--dport", String(b.hostPort), "!", "-i", dev, "-j", "DNAT", "--to-destination", to], v6 ? 6 : 4);
        }
      } catch (err) {
        await this.detach(c.id).catch(() => undefined);
        throw this.#namingHolder(err, c.id, requested);
      }
    }
    return {
      namespace: { kind: "join", path: `/run/netns/${this.#datapath.names.netns(c.id)}` },
      settings: { ...this.#settings(c, eps), Ports: portsJson(published, c.config) },
      ...(address === "" ? {} : { address }),
      hostFiles: false,
      embeddedDns,
    };
  }

  /**
   * A taken host port (Docker's text, HTK-ENGINE-0663) whose holder is another container of this
   * engine: the same text, and the next step names that container (HTK-ENGINE-0830).
   */
  #namingHolder(err: unknown, self: string, requested: ReturnType<typeof requestedBindings>): unknown {
    if (!(err instanceof HtkError) || err.id !== "HTK-ENGINE-0663") return err;
    const p = err.params;
    const hostIp = String(p["hostIp"] ?? "");
    const hostPort = Number(p["hostPort"]);
    const containerPort = Number(p["containerPort"]);
    const wanted = requested.find((r) => r.hostIp === hostIp && r.hostPort === hostPort && r.containerPort === containerPort);
    const others = new Map([...this.#ports].filter(([id]) => id !== self));
    const held = wanted === undefined ? undefined : holderOf(others, { proto: wanted.proto, hostIp, hostPort });
    const holder = held === undefined ? undefined : this.#state.containers.get(held.key);
    if (held === undefined || holder === undefined) return err;
    return htkError("HTK-ENGINE-0830", {
      endpoint: String(p["endpoint"] ?? ""),
      endpointId: String(p["endpointId"] ?? ""),
      hostIp,
      hostPort,
      containerPort,
      holder: holder.name.replace(/^\//, ""),
      holderId: holder.id.slice(0, 12),
      holderIp: held.binding.hostIp,
    });
  }

  /** The endpoints to plug, the network mode's first. */
  #ordered(containerId: string, primaryId: string): Array<{ ep: EndpointRecord; net: NetworkRecord }> {
    const nets = new Map(this.#state.networks.list().map((n) => [n.id, n]));
    const out: Array<{ ep: EndpointRecord; net: NetworkRecord }> = [];
    for (const ep of this.#state.networks.endpointsOfContainer(containerId)) {
      const net = nets.get(ep.networkId);
      if (net === undefined || net.driver !== "bridge") continue;
      if (net.id === primaryId) out.unshift({ ep, net });
      else out.push({ ep, net });
    }
    return out;
  }

  /** Inspect's NetworkSettings: the default bridge's endpoint also fills the top-level fields (as Docker). */
  #settings(c: Container, eps: ReadonlyArray<{ ep: EndpointRecord; net: NetworkRecord }>): NetworkSettings {
    const containerId = c.id;
    const networks: Record<string, Readonly<Record<string, unknown>>> = {};
    let top: Partial<NetworkSettings> = {};
    for (const { ep, net } of eps) {
      const [ip = "", bits = "0"] = ep.ipv4Address.split("/");
      const gateway = bridgeSubnet(net)?.gateway ?? "";
      const sub6 = bridgeSubnet6(net);
      const [ip6 = "", bits6 = "0"] = sub6 === undefined ? [] : ep.ipv6Address.split("/");
      networks[net.name] = {
        ...emptyEndpoint(net.id, ep.aliases),
        IPAMConfig: ipamConfigJson(endpointWish(c.networkSettings.Networks?.[net.name])),
        EndpointID: ep.endpointId,
        MacAddress: ep.macAddress,
        IPAddress: ip,
        IPPrefixLen: Number(bits),
        Gateway: gateway,
        ...(ip6 === "" ? {} : { GlobalIPv6Address: ip6, GlobalIPv6PrefixLen: Number(bits6), IPv6Gateway: sub6?.gateway ?? "" }),
        DNSNames: isPredefined(net.name) ? [] : dnsNames(c, ep.aliases),
      };
      if (net.name === "bridge") {
        top = {
          Bridge: this.#datapath.names.bridge(net),
          EndpointID: ep.endpointId,
          Gateway: gateway,
          IPAddress: ip,
          IPPrefixLen: Number(bits),
          MacAddress: ep.macAddress,
          ...(ip6 === "" ? {} : { GlobalIPv6Address: ip6, GlobalIPv6PrefixLen: Number(bits6), IPv6Gateway: sub6?.gateway ?? "" }),
        };
      }
    }
    const sandbox = `/run/netns/${this.#datapath.names.netns(containerId)}`;
    return { ...emptyNetworkSettings(networks), ...top, SandboxID: containerId, SandboxKey: sandbox };
  }

  /**
   * Releases the container's namespace, veths and rules, and its network mode's endpoint (its
   * address goes back to the pool, as Docker releases it at stop); endpoints `docker network
   * connect` made stay recorded for the next start.
   */
  async detach(containerId: string): Promise<void> {
    const ports = this.#ports.get(containerId);
    this.#ports.delete(containerId);
    await ports?.close();
    await this.#datapath.release(containerId);
    const c = this.#state.containers.get(containerId);
    if (c === undefined) return;
    const mode = parseNetworkMode(c.hostConfig.NetworkMode);
    if (mode.kind !== "bridge") return;
    try {
      disconnectContainer(this.#state, mode.network, c, true);
      // As Docker after a stop: no address, gateway or published ports; the network entries stay with
      // what was asked of them (aliases, static addresses) for the next start.
      const now = this.#state.containers.get(containerId);
      if (now !== undefined) {
        const kept: Record<string, Readonly<Record<string, unknown>>> = {};
        for (const [name, entry] of Object.entries(now.networkSettings.Networks ?? {})) {
          const wish = endpointWish(entry);
          kept[name] = { ...emptyEndpoint(typeof entry.NetworkID === "string" ? entry.NetworkID : "", wish.aliases), IPAMConfig: ipamConfigJson(wish) };
        }
        this.#state.containers.setNetworkSettings(now, emptyNetworkSettings(kept));
      }
    } catch (err) {
      this.#log.debug({ err, id: containerId }, "releasing the endpoint");
    }
  }

  /** `docker network connect` on a running container: the new endpoint's veth as the next ethN. */
  async connectRunning(c: Container, n: NetworkRecord, ep: EndpointRecord): Promise<void> {
    if (n.driver !== "bridge") return;
    const names = await this.#datapath.interfaces(c.id);
    let i = 0;
    while (names.includes(`eth${i}`)) i++;
    await this.#datapath.plug(c.id, n, ep, `eth${i}`, false);
    // A redirect made before points at the network-mode network's resolver still; one is made when this
    // is the first user-defined network, and resolv.conf then names 127.0.0.11 (Docker rebuilds it too).
    if (!(await this.#datapath.redirectDns(c.id))) return;
    const path = join(this.#containerDir(c.id), "resolv.conf");
    const current = await readFile(path, "utf8").catch(() => undefined);
    if (current === undefined || /^nameserver 127\.0\.0\.11$/m.test(current)) return;
    const host = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
    const list = (k: string): string[] => (c.hostConfig[k] as string[] | null | undefined) ?? [];
    // Written in place: the file is bind-mounted into the container.
    await writeFile(path, resolvConf({ hostResolvConf: host, hostNetwork: false, dns: list("Dns"), dnsSearch: list("DnsSearch"), dnsOptions: list("DnsOptions"), embeddedDns: true }));
  }

  /** `docker network disconnect` on a running container: its veth on that network removed. */
  async disconnectRunning(ep: EndpointRecord): Promise<void> {
    await this.#datapath.unplug(ep);
    // The resolver of another network the container is still on answers from now on.
    await this.#datapath.redirectDns(ep.containerId).catch((err: unknown) => this.#log.debug({ err, id: ep.containerId }, "re-pointing the DNS redirect"));
  }
}

/**
 * The build worker's `StepNetwork` on the datapath: a RUN step with network `default` gets a namespace
 * on the default bridge and the resolv.conf a container would (the host's, loopback servers dropped,
 * Google's as the fallback).
 */
export function buildStepNetwork(datapath: { openStep(signal: AbortSignal): Promise<{ readonly path: string; release(): Promise<void> }> }): {
  open(signal: AbortSignal): Promise<{ readonly path: string; readonly resolvConf: string; release(): Promise<void> }>;
} {
  return {
    async open(signal) {
      const lease = await datapath.openStep(signal);
      const host = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
      return { path: lease.path, release: () => lease.release(), resolvConf: resolvConf({ hostResolvConf: host, hostNetwork: false, dns: [], dnsSearch: [], dnsOptions: [] }) };
    },
  };
}
