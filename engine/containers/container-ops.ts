import { lstat, readFile } from "node:fs/promises";
import { posix } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import type { Logger } from "../../base/observability/index.ts";
import { buildSpec, cgroupMode, readUserDatabase, resolveUser, type ContainerStats, type CrunRuntime, type LinuxResources } from "../runtime/index.ts";
import type { Snapshotter } from "../snapshots/index.ts";
import type { ImageStore } from "../images/index.ts";
import { isIn, requirePausable, requireUnpausable, type Container, type HostConfig, type StateStore } from "../state/index.ts";
import { archiveResource, exportRootfs, extractArchive } from "./archive.ts";
import { overlayChanges, treeChanges, type Change } from "./changes.ts";
import { commitImage, mergeCommitConfig } from "./commit.ts";
import { absoluteKeepingTrailing, resolveInContainer, statResource, type ContainerFsView, type ContainerPathStat } from "./container-fs.ts";
import { validateCreate } from "./create-config.ts";
import { ExecManager } from "./exec.ts";
import { HealthMonitor } from "./health.ts";
import type { ContainerManager } from "./manager.ts";
import { parseNetDev, statsJson, type StatsSample } from "./stats.ts";
import { top, type TopResult } from "./top.ts";

export interface ContainerOpsDeps {
  readonly state: StateStore;
  readonly runtime: CrunRuntime;
  readonly snapshots: Snapshotter;
  readonly images: ImageStore;
  readonly containers: ContainerManager;
  readonly log: Logger;
}

/** The resource fields of `docker update` (UpdateConfig's Resources), with PidsLimit already normalised. */
export interface UpdateRequest {
  readonly resources: Readonly<Record<string, unknown>>;
  readonly restartPolicy?: { readonly Name?: string; readonly MaximumRetryCount?: number };
}

/** Docker's stats collector interval. */
const STATS_INTERVAL_MS = 1000;

/**
 * The container operations that build on the lifecycle core (`ContainerManager`), owned for the
 * daemon's life: exec instances, healthchecks (probes through them), top, stats, pause/unpause,
 * update, cp/export/diff, commit. Opened after the manager's start-up reconciliation; `close()` ends what they run.
 */
export class ContainerOps {
  readonly execs: ExecManager;
  readonly health: HealthMonitor;
  readonly #deps: ContainerOpsDeps;

  constructor(deps: ContainerOpsDeps) {
    this.#deps = deps;
    this.execs = new ExecManager(deps);
    this.health = new HealthMonitor({ state: deps.state, execs: this.execs, log: deps.log });
  }

  /** Starts what runs on its own: the healthchecks of the containers that run (and of those that start later). */
  start(): void {
    this.health.start();
  }

  get #state(): StateStore {
    return this.#deps.state;
  }

  async close(): Promise<void> {
    // Exec processes end with their containers, which the manager's shutdown stops.
    this.health.close();
  }

  /** A running (or paused) container the manager runs: Docker's IsRunning. */
  #live(ref: string): { container: Container<"running" | "paused">; pid: number } | undefined {
    const c = this.#state.containers.resolve(ref);
    const run = this.#deps.containers.running(c.id);
    if (run === undefined || !isIn(c, ["running", "paused"])) return undefined;
    return { container: c, pid: run.pid };
  }

  // ---------------------------------------------------------------------------------------------
  // pause, unpause

  /** `docker pause`: the cgroup freezer; `pause` event. Docker's 409s for the other states. */
  async pause(ref: string): Promise<void> {
    const c = requirePausable(this.#state.containers.resolve(ref));
    if (this.#deps.containers.running(c.id) === undefined) throw htkError("HTK-ENGINE-0107", { id: c.id });
    try {
      await this.#deps.runtime.pause(c.id);
    } catch (err) {
      throw htkError("HTK-ENGINE-0508", { action: "pause", id: c.id, detail: detailOf(err) }, { cause: err });
    }
    const now = this.#state.containers.get(c.id);
    if (now !== undefined && now.status === "running") this.#state.containers.pause(now);
  }

  /** `docker unpause`; `unpause` event. Not paused: Docker's 500. */
  async unpause(ref: string): Promise<void> {
    const c = requireUnpausable(this.#state.containers.resolve(ref));
    try {
      await this.#deps.runtime.resume(c.id);
    } catch (err) {
      throw htkError("HTK-ENGINE-0508", { action: "unpause", id: c.id, detail: detailOf(err) }, { cause: err });
    }
    const now = this.#state.containers.get(c.id);
    if (now !== undefined && now.status === "paused") this.#state.containers.unpause(now);
  }

  // ---------------------------------------------------------------------------------------------
  // top

  /** `docker top`: Docker's checks (not running, restarting: 409), `ps` over the container's host pids; `top` event. */
  async top(ref: string, psArgs: string): Promise<TopResult> {
    const c = this.#state.containers.resolve(ref);
    if (c.status === "restarting") throw htkError("HTK-ENGINE-0110", { id: c.id });
    const live = this.#live(ref);
    if (live === undefined) throw htkError("HTK-ENGINE-0107", { id: c.id });
    const pids = (await this.#deps.runtime.processes(c.id).catch(() => [live.pid])).sort((a, b) => a - b);
    const result = await top(pids, psArgs);
    this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "top");
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // stats

  async #sample(id: string, pid: number): Promise<StatsSample | undefined> {
    let stats: ContainerStats;
    try {
      stats = await this.#deps.runtime.stats(id);
    } catch {
      return undefined;
    }
    const netDev = await readFile(`/proc/${pid}/net/dev`, "utf8").catch(() => "");
    return { stats, networks: parseNetDev(netDev) };
  }

  /**
   * `GET /containers/{id}/stats` (Docker's ContainerStats): `write` gets each StatsJSON object.
   * Not running and not streaming: one object with the name and ID only. One-shot: one sample now.
   * Otherwise samples every second with the previous one's CPU figures; without `stream`, the second
   * sample is the answer. A stream ends when the client goes (`signal`) or the container is removed.
   * The request is checked here; `run` writes the answer.
   */
  stats(ref: string, opts: { readonly stream: boolean; readonly oneShot: boolean }): { run(write: (json: Record<string, unknown>) => Promise<void>, signal: AbortSignal): Promise<void> } {
    // Checked before anything is written: the errors are ordinary answers (404, 400).
    const c = this.#state.containers.resolve(ref);
    if (opts.stream && opts.oneShot) throw htkError("HTK-ENGINE-0509", {});
    return { run: (write, signal) => this.#stats(c, opts, write, signal) };
  }

  async #stats(c: Container, opts: { readonly stream: boolean; readonly oneShot: boolean }, write: (json: Record<string, unknown>) => Promise<void>, signal: AbortSignal): Promise<void> {
    const mode = cgroupMode();
    const ident = { id: c.id, name: c.name };
    const live = (): { pid: number } | undefined => {
      const now = this.#state.containers.get(c.id);
      if (now === undefined || !isIn(now, ["running", "paused"])) return undefined;
      return this.#deps.containers.running(c.id);
    };
    if (!opts.stream && live() === undefined) return write(statsJson(ident, undefined, undefined, mode));
    if (opts.oneShot) {
      const l = live();
      const sample = l === undefined ? undefined : await this.#sample(c.id, l.pid);
      return write(statsJson(ident, sample, undefined, mode));
    }
    let previous: ContainerStats | undefined;
    let primed = false;
    for (;;) {
      if (signal.aborted || this.#state.containers.get(c.id) === undefined) return;
      const l = live();
      const sample = l === undefined ? undefined : await this.#sample(c.id, l.pid);
      const json = statsJson(ident, sample, previous, mode);
      previous = sample?.stats;
      // Without stream, the first sample only primes the CPU figures (Docker's noStreamFirstFrame).
      if (opts.stream || primed) {
        await write(json);
        if (!opts.stream) return;
      }
      primed = true;
      try {
        await sleep(STATS_INTERVAL_MS, undefined, { signal });
      } catch {
        return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // archive (docker cp), export, changes

  /**
   * Runs `fn` on the container's file system: a running (or paused) container's through
   * /proc/<pid>/root (its mounts as the container sees them), a stopped one's root file system
   * mounted for the time of `fn` with its binds and volumes mapped to their host folders.
   */
  async #withView<T>(ref: string, fn: (view: ContainerFsView, c: Container) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const c = this.#state.containers.resolve(ref);
    return this.#deps.containers.withRootfs(
      c.id,
      async (rootfs) => {
        const live = this.#live(c.id);
        const view: ContainerFsView =
          live !== undefined
            ? { root: `/proc/${live.pid}/root`, mounts: [] }
            : {
                root: rootfs,
                mounts: c.mounts
                  .filter((m) => (m.Type === "bind" || m.Type === "volume") && m.Source !== "")
                  .map((m) => ({ destination: posix.normalize(m.Destination).replace(/(.)\/+$/, "$1"), source: m.Source })),
              };
        return fn(view, c);
      },
      ...(signal === undefined ? [] : [signal]),
    );
  }

  /** `HEAD /containers/{id}/archive`: Docker's ContainerPathStat; 404 "Could not find the file …". */
  async archiveStat(ref: string, path: string): Promise<ContainerPathStat> {
    if (path === "") throw htkError("HTK-ENGINE-0512", { param: "path" });
    return this.#withView(ref, async (view) => {
      const r = await statResource(view, path);
      if (r === undefined) throw htkError("HTK-ENGINE-0513", { path, name: ref });
      return r.info;
    });
  }

  /**
   * `GET /containers/{id}/archive`: `respond` gets the resource's stat and its tar stream, and must
   * consume the stream before it returns (the root file system stays mounted until then);
   * `archive-path` event.
   */
  async archive(ref: string, path: string, respond: (stat: ContainerPathStat, tar: AsyncIterable<Buffer>) => Promise<void>, signal: AbortSignal): Promise<void> {
    if (path === "") throw htkError("HTK-ENGINE-0512", { param: "path" });
    await this.#withView(
      ref,
      async (view, c) => {
        const r = await statResource(view, path);
        if (r === undefined) throw htkError("HTK-ENGINE-0513", { path, name: ref });
        this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "archive-path");
        await respond(r.info, archiveResource(view, r, signal));
      },
      signal,
    );
  }

  /**
   * `PUT /containers/{id}/archive`: the tar extracted into the directory `path` (links followed):
   * missing → 404, not a directory → 400, a read-only volume or root file system → 403 (Docker's
   * checks, on the resolved path); `copyUIDGID` gives the files the container user's IDs;
   * `extract-to-dir` event.
   */
  async extract(ref: string, path: string, body: AsyncIterable<Uint8Array>, opts: { readonly noOverwriteDirNonDir: boolean; readonly copyUIDGID: boolean }, signal: AbortSignal): Promise<void> {
    if (path === "") throw htkError("HTK-ENGINE-0512", { param: "path" });
    await this.#withView(
      ref,
      async (view, c) => {
        const dest = await resolveInContainer(view, absoluteKeepingTrailing(path), true);
        const st = await lstat(dest.hostPath).catch(() => undefined);
        if (st === undefined) throw htkError("HTK-ENGINE-0513", { path, name: ref });
        if (!st.isDirectory()) throw htkError("HTK-ENGINE-0514", {});
        const mount = c.mounts
          .filter((m) => dest.containerPath === posix.normalize(m.Destination) || dest.containerPath.startsWith(`${posix.normalize(m.Destination).replace(/\/$/, "")}/`))
          .sort((a, b) => b.Destination.length - a.Destination.length)[0];
        if (mount !== undefined && !mount.RW) throw htkError("HTK-ENGINE-0516", {});
        if (mount === undefined && c.hostConfig["ReadonlyRootfs"] === true) throw htkError("HTK-ENGINE-0515", {});
        let owner: { uid: number; gid: number } | undefined;
        const user = typeof c.config["User"] === "string" ? c.config["User"] : "";
        if (opts.copyUIDGID && user !== "") {
          const u = resolveUser(await readUserDatabase(view.root), user);
          owner = { uid: u.uid, gid: u.gid };
        }
        // A running container is frozen while the files are written: paths are resolved inside it
        // first and used after, and its processes must not swap a directory for a link in between
        // (the symlink-exchange race of CVE-2018-15664). No pause event: nothing about its state changes.
        const freeze = c.status === "running" && this.#live(c.id) !== undefined;
        if (freeze) await this.#deps.runtime.pause(c.id).catch((err: unknown) => this.#deps.log.warn({ id: c.id, err }, "freezing a container for a copy failed"));
        try {
          await extractArchive(view, dest.containerPath, body, { noOverwriteDirNonDir: opts.noOverwriteDirNonDir, ...(owner === undefined ? {} : { owner }), signal });
        } finally {
          if (freeze) await this.#deps.runtime.resume(c.id).catch((err: unknown) => this.#deps.log.warn({ id: c.id, err }, "thawing a container after a copy failed"));
        }
        this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "extract-to-dir");
      },
      signal,
    );
  }

  /** `GET /containers/{id}/export`: the root file system (without volumes) as a tar; `export` event. */
  async export(ref: string, respond: (tar: AsyncIterable<Buffer>) => Promise<void>, signal: AbortSignal): Promise<void> {
    const c = this.#state.containers.resolve(ref);
    await this.#deps.containers.withRootfs(
      c.id,
      async (rootfs) => {
        this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "export");
        await respond(exportRootfs({ root: rootfs, mounts: [] }, signal));
      },
      signal,
    );
  }

  /** `GET /containers/{id}/changes`: the writable layer's changes over the image (changes.ts). */
  async changes(ref: string, signal: AbortSignal): Promise<Change[]> {
    const c = this.#state.containers.resolve(ref);
    const snapshots = this.#deps.snapshots;
    const w = snapshots.writable(c.id);
    if (w === undefined) return [];
    if (w.upperDir !== undefined) {
      if (w.parent === undefined) return overlayChanges(w.upperDir, undefined, signal);
      const lower = await snapshots.view(w.parent, signal);
      try {
        return await overlayChanges(w.upperDir, lower.path, signal);
      } finally {
        await lower.discard();
      }
    }
    return treeChanges(`${snapshots.root}/writable/${c.id}/fs`, w.parent === undefined ? undefined : snapshots.dir(w.parent), signal);
  }

  // ---------------------------------------------------------------------------------------------
  // commit

  /**
   * `POST /commit` (Docker's CreateImageFromContainer): not a dead container or one being removed
   * (409); paused for the time of the commit when asked (the default) and running; the config is
   * `config` (else the container's) with `applyChanges`, merged with the container's; `commit` event
   * with the comment, image ID and reference.
   */
  async commit(
    ref: string,
    request: {
      readonly config?: Readonly<Record<string, unknown>>;
      readonly applyChanges: (base: Readonly<Record<string, unknown>>) => Record<string, unknown>;
      readonly name?: string;
      readonly author: string;
      readonly comment: string;
      readonly pause: boolean;
      readonly dockerVersion: string;
    },
    signal: AbortSignal,
  ): Promise<string> {
    const c = this.#state.containers.resolve(ref);
    if (c.status === "dead") throw htkError("HTK-ENGINE-0524", { id: c.id, why: "which is Dead" });
    if (c.status === "removing") throw htkError("HTK-ENGINE-0524", { id: c.id, why: "which is being removed" });
    const pause = request.pause && c.status === "running" && this.#deps.containers.running(c.id) !== undefined;
    if (pause) await this.pause(c.id);
    try {
      const newConfig = mergeCommitConfig(request.applyChanges(request.config ?? c.config), c.config);
      const parent = this.#deps.images.get(c.imageId as `sha256:${string}`);
      if (parent === undefined) throw htkError("HTK-ENGINE-0525", { id: c.id, image: c.imageId });
      const raw = (await this.#deps.images.config(parent.id, signal)).raw;
      const layer = this.#deps.snapshots.diffWritable(c.id, { signal });
      const { image, names } = await commitImage(this.#deps.images, raw, {
        containerId: c.id,
        containerConfig: c.config,
        config: newConfig,
        parent,
        layer: layer.stream,
        ...(request.name === undefined ? {} : { name: request.name }),
        author: request.author,
        comment: request.comment,
        dockerVersion: request.dockerVersion,
        signal,
      });
      this.#state.containers.note(this.#state.containers.get(c.id) ?? c, "commit", { comment: request.comment, imageID: image.id, imageRef: names[0] ?? "" });
      return image.id;
    } finally {
      if (pause) await this.unpause(c.id).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // update

  /**
   * `docker update` (Docker's ContainerUpdate): the update's own values are validated as at create,
   * merged into HostConfig by Docker's rules (zero means "unchanged"; the Nano CPUs/CPU period-quota
   * and memory/memory-swap conflicts; no restart policy with AutoRemove), recorded (`update` event),
   * and applied to the running container's cgroups; a runtime failure restores the old HostConfig.
   */
  async update(ref: string, request: UpdateRequest): Promise<{ Warnings: string[] }> {
    const r = request.resources;
    const num = (k: string): number => (typeof r[k] === "number" ? r[k] : 0);
    const str = (k: string): string => (typeof r[k] === "string" ? r[k] : "");
    // The update's values are checked as Docker's verifyContainerSettings(update=true) does: a swap
    // limit without a memory limit is fine here (the container may have one).
    const check: Record<string, unknown> = { ...r, MemorySwap: num("Memory") === 0 ? 0 : num("MemorySwap"), ...(request.restartPolicy === undefined ? {} : { RestartPolicy: request.restartPolicy }) };
    const warnings = validateCreate({}, check as HostConfig);

    const c = this.#state.containers.resolve(ref);
    if (c.status === "removing" || c.status === "dead") {
      throw htkError("HTK-ENGINE-0511", { id: c.id, detail: 'container is marked for removal and cannot be "update"' });
    }
    const current = c.hostConfig;
    const cur = (k: string): number => (typeof current[k] === "number" ? (current[k] as number) : 0);
    const conflict = (detail: string): never => {
      throw htkError("HTK-ENGINE-0510", { id: c.id, detail });
    };
    if (num("NanoCpus") > 0 && cur("CpuPeriod") > 0) conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
    if (num("NanoCpus") > 0 && cur("CpuQuota") > 0) conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
    if (num("CpuPeriod") > 0 && cur("NanoCpus") > 0) conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
    if (num("CpuQuota") > 0 && cur("NanoCpus") > 0) conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");

    const patch: Record<string, unknown> = {};
    for (const k of ["BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "MemorySwap", "MemoryReservation", "CpuRealtimePeriod", "CpuRealtimeRuntime"]) {
      if (num(k) !== 0) patch[k] = num(k);
    }
    for (const k of ["CpusetCpus", "CpusetMems"]) if (str(k) !== "") patch[k] = str(k);
    if (num("Memory") !== 0) {
      // Docker stores twice the memory as MemorySwap at create when none was given.
      const swap = cur("MemorySwap") !== 0 ? cur("MemorySwap") : cur("Memory") > 0 ? cur("Memory") * 2 : 0;
      if (swap > 0 && num("Memory") > swap && num("MemorySwap") === 0) {
        conflict("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
      }
      patch["Memory"] = num("Memory");
    }
    if (typeof r["PidsLimit"] === "number") patch["PidsLimit"] = r["PidsLimit"];
    const policy = request.restartPolicy;
    if (policy !== undefined && (policy.Name ?? "") !== "") {
      if (policy.Name !== "no" && current.AutoRemove === true) conflict("Restart policy cannot be updated because AutoRemove is enabled for the container");
      patch["RestartPolicy"] = { Name: policy.Name, MaximumRetryCount: policy.MaximumRetryCount ?? 0 };
    }

    const updated = this.#state.containers.update(c, patch as HostConfig);
    // Not running: the new HostConfig applies at the next start. Restarting: likewise (Docker's rule).
    if (this.#live(c.id) === undefined || updated.status === "restarting") return { Warnings: warnings };
    try {
      await this.#deps.runtime.update(c.id, runtimeResources(updated.hostConfig, r));
    } catch (err) {
      const now = this.#state.containers.get(c.id);
      if (now !== undefined) this.#state.containers.update(now, restoreOf(current, patch));
      throw htkError("HTK-ENGINE-0511", { id: c.id, detail: detailOf(err) }, { cause: err });
    }
    return { Warnings: warnings };
  }
}

/** The cgroup values for a container's (merged) HostConfig, as the spec at start would have them. */
export function runtimeResources(h: HostConfig, update: Readonly<Record<string, unknown>>): LinuxResources {
  const n = (k: string): number | undefined => (typeof h[k] === "number" ? (h[k] as number) : undefined);
  const spec = buildSpec({
    rootfs: "/",
    args: ["true"],
    resources: {
      ...(n("Memory") !== undefined ? { memory: n("Memory") as number } : {}),
      ...(n("MemorySwap") !== undefined ? { memorySwap: n("MemorySwap") as number } : {}),
      ...(n("MemoryReservation") !== undefined ? { memoryReservation: n("MemoryReservation") as number } : {}),
      ...(n("NanoCpus") !== undefined ? { nanoCpus: n("NanoCpus") as number } : {}),
      ...(n("CpuShares") !== undefined ? { cpuShares: n("CpuShares") as number } : {}),
      ...(n("CpuPeriod") !== undefined ? { cpuPeriod: n("CpuPeriod") as number } : {}),
      ...(n("CpuQuota") !== undefined ? { cpuQuota: n("CpuQuota") as number } : {}),
      ...(typeof h["CpusetCpus"] === "string" ? { cpusetCpus: h["CpusetCpus"] } : {}),
      ...(typeof h["CpusetMems"] === "string" ? { cpusetMems: h["CpusetMems"] } : {}),
      ...(n("PidsLimit") !== undefined ? { pidsLimit: n("PidsLimit") as number } : {}),
    },
  });
  const { devices: _devices, ...resources } = spec.linux.resources ?? {};
  // An update to "unlimited" pids must be written ("max"); the spec at start just leaves it out.
  if (typeof update["PidsLimit"] === "number" && update["PidsLimit"] <= 0) resources.pids = { limit: -1 };
  return resources;
}

function restoreOf(before: HostConfig, patch: Readonly<Record<string, unknown>>): HostConfig {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(patch)) out[k] = before[k] ?? null;
  return out as HostConfig;
}

function detailOf(err: unknown): string {
  if (isHtkError(err)) return String(err.params["detail"] ?? err.plainCause);
  return err instanceof Error ? err.message : String(err);
}
