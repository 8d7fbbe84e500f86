import { readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import type { NetworkNamespace } from "../runtime/index.ts";
import type { Container, EndpointRecord, NetworkRecord, NetworkSettings, NetworkStore } from "../state/index.ts";

/**
 * A container's network, behind one small interface so the bridge driver (issue 8: veth pairs, IPAM,
 * port publishing, the embedded DNS) replaces today's stand-in without touching the manager.
 *
 * `BridgeNetworks` (bridge-network.ts) serves bridge networks on the datapath; `LoopbackNetworks`
 * serves `none` (a new namespace with loopback only), `host` (the host's namespace) and `container:`,
 * and everything when the datapath is not available (bridge containers then get loopback only).
 */
export interface NetworkAttacher {
  /**
   * Prepares the network of a container that is about to start: the namespace to put it in, the
   * settings inspect shows, and the address its /etc/hosts names it by.
   */
  attach(c: Container, signal: AbortSignal): Promise<NetworkAttachment>;
  /** Releases what `attach` took (addresses, interfaces, port forwards). Idempotent. */
  detach(containerId: string): Promise<void>;
}

export interface NetworkAttachment {
  readonly namespace: NetworkNamespace;
  readonly settings: NetworkSettings;
  /** The container's own address for /etc/hosts; undefined without one. */
  readonly address?: string;
  /** Whether /etc/hosts and /etc/resolv.conf follow the host's (`--network host`). */
  readonly hostFiles: boolean;
  /** More /etc/hosts lines ("IP\tname alias…"). */
  readonly extraHosts?: readonly string[];
  /** The container asks the embedded DNS server (127.0.0.11): it is on a user-defined network. */
  readonly embeddedDns?: boolean;
}

/** The network modes the engine knows: Docker's names. */
export type NetworkMode =
  | { readonly kind: "none" }
  | { readonly kind: "host" }
  | { readonly kind: "bridge"; readonly network: string }
  | { readonly kind: "container"; readonly ref: string };

export function parseNetworkMode(mode: string | undefined): NetworkMode {
  const m = mode ?? "";
  if (m === "none") return { kind: "none" };
  if (m === "host") return { kind: "host" };
  if (m.startsWith("container:")) return { kind: "container", ref: m.slice("container:".length) };
  return { kind: "bridge", network: m === "" || m === "default" ? "bridge" : m };
}

/** Docker's empty NetworkSettings fields (what inspect shows for a container without an address). */
export function emptyNetworkSettings(networks: NetworkSettings["Networks"]): NetworkSettings {
  return {
    Bridge: "",
    SandboxID: "",
    SandboxKey: "",
    Ports: {},
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: "",
    Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    MacAddress: "",
    Networks: networks ?? {},
  };
}

/**
 * An endpoint entry without an address (Docker's EndpointSettings zero values). Links, Aliases and
 * DNSNames are empty lists where Docker sends null: the v1.45 schema types them as arrays, and
 * clients read both the same.
 */
export function emptyEndpoint(networkId: string, aliases: readonly string[] = []): Readonly<Record<string, unknown>> {
  return {
    IPAMConfig: null,
    Links: [],
    Aliases: aliases,
    MacAddress: "",
    NetworkID: networkId,
    EndpointID: "",
    Gateway: "",
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DriverOpts: null,
    DNSNames: [],
  };
}

/**
 * A container's NetworkSettings as inspect shows them: what its start recorded, plus the endpoints
 * `docker network connect` made (engine/networks records them with their addresses), with Docker's
 * per-endpoint fields. Arrays Docker leaves null are empty lists (see `emptyEndpoint`).
 */
export function renderNetworkSettings(
  settings: NetworkSettings,
  endpoints: readonly EndpointRecord[],
  networks: readonly NetworkRecord[],
  owner?: Pick<Container, "id" | "name" | "config">,
): NetworkSettings {
  const out: Record<string, Readonly<Record<string, unknown>>> = {};
  for (const [name, ep] of Object.entries(settings.Networks ?? {})) {
    out[name] = { ...ep, Links: ep["Links"] ?? [], Aliases: ep["Aliases"] ?? [], DNSNames: ep["DNSNames"] ?? [] };
  }
  for (const e of endpoints) {
    const n = networks.find((x) => x.id === e.networkId);
    if (n === undefined) continue;
    const [ip = "", bits = "0"] = e.ipv4Address.split("/");
    const [ip6 = "", bits6 = "0"] = e.ipv6Address.split("/");
    const recorded = settings.Networks?.[n.name];
    out[n.name] = {
      ...emptyEndpoint(n.id, e.aliases),
      IPAMConfig: recorded?.["IPAMConfig"] ?? null,
      DNSNames: owner === undefined || n.name === "bridge" ? [] : dnsNames(owner, e.aliases),
      EndpointID: e.endpointId,
      MacAddress: e.macAddress,
      IPAddress: ip,
      IPPrefixLen: ip === "" ? 0 : Number(bits),
      Gateway: ip === "" ? "" : (n.ipam.Config.find((c) => (c.Subnet ?? "").includes(".") && c.Gateway !== undefined)?.Gateway ?? ""),
      GlobalIPv6Address: ip6,
      GlobalIPv6PrefixLen: ip6 === "" ? 0 : Number(bits6),
      IPv6Gateway: ip6 === "" ? "" : (n.ipam.Config.find((c) => (c.Subnet ?? "").includes(":") && c.Gateway !== undefined)?.Gateway ?? ""),
    };
  }
  return { ...settings, Networks: out };
}

/**
 * The stand-in until the bridge driver exists: private namespaces with loopback only. `container:<x>`
 * joins the other container's namespace through `/proc/<pid>/ns/net` (`pidOf` says whether it runs).
 */
export class LoopbackNetworks implements NetworkAttacher {
  readonly #networks: NetworkStore;
  readonly #pidOf: (ref: string) => number | undefined;

  constructor(networks: NetworkStore, pidOf: (ref: string) => number | undefined) {
    this.#networks = networks;
    this.#pidOf = pidOf;
  }

  attach(c: Container, _signal: AbortSignal): Promise<NetworkAttachment> {
    const mode = parseNetworkMode(c.hostConfig.NetworkMode);
    const networkId = (name: string): string => {
      try {
        return this.#networks.resolve(name).id;
      } catch {
        return "";
      }
    };
    switch (mode.kind) {
      case "none":
        return Promise.resolve({ namespace: { kind: "new" }, settings: emptyNetworkSettings({ none: emptyEndpoint(networkId("none")) }), hostFiles: false });
      case "host":
        return Promise.resolve({ namespace: { kind: "host" }, settings: emptyNetworkSettings({ host: emptyEndpoint(networkId("host")) }), hostFiles: true });
      case "container": {
        const pid = this.#pidOf(mode.ref);
        if (pid === undefined || pid <= 0) return Promise.reject(new Error(`cannot join network of a non running container: ${mode.ref}`));
        return Promise.resolve({ namespace: { kind: "join", path: `/proc/${pid}/ns/net` }, settings: emptyNetworkSettings({}), hostFiles: false });
      }
      case "bridge":
        return Promise.resolve({
          namespace: { kind: "new" },
          settings: emptyNetworkSettings({ [mode.network]: emptyEndpoint(networkId(mode.network)) }),
          hostFiles: false,
        });
      default: {
        const never: never = mode;
        return Promise.reject(new Error(`unknown network mode ${JSON.stringify(never)}`));
      }
    }
  }

  detach(_containerId: string): Promise<void> {
    return Promise.resolve();
  }
}

// ---------------------------------------------------------------------------------------------------
// /etc/hosts, /etc/resolv.conf, /etc/hostname (libnetwork/etchosts, libnetwork/resolvconf).

/** Docker's default /etc/hosts of a container, then its own name, then `--add-host` entries. */
export function hostsFile(opts: { readonly address?: string; readonly hostname: string; readonly domainname?: string; readonly extraHosts: readonly string[]; readonly hostGateway?: string }): string {
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
  ];
  for (const entry of opts.extraHosts) {
    const sep = entry.includes("=") ? "=" : ":";
    const at = entry.indexOf(sep);
    const name = entry.slice(0, at);
    let ip = entry.slice(at + 1);
    if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
    if (ip === "host-gateway") ip = opts.hostGateway ?? "";
    if (ip !== "") lines.push(`${ip}\t${name}`);
  }
  if (opts.address !== undefined && opts.address !== "") {
    const names = opts.domainname !== undefined && opts.domainname !== "" ? `${opts.hostname}.${opts.domainname} ${opts.hostname}` : opts.hostname;
    lines.push(`${opts.address}\t${names}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The host's /etc/hosts plus `--add-host` entries, for `--network host` (as Docker builds it). */
export function hostNetworkHostsFile(extraHosts: readonly string[], read: (p: string) => string = (p) => readFileSync(p, "utf8")): string {
  let base = "";
  try {
    base = read("/etc/hosts");
  } catch {
    base = "127.0.0.1\tlocalhost\n";
  }
  const extra = hostsFile({ hostname: "", extraHosts }).split("\n").slice(6).filter((l) => l !== "");
  return `${base.replace(/\n*$/, "\n")}${extra.map((l) => `${l}\n`).join("")}`;
}

const DEFAULT_DNS = ["8.8.8.8", "8.8.4.4"];

/**
 * A container's resolv.conf from the host's (libnetwork/resolvconf): with its own network namespace,
 * nameservers on loopback are useless inside and dropped (Google's servers when none is left); the
 * container's `--dns`, `--dns-search`, `--dns-option` replace the host's lines of that kind.
 */
export function resolvConf(opts: {
  readonly hostResolvConf: string;
  readonly hostNetwork: boolean;
  readonly dns: readonly string[];
  readonly dnsSearch: readonly string[];
  readonly dnsOptions: readonly string[];
  /** On user-defined networks: the embedded server (127.0.0.11) is the only nameserver, as Docker writes it. */
  readonly embeddedDns?: boolean;
}): string {
  if (opts.embeddedDns === true) return embeddedResolvConf(opts);
  const lines = opts.hostResolvConf.split("\n");
  const nameservers = lines.map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
  const search = lines.map((l) => /^\s*search\s+(.+)$/.exec(l)?.[1]?.trim()).filter((x): x is string => x !== undefined).at(-1);
  const options = lines.map((l) => /^\s*options\s+(.+)$/.exec(l)?.[1]?.trim()).filter((x): x is string => x !== undefined).at(-1);
  let servers = opts.dns.length > 0 ? [...opts.dns] : nameservers;
  if (!opts.hostNetwork && opts.dns.length === 0) {
    servers = servers.filter((s) => !/^127\./.test(s) && s !== "::1");
    if (servers.length === 0) servers = [...DEFAULT_DNS];
  }
  const out: string[] = [];
  const searchLine = opts.dnsSearch.length > 0 ? (opts.dnsSearch.join(" ") === "." ? undefined : opts.dnsSearch.join(" ")) : search;
  if (searchLine !== undefined && searchLine !== "") out.push(`search ${searchLine}`);
  for (const s of servers) out.push(`nameserver ${s}`);
  const optionsLine = opts.dnsOptions.length > 0 ? opts.dnsOptions.join(" ") : options;
  if (optionsLine !== undefined && optionsLine !== "") out.push(`options ${optionsLine}`);
  return `${out.join("\n")}\n`;
}

/**
 * The resolv.conf of a container with the embedded DNS server (libnetwork's TransformForIntNS): the
 * one nameserver 127.0.0.11, the search domains and options of the host (or `--dns-search`,
 * `--dns-option`), `ndots:0` added unless an ndots option is given; the servers the resolver forwards
 * to (`--dns`, else the host's — loopback ones reached from the host's namespace) in Docker's comment.
 */
function embeddedResolvConf(opts: { readonly hostResolvConf: string; readonly dns: readonly string[]; readonly dnsSearch: readonly string[]; readonly dnsOptions: readonly string[] }): string {
  const lines = opts.hostResolvConf.split("\n");
  const hostServers = lines.map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => x !== undefined);
  const search = lines.map((l) => /^\s*search\s+(.+)$/.exec(l)?.[1]?.trim()).filter((x): x is string => x !== undefined).at(-1);
  const hostOptions = lines.map((l) => /^\s*options\s+(.+)$/.exec(l)?.[1]?.trim()).filter((x): x is string => x !== undefined).at(-1);
  const searchLine = opts.dnsSearch.length > 0 ? (opts.dnsSearch.join(" ") === "." ? undefined : opts.dnsSearch.join(" ")) : search;
  const options = (opts.dnsOptions.length > 0 ? [...opts.dnsOptions] : (hostOptions ?? "").split(/\s+/)).filter((o) => o !== "");
  const ndotsFromUser = options.some((o) => o.startsWith("ndots:"));
  if (!ndotsFromUser) options.push("ndots:0");
  const ext = (opts.dns.length > 0 ? opts.dns : hostServers).map((s) => (/^127\./.test(s) || s === "::1" ? `host(${s})` : s));
  const overrides = [...(opts.dns.length > 0 ? ["nameservers"] : []), ...(opts.dnsSearch.length > 0 ? ["search"] : []), ...(opts.dnsOptions.length > 0 ? ["options"] : [])];
  const out = ["nameserver 127.0.0.11"];
  if (searchLine !== undefined && searchLine !== "") out.push(`search ${searchLine}`);
  out.push(`options ${options.join(" ")}`);
  out.push("", "# Based on host file: '/etc/resolv.conf' (internal resolver)", `# ExtServers: [${ext.join(" ")}]`, `# Overrides: [${overrides.join(" ")}]`, `# Option ndots from: ${ndotsFromUser ? "host" : "internal"}`);
  return `${out.join("\n")}\n`;
}

/** /etc/hostname: `hostname` or `hostname.domainname`. */
export function hostnameFile(hostname: string, domainname: string | undefined): string {
  return domainname !== undefined && domainname !== "" ? `${hostname}.${domainname}\n` : `${hostname}\n`;
}

/** The host's name, for `--network host` containers (Docker uses it as their hostname). */
export function hostHostname(): string {
  return osHostname();
}

// ---------------------------------------------------------------------------------------------------
// Endpoint settings asked for at create or connect (NetworkingConfig.EndpointsConfig, `--network-alias`,
// `--ip`, `--ip6`). Docker keeps them in NetworkSettings.Networks[name] until the endpoint is made at
// start; so does the engine, so that a restart asks for the same alias and address again.

/** What a client asked of one endpoint: aliases and static addresses. */
export interface EndpointWish {
  readonly aliases: readonly string[];
  readonly ipv4Address: string;
  readonly ipv6Address: string;
}

/** The wish recorded in a NetworkSettings.Networks entry (Aliases, IPAMConfig). */
export function endpointWish(entry: Readonly<Record<string, unknown>> | undefined): EndpointWish {
  const aliases = Array.isArray(entry?.["Aliases"]) ? (entry["Aliases"] as unknown[]).filter((a): a is string => typeof a === "string" && a !== "") : [];
  const ipam = entry?.["IPAMConfig"];
  const field = (k: string): string => (typeof ipam === "object" && ipam !== null && typeof (ipam as Record<string, unknown>)[k] === "string" ? ((ipam as Record<string, unknown>)[k] as string) : "");
  return { aliases, ipv4Address: field("IPv4Address"), ipv6Address: field("IPv6Address") };
}

/** Docker's IPAMConfig value for a wish: null when no address was asked for. */
export function ipamConfigJson(w: EndpointWish): Readonly<Record<string, string>> | null {
  if (w.ipv4Address === "" && w.ipv6Address === "") return null;
  return { ...(w.ipv4Address === "" ? {} : { IPv4Address: w.ipv4Address }), ...(w.ipv6Address === "" ? {} : { IPv6Address: w.ipv6Address }) };
}

/**
 * Docker 26's DNSNames of an endpoint (daemon/network.go buildEndpointDNSNames): the container's name,
 * the aliases, the short ID and the hostname, without repeats — on user-defined networks only (the
 * default bridge has no embedded DNS).
 */
export function dnsNames(c: Pick<Container, "id" | "name" | "config">, aliases: readonly string[]): string[] {
  const hostname = typeof c.config["Hostname"] === "string" ? c.config["Hostname"] : "";
  const names = [c.name.replace(/^\//, ""), ...aliases, c.id.slice(0, 12), hostname].filter((n) => n !== "");
  return [...new Set(names)];
}
