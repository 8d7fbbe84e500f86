import { existsSync } from "node:fs";
import { join } from "node:path";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { dataRootTag, hostRoutes, ipBatch, linkNames, namespacesWith, NETNS_DIR, removeOwner, runHostCommand, sweepDeadOwners, withHostNetworkLock, writeOwner, type HostCommand } from "./host.ts";
import { formatAddress, formatPrefix, overlaps, type Prefix } from "./ipam.ts";

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
  const tag = dataRootTag(dataRoot);
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
  readonly #log: Logger | undefined;
  #subnet: Prefix | undefined;
  #making: Promise<Prefix> | undefined;
  readonly #inUse = new Set<number>();

  constructor(opts: { readonly dataRoot: string; readonly log?: Logger; readonly run?: HostCommand }) {
    this.names = buildBridgeNames(opts.dataRoot);
    this.#dataRoot = opts.dataRoot;
    this.#run = opts.run ?? runHostCommand;
    this.#log = opts.log;
  }

  async #ip(...args: string[]): Promise<string> {
    return this.#run("ip", args);
  }

  async #ipt(table: "nat" | "filter", ...args: string[]): Promise<string> {
    return this.#run("iptables", ["-w", "-t", table, ...args]);
  }

  /**
   * At the build's start: what a killed build on this data root left (its owner file says so), and
   * what builds whose data root no longer exists left. Costs a directory listing when nothing is left.
   */
  async recover(): Promise<void> {
    // This data root's own owner file means a killed build (one build process per data root: its lock).
    if (existsSync(join(OWNERS_DIR, this.names.tag))) {
      this.#log?.info({ tag: this.names.tag }, "removing the build network a killed build left");
      await withHostNetworkLock(() => this.#removeTag(this.names.tag));
      await removeOwner(OWNERS_DIR, this.names.tag);
    }
    // Another data root's: only once its data root is gone (a killed build's is removed by the next
    // build on its data root).
    await sweepDeadOwners({ dir: OWNERS_DIR, self: this.names.tag, remove: (tag) => withHostNetworkLock(() => this.#removeTag(tag)), ...(this.#log === undefined ? {} : { log: this.#log }) });
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
      await ipBatch(this.#run, ["-force"], [`link del dev ${veth}`, `netns del ${ns}`]).catch(() => undefined);
      this.#inUse.delete(index);
    };
    try {
      // Two `ip -batch` runs instead of nine `ip` processes: a step's network costs two spawns.
      await ipBatch(this.#run, [], [`netns add ${ns}`, `link add name ${veth} type veth peer name eth0 netns ${ns}`, `link set dev ${veth} master ${this.names.bridge} up`]);
      await ipBatch(this.#run, ["-n", ns], ["link set dev lo up", `addr add ${address}/${subnet.bits} dev eth0`, "link set dev eth0 up", `route add default via ${gateway} dev eth0`]);
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
    await removeOwner(OWNERS_DIR, this.names.tag);
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
    writeOwner(OWNERS_DIR, this.names.tag, this.#dataRoot);
    try {
      await this.#removeTag(this.names.tag);
      const routes = (await hostRoutes(this.#run)).map((r) => r.prefix);
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
      await removeOwner(OWNERS_DIR, this.names.tag);
      if (isHtkError(err)) throw err;
      throw htkError("HTK-RUNTIME-0321", { detail: (err as Error).message }, { cause: err });
    }
  }

  async #deleteNamespace(name: string): Promise<void> {
    // The veth first: the kernel destroys a namespace's devices asynchronously after `ip netns del`.
    await ipBatch(this.#run, ["-n", name, "-force"], ["link del dev eth0", `netns del ${name}`]).catch(() => undefined);
  }

  /** Everything carrying `tag`: step namespaces, veths, the bridge, the chains and their jumps. */
  async #removeTag(tag: string): Promise<void> {
    for (const e of namespacesWith(`htkb-${tag}-`)) await this.#deleteNamespace(e);
    for (const name of await linkNames(this.#run)) {
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
