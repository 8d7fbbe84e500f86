import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, connect, type Server, type Socket } from "node:net";
import { htkError } from "../../base/errors/index.ts";

/** One published port: `-p [hostIp:]hostPort:containerPort[/proto]`, the host port resolved. */
export interface PortBinding {
  /** "80/tcp" */
  readonly key: string;
  readonly containerPort: number;
  readonly proto: "tcp" | "udp";
  readonly hostIp: string;
  readonly hostPort: number;
}

export interface RequestedBinding {
  readonly key: string;
  readonly containerPort: number;
  readonly proto: "tcp" | "udp";
  readonly hostIp: string;
  /** 0: any free port (`-p 80`, `-P`). */
  readonly hostPort: number;
  readonly hostPortEnd: number;
  /** The `[::]` twin of a binding without a host address: it takes the port its IPv4 twin (the binding before it) got. */
  readonly twin?: true;
}

/** Whether a binding's host address is IPv6 (`::`, `::1`, …). */
export function isIPv6Binding(b: { readonly hostIp: string }): boolean {
  return b.hostIp.includes(":");
}

/**
 * The bindings a container asks for: `HostConfig.PortBindings`, and with `PublishAllPorts` (`-P`) each
 * exposed port without a binding on a free host port. A binding without a host address is made on
 * `0.0.0.0` and, when `ipv6` (the host can listen on IPv6), on `[::]` with the same port, as Docker 28
 * does (Docker's sortAndNormPBs: the IPv4 binding first).
 */
export function requestedBindings(hostConfig: Readonly<Record<string, unknown>>, config: Readonly<Record<string, unknown>>, ipv6 = false): RequestedBinding[] {
  const out: RequestedBinding[] = [];
  const bindings = (hostConfig["PortBindings"] ?? {}) as Readonly<Record<string, ReadonlyArray<{ HostIp?: string; HostPort?: string }> | null>>;
  const parseKey = (key: string): { port: number; proto: "tcp" | "udp" } | undefined => {
    const [p = "", proto = "tcp"] = key.split("/");
    const port = Number(p);
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || (proto !== "tcp" && proto !== "udp")) return undefined;
    return { port, proto };
  };
  for (const [key, list] of Object.entries(bindings)) {
    const k = parseKey(key);
    if (k === undefined) continue;
    for (const b of list ?? [{}]) {
      const [start = "", end = start] = (b.HostPort ?? "").split("-");
      const unspecified = b.HostIp === undefined || b.HostIp === "";
      const one = { key: `${k.port}/${k.proto}`, containerPort: k.port, proto: k.proto, hostIp: unspecified ? "0.0.0.0" : (b.HostIp ?? "").replace(/^\[|\]$/g, ""), hostPort: Number(start || "0"), hostPortEnd: Number(end || "0") };
      out.push(one);
      if (unspecified && ipv6) out.push({ ...one, hostIp: "::", twin: true });
    }
  }
  if (hostConfig["PublishAllPorts"] === true) {
    for (const key of Object.keys((config["ExposedPorts"] ?? {}) as Record<string, unknown>)) {
      const k = parseKey(key.includes("/") ? key : `${key}/tcp`);
      if (k === undefined || out.some((o) => o.key === `${k.port}/${k.proto}`)) continue;
      const one = { key: `${k.port}/${k.proto}`, containerPort: k.port, proto: k.proto, hostIp: "0.0.0.0", hostPort: 0, hostPortEnd: 0 };
      out.push(one);
      if (ipv6) out.push({ ...one, hostIp: "::", twin: true });
    }
  }
  return out;
}

/** Inspect's NetworkSettings.Ports: exposed ports without a binding are null (as Docker). */
export function portsJson(bindings: readonly PortBinding[], config: Readonly<Record<string, unknown>>): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const key of Object.keys((config["ExposedPorts"] ?? {}) as Record<string, unknown>)) out[key.includes("/") ? key : `${key}/tcp`] = null;
  for (const b of bindings) {
    const list = out[b.key] ?? [];
    list.push({ HostIp: b.hostIp, HostPort: String(b.hostPort) });
    out[b.key] = list;
  }
  return out;
}

/** The most connections one published port relays at once (a bound on the engine's sockets). */
const MAX_CONNECTIONS = 1024;

/**
 * A container's published ports on the host: for TCP a small relay in the engine listening on
 * `hostIp:hostPort` (Docker's docker-proxy: it holds the port, so a taken one fails as Docker's does,
 * and it serves 127.0.0.1, which DNAT cannot reach without route_localnet); for UDP a bound socket
 * that only holds the port (the DNAT rule carries the traffic; UDP to 127.0.0.1 is not relayed).
 */
export class PortPublisher {
  readonly #servers: Server[] = [];
  readonly #udp: UdpSocket[] = [];
  readonly #sockets = new Set<Socket>();
  #bound: readonly PortBinding[] = [];

  /** What `publish` bound (empty before, and after `close`). */
  get bindings(): readonly PortBinding[] {
    return this.#bound;
  }

  /**
   * Binds every requested port, resolving 0 (and ranges) to a free one; a taken port → HTK-ENGINE-0663
   * (Docker's text, naming the endpoint). Nothing stays bound when one fails.
   */
  async publish(requested: readonly RequestedBinding[], target: string | { readonly ipv4: string; readonly ipv6: string }, endpoint: { readonly name: string; readonly id: string }): Promise<PortBinding[]> {
    const out: PortBinding[] = [];
    // Bindings on an IPv6 host address relay to the container's IPv6 address, else to its IPv4 one (docker-proxy's way for IPv4-only containers).
    const targets = typeof target === "string" ? { ipv4: target, ipv6: "" } : target;
    try {
      for (const r of requested) {
        const v6 = isIPv6Binding(r);
        const to = v6 && targets.ipv6 !== "" ? targets.ipv6 : targets.ipv4;
        const previous = out.at(-1);
        // The [::] twin takes the port its 0.0.0.0 binding got (Docker's needSamePort); any free one if that is taken on IPv6.
        const candidates = r.twin === true && previous !== undefined ? [previous.hostPort, ...(r.hostPort === 0 ? [0] : [])] : r.hostPort === 0 ? [0] : range(r.hostPort, Math.max(r.hostPort, r.hostPortEnd));
        let bound: number | undefined;
        let lastErr: unknown;
        for (const port of candidates) {
          try {
            bound = r.proto === "tcp" ? await this.#listenTcp(r.hostIp, port, to, r.containerPort) : await this.#bindUdp(r.hostIp, port);
            break;
          } catch (err) {
            lastErr = err;
          }
        }
        if (bound === undefined) {
          const code = (lastErr as NodeJS.ErrnoException | undefined)?.code;
          if (code === "EADDRINUSE" || code === "EACCES") throw htkError("HTK-ENGINE-0663", { endpoint: endpoint.name, endpointId: endpoint.id, hostIp: r.hostIp, hostPort: r.hostPort, containerPort: r.containerPort });
          throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
        }
        out.push({ key: r.key, containerPort: r.containerPort, proto: r.proto, hostIp: r.hostIp, hostPort: bound });
      }
      this.#bound = out;
      return out;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  #listenTcp(hostIp: string, port: number, target: string, targetPort: number): Promise<number> {
    const server = createServer((client) => {
      if (this.#sockets.size >= MAX_CONNECTIONS) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: target, port: targetPort });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.maxConnections = MAX_CONNECTIONS;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      // ipv6Only: `::` must not take 0.0.0.0's port too (its own binding holds that).
      server.listen({ host: hostIp, port, exclusive: true, ipv6Only: isIPv6Binding({ hostIp }) }, () => {
        server.removeListener("error", reject);
        server.on("error", () => undefined);
        this.#servers.push(server);
        const a = server.address();
        resolve(typeof a === "object" && a !== null ? a.port : port);
      });
    });
  }

  #bindUdp(hostIp: string, port: number): Promise<number> {
    const sock = isIPv6Binding({ hostIp }) ? createSocket({ type: "udp6", ipv6Only: true }) : createSocket("udp4");
    return new Promise((resolve, reject) => {
      sock.once("error", reject);
      sock.bind({ address: hostIp, port, exclusive: true }, () => {
        sock.removeListener("error", reject);
        sock.on("error", () => undefined);
        // Datagrams to the bound port are the DNAT rule's; what reaches the socket is dropped.
        sock.on("message", () => undefined);
        this.#udp.push(sock);
        resolve(sock.address().port);
      });
    });
  }

  /** Closes every listener and relayed connection. Idempotent. */
  async close(): Promise<void> {
    this.#bound = [];
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const u of this.#udp.splice(0)) u.close();
  }
}

let v6Listenable: Promise<boolean> | undefined;

/** Whether this host can listen on IPv6 (Docker's netutils.IsV6Listenable: a listener on [::1]:0). Asked once. */
export function hostListensOnIPv6(): Promise<boolean> {
  v6Listenable ??= new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ host: "::1", port: 0, ipv6Only: true }, () => probe.close(() => resolve(true)));
  });
  return v6Listenable;
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let p = from; p <= to && out.length < 65536; p++) out.push(p);
  return out;
}

/**
 * The binding of another publisher that takes the port `wanted` asks for: same protocol and host
 * port, and the same host address or either of them all addresses (0.0.0.0).
 */
export function holderOf<K>(publishers: ReadonlyMap<K, PortPublisher>, wanted: { readonly proto: string; readonly hostIp: string; readonly hostPort: number }): { readonly key: K; readonly binding: PortBinding } | undefined {
  const any = (ip: string): boolean => ip === "" || ip === "0.0.0.0" || ip === "::";
  for (const [key, p] of publishers) {
    for (const b of p.bindings) {
      // IPv4 and IPv6 bindings never take each other's ports (`::` is bound IPv6-only).
      if (b.proto !== wanted.proto || b.hostPort !== wanted.hostPort || isIPv6Binding(b) !== isIPv6Binding(wanted)) continue;
      if (b.hostIp === wanted.hostIp || any(b.hostIp) || any(wanted.hostIp)) return { key, binding: b };
    }
  }
  return undefined;
}
