import type { Workload } from "../types.ts";
import { apiPing, apiVersion, daemonIdleRss } from "./api.ts";
import { buildWorkloads, inprocManyFiles } from "./builds.ts";
import { buildx03ManyFiles, buildxVersion } from "./buildx.ts";
import { cliStartup } from "./cli.ts";
import { contextHash5000 } from "./context-hash.ts";
import { frontendThroughput } from "./frontend.ts";
import { networkWorkloads } from "./network.ts";
import { registryPushPull } from "./registry.ts";
import { remoteCacheCold, remoteCacheEngine } from "./remote-cache.ts";
import { runtimeWorkloads } from "./runtime.ts";
import { snapshotsWorkload } from "./snapshots.ts";
import { workerWorkloads } from "./worker.ts";

/** Every workload `npm run bench` knows, in the order it runs them. Later issues add theirs here. */
export const allWorkloads: readonly Workload[] = [cliStartup, buildxVersion, apiPing, apiVersion, daemonIdleRss, ...runtimeWorkloads, frontendThroughput, contextHash5000, registryPushPull, snapshotsWorkload, ...workerWorkloads, remoteCacheCold, remoteCacheEngine, inprocManyFiles, ...buildWorkloads, buildx03ManyFiles, ...networkWorkloads];
