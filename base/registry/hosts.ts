import { lookup } from "node:dns/promises";
import { readdir, readFile } from "node:fs/promises";
import { BlockList, isIP } from "node:net";
import { join } from "node:path";
import { rootCertificates } from "node:tls";
import { EnvHttpProxyAgent, type Dispatcher } from "undici";
import { DOCKER_HUB_API_HOST } from "../oci/reference.ts";

/**
 * How one registry host is reached: scheme, TLS trust and proxy, with Docker's rules.
 *
 * - Insecure (plain HTTP, or HTTPS without verification) only for hosts listed in
 *   `insecureRegistries` (a "host[:port]" or a CIDR) and for hosts whose addresses resolve into
 *   127.0.0.0/8 or ::1/128, which dockerd treats as insecure by default. Like dockerd, an insecure
 *   host is tried over HTTPS (unverified) first and over HTTP when that fails.
 * - Extra trust from `/etc/docker/certs.d/<host[:port]>/`: every `*.crt` is a CA added to the
 *   system roots, `<name>.cert` + `<name>.key` is a client certificate (dockerd's layout).
 * - HTTP(S)_PROXY / NO_PROXY through undici's EnvHttpProxyAgent.
 */
export interface HostsOptions {
  readonly insecureRegistries?: readonly string[];
  /** Default /etc/docker/certs.d. */
  readonly certsDir?: string;
  /** Proxy settings; default from process.env (HTTP_PROXY, HTTPS_PROXY, NO_PROXY and lower-case). */
  readonly proxy?: ProxySettings;
  readonly connectTimeoutMs?: number;
  /** Idle time between body chunks before a download counts as dropped. */
  readonly bodyTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
}

export interface ProxySettings {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly noProxy?: string;
}

export function proxyFromEnv(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const pick = (a: string, b: string): string | undefined => {
    const v = env[a] ?? env[b];
    return v === undefined || v === "" ? undefined : v;
  };
  const httpProxy = pick("http_proxy", "HTTP_PROXY");
  const httpsProxy = pick("https_proxy", "HTTPS_PROXY");
  const noProxy = pick("no_proxy", "NO_PROXY");
  return {
    ...(httpProxy !== undefined ? { httpProxy } : {}),
    ...(httpsProxy !== undefined ? { httpsProxy } : {}),
    ...(noProxy !== undefined ? { noProxy } : {}),
  };
}

/**
 * The proxy a URL goes through under `settings`, by the NO_PROXY rules EnvHttpProxyAgent applies
 * (exact host, sub-domain of an entry, optional port, "*"). Used to name the proxy in errors.
 */
export function proxyFor(url: URL, settings: ProxySettings): string | undefined {
  const proxy = url.protocol === "https:" ? (settings.httpsProxy ?? settings.httpProxy) : settings.httpProxy;
  if (proxy === undefined) return undefined;
  const no = (settings.noProxy ?? "").split(/[,\s]/).filter((e) => e !== "");
  if (no.includes("*")) return undefined;
  const hostname = url.host.replace(/:\d*$/, "").toLowerCase();
  const port = Number.parseInt(url.port, 10) || (url.protocol === "https:" ? 443 : 80);
  for (const entry of no) {
    const m = /^(.+):(\d+)$/.exec(entry);
    const h = (m?.[1] ?? entry).replace(/^\*?\./, "").toLowerCase();
    const p = m?.[2] !== undefined ? Number(m[2]) : 0;
    if (p !== 0 && p !== port) continue;
    if (hostname === h || hostname.endsWith(`.${h}`)) return undefined;
  }
  return proxy;
}

function splitHostPort(host: string): { hostname: string; port: string | undefined } {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return { hostname: host.slice(1, end), port: host[end + 1] === ":" ? host.slice(end + 2) : undefined };
  }
  const colon = host.lastIndexOf(":");
  return colon === -1 ? { hostname: host, port: undefined } : { hostname: host.slice(0, colon), port: host.slice(colon + 1) };
}

export interface TlsMaterial {
  readonly ca?: string[];
  readonly cert?: string;
  readonly key?: string;
}

/** The certs.d folder of a host, read as dockerd reads it; an absent folder is no extra trust. */
export async function loadCertsDir(certsDir: string, host: string): Promise<TlsMaterial> {
  const dir = join(certsDir, host.replace(/[/\\]/g, "_"));
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return {};
  }
  const ca: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const name of names) {
    if (name.endsWith(".crt")) ca.push(await readFile(join(dir, name), "utf8"));
    else if (name.endsWith(".cert")) {
      const keyName = `${name.slice(0, -".cert".length)}.key`;
      if (!names.includes(keyName)) continue;
      cert = await readFile(join(dir, name), "utf8");
      key = await readFile(join(dir, keyName), "utf8");
    }
  }
  return { ...(ca.length > 0 ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}) };
}

/** A resolved way to reach a host: the base URL(s) to try, in order, and the dispatcher for each. */
export interface HostEndpoint {
  readonly host: string;
  readonly insecure: boolean;
  /** "https" first; "http" too for an insecure host. */
  readonly schemes: readonly ("https" | "http")[];
}

export class Hosts {
  readonly #opts: HostsOptions;
  readonly #proxy: ProxySettings;
  readonly #insecureHosts: Set<string>;
  readonly #insecureNets = new BlockList();
  readonly #dispatchers = new Map<string, Promise<Dispatcher>>();

  constructor(opts: HostsOptions = {}) {
    this.#opts = opts;
    this.#proxy = opts.proxy ?? proxyFromEnv();
    this.#insecureHosts = new Set();
    // dockerd's defaults: loopback registries need no TLS (registry/config.go).
    this.#insecureNets.addSubnet("127.0.0.0", 8, "ipv4");
    this.#insecureNets.addSubnet("::1", 128, "ipv6");
    for (const entry of opts.insecureRegistries ?? []) {
      const m = /^(.+)\/(\d+)$/.exec(entry);
      const ip = m?.[1];
      const family = ip !== undefined ? isIP(ip) : 0;
      if (m !== null && ip !== undefined && family !== 0) this.#insecureNets.addSubnet(ip, Number(m[2]), family === 4 ? "ipv4" : "ipv6");
      else this.#insecureHosts.add(entry.replace(/^https?:\/\//, "").replace(/\/+$/, "").toLowerCase());
    }
  }

  get proxy(): ProxySettings {
    return this.#proxy;
  }

  /** Whether `host` may be reached without verified TLS (Docker's isSecureIndex, inverted). */
  async isInsecure(host: string): Promise<boolean> {
    if (host === DOCKER_HUB_API_HOST || host === "docker.io") return false;
    if (this.#insecureHosts.has(host.toLowerCase())) return true;
    const { hostname } = splitHostPort(host);
    let addresses: string[];
    if (isIP(hostname) !== 0) addresses = [hostname];
    else {
      try {
        addresses = (await lookup(hostname, { all: true })).map((a) => a.address);
      } catch {
        // dockerd treats an unresolvable name as secure; the request will then report the DNS failure.
        return false;
      }
    }
    return addresses.some((a) => this.#insecureNets.check(a, isIP(a) === 6 ? "ipv6" : "ipv4"));
  }

  async endpoint(host: string): Promise<HostEndpoint> {
    const insecure = await this.isInsecure(host);
    return { host, insecure, schemes: insecure ? ["https", "http"] : ["https"] };
  }

  /** The dispatcher for requests to `host` (one per host: its TLS trust differs). */
  dispatcher(host: string, insecure: boolean): Promise<Dispatcher> {
    const key = `${host}|${insecure ? "insecure" : "secure"}`;
    let d = this.#dispatchers.get(key);
    if (d === undefined) {
      d = this.#makeDispatcher(host, insecure);
      this.#dispatchers.set(key, d);
    }
    return d;
  }

  async #makeDispatcher(host: string, insecure: boolean): Promise<Dispatcher> {
    const material = await loadCertsDir(this.#opts.certsDir ?? "/etc/docker/certs.d", host);
    const tls = {
      // Node's `ca` replaces the default roots; dockerd adds certs.d CAs to the system pool instead.
      ...(material.ca !== undefined ? { ca: [...rootCertificates, ...material.ca] } : {}),
      ...(material.cert !== undefined ? { cert: material.cert } : {}),
      ...(material.key !== undefined ? { key: material.key } : {}),
      rejectUnauthorized: !insecure,
    };
    return new EnvHttpProxyAgent({
      // Always explicit (an empty string is "none"): the agent would otherwise read process.env itself.
      httpProxy: this.#proxy.httpProxy ?? "",
      httpsProxy: this.#proxy.httpsProxy ?? "",
      noProxy: this.#proxy.noProxy ?? "",
      connect: { ...tls, timeout: this.#opts.connectTimeoutMs ?? 30_000 },
      requestTls: tls,
      bodyTimeout: this.#opts.bodyTimeoutMs ?? 60_000,
      headersTimeout: this.#opts.headersTimeoutMs ?? 60_000,
    });
  }

  async close(): Promise<void> {
    const all = [...this.#dispatchers.values()];
    this.#dispatchers.clear();
    await Promise.allSettled(all.map(async (d) => (await d).close()));
  }
}
