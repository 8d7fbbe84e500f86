import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, realpathSync, existsSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { runHostCommand, withHostNetworkLock, type HostCommand } from "./host.ts";
import { formatAddress, formatPrefix, masked, overlaps, parsePrefix, type Prefix } from "./ipam.ts";

const NETNS_DIR = "/run/netns";
/**
 * `<tag>` → the data root of an in-process build whose bridge exists. Written before anything is made
 * and removed after everything is gone, so a file here after the build ended means a killed build.
 */
const OWNERS_DIR = "/run/hatake/build-owners";

/** BuildKit's own bridge (its CNI default, `buildkit0`) uses 10.10.0.0/16: one /24 of it per build bridge. */
const POOL_BASE = (10n << 24n) | (10n << 16n);

/**
 * The names of one data root's build network. Its own prefixes (`bb`, `bv`, `htkb-`, `HTKB-`), not the
 * engine datapath's (`hb`, `hv`, `htk-`, `HTK-`): an engine's start-up recovery removes every object
 * with its prefixes and tag, and must not take a build's bridge for its own leftover.
 */
export interface BuildBridgeNames {
  readonly tag: string;
  readonly bridge: string;
  /** Host end of a step's veth (`index`: the step's host number in the subnet). */
  veth(index: number): string;
  netns(index: number): string;
  readonly natPost: string;
  readonly filterForward: string;
}

export function buildBridgeNames(dataRoot: string): BuildBridgeNames {
  let root = dataRoot;
  try {
    root = realpathSync(dataRoot);
  } catch {
    // not created yet: the path as given
  }
  const tag = createHash("sha256").update(root).digest("hex").slice(0, 8);
  return {
    tag,
    bridge: `bb${tag}`,
    // 15 characters at most (Linux): prefix (2) + tag (8) + 5 hex digits.
    veth: (index) => `bv${tag}${index.toString(16).padStart(5, "0")}`,
    netns: (index) => `htkb-${tag}-${index}`,
    natPost: `HTKB-${tag}-POST`,
    filterForward: `HTKB-${tag}-FWD`,
  };
}

/** One RUN step's network: a named namespace on the build bridge. */
export interface BuildStepLease {
  /** The namespace for the runtime to join (`/run/netns/…`). */
  readonly path: string;
  /** The step's address and the bridge's gateway (the host, as the step reaches it). */
  readonly address: string;
  readonly gateway: string;
  /** Removes the namespace (its veth pair goes with it) and frees the address. Idempotent. */
  release(): Promise<void>;
}

/**
 * RUN network `default` for builds without an engine (`hatake build --data-root`): BuildKit's bridge
 * mode made with the engine datapath's tools — a Linux bridge per data root with one /24 of
 * 10.10.0.0/16 (the first one the host does not route), a namespace and veth pair per step, IP
 * forwarding and MASQUERADE in the build's own iptables chains (`HTKB-<tag>-POST` from POSTROUTING,
 * `HTKB-<tag>-FWD` from FORWARD). Made on the first step that needs it, removed by `close` at the
 * end of the build, and by `recover` at the next build's start after a crash (one build process per
 * data root, its lock: whatever carries the tag then is a dead build's), or by any build's `recover`
 * once the data root itself is gone.
 */
export class BuildBridge {
  readonly names: BuildBridgeNames;
  readonly #dataRoot: string;
  readonly #run: HostCommand;
  /** A `run` was given (tests): batches go through it line by line. */
  readonly #injected: boolean;
  readonly #log: Logger | undefined;
  #subnet: Prefix | undefined;
  #making: Promise<Prefix> | undefined;
  readonly #inUse = new Set<number>();

  constructor(opts: { readonly dataRoot: string; readonly log?: Logger; readonly run?: HostCommand }) {
    this.names = buildBridgeNames(opts.dataRoot);
    this.#dataRoot = opts.dataRoot;
    this.#run = opts.run ?? runHostCommand;
    this.#injected = opts.run !== undefined;
    this.#log = opts.log;
  }

  async #ip(...args: string[]): Promise<string> {
    return this.#run("ip", args);
  }

  /**
   * `ip [global options] -batch -` with `lines` on stdin: one process for several changes. With an
   * injected `run` (tests), the lines run one by one through it, so the commands can be recorded.
   */
  async #batch(global: readonly string[], lines: readonly string[]): Promise<void> {
    if (this.#injected) {
      const force = global.includes("-force");
      const prefix = global.filter((a) => a !== "-force");
      for (const l of lines) {
        const done = this.#run("ip", [...prefix, ...l.split(" ")]);
        await (force ? done.catch(() => undefined) : done);
      }
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const child = execFile("ip", [...global, "-batch", "-"], { maxBuffer: 1024 * 1024, encoding: "utf8" }, (err, _out, stderr) => {
        if (err !== null) reject(new Error(`ip ${global.join(" ")} -batch: ${stderr.trim() || err.message}`));
        else resolve();
      });
      child.stdin?.end(`${lines.join("\n")}\n`);
    });
  }

  async #ipt(table: "nat" | "filter", ...args: string[]): Promise<string> {
    return this.#run("iptables", ["-w", "-t", table, ...args]);
  }

  /**
   * At the build's start: what a killed build on this data root left (its owner file says so), and
   * what builds whose data root no longer exists left. Costs a directory listing when nothing is left.
   */
  async recover(): Promise<void> {
    let tags: string[];
    try {
      tags = readdirSync(OWNERS_DIR);
    } catch {
      return;
    }
    for (const tag of tags) {
      if (!/^[0-9a-f]{8}$/.test(tag)) continue;
      if (tag !== this.names.tag) {
        let root = "";
        try {
          root = readFileSync(join(OWNERS_DIR, tag), "utf8");
        } catch {
          continue;
        }
        if (root === "" || existsSync(root)) continue;
      }
      this.#log?.info({ tag }, "removing the build network a killed build left");
      await withHostNetworkLock(() => this.#removeTag(tag));
      await rm(join(OWNERS_DIR, tag), { force: true });
    }
  }

  /** A namespace on the bridge (made if needed) with eth0, an address, and the default route via the gateway. */
  async openStep(signal: AbortSignal): Promise<BuildStepLease> {
    signal.throwIfAborted();
    const subnet = await this.#ensureBridge();
    let index = 2;
    while (this.#inUse.has(index)) index++;
    if (index > 254) throw htkError("HTK-RUNTIME-0320", { subnet: formatPrefix(subnet) });
    this.#inUse.add(index);
    const ns = this.names.netns(index);
    const veth = this.names.veth(index);
    const gateway = formatAddress({ family: "IPv4", value: subnet.addr + 1n });
    const address = formatAddress({ family: "IPv4", value: subnet.addr + BigInt(index) });
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      // The host end first (the pair goes with it; the kernel destroys a namespace's devices only
      // asynchronously after `netns del`); -force: whatever part was never made is skipped.
      await this.#batch(["-force"], [`link del dev ${veth}`, `netns del ${ns}`]).catch(() => undefined);
      this.#inUse.delete(index);
    };
    try {
      // Two `ip -batch` runs instead of nine `ip` processes: a step's network costs two spawns.
      await this.#batch([], [`netns add ${ns}`, `link add name ${veth} type veth peer name eth0 netns ${ns}`, `link set dev ${veth} master ${this.names.bridge} up`]);
      await this.#batch(["-n", ns], ["link set dev lo up", `addr add ${address}/${subnet.bits} dev eth0`, "link set dev eth0 up", `route add default via ${gateway} dev eth0`]);
      return { path: `${NETNS_DIR}/${ns}`, address, gateway, release };
    } catch (err) {
      await release();
      throw htkError("HTK-RUNTIME-0321", { detail: (err as Error).message }, { cause: err });
    }
  }

  /** The end of the build: the bridge, every step namespace, the chains and their jumps, the owner file. */
  async close(): Promise<void> {
    await this.#making?.catch(() => undefined);
    if (this.#subnet === undefined) return;
    await withHostNetworkLock(() => this.#removeTag(this.names.tag));
    await rm(join(OWNERS_DIR, this.names.tag), { force: true });
    this.#subnet = undefined;
    this.#making = undefined;
    this.#inUse.clear();
  }

  #ensureBridge(): Promise<Prefix> {
    if (this.#subnet !== undefined) return Promise.resolve(this.#subnet);
    this.#making ??= withHostNetworkLock(() => this.#makeBridge()).then(
      (p) => (this.#subnet = p),
      (err: unknown) => {
        this.#making = undefined;
        throw err;
      },
    );
    return this.#making;
  }

  async #makeBridge(): Promise<Prefix> {
    // The owner file first: a build killed from here on is recovered by the next one.
    mkdirSync(OWNERS_DIR, { recursive: true, mode: 0o755 });
    writeFileSync(join(OWNERS_DIR, this.names.tag), this.#dataRoot);
    try {
      await this.#removeTag(this.names.tag);
      const routes = await this.#hostRoutes();
      let subnet: Prefix | undefined;
      for (let n = 0n; n < 256n && subnet === undefined; n++) {
        const candidate: Prefix = { family: "IPv4", addr: POOL_BASE | (n << 8n), bits: 24 };
        if (!routes.some((r) => overlaps(r, candidate))) subnet = candidate;
      }
      if (subnet === undefined) throw htkError("HTK-RUNTIME-0320", { subnet: "10.10.0.0/16" });
      const cidr = formatPrefix(subnet);
      const dev = this.names.bridge;
      await this.#run("sysctl", ["-q", "-w", "net.ipv4.ip_forward=1"]);
      await this.#ip("link", "add", "name", dev, "type", "bridge");
      await this.#ip("addr", "add", `${formatAddress({ family: "IPv4", value: subnet.addr + 1n })}/24`, "dev", dev);
      await this.#ip("link", "set", "dev", dev, "up");
      await this.#ipt("nat", "-N", this.names.natPost);
      await this.#ipt("nat", "-A", this.names.natPost, "-s", cidr, "!", "-o", dev, "-j", "MASQUERADE");
      await this.#ipt("nat", "-I", "POSTROUTING", "1", "-j", this.names.natPost);
      await this.#ipt("filter", "-N", this.names.filterForward);
      await this.#ipt("filter", "-A", this.names.filterForward, "-i", dev, "-j", "ACCEPT");
      await this.#ipt("filter", "-A", this.names.filterForward, "-o", dev, "-j", "ACCEPT");
      await this.#ipt("filter", "-I", "FORWARD", "1", "-j", this.names.filterForward);
      return subnet;
    } catch (err) {
      await this.#removeTag(this.names.tag).catch(() => undefined);
      await rm(join(OWNERS_DIR, this.names.tag), { force: true });
      if (isHtkError(err)) throw err;
      throw htkError("HTK-RUNTIME-0321", { detail: (err as Error).message }, { cause: err });
    }
  }

  /** IPv4 prefixes the host routes (any device): the bridge's /24 must be none of them. */
  async #hostRoutes(): Promise<Prefix[]> {
    const routes = JSON.parse((await this.#ip("-j", "-4", "route", "show", "table", "all")) || "[]") as Array<{ dst?: string }>;
    const out: Prefix[] = [];
    for (const r of routes) {
      if (r.dst === undefined || r.dst === "default") continue;
      const p = parsePrefix(r.dst.includes("/") ? r.dst : `${r.dst}/32`);
      if (p?.family === "IPv4" && p.bits > 0) out.push(masked(p));
    }
    return out;
  }

  async #deleteNamespace(name: string): Promise<void> {
    // The veth first: the kernel destroys a namespace's devices asynchronously after `ip netns del`.
    await this.#ip("-n", name, "link", "del", "dev", "eth0").catch(() => undefined);
    await this.#ip("netns", "del", name).catch(() => undefined);
  }

  /** Everything carrying `tag`: step namespaces, veths, the bridge, the chains and their jumps. */
  async #removeTag(tag: string): Promise<void> {
    let entries: string[] = [];
    try {
      entries = readdirSync(NETNS_DIR);
    } catch {
      entries = [];
    }
    for (const e of entries) if (e.startsWith(`htkb-${tag}-`)) await this.#deleteNamespace(e);
    const links = JSON.parse((await this.#ip("-j", "link", "show").catch(() => "[]")) || "[]") as Array<{ ifname?: string }>;
    for (const l of links) {
      const name = (l.ifname ?? "").split("@")[0] ?? "";
      if (name.startsWith(`bv${tag}`) || name === `bb${tag}`) await this.#ip("link", "del", "dev", name).catch(() => undefined);
    }
    for (const [table, parent, chain] of [
      ["nat", "POSTROUTING", `HTKB-${tag}-POST`],
      ["filter", "FORWARD", `HTKB-${tag}-FWD`],
    ] as const) {
      // Every jump (a crash between two inserts can leave two), then the chain.
      for (let i = 0; i < 8; i++) {
        const gone = await this.#ipt(table, "-D", parent, "-j", chain).then(
          () => false,
          () => true,
        );
        if (gone) break;
      }
      await this.#ipt(table, "-F", chain).catch(() => undefined);
      await this.#ipt(table, "-X", chain).catch(() => undefined);
    }
  }
}
