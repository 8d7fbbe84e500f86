import { execFile } from "node:child_process";
import { readFile, mkdir, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { promisify } from "node:util";
import { htkError, type HtkError } from "../../base/errors/index.ts";
import { loadDockerignore } from "../../base/dockerignore/index.ts";
import { withSpan } from "../../base/observability/index.ts";
import { checkDiagnostics, checksFailedMessage, formatFindingShort, runChecks } from "../../frontend-dockerfile/checks/index.ts";
import { compileDockerfile, parseDockerfile, renderDiagnostic, type Diagnostic, type Entitlement, type ImageSpec } from "../../frontend-dockerfile/index.ts";
import { BuildRecordStore, JsonlKeyStore, Solver, explainBuild, renderProgress, type BuildRecord, type ProgressMode, type ProgressOutput } from "../../solver/index.ts";
import { FileWorker } from "../worker/file-worker.ts";
import type { SshAgentSource } from "../worker/ssh-agent.ts";
import type { Definition, NetworkMode, Platform } from "../../llb/index.ts";
import type { Worker, WorkerRef } from "../../solver/index.ts";
import { openRuntimeStack, runtimeUnavailableReason, type RuntimeStack } from "./runtime-stack.ts";
import { pruneCache } from "./cache-usage.ts";
import { lockDataRoot } from "./data-root-lock.ts";
import { exportImage, writeImageArchive, type ExportedImage } from "./image-export.ts";
import { ExportProgress } from "./export-progress.ts";
import { pushImage } from "./push.ts";
import { BuildCaches } from "./remote-cache.ts";
import { renderWarning } from "./remote-cache-import.ts";
import type { CacheExportSpec, CacheImportSpec } from "../../cache/remote/index.ts";
import type { StepLimits } from "./step-limits.ts";

const run = promisify(execFile);

/** Where the result of a build goes (`-o`). `oci`/`docker` write image archives (runtime worker only). */
export type BuildOutput =
  | { readonly type: "local"; readonly dest: string }
  | { readonly type: "tar"; readonly dest: string }
  | { readonly type: "oci"; readonly dest: string }
  | { readonly type: "docker"; readonly dest: string }
  /** `-o type=image|registry`, `--push`: named in the image store, pushed with `push`; no names = the -t names. */
  | { readonly type: "image"; readonly names: readonly string[]; readonly push: boolean };

export interface LocalBuildRequest {
  /** The state folder: snapshots, cache keys, build records (`--data-root`). */
  readonly dataRoot: string;
  readonly contextDir: string;
  /** `-f`; default `<context>/Dockerfile`. */
  readonly dockerfile?: string;
  readonly target?: string;
  readonly buildArgs: Readonly<Record<string, string>>;
  readonly noCache: boolean;
  readonly outputs: readonly BuildOutput[];
  readonly progress: ProgressMode;
  readonly progressOut: ProgressOutput;
  readonly explainCache: boolean;
  readonly signal: AbortSignal;
  readonly cwd: string;
  /** `-t`: names of the image in the local image store under the data root. */
  readonly tags?: readonly string[];
  /** `--secret`: values by id, for RUN --mount=type=secret; never written to the data root. */
  readonly secrets?: Readonly<Record<string, Uint8Array>>;
  /** `--platform`, checked to be this machine's (engine/build/platforms.ts): TARGETPLATFORM and the image's platform. */
  readonly platform?: Platform;
  /** `--ssh`: SSH agents by id for RUN --mount=type=ssh; like secrets, never written to the data root. */
  readonly ssh?: Readonly<Record<string, SshAgentSource>>;
  /** Use the file worker even where crun is usable (tests of the no-runtime path). */
  readonly worker?: "auto" | "file";
  /** Garbage-collect the build cache down to this many bytes after a successful build. */
  readonly gcKeepStorage?: number;
  /** `--cache-from`: remote caches whose records the build may use (layers fetched when needed). */
  readonly cacheFrom?: readonly CacheImportSpec[];
  /** `--cache-to`: where the build's cache records and layers are exported after it succeeds. */
  readonly cacheTo?: readonly CacheExportSpec[];
  /** Observes every registry request of the build (tests count downloads). */
  readonly onRegistryRequest?: (method: string, url: URL) => void;
  /** `--allow`: entitlements granted to the build (`network.host`, `security.insecure`). */
  readonly entitlements?: readonly Entitlement[];
  /** `--network`: the network of RUN steps without their own --network (`host` grants network.host, as buildx does). */
  readonly network?: NetworkMode;
  /** `--shm-size`, `--ulimit`, `--cgroup-parent`: set on every RUN step (step-limits.ts). */
  readonly limits?: StepLimits;
}

export type LocalBuildResult =
  | { readonly kind: "invalid-dockerfile"; readonly rendered: string }
  | { readonly kind: "failed"; readonly record: BuildRecord; readonly error: HtkError; readonly explanation: readonly string[] }
  | { readonly kind: "canceled"; readonly record: BuildRecord }
  | { readonly kind: "checks-failed"; readonly rendered: string; readonly message: string }
  | {
      readonly kind: "completed";
      readonly record: BuildRecord;
      readonly image: ImageSpec;
      readonly explanation: readonly string[];
      /** Parser and compiler warnings, rendered with their code frames. */
      readonly warnings: string;
      /** Build-check findings, one line each (`StageNameCasing: … (line 3)`), as BuildKit lists them. */
      readonly checkWarnings: readonly string[];
      /** The image recorded in the image store (with -t, -o type=oci|docker). */
      readonly exported?: ExportedImage;
    };

/**
 * A build in this process, on a state folder, without a daemon: the Dockerfile frontend compiles, the
 * solver runs the graph on the file worker (no container runtime: RUN and registry images fail with
 * HTK-RUNTIME-0001), and the exporters write the result. What `hatake build --data-root` runs.
 */
export async function runLocalBuild(req: LocalBuildRequest): Promise<LocalBuildResult> {
  return withSpan("build.local", { "build.context": req.contextDir }, async () => {
    const contextDir = resolve(req.cwd, req.contextDir);
    const dockerfile = req.dockerfile === undefined ? join(contextDir, "Dockerfile") : resolve(req.cwd, req.dockerfile);
    const st = await stat(contextDir).catch(() => undefined);
    if (st?.isDirectory() !== true) throw htkError("HTK-DOCKERFILE-0111", { path: JSON.stringify(req.contextDir), detail: "it is not a directory" });
    let text: Uint8Array;
    try {
      text = await readFile(dockerfile);
    } catch (err) {
      throw htkError("HTK-DOCKERFILE-0013", { path: dockerfile, detail: (err as Error).message, cwd: req.cwd }, { cause: err });
    }
    const ignore = await loadDockerignore(contextDir, { dockerfile, cwd: req.cwd });
    const fileName = isAbsolute(req.dockerfile ?? "") ? basename(dockerfile) : (req.dockerfile ?? "Dockerfile");
    const source = new TextDecoder().decode(text);
    const render = (ds: readonly Diagnostic[]): string => ds.map((d) => renderDiagnostic(d, source, fileName)).join("\n");
    const parsed = parseDockerfile(text, { fileName });
    if (parsed.result === undefined) return { kind: "invalid-dockerfile", rendered: render(parsed.diagnostics) };
    // Build checks run on every build, as BuildKit's do: findings are warnings printed after the build,
    // unless `# check=error=true` (or BUILDKIT_DOCKERFILE_CHECK) makes them fail it before it starts.
    const checks = runChecks(parsed.result, {
      buildArgs: req.buildArgs,
      dockerignore: ignore.patterns,
      ...(req.target === undefined ? {} : { target: req.target }),
    });
    const checkWarnings = checks.findings.map(formatFindingShort);
    if (checks.configError !== undefined || checks.asErrors) {
      return { kind: "checks-failed", rendered: render(checkDiagnostics(checks, fileName)), message: checks.configError?.message ?? checksFailedMessage(checks.findings) };
    }
    await mkdir(req.dataRoot, { recursive: true });
    const unlock = await lockDataRoot(req.dataRoot, req.signal, (line) => req.progressOut.write(`${line}\n`));
    let result: LocalBuildResult;
    try {
      result = await openAndBuild(req, { parsed: parsed.result, fileName, ignore: ignore.patterns, render, checkWarnings, contextDir, dockerfile, parseDiagnostics: parsed.diagnostics });
    } finally {
      await unlock();
    }
    if (req.gcKeepStorage !== undefined && result.kind === "completed") {
      // BuildKit's automatic GC: after a build, least-recently-used step results and contexts go until
      // the cache fits the limit (cache mounts stay; `hatake prune -a` removes those).
      await pruneCache(req.dataRoot, { all: false, keepStorage: req.gcKeepStorage, signal: req.signal, notice: (line) => req.progressOut.write(`${line}\n`) });
    }
    return result;
  });
}

async function openAndBuild(req: LocalBuildRequest, p: Prepared): Promise<LocalBuildResult> {
  const unavailable = req.worker === "file" ? "the file worker was asked for" : await runtimeUnavailableReason();
  if (unavailable !== undefined && req.worker !== "file") req.progressOut.write(`hatake build: no container runtime (${unavailable}): using the file worker, RUN steps and registry images will fail\n`);
  const stack = unavailable === undefined ? await openRuntimeStack(req.dataRoot, req.signal, req.onRegistryRequest === undefined ? {} : { onRegistryRequest: req.onRegistryRequest }) : undefined;
  try {
    return await buildWith(req, stack, p);
  } finally {
    await stack?.close();
  }
}

interface Prepared {
  readonly parsed: NonNullable<ReturnType<typeof parseDockerfile>["result"]>;
  readonly fileName: string;
  readonly ignore: readonly string[];
  readonly render: (ds: readonly Diagnostic[]) => string;
  readonly checkWarnings: readonly string[];
  readonly contextDir: string;
  readonly dockerfile: string;
  readonly parseDiagnostics: readonly Diagnostic[];
}

async function buildWith(req: LocalBuildRequest, stack: RuntimeStack | undefined, p: Prepared): Promise<LocalBuildResult> {
  return withSpan("build.solve", {}, async ({ log }) => {
    const { parsed, fileName, render, checkWarnings, contextDir, dockerfile } = p;
    const compiled = await compileDockerfile(parsed, {
      fileName,
      ...(stack === undefined ? {} : { resolveImageConfig: stack.resolveImageConfig }),
      buildArgs: req.buildArgs,
      ...(req.platform === undefined ? {} : { platform: req.platform }),
      dockerignorePatterns: p.ignore,
      noCache: req.noCache,
      signal: req.signal,
      ...(req.target === undefined ? {} : { target: req.target }),
      entitlements: grantedEntitlements(req),
      ...(req.network === undefined ? {} : { network: req.network }),
      ...req.limits,
    });
    if (compiled.result === undefined) return { kind: "invalid-dockerfile", rendered: render(compiled.diagnostics) };
    checkEntitlements(compiled.result.definition, grantedEntitlements(req));
    const warnings = render([...p.parseDiagnostics, ...compiled.diagnostics].filter((d) => d.severity === "warning"));
    const needsImage = (req.tags ?? []).length > 0 || req.outputs.some((o) => o.type === "oci" || o.type === "docker" || o.type === "image");
    if (needsImage && stack === undefined) throw htkError("HTK-RUNTIME-0001", { needs: "an image store to tag or export an image" });
    const fileWorker = stack === undefined ? await FileWorker.open({ root: join(req.dataRoot, "worker") }) : undefined;
    const caches = await BuildCaches.open(
      {
        ...req,
        progress: {
          vertex: (index, name) => new ExportProgress(req.progress, req.progressOut, index, name),
          warn: (err) => void req.progressOut.write(`${renderWarning(err)}\n`),
        },
      },
      stack,
    );
    const localKeys = JsonlKeyStore.open(req.dataRoot);
    const worker: Worker = caches?.worker(stack?.worker ?? (fileWorker as FileWorker)) ?? stack?.worker ?? (fileWorker as FileWorker);
    const solver = new Solver({
      worker,
      keyStore: caches?.store(localKeys) ?? localKeys,
      records: new BuildRecordStore(join(req.dataRoot, "records")),
      // RUN steps mostly wait (on processes, sleeps, the network), not on our cores: BuildKit runs
      // independent steps without a parallelism limit by default. The file worker stays at one per core.
      ...(stack === undefined ? {} : { concurrency: Math.max(8, availableParallelism() * 4) }),
    });
    try {
      const handle = solver.solve({
        definition: compiled.result.definition,
        // Secrets ride on the session object (RuntimeSession): the solver passes it through untouched.
        session: { id: `local:${contextDir}`, locals: { context: contextDir, dockerfile: dirname(dockerfile) }, ...(req.secrets === undefined ? {} : { secrets: req.secrets }), ...(req.ssh === undefined ? {} : { ssh: req.ssh }) },
        target: `${fileName}#${compiled.result.target ?? "default"}`,
        signal: req.signal,
      });
      const [outcome] = await Promise.all([handle.outcome, renderProgress(req.progress, handle.progress, req.progressOut)]);
      const explanation = req.explainCache ? explainBuild(outcome.record) : [];
      switch (outcome.kind) {
        case "canceled":
          return { kind: "canceled", record: outcome.record };
        case "failed":
          log.info({ id: outcome.error.id }, "build failed");
          return { kind: "failed", record: outcome.record, error: outcome.error, explanation };
        case "completed": {
          let exported: ExportedImage | undefined;
          const exporting = stack !== undefined && needsImage ? new ExportProgress(req.progress, req.progressOut, nextProgressIndex(outcome.record), "exporting to image") : undefined;
          try {
            const ref = outcome.ref?.ref;
            const tags = req.tags ?? [];
            if (stack !== undefined && needsImage) {
              const names = [...new Set([...tags, ...req.outputs.flatMap((o) => (o.type === "image" ? o.names : []))])];
              exported = await exportImage(stack.worker, stack.images, ref?.id, compiled.result.image, names, join(req.dataRoot, "worker", "exports"), req.signal, exporting, caches?.imageOptions(outcome.record, ref?.id));
            }
            for (const out of req.outputs) {
              switch (out.type) {
                case "local":
                case "tar":
                  await withFsRoot(stack, fileWorker, ref, req.signal, (fsRoot) => exportTo(out, fsRoot, req.cwd, req.signal));
                  break;
                case "oci":
                case "docker":
                  if (stack === undefined || exported === undefined) throw htkError("HTK-RUNTIME-0001", { needs: "an image store to export an image" });
                  await writeImageArchive(stack.images, out.type, exported, tags, resolve(req.cwd, out.dest), req.signal);
                  break;
                case "image":
                  if (stack === undefined || exported === undefined || exporting === undefined) throw htkError("HTK-RUNTIME-0001", { needs: "an image store to export an image" });
                  if (out.push) await pushImage(stack.registry, stack.images.content, exported, out.names.length > 0 ? out.names : tags, exporting, req.signal);
                  break;
              }
            }
            await exporting?.close();
            await caches?.export(outcome.record, ref?.id, exported !== undefined, nextProgressIndex(outcome.record) + (exporting === undefined ? 0 : 1), compiled.result.definition);
          } catch (err) {
            await exporting?.close(err as Error);
            throw err;
          } finally {
            await outcome.ref?.release();
          }
          return { kind: "completed", record: outcome.record, image: compiled.result.image, explanation, warnings, checkWarnings, ...(exported === undefined ? {} : { exported }) };
        }
      }
    } finally {
      await solver.close();
    }
  });
}

/** `--allow`, plus `network.host` for `--network=host` (buildx adds it for that flag). */
function grantedEntitlements(req: LocalBuildRequest): Entitlement[] {
  const out = new Set(req.entitlements ?? []);
  if (req.network === "host") out.add("network.host");
  return [...out];
}

/**
 * BuildKit's solver refuses a definition with a step that needs an entitlement the build was not
 * granted, before anything runs: RUN --network=host needs `network.host` (HTK-BUILD-0410, BuildKit's
 * text). RUN --security=insecure is refused by the frontend already, with a code frame.
 */
export function checkEntitlements(definition: Definition, granted: readonly Entitlement[]): void {
  for (const v of definition.vertices) {
    if (v.op.kind === "exec" && v.op.network === "host" && !granted.includes("network.host")) throw htkError("HTK-BUILD-0410", { entitlement: "network.host" });
  }
}

/** The result's files as one directory: the file worker's snapshot, or a view of the runtime worker's. */
async function withFsRoot(
  stack: RuntimeStack | undefined,
  fileWorker: FileWorker | undefined,
  ref: WorkerRef | undefined,
  signal: AbortSignal,
  fn: (fsRoot: string | undefined) => Promise<void>,
): Promise<void> {
  if (ref === undefined) return fn(undefined);
  if (stack !== undefined) return stack.worker.withView(ref.id, signal, fn);
  return fn(fileWorker?.snapshotPath(ref));
}

/** `-o type=local,dest=DIR` copies the result's files; `-o type=tar,dest=FILE` writes them as one tar. */
async function exportTo(out: Extract<BuildOutput, { type: "local" | "tar" }>, fsRoot: string | undefined, cwd: string, signal: AbortSignal): Promise<void> {
  const dest = resolve(cwd, out.dest);
  switch (out.type) {
    case "local":
      await mkdir(dest, { recursive: true });
      if (fsRoot !== undefined) await run("cp", ["-a", "--", `${fsRoot}/.`, dest], { signal });
      return;
    case "tar":
      await mkdir(dirname(dest), { recursive: true });
      if (fsRoot === undefined) await run("tar", ["-c", "-f", dest, "--files-from", "/dev/null"], { signal });
      else await run("tar", ["-c", "-f", dest, "--sort=name", "--numeric-owner", "-C", fsRoot, "."], { signal });
      return;
  }
}

/** BuildKit numbers the exporter's vertex after the build's own. */
function nextProgressIndex(record: BuildRecord): number {
  return record.vertices.reduce((n, v) => Math.max(n, v.index), 0) + 1;
}
