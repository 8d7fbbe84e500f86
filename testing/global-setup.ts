import { rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import type { TestProject } from "vitest/node";
import { ensureBusyboxImage } from "./busybox-image.ts";
import { fixtureCacheDir, testLogDir } from "./paths.ts";
import type { HarnessFixtures } from "./provided.ts";
import { startRegistry } from "./registry.ts";
import { skopeoCopy } from "./skopeo.ts";
import { PROGRAMS, requirePrograms } from "./system.ts";
import { sweepStaleTempDirs } from "./temp.ts";
import "./provided.ts";

/**
 * Global set-up of the `real` project: checks the system programs, builds (or reuses) the busybox
 * fixture, starts a plain and an auth registry, pushes busybox:latest to the plain one, and provides
 * all of it to the tests (see provided.ts). Teardown stops the registries and removes their folders;
 * if the run crashes instead, the registries die with it (pdeathsig) and the next run sweeps the
 * folders.
 */

/** Something global set-up started: stopped at teardown; `dir` is also removed on a bare exit. */
interface Running {
  stop(): Promise<void>;
  readonly dir?: string;
}

const running: Running[] = [];
let exitBackstop: (() => void) | undefined;

/** Record a started service for teardown and pass it on. */
function track<T extends Running>(service: T): T {
  running.push(service);
  return service;
}

export async function setup(project: TestProject): Promise<void> {
  const started = performance.now();
  requirePrograms([PROGRAMS.crun, PROGRAMS.registry, PROGRAMS.busybox, PROGRAMS.htpasswd, PROGRAMS.skopeo, PROGRAMS.tar, PROGRAMS.unshare, PROGRAMS.setpriv]);
  const cacheDir = fixtureCacheDir();
  await mkdir(cacheDir, { recursive: true });
  // What crashed runs left: temp folders, fixture staging folders, registry logs.
  await Promise.all([sweepStaleTempDirs(), sweepStaleTempDirs(cacheDir), sweepStaleTempDirs(testLogDir())]);

  // A synchronous last resort for an exit that skips teardown (process.exit in a reporter …).
  exitBackstop = () => {
    for (const r of running) if (r.dir !== undefined) rmSync(r.dir, { recursive: true, force: true });
  };
  process.once("exit", exitBackstop);

  const t0 = performance.now();
  // allSettled, not all: when one part fails, the registries that did start must still be stopped.
  const [busyboxResult, registryResult, authResult] = await Promise.allSettled([
    ensureBusyboxImage(cacheDir),
    startRegistry({ name: "registry" }).then(track),
    startRegistry({ name: "auth-registry", auth: { username: "hatake", password: "hatake-test-password" } }).then(track),
  ]);
  if (busyboxResult.status === "rejected" || registryResult.status === "rejected" || authResult.status === "rejected") {
    await teardown();
    const failed = [busyboxResult, registryResult, authResult].find((r) => r.status === "rejected");
    throw failed?.reason;
  }
  const busybox = busyboxResult.value;
  const registry = registryResult.value;
  const authRegistry = authResult.value;
  const t1 = performance.now();
  const reference = `${registry.host}/busybox:latest`;
  try {
    await skopeoCopy(`oci:${busybox.ociDir}:${busybox.ociRef}`, `docker://${reference}`, { timeoutMs: 60_000 });
  } catch (err) {
    await teardown();
    throw err;
  }
  const t2 = performance.now();

  const fixtures: HarnessFixtures = {
    registry: { url: registry.url, host: registry.host, port: registry.port },
    authRegistry: {
      url: authRegistry.url,
      host: authRegistry.host,
      port: authRegistry.port,
      username: authRegistry.username ?? "",
      password: authRegistry.password ?? "",
    },
    busybox: { ...busybox, reference },
    fixtureCacheDir: cacheDir,
  };
  project.provide("registry", fixtures.registry);
  project.provide("authRegistry", fixtures.authRegistry);
  project.provide("busybox", fixtures.busybox);
  project.provide("fixtureCacheDir", fixtures.fixtureCacheDir);
  const ms = (a: number, b: number): string => `${Math.round(b - a)} ms`;
  console.log(
    `[testing] ready in ${ms(started, t2)}: busybox fixture + registries ${ms(t0, t1)}, push ${ms(t1, t2)}; ` +
      `registry ${registry.url}, auth registry ${authRegistry.url}`,
  );
}

export async function teardown(): Promise<void> {
  const all = running.splice(0);
  const results = await Promise.allSettled(all.map((r) => r.stop()));
  if (exitBackstop) process.removeListener("exit", exitBackstop);
  exitBackstop = undefined;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}
