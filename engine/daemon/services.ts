import { join } from "node:path";
import type { Logger } from "../../base/observability/index.ts";
import { imageEventDraft, imageGraphDriver } from "../api/image-hooks.ts";
import { ContentStore } from "../../cache/content-store.ts";
import { RefCounter } from "../../cache/refs.ts";
import { RegistryClient } from "../../base/registry/index.ts";
import { Builds } from "../build/engine-builds.ts";
import { buildStepNetwork, ContainerManager, ContainerOps } from "../containers/index.ts";
import { ImageStore, type ImageStoreState } from "../images/index.ts";
import { BridgeDatapath, configureDefaultBridgeIPv6, ensurePredefinedNetworks } from "../networks/index.ts";
import { CrunRuntime } from "../runtime/index.ts";
import { Snapshotter } from "../snapshots/index.ts";
import { ImageStateTable, openStateStore, type StateStore } from "../state/index.ts";
import type { DaemonConfig } from "./config.ts";

/** What the daemon reports about itself (`/version`, `/info`). */
export interface DaemonInfo {
  readonly version: string;
  readonly gitCommit: string;
}

/**
 * Everything the engine's API routes work on, opened once per daemon on its data root:
 *
 * - `state`: the SQLite state store (containers, execs, volumes, networks, events; images' and leases'
 *   persistence) — the single source of truth;
 * - `images`: the image store on `<dataRoot>/content`, persisted in `state`;
 * - `snapshots`: layer snapshots under `<dataRoot>/snapshots` (image layers unpacked once; containers'
 *   root filesystems are active snapshots on top);
 * - `runtime`: crun, with bundles and crun state under `<dataRoot>/runtime`;
 * - `registry`: the registry client with the daemon's insecure registries and concurrency settings;
 * - `builds`: builds on the stores above (one runtime worker and solver; `engine/build/README.md`).
 * - `containers`: the container lifecycle core (engine/containers): every running container's process,
 *   output, log, restart policy and waiters. Opened after the stores; `openServices` runs its start-up
 *   reconciliation, and closing stops the running containers first (dockerd without live-restore).
 *
 * Route families receive this object (`imageRoutes(services)`, …) and never open stores themselves.
 * `signal` is aborted when the daemon stops: long-lived work (event streams, follows, restarts) ends with it.
 */
export interface EngineServices {
  readonly config: DaemonConfig;
  readonly info: DaemonInfo;
  readonly log: Logger;
  readonly state: StateStore;
  readonly images: ImageStore;
  readonly snapshots: Snapshotter;
  readonly runtime: CrunRuntime;
  readonly registry: RegistryClient;
  readonly builds: Builds;
  readonly containers: ContainerManager;
  /** Exec instances and health probes on the manager's containers (engine/containers/container-ops.ts). */
  readonly containerOps: ContainerOps;
  /** The bridge networks' host side: bridges, veths, NAT (engine/networks/datapath.ts). */
  readonly datapath?: BridgeDatapath;
  readonly signal: AbortSignal;
  /** When the daemon started (for `/info` and uptime figures). */
  readonly startedAt: Date;
}

export interface OpenedServices {
  readonly services: EngineServices;
  /** Stops long-lived work and closes the stores, in reverse order of opening. */
  close(): Promise<void>;
}

/** Opens the engine's stores on `config.dataRoot`. A failure closes what was opened. */
export async function openServices(config: DaemonConfig, info: DaemonInfo, log: Logger): Promise<OpenedServices> {
  const controller = new AbortController();
  const undo: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    controller.abort(new DOMException("the engine is stopping", "AbortError"));
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err }, "closing an engine store failed");
      }
    }
    undo.length = 0;
  };
  try {
    const state = openStateStore(config.dataRoot, {
      onCorruptRecord: (e) => log.error({ id: e.id, err: e.toJSON() }, e.message),
    });
    undo.push(() => state.close());
    ensurePredefinedNetworks(state);
    configureDefaultBridgeIPv6(state, config.defaultBridgeIPv6);
    const refs = new RefCounter({ persistence: state.leases });
    const content = await ContentStore.open(join(config.dataRoot, "content"), { leaseCount: refs.blobLeaseCount });
    const images = ImageStore.open({
      content,
      refs,
      state: new ImageStateTable<ImageStoreState>(state.ctx),
      batch: (fn) => state.leases.batch(fn),
      // Who uses an image: `docker rmi` conflicts and `image prune` (running containers are hard conflicts).
      containers: (imageId) =>
        state.containers
          .all()
          .filter((c) => c.imageId === imageId)
          .map((c) => ({ id: c.id, running: c.status === "running" || c.status === "paused" || c.status === "restarting" })),
      onEvent: (e) => state.recordEvent(imageEventDraft(images, e)),
      graphDriver: (rec) => imageGraphDriver(snapshots, rec),
    });
    const snapshots = await Snapshotter.open({ root: join(config.dataRoot, "snapshots"), signal: controller.signal });
    undo.push(() => snapshots.close());
    const runtime = new CrunRuntime({ dataRoot: config.dataRoot, binary: config.defaultRuntime, log: log.child({ component: "runtime" }) });
    const registry = new RegistryClient({
      // A mirror named with http:// is reached over plain HTTP, as dockerd does.
      insecureRegistries: [...config.insecureRegistries, ...config.registryMirrors.filter((m) => m.startsWith("http://")).map((m) => new URL(m).host)],
      registryMirrors: [...config.registryMirrors],
      maxConcurrentDownloads: config.maxConcurrentDownloads,
      maxConcurrentUploads: config.maxConcurrentUploads,
    });
    undo.push(() => registry.close());
    const datapath = new BridgeDatapath({ dataRoot: config.dataRoot, state, log, ip6tables: config.ip6tables });
    const bridged = await datapath.prepare().then(
      () => true,
      (err: unknown) => {
        log.warn({ err }, "the bridge datapath cannot be set up (root, ip and iptables are needed); bridge networks get loopback only");
        return false;
      },
    );
    if (bridged) undo.push(() => datapath.teardown());
    const builds = await Builds.open({
      dataRoot: config.dataRoot,
      parts: { snapshotter: snapshots, images, runtime, registry, ...(bridged ? { stepNetwork: buildStepNetwork(datapath) } : {}) },
      maxParallelBuilds: config.maxParallelBuilds,
      log: log.child({ component: "builds" }),
    });
    undo.push(() => builds.close());
    const containers = new ContainerManager({
      dataRoot: config.dataRoot,
      state,
      images,
      snapshots,
      runtime,
      log,
      signal: controller.signal,
      shutdownTimeoutSeconds: config.shutdownTimeout,
      ...(bridged ? { datapath } : {}),
    });
    await containers.restore();
    if (bridged) {
      const running = new Set(state.containers.all().filter((c) => containers.running(c.id) !== undefined).map((c) => c.id));
      await datapath.recover(running);
      await datapath.restoreDns(running);
    }
    undo.push(() => containers.shutdown());
    const containerOps = new ContainerOps({ state, runtime, snapshots, images, containers, log });
    undo.push(() => containerOps.close());
    containerOps.start();
    const services: EngineServices = {
      config,
      info,
      log,
      state,
      images,
      snapshots,
      runtime,
      registry,
      builds,
      containers,
      containerOps,
      ...(bridged ? { datapath } : {}),
      signal: controller.signal,
      startedAt: new Date(),
    };
    return { services, close };
  } catch (err) {
    await close();
    throw err;
  }
}
