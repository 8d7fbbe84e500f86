import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { htkError, isHtkError, type HtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { buildSpec, findInitBinary, readUserDatabase, type ProcessResult, type RunningContainer } from "../runtime/index.ts";
import { unpackImageLayers } from "../snapshots/index.ts";
import {
  generateId,
  isIn,
  matchKeyValues,
  normaliseContainerName,
  parseDockerTime,
  reconcile,
  requireKillable,
  requireRemovable,
  requireStartable,
  requireStoppable,
  restartDelayMs,
  shortId,
  validateFilterKeys,
  type Container,
  type Filters,
  type HostConfig,
  type Liveness,
  type EndpointRecord,
  type NetworkRecord,
  type NetworkSettings,
  type StateStore,
  type VolumeRecord,
  inspectJson,
  summaryJson,
} from "../state/index.ts";
import { entrypointAndArgs, mergeImageConfig, normaliseHostConfig, parseSignal, parseSize, validateCreate, type NetworkingConfig, type ParsedCreate } from "./create-config.ts";
import { ContainerIO, DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys, type OutputSink } from "./io.ts";
import { JsonFileWriter, LineSplitter, readLog, type LogMessage, type RotationOptions } from "./json-file.ts";
import { copiesImageContent, planMounts, runtimeMounts } from "./mounts.ts";
import {
  emptyEndpoint,
  emptyNetworkSettings,
  endpointWish,
  ipamConfigJson,
  type EndpointWish,
  type NetworkMode,
  hostHostname,
  hostNetworkHostsFile,
  hostnameFile,
  hostsFile,
  LoopbackNetworks,
  parseNetworkMode,
  renderNetworkSettings,
  resolvConf,
  type NetworkAttacher,
} from "./network.ts";
import { BridgeNetworks } from "./bridge-network.ts";
import { isPredefined } from "../networks/index.ts";
import { specOptions } from "./spec-options.ts";
import type { AttachConnection, AttachRequest, LogsOptions, ManagerDeps, PruneReport, RemoveOptions, StopOptions, WaitCondition, WaitResult } from "./types.ts";
import { directorySize, ensureVolume, removeVolume, volumeDataPath, type VolumeHost } from "../volumes/index.ts";
import { copyImageContent, VolumeMounts } from "./volumes.ts";

/** One process of a container, from start until its exit is recorded. */
interface Run {
  readonly handle: RunningContainer;
  readonly log: JsonFileWriter | undefined;
  readonly startedMs: number;
  /** `docker stop`/`kill`: the restart policy does not apply to this exit (Docker's ExitOnNext). */
  exitOnNext: boolean;
  /** Docker's HasBeenManuallyStopped: `unless-stopped` then stays stopped. */
  manuallyStopped: boolean;
  /** Settles when the exit is recorded and everything the run held is released. */
  exited: Promise<void>;
}

interface Waiter {
  readonly condition: WaitCondition;
  readonly resolve: (r: WaitResult) => void;
}

/** What the manager keeps per container while the daemon runs (created on first use). */
class Entry {
  readonly io = new ContainerIO();
  run: Run | undefined;
  /** The run whose exit is being handled (after `run` was cleared, until its exit is recorded). */
  exiting: Run | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** The last restart back-off (Docker's restart manager timeout). */
  restartDelayMs = 0;
  readonly waiters = new Set<Waiter>();
  /** Users of the mounted root filesystem besides a run (`withRootfs`). */
  rootfsUsers = 0;
  removing = false;
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier locked operation of this container. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

const DEFAULT_STOP_TIMEOUT = 10;

/**
 * The container lifecycle core: create, start, stop, restart, kill, wait, attach, logs, remove,
 * rename, prune, restart policies and start-up reconciliation, on the daemon's state store, image
 * store, snapshotter and runtime. See README.md for the API in short.
 */
export class ContainerManager {
  readonly #deps: ManagerDeps;
  readonly #log: Logger;
  readonly #network: NetworkAttacher;
  readonly #entries = new Map<string, Entry>();
  readonly #volumeMounts: VolumeMounts;
  #shuttingDown = false;

  constructor(deps: ManagerDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: "containers" });
    this.#network =
      deps.network ??
      (deps.datapath === undefined
        ? new LoopbackNetworks(deps.state.networks, (ref) => this.#pidOf(ref))
        : new BridgeNetworks({ state: deps.state, datapath: deps.datapath, pidOf: (ref) => this.#pidOf(ref), containerDir: (id) => this.containerDir(id), log: deps.log }));
    this.#volumeMounts = new VolumeMounts(deps.dataRoot);
  }

  get #state(): StateStore {
    return this.#deps.state;
  }

  get #volumeHost(): VolumeHost {
    return { state: this.#deps.state, dataRoot: this.#deps.dataRoot };
  }

  #entry(id: string): Entry {
    let e = this.#entries.get(id);
    if (e === undefined) {
      e = new Entry();
      this.#entries.set(id, e);
    }
    return e;
  }

  /** The container's folder: hostname, hosts, resolv.conf and `<id>-json.log`. */
  containerDir(id: string): string {
    return join(this.#deps.dataRoot, "containers", id);
  }

  logPath(id: string): string {
    return join(this.containerDir(id), `${id}-json.log`);
  }

  // ---------------------------------------------------------------------------------------------
  // create

  /**
   * `POST /containers/create`: resolves the image, merges its config, validates, plans mounts
   * (creating the volumes they name), makes the root filesystem (a writable snapshot on the image's
   * layer chain, kept until `rm`) and records the container (`create` event).
   */
  async create(request: { readonly name?: string; readonly body: ParsedCreate }, signal: AbortSignal): Promise<{ id: string; warnings: string[] }> {
    const { body } = request;
    const name = request.name === undefined || request.name === "" ? undefined : normaliseContainerName(request.name);
    if (name !== undefined) {
      const holder = this.#state.containers.find(name);
      if (holder !== undefined) throw htkError("HTK-ENGINE-0104", { name, id: holder.id });
    }
    const imageRef = typeof body.config.Image === "string" ? body.config.Image : "";
    if (imageRef === "") throw htkError("HTK-ENGINE-0399", {});
    const image = this.#deps.images.resolve(imageRef);
    const imageConfig = await this.#deps.images.config(image.id, signal);

    const id = generateId();
    const hostConfig = normaliseHostConfig(body.hostConfig);
    const networkMode = parseNetworkMode(hostConfig.NetworkMode);
    // Docker refuses an unknown network (or container to share one with) at create.
    if (networkMode.kind === "bridge") this.#state.networks.resolve(networkMode.network);
    if (networkMode.kind === "container") this.#state.containers.resolve(networkMode.ref);
    const networks = this.#networksAtCreate(networkMode, request.body.networkingConfig);
    let config = mergeImageConfig(body.config, imageConfig.config.config, shortId(id));
    if (networkMode.kind === "host" && (body.config["Hostname"] ?? "") === "") config = { ...config, Hostname: hostHostname() };
    config = { ...config, Image: imageRef };
    const warnings = validateCreate(config, hostConfig);
    const { path, args } = entrypointAndArgs(config);
    const plan = planMounts(config, hostConfig, {
      volumePath: (n) => volumeDataPath(this.#deps.dataRoot, n),
      anonymousName: () => generateId(),
      hostPathExists: (p) => existsSync(p),
    });

    const dir = this.containerDir(id);
    const createdVolumes: string[] = [];
    let points = plan.points;
    let rootfsMade = false;
    try {
      await mkdir(dir, { recursive: true, mode: 0o710 });
      const record = image.manifests[0];
      const chain = await unpackImageLayers(this.#deps.snapshots, this.#deps.images.content, record?.layers ?? [], image.layers.map((l) => l.diffId), signal);
      try {
        await this.#deps.snapshots.createWritable(id, chain?.id, signal);
        rootfsMade = true;
      } finally {
        chain?.release();
      }
      // Anonymous volumes get their names from engine/volumes (random 64-hex, labelled anonymous).
      const named = new Map<string, string>();
      for (const need of plan.volumes) {
        const r = need.anonymous
          ? await ensureVolume(this.#volumeHost, { labels: need.labels })
          : await ensureVolume(this.#volumeHost, { name: need.name, labels: need.labels, options: need.driverOpts });
        if (r.created) createdVolumes.push(r.volume.name);
        if (need.anonymous) named.set(need.name, r.volume.name);
      }
      points = plan.points.map((p) => {
        const real = p.Type === "volume" && p.Name !== undefined ? named.get(p.Name) : undefined;
        return real === undefined ? p : { ...p, Name: real, Source: volumeDataPath(this.#deps.dataRoot, real) };
      });
      const created = this.#state.containers.create({
        id,
        ...(name === undefined ? {} : { name }),
        image: imageRef,
        imageId: image.id,
        path,
        args,
        config,
        hostConfig,
        mounts: points,
        networkSettings: emptyNetworkSettings(networks),
        paths: {
          ResolvConfPath: join(dir, "resolv.conf"),
          HostnamePath: join(dir, "hostname"),
          HostsPath: join(dir, "hosts"),
          LogPath: this.#logDriver(hostConfig) === "json-file" ? this.logPath(id) : "",
          SnapshotKey: id,
        },
        platform: image.platform.os,
      });
      return { id: created.id, warnings };
    } catch (err) {
      if (rootfsMade) await this.#deps.snapshots.removeWritable(id).catch(() => undefined);
      for (const v of createdVolumes) await removeVolume(this.#volumeHost, v, { force: true }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The volume records a container's mount points name. */
  #volumesOf(c: Container): VolumeRecord[] {
    return c.mounts.flatMap((m) => (m.Type === "volume" && m.Name !== undefined ? [this.#state.volumes.find(m.Name)].filter((v): v is VolumeRecord => v !== undefined) : []));
  }

  /**
   * NetworkSettings.Networks at create, as Docker's updateContainerNetworkSettings: the network mode's
   * entry, and one per NetworkingConfig.EndpointsConfig network (API ≥ 1.44 takes several; the
   * endpoints are made at start) with its aliases and static addresses (`--network-alias`, `--ip`,
   * `--ip6`), checked as Docker's validateEndpointSettings: no aliases or addresses on predefined
   * networks, addresses that parse.
   */
  #networksAtCreate(mode: NetworkMode, networking: NetworkingConfig): Record<string, Readonly<Record<string, unknown>>> {
    const out: Record<string, Readonly<Record<string, unknown>>> = {};
    if (mode.kind === "container") return out;
    const primaryName = mode.kind === "bridge" ? this.#networkName(mode.network) : mode.kind;
    out[primaryName] = emptyEndpoint(this.#networkId(primaryName));
    for (const [ref, settings] of Object.entries(networking.EndpointsConfig ?? {})) {
      const n = this.#state.networks.resolve(ref === "default" ? "bridge" : ref);
      const wish = endpointWish(settings);
      const predefined = isPredefined(n.name);
      if (predefined && (wish.ipv4Address !== "" || wish.ipv6Address !== "")) throw htkError("HTK-ENGINE-0484", {});
      if (predefined && wish.aliases.length > 0) throw htkError("HTK-ENGINE-0491", {});
      if (wish.ipv4Address !== "" && isIP(wish.ipv4Address) !== 4) throw htkError("HTK-ENGINE-0489", { address: wish.ipv4Address });
      if (wish.ipv6Address !== "" && isIP(wish.ipv6Address) !== 6) throw htkError("HTK-ENGINE-0489", { address: wish.ipv6Address });
      if (mode.kind !== "bridge" && n.name !== primaryName) continue;
      out[n.name] = { ...emptyEndpoint(n.id, wish.aliases), IPAMConfig: ipamConfigJson(wish) };
    }
    return out;
  }

  #networkName(ref: string): string {
    try {
      return this.#state.networks.resolve(ref).name;
    } catch {
      return ref;
    }
  }

  #networkId(name: string): string {
    try {
      return this.#state.networks.resolve(name).id;
    } catch {
      return "";
    }
  }

  #logDriver(hostConfig: HostConfig): "json-file" | "none" {
    const type = (hostConfig["LogConfig"] as { Type?: string } | undefined)?.Type ?? "";
    return type === "none" ? "none" : "json-file";
  }

  #rotation(hostConfig: HostConfig): RotationOptions {
    const opts = (hostConfig["LogConfig"] as { Config?: Record<string, string> } | undefined)?.Config ?? {};
    const maxSize = opts["max-size"] === undefined ? undefined : parseSize(opts["max-size"]);
    const maxFile = opts["max-file"] === undefined ? 1 : Number(opts["max-file"]);
    return { ...(maxSize === undefined || maxSize <= 0 ? {} : { maxSize }), maxFile };
  }

  // ---------------------------------------------------------------------------------------------
  // start

  /** `docker start`: "already-running" is Docker's 304. Start failures keep the container (with State.Error). */
  async start(ref: string, signal: AbortSignal): Promise<"started" | "already-running"> {
    const first = this.#state.containers.resolve(ref);
    const entry = this.#entry(first.id);
    return entry.locked(async () => {
      const c = this.#state.containers.resolve(first.id);
      const startable = requireStartable(c);
      if (startable === null) return "already-running";
      await this.#startLocked(startable, entry, signal);
      return "started";
    });
  }

  async #startLocked(c: Container<"created" | "exited">, entry: Entry, signal: AbortSignal): Promise<void> {
    let launched: { handle: RunningContainer; log: JsonFileWriter | undefined; container: Container<"created" | "exited"> };
    try {
      launched = await this.#launch(c, signal);
    } catch (err) {
      const e = startError(c, err);
      const now = this.#state.containers.get(c.id);
      if (now !== undefined && isIn(now, ["created", "exited"])) {
        this.#state.containers.startFailed(now, { exitCode: Number(e.details["exitCode"] ?? 128), error: e.plainCause });
      }
      if (c.hostConfig.AutoRemove === true) {
        // Docker removes an --rm container whose start failed, so `docker run --rm` leaves nothing.
        void this.#autoRemove(c.id);
      }
      throw e;
    }
    const running = this.#state.containers.start(launched.container, { pid: launched.handle.pid });
    entry.restartDelayMs = 0;
    this.#watch(running, entry, launched.handle, launched.log);
  }

  /**
   * Everything a start needs up to a running process: the root filesystem mounted, volumes filled,
   * the network attached, hosts/resolv.conf/hostname written, the spec built, the log file opened,
   * the process started under its shim. Undone on failure.
   */
  async #launch<S extends "created" | "exited" | "restarting">(
    c: Container<S>,
    signal: AbortSignal,
  ): Promise<{ handle: RunningContainer; log: JsonFileWriter | undefined; container: Container<S> }> {
    const { snapshots, runtime } = this.#deps;
    const undo: Array<() => Promise<void>> = [];
    try {
      const rootfs = await snapshots.mountWritable(c.id, signal);
      undo.push(() => this.#releaseRootfs(c.id));
      const binds = new Set(((c.hostConfig["Binds"] as string[] | null | undefined) ?? []).map((b) => b.split(":")[1] ?? ""));
      for (const m of c.mounts) {
        if (m.Type === "volume") {
          await mkdir(m.Source, { recursive: true, mode: 0o755 });
          const v = m.Name === undefined ? undefined : this.#state.volumes.find(m.Name);
          if (v !== undefined) {
            await this.#volumeMounts.acquire(v);
            undo.push(() => this.#volumeMounts.release(v));
          }
          if (copiesImageContent(m, c.hostConfig)) await copyImageContent(rootfs, m.Destination, m.Source);
        } else if (m.Type === "bind" && binds.has(m.Destination) && !existsSync(m.Source)) {
          // -v creates a missing host directory (Docker's legacy bind behaviour); --mount refuses it at create.
          await mkdir(m.Source, { recursive: true, mode: 0o755 });
        }
      }
      const attachment = await this.#network.attach(c, signal);
      undo.push(() => this.#network.detach(c.id));
      const withNet = this.#state.containers.setNetworkSettings(c, attachment.settings);

      const dir = this.containerDir(c.id);
      await mkdir(dir, { recursive: true, mode: 0o710 });
      // `container:<x>` (Compose's network_mode: service:x): as Docker's initializeNetworking, the joined
      // container's hostname, domain name, /etc/hosts and /etc/resolv.conf.
      const mode = parseNetworkMode(c.hostConfig.NetworkMode);
      const joined = mode.kind === "container" ? this.#state.containers.find(mode.ref) : undefined;
      const named = joined ?? c;
      const hostname = typeof named.config["Hostname"] === "string" ? named.config["Hostname"] : shortId(named.id);
      const domainname = typeof named.config["Domainname"] === "string" ? named.config["Domainname"] : "";
      const extraHosts = (c.hostConfig["ExtraHosts"] as string[] | null | undefined) ?? [];
      const hostResolv = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
      const joinedDir = joined === undefined ? undefined : this.containerDir(joined.id);
      const files =
        joinedDir === undefined
          ? { hosts: join(dir, "hosts"), resolvConf: join(dir, "resolv.conf"), hostname: join(dir, "hostname") }
          : { hosts: join(joinedDir, "hosts"), resolvConf: join(joinedDir, "resolv.conf"), hostname: join(dir, "hostname") };
      if (joinedDir === undefined) {
        await writeFile(
          files.hosts,
          attachment.hostFiles
            ? hostNetworkHostsFile(extraHosts)
            : hostsFile({ hostname, domainname, extraHosts, ...(attachment.address === undefined ? {} : { address: attachment.address }) }) +
                (attachment.extraHosts ?? []).map((l) => `${l}\n`).join(""),
        );
        await writeFile(
          files.resolvConf,
          resolvConf({
            hostResolvConf: hostResolv,
            hostNetwork: attachment.hostFiles,
            dns: (c.hostConfig["Dns"] as string[] | null | undefined) ?? [],
            dnsSearch: (c.hostConfig["DnsSearch"] as string[] | null | undefined) ?? [],
            dnsOptions: (c.hostConfig["DnsOptions"] as string[] | null | undefined) ?? [],
            embeddedDns: attachment.embeddedDns === true,
          }),
        );
      }
      await writeFile(files.hostname, hostnameFile(hostname, domainname));

      let initPath: string | undefined;
      if (c.hostConfig["Init"] === true) {
        initPath = findInitBinary();
        if (initPath === undefined) throw htkError("HTK-ENGINE-0361", { id: c.id, detail: "--init needs a static init (Debian package tini: /usr/bin/tini-static), and none was found" });
      }
      const spec = buildSpec(
        specOptions(joined === undefined ? withNet : { ...withNet, config: { ...withNet.config, Hostname: hostname, Domainname: domainname } }, {
          rootfs,
          userDb: await readUserDatabase(rootfs),
          mounts: runtimeMounts(c.mounts, c.hostConfig),
          network: attachment.namespace,
          networkFiles: files,
          ...(initPath === undefined ? {} : { initPath }),
        }),
      );
      let log: JsonFileWriter | undefined;
      if (this.#logDriver(c.hostConfig) === "json-file") {
        log = await JsonFileWriter.open(this.logPath(c.id), this.#rotation(c.hostConfig));
        const opened = log;
        undo.push(() => opened.close());
      }
      const handle = await runtime.start({ id: c.id, spec, openStdin: c.config["OpenStdin"] === true });
      const size = c.hostConfig["ConsoleSize"] as [number, number] | null | undefined;
      if (handle.resize !== undefined && Array.isArray(size) && size[0] > 0 && size[1] > 0) handle.resize(size[0], size[1]);
      return { handle, log, container: withNet };
    } catch (err) {
      for (const step of undo.reverse()) await step().catch((e: unknown) => this.#log.warn({ id: c.id, err: e }, "undoing a failed start"));
      throw err;
    }
  }

  /** Wires a started process: output to the log and attached clients, and the exit monitor. */
  #watch(c: Container, entry: Entry, handle: RunningContainer, log: JsonFileWriter | undefined, startedMs = Date.now()): void {
    const removeLogSink = log === undefined ? undefined : entry.io.addSink(logSink(log));
    const outputEnded = entry.io.connect(handle);
    const run: Run = { handle, log, startedMs, exitOnNext: false, manuallyStopped: false, exited: Promise.resolve() };
    entry.run = run;
    run.exited = (async () => {
      const result = await handle.wait();
      // Docker lets the copiers finish for up to 2 s (StreamConfig.Wait) before it moves on.
      const grace = new AbortController();
      const drained = await Promise.race([outputEnded.then(() => true), sleep(2000, false, { signal: grace.signal }).catch(() => false)]);
      grace.abort();
      if (!drained) this.#log.debug({ id: c.id }, "the container's output did not end within 2 s of its exit");
      entry.io.finish();
      removeLogSink?.();
      await log?.close();
      await this.#deps.runtime.delete(c.id, { force: true }).catch((err: unknown) => this.#log.warn({ id: c.id, err }, "runtime delete after exit"));
      await this.#network.detach(c.id).catch((err: unknown) => this.#log.warn({ id: c.id, err }, "network detach after exit"));
      for (const v of this.#volumesOf(c)) await this.#volumeMounts.release(v).catch((err: unknown) => this.#log.warn({ id: c.id, volume: v.name, err }, "unmounting a volume after exit"));
      entry.exiting = run;
      entry.run = undefined;
      await this.#releaseRootfs(c.id);
      await this.#recordExit(c.id, entry, run, result);
      entry.exiting = undefined;
    })().catch((err: unknown) => {
      entry.run = undefined;
      entry.exiting = undefined;
      this.#log.error({ id: c.id, err }, "handling a container's exit failed");
    });
  }

  async #recordExit(id: string, entry: Entry, run: Run, result: ProcessResult): Promise<void> {
    const c = this.#state.containers.get(id);
    if (c === undefined || !isIn(c, ["running", "paused"])) return;
    const exitCode = result.exitCode;
    const oomKilled = result.kind === "oom-killed";
    const ranMs = Date.now() - run.startedMs;
    const restart = !run.exitOnNext && !this.#shuttingDown && !entry.removing && policyRestarts(c.hostConfig, exitCode, run.manuallyStopped, c.restartCount);
    if (restart) {
      const delay = restartDelayMs(entry.restartDelayMs, ranMs);
      entry.restartDelayMs = delay;
      this.#state.containers.scheduleRestart(c, { exitCode, oomKilled, manuallyStopped: run.manuallyStopped });
      this.#notify(entry, ["not-running", "next-exit"], { StatusCode: exitCode });
      entry.restartTimer = setTimeout(() => {
        entry.restartTimer = undefined;
        void this.#restartNow(id, entry);
      }, delay);
      return;
    }
    this.#state.containers.exit(c, { exitCode, oomKilled, manuallyStopped: run.manuallyStopped });
    this.#notify(entry, ["not-running", "next-exit"], { StatusCode: exitCode });
    // Not awaited: a `docker stop` holding the container's lock waits for this exit to be recorded.
    if (c.hostConfig.AutoRemove === true && !entry.removing && !this.#shuttingDown) void this.#autoRemove(id);
  }

  /** The restart policy's restart, after its back-off. */
  async #restartNow(id: string, entry: Entry): Promise<void> {
    await entry.locked(async () => {
      const c = this.#state.containers.get(id);
      if (c === undefined || c.status !== "restarting" || this.#shuttingDown) return;
      try {
        const launched = await this.#launch(c, this.#deps.signal);
        const running = this.#state.containers.restarted(launched.container, { pid: launched.handle.pid });
        this.#watch(running, entry, launched.handle, launched.log);
      } catch (err) {
        const e = startError(c, err);
        this.#log.warn({ id, err: e.toJSON() }, "restarting a container failed");
        const now = this.#state.containers.get(id);
        if (now !== undefined && now.status === "restarting") this.#state.containers.restartFailed(now, { exitCode: Number(e.details["exitCode"] ?? 128), error: e.plainCause });
      }
    }).catch((err: unknown) => this.#log.error({ id, err }, "restart failed"));
  }

  // ---------------------------------------------------------------------------------------------
  // stop, restart, kill

  /** `docker stop`: "not-running" is Docker's 304. */
  async stop(ref: string, opts: StopOptions = {}): Promise<"stopped" | "not-running"> {
    const signalNumber = opts.signal === undefined || opts.signal === "" ? undefined : parseSignal(opts.signal);
    const first = this.#state.containers.resolve(ref);
    const entry = this.#entry(first.id);
    return entry.locked(async () => {
      const c = this.#state.containers.resolve(first.id);
      const stoppable = requireStoppable(c);
      if (stoppable === null) return "not-running";
      await this.#stopLocked(stoppable, entry, signalNumber, opts.timeoutSeconds);
      const after = this.#state.containers.get(c.id);
      if (after !== undefined) this.#state.containers.note(after, "stop");
      return "stopped";
    });
  }

  async #stopLocked(c: Container<"running" | "paused" | "restarting">, entry: Entry, signalNumber: number | undefined, timeoutSeconds: number | undefined): Promise<void> {
    if (c.status === "restarting") {
      this.#cancelRestart(entry);
      this.#state.containers.cancelRestart(c);
      return;
    }
    // A run whose exit is being handled still counts: its exit must be recorded as stopped (no restart).
    const run = entry.run ?? entry.exiting;
    if (run === undefined) return;
    const stopSignal = signalNumber ?? (typeof c.config["StopSignal"] === "string" && c.config["StopSignal"] !== "" ? parseSignal(c.config["StopSignal"]) : 15);
    const configured = typeof c.config["StopTimeout"] === "number" ? c.config["StopTimeout"] : DEFAULT_STOP_TIMEOUT;
    const timeout = timeoutSeconds ?? configured;
    run.exitOnNext = true;
    if (!this.#shuttingDown) run.manuallyStopped = true;
    await this.#sendSignal(c, stopSignal);
    if (c.status === "paused") await this.#deps.runtime.resume(c.id).catch(() => undefined);
    if (timeout >= 0) {
      const timer = new AbortController();
      const timedOut = await Promise.race([run.exited.then(() => false), sleep(timeout * 1000, true, { signal: timer.signal }).catch(() => false)]);
      timer.abort();
      if (!timedOut) return;
      await this.#sendSignal(c, 9);
    }
    await run.exited;
  }

  async #sendSignal(c: Container, signalNumber: number): Promise<void> {
    try {
      await this.#deps.runtime.kill(c.id, signalNumber);
    } catch (err) {
      // Gone in between: its exit is on the way.
      this.#log.debug({ id: c.id, err }, "signal not delivered");
      return;
    }
    const now = this.#state.containers.get(c.id) ?? c;
    this.#state.containers.note(now, "kill", { signal: String(signalNumber) });
  }

  /** `docker restart`: stop (if running), then start; `restart` event. */
  async restart(ref: string, opts: StopOptions = {}): Promise<void> {
    const signalNumber = opts.signal === undefined || opts.signal === "" ? undefined : parseSignal(opts.signal);
    const first = this.#state.containers.resolve(ref);
    const entry = this.#entry(first.id);
    await entry.locked(async () => {
      const c = this.#state.containers.resolve(first.id);
      const stoppable = requireStoppable(c);
      if (stoppable !== null) {
        await this.#stopLocked(stoppable, entry, signalNumber, opts.timeoutSeconds);
        const stopped = this.#state.containers.get(c.id);
        if (stopped !== undefined) this.#state.containers.note(stopped, "stop");
      }
      const now = this.#state.containers.resolve(c.id);
      const startable = requireStartable(now);
      if (startable !== null) await this.#startLocked(startable, entry, this.#deps.signal);
      const after = this.#state.containers.get(c.id);
      if (after !== undefined) this.#state.containers.note(after, "restart");
    });
  }

  /** `docker kill`: Docker's rules for which kills end the restart policy's hold (ExitOnNext). */
  async kill(ref: string, signal?: string): Promise<void> {
    const signalNumber = signal === undefined || signal === "" ? 9 : parseSignal(signal);
    const first = this.#state.containers.resolve(ref);
    const entry = this.#entry(first.id);
    const c = requireKillable(this.#state.containers.resolve(first.id));
    if (c.status === "restarting") {
      await entry.locked(async () => {
        const now = this.#state.containers.get(c.id);
        if (now === undefined || now.status !== "restarting") return;
        this.#cancelRestart(entry);
        this.#state.containers.cancelRestart(now);
      });
      return;
    }
    const run = entry.run;
    if (run === undefined) throw htkError("HTK-ENGINE-0107", { id: c.id });
    const stopSignal = typeof c.config["StopSignal"] === "string" && c.config["StopSignal"] !== "" ? parseSignal(c.config["StopSignal"]) : undefined;
    if (stopSignal === undefined || signalNumber === 9 || signalNumber === stopSignal) run.exitOnNext = true;
    run.manuallyStopped = true;
    await this.#deps.runtime.kill(c.id, signalNumber);
    this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "kill", { signal: String(signalNumber) });
    if (run.exitOnNext && c.status === "paused") await this.#deps.runtime.resume(c.id).catch(() => undefined);
  }

  #cancelRestart(entry: Entry): void {
    if (entry.restartTimer !== undefined) clearTimeout(entry.restartTimer);
    entry.restartTimer = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // wait

  /**
   * `POST /containers/{id}/wait`: registers the waiter now (so the API can answer its headers before
   * the container starts, as Docker does) and returns the result to come. HTK-ENGINE-0103 for an
   * unknown container. `signal` (the client going away) drops the waiter.
   */
  wait(ref: string, condition: WaitCondition, signal: AbortSignal): Promise<WaitResult> {
    const c = this.#state.containers.resolve(ref);
    const entry = this.#entry(c.id);
    if (condition === "not-running" && !isIn(c, ["running", "paused", "restarting"])) return Promise.resolve({ StatusCode: c.state.ExitCode });
    return new Promise<WaitResult>((resolve, reject) => {
      const waiter: Waiter = {
        condition,
        resolve: (r) => {
          signal.removeEventListener("abort", onAbort);
          resolve(r);
        },
      };
      const onAbort = (): void => {
        entry.waiters.delete(waiter);
        reject(signal.reason instanceof Error ? signal.reason : new DOMException("aborted", "AbortError"));
      };
      entry.waiters.add(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  #notify(entry: Entry, conditions: readonly WaitCondition[], result: WaitResult): void {
    for (const w of [...entry.waiters]) {
      if (!conditions.includes(w.condition)) continue;
      entry.waiters.delete(w);
      w.resolve(result);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // remove, rename, prune

  /** `docker rm [-f] [-v]`. */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<void> {
    const first = this.#state.containers.resolve(ref);
    const entry = this.#entry(first.id);
    await entry.locked(async () => {
      const c = this.#state.containers.resolve(first.id);
      if (isIn(c, ["running", "paused", "restarting"])) {
        if (opts.force !== true) requireRemovable(c);
        entry.removing = true;
        try {
          if (c.status === "restarting") {
            this.#cancelRestart(entry);
            this.#state.containers.cancelRestart(c);
          } else if (entry.run !== undefined) {
            const run = entry.run;
            run.exitOnNext = true;
            await this.#sendSignal(c, 9);
            if (c.status === "paused") await this.#deps.runtime.resume(c.id).catch(() => undefined);
            await run.exited;
          }
        } catch (err) {
          entry.removing = false;
          throw err;
        }
      }
      const now = this.#state.containers.resolve(c.id);
      await this.#destroy(requireRemovable(now), entry, opts.volumes === true);
    });
  }

  /** An `--rm` container that ended: removed with its anonymous volumes. */
  async #autoRemove(id: string): Promise<void> {
    const entry = this.#entry(id);
    await entry.locked(async () => {
      const c = this.#state.containers.get(id);
      if (c === undefined || !isIn(c, ["created", "exited", "dead"])) return;
      await this.#destroy(c, entry, true);
    }).catch((err: unknown) => this.#log.warn({ id, err }, "removing an --rm container failed"));
  }

  async #destroy(c: Container<"created" | "exited" | "dead">, entry: Entry, volumes: boolean): Promise<void> {
    entry.removing = true;
    const removing = this.#state.containers.beginRemoval(c);
    try {
      await this.#deps.runtime.delete(c.id, { force: true });
      await this.#deps.snapshots.removeWritable(c.id);
      await rm(this.containerDir(c.id), { recursive: true, force: true });
    } catch (err) {
      this.#state.containers.markDead(removing, { error: err instanceof Error ? err.message : String(err) });
      entry.removing = false;
      throw htkError("HTK-ENGINE-0362", { id: c.id, detail: err instanceof Error ? err.message : String(err) }, { cause: err });
    }
    this.#state.containers.remove(removing);
    if (volumes) {
      for (const m of c.mounts) {
        if (m.Type !== "volume" || m.Name === undefined) continue;
        const v = this.#state.volumes.find(m.Name);
        if (v === undefined || !v.anonymous) continue;
        try {
          await removeVolume(this.#volumeHost, m.Name, { force: true });
        } catch (err) {
          // Still used by another container (--volumes-from): Docker keeps it, too.
          if (!isHtkError(err, "HTK-ENGINE-0123")) this.#log.warn({ id: c.id, volume: m.Name, err }, "removing an anonymous volume failed");
        }
      }
    }
    this.#notify(entry, ["removed", "not-running", "next-exit"], { StatusCode: c.state.ExitCode });
    // Sessions attached to a container that never ran end with it.
    entry.io.finish();
    this.#entries.delete(c.id);
  }

  /** `docker rename`. */
  rename(ref: string, newName: string): void {
    if (ref === "" || newName === "") throw htkError("HTK-ENGINE-0363", {});
    const c = this.#state.containers.resolve(ref);
    this.#state.containers.rename(c, newName);
  }

  /** `docker container prune`: every container that is not running, with `until` and `label` filters. */
  async prune(filters: Filters): Promise<PruneReport> {
    validateFilterKeys(filters, ["until", "label", "label!"]);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const until = (filters["until"] ?? []).map((u) => {
      const t = parseDockerTime(u, nowNs);
      if (t === undefined) throw htkError("HTK-ENGINE-0117", { filter: "until", value: u, accepted: "a duration (10m), a Unix time or an RFC 3339 date" });
      return t;
    });
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of this.#state.containers.all()) {
      if (!isIn(c, ["created", "exited", "dead"])) continue;
      if (until.some((t) => c.createdNs >= t)) continue;
      const labels = c.config.Labels ?? {};
      if (!matchKeyValues(filters, "label", labels)) continue;
      if ((filters["label!"] ?? []).length > 0 && matchKeyValues(filters, "label!", labels)) continue;
      const size = await this.sizeRw(c.id);
      try {
        await this.remove(c.id);
        deleted.push(c.id);
        reclaimed += size;
      } catch (err) {
        this.#log.warn({ id: c.id, err }, "prune: could not remove a container");
      }
    }
    this.#state.recordEvent({ Type: "container", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(reclaimed) } } });
    // An empty list, not Docker's null: the v1.45 schema says array, and clients read both.
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---------------------------------------------------------------------------------------------
  // attach, resize, logs

  /**
   * `POST /containers/{id}/attach`: optionally the log so far, then the output of the running (or
   * next) run until it ends, the client detaches or goes away; the client's input goes to the
   * container's stdin when it has one (`OpenStdin`). With `StdinOnce` (docker run -i) the end of the
   * client's input closes the container's stdin; otherwise it ends the session.
   */
  attach(ref: string, request: AttachRequest): { readonly tty: boolean; run(conn: AttachConnection, signal: AbortSignal): Promise<void> } {
    const c = this.#state.containers.resolve(ref);
    if (c.status === "paused") throw htkError("HTK-ENGINE-0364", { name: ref, state: "paused", advice: "unpause the container before attach" });
    if (c.status === "restarting") throw htkError("HTK-ENGINE-0364", { name: ref, state: "restarting", advice: "wait until the container is running" });
    const tty = c.config["Tty"] === true;
    const detachKeys = request.detachKeys === undefined || request.detachKeys === "" ? DEFAULT_DETACH_KEYS : parseDetachKeysOrThrow(request.detachKeys);
    return { tty, run: (conn, signal) => this.#attachSession(c, request, tty, detachKeys, conn, signal) };
  }

  #attachSession(c: Container, request: AttachRequest, tty: boolean, detachKeys: readonly number[], conn: AttachConnection, signal: AbortSignal): Promise<void> {
    const entry = this.#entry(c.id);
    this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "attach");

    return new Promise<void>((resolve) => {
      let done = false;
      const cleanups: Array<() => void> = [];
      const finish = (): void => {
        if (done) return;
        done = true;
        for (const f of cleanups.splice(0)) f();
        conn.close();
        resolve();
      };
      signal.addEventListener("abort", finish, { once: true });
      cleanups.push(() => signal.removeEventListener("abort", finish));

      const streamOutput = (): void => {
        if (!request.stream) return finish();
        const sink: OutputSink = {
          write: (stream, chunk) => ((stream === 1 ? request.stdout : request.stderr) ? conn.write(stream, chunk) : true),
          onDrain: (cb) => conn.onDrain(cb),
          end: () => finish(),
        };
        cleanups.push(entry.io.addSink(sink));
        const input = conn.input;
        if (request.stdin && input !== null && c.config["OpenStdin"] === true) {
          input.pause();
          const scanner = tty ? new DetachKeyScanner(detachKeys) : undefined;
          cleanups.push(
            entry.io.whenStdin((stdin) => {
              const onData = (chunk: Buffer): void => {
                const r = scanner === undefined ? { forward: chunk, detach: false } : scanner.scan(chunk);
                if (r.forward.length > 0 && !stdin.write(r.forward)) {
                  input.pause();
                  stdin.once("drain", () => input.resume());
                }
                // Detached (TTY detach keys): the container keeps running; the session ends.
                if (r.detach) finish();
              };
              const onEnd = (): void => {
                if (c.config["StdinOnce"] === true && !tty) entry.io.closeStdin();
                else finish();
              };
              input.on("data", onData);
              input.once("end", onEnd);
              cleanups.push(() => {
                input.off("data", onData);
                input.off("end", onEnd);
              });
              input.resume();
            }),
          );
        }
      };

      if (!request.logs || this.#logDriver(c.hostConfig) !== "json-file") return streamOutput();
      void (async () => {
        const rotation = this.#rotation(c.hostConfig);
        for await (const m of readLog(this.logPath(c.id), { maxFile: rotation.maxFile, signal })) {
          const stream = m.stream === "stdout" ? 1 : 2;
          if ((stream === 1 && !request.stdout) || (stream === 2 && !request.stderr)) continue;
          if (!conn.write(stream, m.line)) await new Promise<void>((r) => conn.onDrain(r));
        }
      })().then(streamOutput, () => finish());
    });
  }

  /** `POST /containers/{id}/resize` (TTY containers; a no-op otherwise, as the CLI resizes any). */
  resize(ref: string, height: number, width: number): void {
    const c = this.#state.containers.resolve(ref);
    const run = this.#entries.get(c.id)?.run;
    if (!isIn(c, ["running", "paused"]) || run === undefined) throw htkError("HTK-ENGINE-0107", { id: c.id });
    run.handle.resize?.(height, width);
    this.#state.containers.note(c, "resize", { height: String(height), width: String(width) });
  }

  /**
   * `GET /containers/{id}/logs`: whether the container has a TTY (raw stream) and its log messages
   * (only the streams asked for). HTK-ENGINE-0365 for the `none` log driver.
   */
  logs(ref: string, opts: LogsOptions, signal: AbortSignal): { tty: boolean; messages: AsyncIterable<LogMessage> } {
    const c = this.#state.containers.resolve(ref);
    if (this.#logDriver(c.hostConfig) !== "json-file") throw htkError("HTK-ENGINE-0365", {});
    const rotation = this.#rotation(c.hostConfig);
    const follow = opts.follow ? this.#entries.get(c.id)?.run?.log : undefined;
    const path = this.logPath(c.id);
    const wanted = (m: LogMessage): boolean => (m.stream === "stdout" ? opts.stdout : opts.stderr);
    async function* messages(): AsyncGenerator<LogMessage> {
      for await (const m of readLog(path, {
        maxFile: rotation.maxFile,
        signal,
        ...(opts.tail === undefined ? {} : { tail: opts.tail }),
        ...(opts.sinceNs === undefined ? {} : { sinceNs: opts.sinceNs }),
        ...(opts.untilNs === undefined ? {} : { untilNs: opts.untilNs }),
        ...(follow === undefined ? {} : { follow }),
      })) {
        if (wanted(m)) yield m;
      }
    }
    return { tty: c.config["Tty"] === true, messages: messages() };
  }

  // ---------------------------------------------------------------------------------------------
  // For the helpers that build on the manager (exec, cp/archive, export, diff, stats, top, pause).

  /**
   * `GET /containers/{id}/json`: the state's inspect JSON with what only the engine knows: the root
   * filesystem's directories (GraphDriver.Data, as Docker's overlay2 shows them), the endpoints of
   * connected networks, and with `size` SizeRw/SizeRootFs.
   */
  async inspect(ref: string, opts: { readonly size?: boolean; readonly imageSize?: (imageId: string) => number } = {}): Promise<Record<string, unknown>> {
    const c = this.#state.containers.resolve(ref);
    const body = inspectJson(c, this.#state.execs.idsOf(c.id));
    const out: Record<string, unknown> = { ...body, GraphDriver: this.#graphDriver(c), NetworkSettings: this.#networkSettings(c) };
    if (opts.size === true) {
      const rw = await this.sizeRw(c.id);
      out["SizeRw"] = rw;
      out["SizeRootFs"] = rw + (opts.imageSize?.(c.imageId) ?? 0);
    }
    return out;
  }

  /** One entry of `GET /containers/json` (ContainerSummary), with the connected networks' endpoints. */
  summary(c: Container, nowMs: number = Date.now()): Record<string, unknown> {
    const s = summaryJson(c, nowMs);
    return { ...s, NetworkSettings: { Networks: this.#networkSettings(c).Networks ?? {} } };
  }

  #networkSettings(c: Container): NetworkSettings {
    return renderNetworkSettings(c.networkSettings, this.#state.networks.endpointsOfContainer(c.id), this.#state.networks.list(), c);
  }

  /** Docker's overlay2 GraphDriver data for the container's writable snapshot (empty strings in copy mode). */
  #graphDriver(c: Container): { Name: string; Data: Record<string, string> } {
    const w = this.#deps.snapshots.writable(c.id);
    const dir = w === undefined ? "" : w.path.replace(/\/(merged|fs)$/, "");
    const lowers: string[] = [];
    for (let id = w?.parent; id !== undefined; id = this.#deps.snapshots.info(id)?.parent) {
      if (!this.#deps.snapshots.has(id)) break;
      lowers.push(this.#deps.snapshots.dir(id));
    }
    return {
      Name: c.driver,
      Data: {
        LowerDir: lowers.join(":"),
        MergedDir: w === undefined ? "" : `${dir}/merged`,
        UpperDir: w?.upperDir ?? "",
        WorkDir: w === undefined ? "" : `${dir}/work`,
      },
    };
  }

  /**
   * `SizeRw`: the bytes in the container's writable layer (Docker's directory.Size of its overlay
   * upper directory). 0 in copy mode, where the root filesystem is a whole copy without a separate
   * layer of changes.
   */
  async sizeRw(ref: string, signal: AbortSignal = this.#deps.signal): Promise<number> {
    const c = this.#state.containers.resolve(ref);
    const w = this.#deps.snapshots.writable(c.id);
    if (w?.upperDir === undefined) return 0;
    return directorySize(w.upperDir, signal).catch(() => 0);
  }

  /**
   * `docker network connect` made `ep` for container `id`: a running container on the bridge
   * datapath gets its veth now (stopped ones at their next start).
   */
  async networkConnected(id: string, network: NetworkRecord, ep: EndpointRecord, wish?: EndpointWish): Promise<void> {
    let c = this.#state.containers.get(id);
    if (c === undefined) return;
    // The asked-for addresses stay with the container (inspect's IPAMConfig; a start asks for them again).
    if (wish !== undefined) {
      const entry = { ...emptyEndpoint(network.id, wish.aliases), IPAMConfig: ipamConfigJson(wish) };
      c = this.#state.containers.setNetworkSettings(c, { ...c.networkSettings, Networks: { ...(c.networkSettings.Networks ?? {}), [network.name]: entry } });
    }
    if (this.#entries.get(id)?.run === undefined || !(this.#network instanceof BridgeNetworks)) return;
    await this.#network.connectRunning(c, network, ep);
  }

  /** `docker network disconnect` removed `ep`: a running container's veth on that network goes. */
  async networkDisconnected(id: string, ep: EndpointRecord, network?: NetworkRecord): Promise<void> {
    const c = this.#state.containers.get(id);
    if (c !== undefined && network !== undefined && c.networkSettings.Networks?.[network.name] !== undefined) {
      // Inspect no longer shows it, and a stopped container is not connected again at its next start.
      const { [network.name]: _gone, ...rest } = c.networkSettings.Networks;
      this.#state.containers.setNetworkSettings(c, { ...c.networkSettings, Networks: rest });
    }
    if (this.#entries.get(id)?.run === undefined || !(this.#network instanceof BridgeNetworks)) return;
    await this.#network.disconnectRunning(ep);
  }

  running(ref: string): { readonly id: string; readonly pid: number } | undefined {
    const c = this.#state.containers.find(ref);
    if (c === undefined) return undefined;
    const run = this.#entries.get(c.id)?.run;
    return run === undefined ? undefined : { id: c.id, pid: run.handle.pid };
  }

  /** The host pid of a running container's init, or undefined when it does not run. */
  #pidOf(ref: string): number | undefined {
    return this.running(ref)?.pid;
  }

  /**
   * Runs `fn` with the container's root filesystem mounted (whether or not it runs): `docker cp`,
   * `export`, `diff`, `commit` on a stopped container. The mount stays while the container runs or
   * another user holds it.
   */
  async withRootfs<T>(ref: string, fn: (rootfs: string) => Promise<T>, signal: AbortSignal = this.#deps.signal): Promise<T> {
    const c = this.#state.containers.resolve(ref);
    const entry = this.#entry(c.id);
    entry.rootfsUsers++;
    try {
      const path = await this.#deps.snapshots.mountWritable(c.id, signal);
      return await fn(path);
    } finally {
      entry.rootfsUsers--;
      await this.#releaseRootfs(c.id);
    }
  }

  /** Unmounts the root filesystem unless a run or a `withRootfs` user still needs it. */
  async #releaseRootfs(id: string): Promise<void> {
    const entry = this.#entries.get(id);
    if (entry !== undefined && (entry.run !== undefined || entry.rootfsUsers > 0)) return;
    if (this.#deps.snapshots.writable(id) === undefined) return;
    await this.#deps.snapshots.unmountWritable(id).catch((err: unknown) => this.#log.warn({ id, err }, "unmounting a root filesystem failed"));
  }

  // ---------------------------------------------------------------------------------------------
  // Daemon start and stop.

  /**
   * Start-up reconciliation (Docker's daemon.restore): containers still running under their shims are
   * re-attached (output, log, exit monitor); those that ended while the engine was away get their real
   * exit status (from the shim's status file; 255 when unknown) and `die`; `--rm` containers that ended
   * are removed; restart policies apply (`always` even after a manual stop, as at a Docker daemon
   * start); the runtime's leftovers and stray root filesystem mounts are cleaned.
   */
  async restore(): Promise<void> {
    const { runtime, snapshots } = this.#deps;
    const live = new Map<string, { pid: number; paused: boolean }>();
    for (const s of await runtime.list().catch(() => [])) {
      if (s.status === "running" || s.status === "paused") live.set(s.id, { pid: s.pid, paused: s.status === "paused" });
    }
    const exits = new Map<string, number>();
    for (const c of this.#state.containers.all()) {
      if (!isIn(c, ["running", "paused", "restarting"])) continue;
      const code = await readFile(join(runtime.bundlesDir, c.id, "exit"), "utf8").then((t) => Number(t.trim()), () => NaN);
      if (Number.isInteger(code)) exits.set(c.id, code);
    }
    const probe = (c: Container<"running" | "paused" | "restarting">): Liveness => {
      const l = live.get(c.id);
      // A TTY container's terminal relay died with the engine: it cannot be re-attached.
      if (l !== undefined && c.config["Tty"] !== true && !exits.has(c.id)) return { kind: "alive", pid: l.pid, paused: l.paused };
      const code = exits.get(c.id);
      return code === undefined ? { kind: "gone" } : { kind: "gone", exitCode: code };
    };
    const actions = reconcile(this.#state.ctx, this.#state.containers, probe);
    const keep = actions.filter((a) => a.kind === "reattach").map((a) => a.container.id);
    await runtime.cleanup({ keep }).catch((err: unknown) => this.#log.warn({ err }, "runtime clean-up at start failed"));

    for (const a of actions) {
      if (a.kind !== "reattach") continue;
      const c = a.container;
      const entry = this.#entry(c.id);
      try {
        const handle = await runtime.attach(c.id);
        const log = this.#logDriver(c.hostConfig) === "json-file" ? await JsonFileWriter.open(this.logPath(c.id), this.#rotation(c.hostConfig)) : undefined;
        const started = Date.parse(c.state.StartedAt);
        for (const v of this.#volumesOf(c)) this.#volumeMounts.adopt(v);
        this.#watch(c, entry, handle, log, Number.isNaN(started) ? Date.now() : started);
      } catch (err) {
        this.#log.warn({ id: c.id, err }, "re-attaching a container failed; recording it as exited");
        const now = this.#state.containers.get(c.id);
        if (now !== undefined && isIn(now, ["running", "paused"])) this.#state.containers.exit(now, { exitCode: 255 });
        await runtime.delete(c.id, { force: true }).catch(() => undefined);
      }
    }
    // Root filesystems stay mounted only for containers that run.
    const ids = new Set(this.#state.containers.all().map((c) => c.id));
    for (const w of snapshots.writables()) {
      if (!ids.has(w.key)) {
        await snapshots.removeWritable(w.key).catch((err: unknown) => this.#log.warn({ key: w.key, err }, "removing an orphaned root filesystem failed"));
        await rm(this.containerDir(w.key), { recursive: true, force: true });
      } else if (this.#entries.get(w.key)?.run === undefined) await this.#releaseRootfs(w.key);
    }
    const dirs = await readdir(join(this.#deps.dataRoot, "containers")).catch(() => [] as string[]);
    for (const d of dirs) if (!ids.has(d)) await rm(this.containerDir(d), { recursive: true, force: true });

    for (const a of actions) {
      switch (a.kind) {
        case "reattach":
          break;
        case "remove":
          await this.#autoRemove(a.container.id);
          break;
        case "restart": {
          const entry = this.#entry(a.container.id);
          if (a.container.status === "restarting") void this.#restartNow(a.container.id, entry);
          else {
            await entry
              .locked(async () => {
                const now = this.#state.containers.get(a.container.id);
                if (now === undefined) return;
                const startable = requireStartable(now);
                if (startable !== null) await this.#startLocked(startable, entry, this.#deps.signal);
              })
              .catch((err: unknown) => this.#log.warn({ id: a.container.id, err }, "restart policy: starting at daemon start failed"));
          }
          break;
        }
        default: {
          const never: never = a;
          throw new Error(`unknown reconcile action ${JSON.stringify(never)}`);
        }
      }
    }
  }

  /**
   * Daemon shutdown without live-restore, as dockerd: running containers get their stop signal and up
   * to their stop timeout (capped by the shutdown timeout), then SIGKILL. Their restart policies
   * apply at the next daemon start (a shutdown is not a manual stop). Pending restarts are cancelled.
   */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    const cap = this.#deps.shutdownTimeoutSeconds ?? 15;
    const jobs: Array<Promise<void>> = [];
    for (const [id, entry] of this.#entries) {
      this.#cancelRestart(entry);
      const run = entry.run;
      if (run === undefined) continue;
      const c = this.#state.containers.get(id);
      if (c === undefined || !isIn(c, ["running", "paused"])) continue;
      const configured = typeof c.config["StopTimeout"] === "number" ? c.config["StopTimeout"] : DEFAULT_STOP_TIMEOUT;
      const timeout = configured < 0 ? cap : Math.min(configured, cap);
      jobs.push(this.#stopLocked(c, entry, undefined, timeout).catch((err: unknown) => this.#log.warn({ id, err }, "stopping a container at shutdown failed")));
    }
    await Promise.all(jobs);
  }
}

/** Docker's restartmanager.ShouldRestart while the daemon runs. */
function policyRestarts(hostConfig: HostConfig, exitCode: number, manuallyStopped: boolean, restartCount: number): boolean {
  const policy = hostConfig.RestartPolicy?.Name ?? "no";
  switch (policy) {
    case "always":
      return true;
    case "unless-stopped":
      return !manuallyStopped;
    case "on-failure": {
      const max = hostConfig.RestartPolicy?.MaximumRetryCount ?? 0;
      return exitCode !== 0 && (max === 0 || restartCount < max);
    }
    default:
      return false;
  }
}

/**
 * A start failure as the API reports it (Docker's translateContainerdStartErr): a command that is
 * missing (127) or not executable (126) is the client's error (400); other runtime failures are 500.
 */
function startError(c: Container, err: unknown): HtkError {
  if (isHtkError(err, "HTK-RUNTIME-0101")) {
    const detail = String(err.params["detail"] ?? err.plainCause);
    const exitCode = Number(err.details["exitCode"] ?? 128);
    if (exitCode === 127 || exitCode === 126) return htkError("HTK-ENGINE-0360", { detail }, { cause: err, details: { exitCode } });
    return htkError("HTK-ENGINE-0361", { id: c.id, detail }, { cause: err, details: { exitCode: 128 } });
  }
  if (isHtkError(err)) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return htkError("HTK-ENGINE-0361", { id: c.id, detail }, { cause: err, details: { exitCode: 128 } });
}

function parseDetachKeysOrThrow(spec: string): number[] {
  try {
    return parseDetachKeys(spec);
  } catch (err) {
    throw htkError("HTK-ENGINE-0400", { keys: spec }, { cause: err });
  }
}

/** The json-file writer as an output sink: lines split as Docker's copier does. */
function logSink(writer: JsonFileWriter): OutputSink {
  const splitters = { 1: new LineSplitter("stdout"), 2: new LineSplitter("stderr") } as const;
  const now = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  return {
    write(stream, chunk) {
      let ok = true;
      for (const m of splitters[stream].push(chunk, now())) ok = writer.write(m) && ok;
      return ok;
    },
    onDrain(cb) {
      writer.once("drain", cb);
    },
    end() {
      const t = now();
      for (const s of [splitters[1], splitters[2]]) for (const m of s.end(t)) writer.write(m);
    },
  };
}

