import { mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../../base/observability/index.ts";
import { eventRoutes } from "../api/events.ts";
import { networkRoutes } from "../api/networks.ts";
import { guiRoutes } from "../api/gui.ts";
import { buildServiceRoutes } from "../api/build-service.ts";
import { containerRoutes } from "../api/containers.ts";
import { containerAttachWsRoutes } from "../api/container-attach-ws.ts";
import { execRoutes } from "../api/exec.ts";
import { containerOpsRoutes } from "../api/container-ops.ts";
import { containerArchiveRoutes } from "../api/container-archive.ts";
import { createApiServer, type ApiServer } from "../api/server.ts";
import { buildRoutes } from "../api/build.ts";
import { authRoutes } from "../api/auth.ts";
import { distributionRoutes } from "../api/distribution.ts";
import { imageRoutes } from "../api/images.ts";
import { outOfScopeRoutes } from "../api/out-of-scope.ts";
import { systemRoutes } from "../api/system.ts";
import { systemDfRoutes, writableLayerSizer } from "../api/system-df.ts";
import { systemInfoRoutes } from "../api/system-info.ts";
import type { Route } from "../api/types.ts";
import { volumeRoutes } from "../api/volumes.ts";
import { formatListenAddress, type DaemonConfig } from "./config.ts";
import { lockDataRoot, type DataRootLock } from "./data-root-lock.ts";
import { openServices, type DaemonInfo, type EngineServices } from "./services.ts";

export type { DaemonInfo };

/** A daemon that is serving. The only way to get one is `startDaemon`; `stop` is idempotent. */
export interface RunningDaemon {
  readonly config: DaemonConfig;
  /** The stores the daemon serves from (tests seed them, e.g. an image without a registry). */
  readonly services: EngineServices;
  /** The addresses actually served (a tcp port 0 is resolved to the chosen port). */
  readonly addresses: readonly string[];
  stop(): Promise<void>;
  /** Settles when the daemon has stopped. */
  readonly stopped: Promise<void>;
}

/**
 * Starts the engine: claims the data root, writes the pidfile, serves the API on every host address.
 * Any failure on the way undoes what was done (no stray socket, pidfile or lock).
 */
export async function startDaemon(config: DaemonConfig, info: DaemonInfo, log: Logger): Promise<RunningDaemon> {
  const undo: Array<() => Promise<void> | void> = [];
  const rollback = async (): Promise<void> => {
    for (const step of undo.reverse()) await step();
  };
  try {
    const lock: DataRootLock = lockDataRoot(config.dataRoot);
    undo.push(() => lock.release());
    if (config.pidfile !== undefined) {
      const pidfile = config.pidfile;
      mkdirSync(dirname(pidfile), { recursive: true });
      writeFileSync(pidfile, `${process.pid}\n`);
      undo.push(() => {
        try {
          unlinkSync(pidfile);
        } catch {
          // Already gone.
        }
      });
    }
    // The API closes last, after the services: stopping the containers ends their attach, logs and
    // exec streams as dockerd's shutdown does; what is still open then (events) is cut. Closed
    // first, it would wait for those streams and the containers would never be stopped.
    const apiSlot = undo.length;
    undo.push(() => undefined);
    const opened = await openServices(config, info, log);
    undo.push(() => opened.close());
    const api: ApiServer = createApiServer({
      routes: engineRoutes(opened.services),
      log: log.child({ component: "api" }),
      serverHeader: `HATAKE/${info.version} (linux)`,
      ...(config.tls === undefined ? {} : { tls: config.tls }),
    });
    undo[apiSlot] = () => api.close(0);
    const addresses: string[] = [];
    for (const host of config.hosts) addresses.push(await api.listen(host));

    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    let stopping: Promise<void> | undefined;
    log.info({ dataRoot: config.dataRoot, hosts: addresses, version: info.version }, "engine started");
    return {
      config,
      services: opened.services,
      addresses,
      stopped,
      stop() {
        stopping ??= (async () => {
          log.info("engine stopping");
          // No new requests while the containers stop (dockerd closes its listeners first too).
          api.stopAccepting();
          await rollback();
          log.info("engine stopped");
          resolveStopped();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await rollback();
    throw err;
  }
}

/**
 * Every route the daemon serves. Each family lives in its own module under `../api/` and receives the
 * services; add a family here (one line) when it lands.
 */
function engineRoutes(services: EngineServices): Route[] {
  return [
    ...systemRoutes(services.info),
    ...containerRoutes(services),
    ...execRoutes(services),
    ...containerOpsRoutes(services),
    ...containerArchiveRoutes(services),
    ...outOfScopeRoutes(),
    ...volumeRoutes(services),
    ...eventRoutes(services),
    ...systemInfoRoutes(services),
    ...networkRoutes(services),
    ...buildRoutes(services),
    ...buildServiceRoutes(services),
    ...guiRoutes(services),
    ...systemDfRoutes(services, writableLayerSizer(services.snapshots)),
    ...imageRoutes(services),
    ...authRoutes(services),
    ...distributionRoutes(services),
    ...containerAttachWsRoutes(services),
  ];
}

export { formatListenAddress };
