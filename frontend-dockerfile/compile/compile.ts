import { posix } from "node:path";
import { didYouMean, toHtkError } from "../../base/errors/index.ts";
import { readDockerignore } from "../../base/dockerignore/index.ts";
import {
  CUSTOM_NAME_KEY,
  LlbError,
  bind,
  cache as cacheMount,
  copy as copyAction,
  git,
  http,
  image as imageSource,
  local,
  marshal,
  merge,
  mkdir,
  mkfile,
  normalizeImageRef,
  scratch,
  secret as secretMount,
  ssh as sshMount,
  tmpfs,
  type Chown,
  type CopyOptions,
  type Definition,
  type Digest,
  type FileActions,
  type HostEntry,
  type MountSpec,
  type NetworkMode,
  type OpLocation,
  type Platform,
  type SourceFile,
  type State,
  type Ulimit,
  type UserSpec,
} from "../../llb/index.ts";
import { chompHeredocContent } from "../heredoc.ts";
import { parseSource as parseDockerfile } from "../parser.ts";
import { processWordWithMatches, type LexOptions } from "../shell/index.ts";
import type { Diagnostic, EscapeToken, ParsedDockerfile, Range } from "../types.ts";
import { CompileFailure, flagDiagnostic, fromHtkError, internalDiagnostic, isError } from "./diagnostics.ts";
import { parseGitRef, isHttpSource } from "./git-ref.ts";
import { formatGoDuration } from "../../base/go-duration.ts";
import { goList, goQuote as goQuoteString, goQuoteList, goQuoteRune } from "./go-format.ts";
import type { BaseImageConfig, ImageConfigSpec, ImageSpec } from "./image-spec.ts";
import { mountDiagnostic, parseInstruction, parseInstructions, type ArgEntry, type Command, type CommandOf, type Stage } from "./instructions.ts";
import { formatPlatformSpec, hostPlatform, normalizePlatform, parsePlatformSpec } from "./platform.ts";
import { parsePortSpec } from "./ports.ts";
import { referenceError } from "./reference.ts";
import { parseRunMount, readCsvRecord, type RunMount } from "./run-mount.ts";
import { isValidSignal } from "./signals.ts";
import { DEFAULT_PATH, addEnv, cloneImage, emptyBaseImage, emptyImage, imageFromConfig, parseKeyValue, withShell, type Img } from "./image-config.ts";

/**
 * The Dockerfile compiler: BuildKit's `dockerfile2llb` (v0.13). A parsed Dockerfile becomes an LLB
 * definition (the graph of the target stage and everything it needs) plus the image config to
 * export. The phases follow BuildKit's `toDispatchState`:
 *
 * 1. instructions → stages (`instructions.ts`); global ARGs are evaluated with the build args and the
 *    automatic platform ARGs; every FROM base is expanded with them;
 * 2. stages are linked (`FROM <stage>`, `COPY --from`, `RUN --mount=from=`), the target is picked,
 *    and only stages reachable from it are kept;
 * 3. base images of reachable stages are resolved (`resolveImageConfig`, BuildKit's MetaResolver) in
 *    parallel; ONBUILD triggers of the bases are added (they may reach more stages: repeat);
 * 4. reachable stages are dispatched in file order, instruction by instruction, into LLB states and
 *    image configs. The build context is a `local` source whose include list is the set of context
 *    paths COPY/ADD read, so dispatch runs once to learn the paths and once to build the graph.
 *
 * User errors are diagnostics: the compiler never throws on user input (a bug becomes HTK-CORE-0001).
 */

/** BuildKit's MetaResolver: the digest and config JSON of a base image for a platform. */
export type ImageConfigResolver = (ref: string, platform: Platform, signal: AbortSignal | undefined) => Promise<{ readonly digest?: string; readonly config: BaseImageConfig }>;

export type Entitlement = "security.insecure" | "network.host";

/**
 * `--build-context NAME=VALUE`: what replaces a stage, a FROM image or a COPY --from source named
 * NAME (BuildKit's named contexts). NAME is matched as Docker spells references (`alpine` matches
 * `alpine:latest` and `docker.io/library/alpine`).
 */
export type NamedContext =
  /** `docker-image://REF`: another image. */
  | { readonly kind: "image"; readonly ref: string }
  /** A directory the client sends under `name` (a path on the command line). */
  | { readonly kind: "local"; readonly name: string; readonly exclude?: readonly string[] }
  /** A git repository (`https://…/repo.git#ref`). */
  | { readonly kind: "git"; readonly remote: string; readonly ref?: string; readonly keepGitDir?: boolean };

export interface CompileOptions {
  /** Shown in diagnostics and recorded as the source file of op locations (default `Dockerfile`). */
  readonly fileName?: string;
  /** The stage to build (default: the last one). Case-insensitive. */
  readonly target?: string;
  /** `--build-arg NAME=value`. */
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** The target platform (TARGETPLATFORM); default: the build platform, taken from the base image. */
  readonly platform?: Platform | string;
  /** The platform the build runs on (BUILDPLATFORM); default: this machine, as linux. */
  readonly buildPlatform?: Platform;
  /** Resolves FROM images. Without it a base image is compiled with an empty config (no ENV, WORKDIR …) and an unpinned ref. */
  readonly resolveImageConfig?: ImageConfigResolver;
  /** The text of the .dockerignore file: its patterns become the context source's excludes. */
  readonly dockerignore?: string;
  /** Already-read .dockerignore patterns (base/dockerignore `loadDockerignore`); wins over `dockerignore`. */
  readonly dockerignorePatterns?: readonly string[];
  /** Entitlements granted to the build (RUN --security=insecure needs `security.insecure`). */
  readonly entitlements?: readonly Entitlement[];
  /** Run steps even when cached: all (`--no-cache`) or those of the named stages (`--no-cache-filter`). */
  readonly noCache?: boolean | readonly string[];
  /**
   * The main build context when it is not the client's directory: a git repository (`docker build
   * https://…/repo.git#ref:subdir`, BuildKit's git context: `ref` carries `ref:subdir`). No
   * .dockerignore applies to it, as in BuildKit. Default: the `local("context")` source.
   */
  readonly context?: { readonly kind: "git"; readonly remote: string; readonly ref: string; readonly keepGitDir?: boolean; readonly url: string };
  /** `--build-context`: named contexts, by name. */
  readonly namedContexts?: Readonly<Record<string, NamedContext>>;
  /** `docker build --network`: the network of RUN steps without their own --network. */
  readonly network?: NetworkMode;
  /** `--add-host` entries for every RUN. */
  readonly extraHosts?: readonly HostEntry[];
  /** The hostname of RUN containers. */
  readonly hostname?: string;
  /** `--shm-size`: /dev/shm of every RUN, in bytes (BuildKit's `shm-size` build option). */
  readonly shmSize?: number;
  /** `--ulimit`: resource limits of every RUN (BuildKit's `ulimit` build option). */
  readonly ulimits?: readonly Ulimit[];
  /** `--cgroup-parent`: the cgroup every RUN's cgroup is made under (BuildKit's `cgroup-parent`). */
  readonly cgroupParent?: string;
  /** Labels added to the target image (`--label`), over the Dockerfile's. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Several platforms are built at once: progress names start with the platform, as BuildKit's. */
  readonly multiPlatform?: boolean;
  readonly signal?: AbortSignal;
}

/** What the compiler knows about each stage of the file. */
export interface CompiledStage {
  readonly index: number;
  /** The name used in progress output: `FROM … AS name`, else `stage-N`. */
  readonly name: string;
  /** True for a stage named with AS. */
  readonly named: boolean;
  /** The base after ARG expansion (pinned `…@sha256:` when resolved), or the stage it builds on. */
  readonly base: string;
  /** Part of the build: the target or a stage it needs. */
  readonly reachable: boolean;
  readonly range: Range;
}

/** Data for `--call=outline` (BuildKit's outline subrequest). */
export interface OutlineData {
  readonly name: string;
  readonly description: string;
  readonly args: readonly { readonly name: string; readonly value?: string; readonly description: string; readonly range: Range }[];
  readonly secrets: readonly { readonly name: string; readonly required: boolean; readonly range: Range }[];
  readonly ssh: readonly { readonly name: string; readonly required: boolean; readonly range: Range }[];
}

export interface CompiledDockerfile {
  readonly definition: Definition;
  readonly image: ImageSpec;
  readonly stages: readonly CompiledStage[];
  /** The name of the target stage (as in `stages`). */
  readonly target: string;
  readonly outline: OutlineData;
  /** SOURCE_DATE_EPOCH as RFC 3339, when the build sets it: the exporter's `created` and file times. */
  readonly epoch?: string;
}

export interface CompileResult {
  /** Absent when an error diagnostic was produced. */
  readonly result?: CompiledDockerfile;
  readonly diagnostics: readonly Diagnostic[];
}

const HISTORY_COMMENT = "buildkit.dockerfile.v0";
const PROXY_ARGS = ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"];
const PLATFORM_ARGS = ["BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT", "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"];
/** Description key the solver reads for RUN's proxy environment (kept out of the op and its digest). */
export const PROXY_ENV_KEY = "hatake.proxyenv";
export const DOCKERFILE_COMMAND_KEY = "com.docker.dockerfile.v1.command";

/** Compiles a Dockerfile (text or parsed) to LLB. Never throws on user input; never rejects. */
export async function compileDockerfile(input: string | Uint8Array | ParsedDockerfile, opts: CompileOptions = {}): Promise<CompileResult> {
  const diagnostics: Diagnostic[] = [];
  const at = { line: 1, column: 1 };
  try {
    let parsed: ParsedDockerfile;
    let bytes: Uint8Array;
    if (typeof input === "string" || input instanceof Uint8Array) {
      const p = parseDockerfile(input, opts.fileName === undefined ? {} : { fileName: opts.fileName });
      diagnostics.push(...p.diagnostics);
      if (p.result === undefined) return { diagnostics };
      parsed = p.result;
      bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
    } else {
      parsed = input;
      bytes = new Uint8Array();
    }
    const compiler = new Compiler(parsed, bytes, opts, diagnostics);
    const result = await compiler.run();
    const located = withFile(diagnostics, opts.fileName);
    return result === undefined || diagnostics.some(isError) ? { diagnostics: located } : { result, diagnostics: located };
  } catch (err) {
    if (err instanceof CompileFailure) diagnostics.push(err.diagnostic);
    else diagnostics.push(internalDiagnostic(err, { start: at, end: at }));
    return { diagnostics: withFile(diagnostics, opts.fileName) };
  }
}

function withFile(diagnostics: readonly Diagnostic[], file: string | undefined): Diagnostic[] {
  return diagnostics.map((d) => (file === undefined || d.file !== undefined ? d : { ...d, file }));
}

// ---- environment ----------------------------------------------------------------------------------

/** An ordered environment (BuildKit's EnvList): later writes replace in place. */
class EnvList {
  constructor(private readonly map: Map<string, string> = new Map()) {}
  get(k: string): string | undefined {
    return this.map.get(k);
  }
  has(k: string): boolean {
    return this.map.has(k);
  }
  keys(): Iterable<string> {
    return this.map.keys();
  }
  with(k: string, v: string): EnvList {
    return new EnvList(new Map(this.map).set(k, v));
  }
  entries(): IterableIterator<[string, string]> {
    return this.map.entries();
  }
}

const envCache = new WeakMap<object, Map<string, string>>();

/** The state's environment as a map for the shell lexer (cached: states are immutable). */
function stateEnv(st: State): Map<string, string> {
  const rec = st.env();
  let m = envCache.get(rec);
  if (m === undefined) {
    m = new Map(Object.entries(rec));
    envCache.set(rec, m);
  }
  return m;
}

// ---- dispatch states ------------------------------------------------------------------------------

interface CompiledCommand {
  readonly command: Command;
  /** The stage (or image) each source refers to: COPY --from, or each --mount (by position). */
  readonly sources: readonly (DState | undefined)[];
  readonly isOnBuild: boolean;
}

interface OutlineCapture {
  allArgs: Map<string, { value?: string; comment: string; range: Range; deps: Set<string> }>;
  usedArgs: Set<string>;
  secrets: Map<string, { required: boolean; range: Range }>;
  ssh: Map<string, { required: boolean; range: Range }>;
}

function cloneOutline(o: OutlineCapture): OutlineCapture {
  return { allArgs: new Map(o.allArgs), usedArgs: new Set(o.usedArgs), secrets: new Map(o.secrets), ssh: new Map(o.ssh) };
}

/** One stage (or an image named by COPY --from / --mount=from, "unregistered" in BuildKit's terms). */
interface DState {
  readonly stage?: Stage;
  /** Expanded base name; pinned with the digest once resolved. */
  baseName: string;
  readonly origBaseName: string;
  stageName: string;
  readonly range: Range;
  platform?: Platform;
  base?: DState;
  readonly deps: Map<DState, Command>;
  commands: CompiledCommand[];
  readonly unregistered: boolean;
  resolved: boolean;
  onBuildInit: boolean;
  cmdTotal: number;
  /** A named context that replaces this stage (or the image it names). */
  namedContext?: { readonly name: string; readonly context: NamedContext };
  /** The base filesystem is an image source (it gets the `FROM` progress name). */
  baseIsImage?: boolean;
  /** After resolution: the base filesystem and config (for a base image). */
  baseState?: State;
  baseImage?: Img;
  outline: OutlineCapture;
}

/** Per-dispatch data (dispatch runs twice: once to learn the context paths). */
interface Run {
  state: State;
  image: Img;
  platform: Platform;
  buildArgs: { key: string; value?: string }[];
  cmdIndex: number;
  cmdIsOnBuild: boolean;
  cmdSet: boolean;
  dispatched: boolean;
  outline: OutlineCapture;
}

interface DispatchPass {
  /** A dry pass only learns the context paths (and checks the instructions): it makes no ops. */
  readonly dry: boolean;
  readonly context: State;
  readonly ctxPaths: Set<string>;
  readonly runs: Map<DState, Run>;
  readonly diagnostics: Diagnostic[];
  readonly declaredArgs: Set<string>;
}

class Compiler {
  private readonly escape: EscapeToken;
  private readonly source: SourceFile;
  private readonly buildArgs: Readonly<Record<string, string>>;
  private targetPlatform!: Platform;
  private buildPlatform!: Platform;
  private implicitTarget = true;
  private globalArgs = new EnvList();
  private readonly states: DState[] = [];
  private readonly byName = new Map<string, DState>();
  private rootOutline: OutlineCapture = { allArgs: new Map(), usedArgs: new Set(), secrets: new Map(), ssh: new Map() };
  private readonly metaDeclared = new Set<string>();
  private readonly fileRange: Range;
  /** SOURCE_DATE_EPOCH as RFC 3339, when set. */
  private epoch: string | undefined;

  constructor(
    private readonly file: ParsedDockerfile,
    bytes: Uint8Array,
    private readonly opts: CompileOptions,
    private readonly diagnostics: Diagnostic[],
  ) {
    this.escape = file.escapeToken;
    this.source = { filename: opts.fileName ?? "Dockerfile", language: "Dockerfile", data: bytes };
    this.buildArgs = opts.buildArgs ?? {};
    this.fileRange = { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } };
  }

  private fail(d: Diagnostic): never {
    throw new CompileFailure(d);
  }

  /** A cancelled build stops between phases (cancellation is reported as such, never as a failure). */
  private checkCancelled(): void {
    if (this.opts.signal?.aborted === true) this.fail(flagDiagnostic("HTK-CORE-0002", { operation: "compile Dockerfile" }, this.fileRange));
  }

  /** Undefined when the instruction layer reported errors (already in the diagnostics). */
  async run(): Promise<CompiledDockerfile | undefined> {
    const ins = parseInstructions(this.file);
    this.diagnostics.push(...ins.diagnostics);
    if (ins.diagnostics.some(isError)) return undefined;
    if (ins.stages.length === 0) this.fail(flagDiagnostic("HTK-DOCKERFILE-0219", {}, this.file.range, "dockerfile contains no stages to build"));

    this.checkCancelled();
    this.platforms();
    this.metaArgs(ins.metaArgs);
    this.resolveEpoch();
    this.buildDispatchStates(ins.stages);
    const target = this.resolveTarget();
    this.buildDependencyGraph();
    const reachable = await this.resolveStages(target);
    this.checkCancelled();

    // Pass 1 learns which context paths are read; pass 2 builds the graph with that include list.
    const excludes = this.opts.dockerignorePatterns ?? (this.opts.dockerignore === undefined ? [] : readDockerignore(this.opts.dockerignore));
    const main = this.opts.context;
    const contextOf = (include: readonly string[]): State =>
      main === undefined
        ? local("context", { exclude: excludes, include, sharedKey: "context", customName: "[internal] load build context", platform: this.targetPlatform })
        : git(main.remote, main.ref, { keepGitDir: main.keepGitDir ?? false, customName: `[internal] load git source ${main.url}`, platform: this.targetPlatform });
    const first = this.dispatchAll(reachable, contextOf([]), true);
    const pass = this.dispatchAll(reachable, contextOf(normalizeContextPaths(first.ctxPaths)), false);
    this.unusedBuildArgs(pass);
    this.diagnostics.push(...pass.diagnostics);

    const run = pass.runs.get(target);
    if (run === undefined) throw new Error("the target stage was not dispatched");
    const definition = marshal(run.state);
    return {
      definition,
      image: this.finalImage(run),
      stages: this.states
        .filter((s) => s.stage !== undefined)
        .map((s) => ({
          index: s.stage?.index ?? 0,
          name: s.stage?.name ?? `stage-${s.stage?.index ?? 0}`,
          named: s.stage?.name !== undefined,
          base: s.base?.stageName ?? s.baseName,
          reachable: reachable.has(s),
          range: s.range,
        })),
      target: target.stageName === "" ? (target.stage?.name ?? `stage-${target.stage?.index ?? 0}`) : target.stageName,
      outline: this.outline(target, pass),
      ...(this.epoch === undefined ? {} : { epoch: this.epoch }),
    };
  }

  // -- platforms and ARGs

  private platforms(): void {
    this.buildPlatform = normalizePlatform(this.opts.buildPlatform ?? hostPlatform());
    const p = this.opts.platform;
    if (p === undefined) {
      this.targetPlatform = this.buildPlatform;
      return;
    }
    this.implicitTarget = false;
    if (typeof p !== "string") {
      this.targetPlatform = normalizePlatform(p);
      return;
    }
    const r = parsePlatformSpec(p, this.buildPlatform);
    if (!r.ok) {
      this.fail(flagDiagnostic("HTK-DOCKERFILE-0220", { option: "platform", detail: r.message, hint: "Use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64" }, this.fileRange, r.message));
    }
    this.targetPlatform = r.platform;
  }

  /** BuildKit `defaultArgs` + `buildMetaArgs`: automatic platform ARGs, then the global ARGs. */
  private metaArgs(cmds: readonly CommandOf<"arg">[]): void {
    const bp = this.buildPlatform;
    const tp = this.targetPlatform;
    const defaults: [string, string][] = [
      ["BUILDPLATFORM", formatPlatformSpec(bp)],
      ["BUILDOS", bp.os],
      ["BUILDARCH", bp.architecture],
      ["BUILDVARIANT", bp.variant ?? ""],
      ["TARGETPLATFORM", formatPlatformSpec(tp)],
      ["TARGETOS", tp.os],
      ["TARGETARCH", tp.architecture],
      ["TARGETVARIANT", tp.variant ?? ""],
    ];
    let env = new EnvList();
    for (const [k, v] of defaults) env = env.with(k, Object.hasOwn(this.buildArgs, k) ? (this.buildArgs[k] ?? v) : v);
    for (const cmd of cmds) {
      for (const a of cmd.args) {
        this.metaDeclared.add(a.key);
        let value: string | undefined;
        let deps = new Set<string>();
        if (Object.hasOwn(this.buildArgs, a.key)) value = this.buildArgs[a.key];
        else if (a.value !== undefined) {
          const r = this.expandWith(a.value, env, cmd.range);
          value = r.result;
          deps = new Set(r.matched);
          if (deps.has(a.key)) {
            deps.delete(a.key);
            for (const d of this.rootOutline.allArgs.get(a.key)?.deps ?? []) deps.add(d);
          }
        }
        if (value !== undefined) env = env.with(a.key, value);
        this.rootOutline.allArgs.set(a.key, { ...(value === undefined ? {} : { value }), comment: a.comment, range: cmd.range, deps });
      }
    }
    this.globalArgs = env;
  }

  private expandWith(word: string, env: EnvList | Map<string, string>, range: Range, extra: LexOptions = {}): { result: string; words: readonly string[]; matched: ReadonlySet<string>; unmatched: ReadonlySet<string> } {
    const getter = { get: (k: string) => env.get(k), keys: () => env.keys() };
    const r = processWordWithMatches(word, getter, { escapeToken: this.escape, ...extra });
    if (!r.ok) this.fail(fromHtkError(r.error, range));
    return r.value;
  }

  // -- stages

  private buildDispatchStates(stages: readonly Stage[]): void {
    for (const st of stages) {
      const name = this.expandWith(st.baseName, this.globalArgs, st.range);
      if (name.result === "") {
        const msg = `base name (${st.baseName}) should not be blank`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0210", { base: JSON.stringify(st.baseName), stage: stageLabel(st), detail: msg }, st.range, msg));
      }
      const outline = cloneOutline(this.rootOutline);
      for (const k of name.matched) outline.usedArgs.add(k);
      const ds: DState = {
        stage: st,
        baseName: name.result,
        origBaseName: name.result,
        stageName: st.name ?? `stage-${st.index}`,
        range: st.range,
        deps: new Map(),
        commands: [],
        unregistered: false,
        resolved: false,
        onBuildInit: false,
        cmdTotal: 0,
        outline,
      };
      if (st.platform !== undefined) {
        const pm = this.expandWith(st.platform, this.globalArgs, st.range);
        if (pm.result === "") {
          const msg = `empty platform value from expression ${st.platform}`;
          this.fail(flagDiagnostic("HTK-DOCKERFILE-0202", { value: JSON.stringify(st.platform), flag: "platform", detail: msg, expected: "Give --platform a value such as linux/amd64 or $BUILDPLATFORM (a variable must be a global ARG or a platform ARG)" }, st.range, msg));
        }
        const p = parsePlatformSpec(pm.result, this.targetPlatform);
        if (!p.ok) {
          const msg = `failed to parse platform ${st.platform}: ${p.message}`;
          this.fail(flagDiagnostic("HTK-DOCKERFILE-0202", { value: JSON.stringify(pm.result), flag: "platform", detail: msg, expected: "Use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8" }, flagRange(st, "platform"), msg));
        }
        for (const k of pm.matched) outline.usedArgs.add(k);
        ds.platform = p.platform;
      }
      const named = st.name === undefined ? undefined : this.findNamedContext(st.name);
      if (named !== undefined) {
        // The stage is replaced by the named context: its instructions are not built.
        ds.namedContext = named;
        this.addState(ds);
        continue;
      }
      this.addState(ds);
      let total = ds.baseName !== "scratch" && ds.base === undefined ? 1 : 0;
      for (const c of st.commands) if (c.kind === "add" || c.kind === "copy" || c.kind === "run" || c.kind === "workdir") total++;
      ds.cmdTotal = total;
    }
  }

  private addState(ds: DState): void {
    this.states.push(ds);
    // BuildKit looks the base up by its exact (expanded) text among the lowercased stage names.
    const base = ds.namedContext === undefined ? this.byName.get(ds.baseName) : undefined;
    if (base !== undefined) {
      ds.base = base;
      ds.outline = cloneOutline(base.outline);
      for (const k of ds.stage === undefined ? [] : this.expandWith(ds.stage.baseName, this.globalArgs, ds.range).matched) ds.outline.usedArgs.add(k);
    }
    if (ds.stage?.name !== undefined) this.byName.set(ds.stage.name, ds);
  }

  private resolveTarget(): DState {
    const registered = this.states.filter((s) => !s.unregistered);
    if (this.opts.target === undefined || this.opts.target === "") {
      const last = registered.at(-1);
      if (last === undefined) throw new Error("no stages");
      return last;
    }
    const t = this.byName.get(this.opts.target.toLowerCase());
    if (t === undefined) {
      const names = registered.flatMap((s) => (s.stage?.name === undefined ? [] : [s.stage.name]));
      const guess = didYouMean(this.opts.target, names);
      const msg = `target stage "${this.opts.target}" could not be found${guess === undefined ? "" : ` (did you mean ${guess}?)`}`;
      this.fail(
        flagDiagnostic(
          "HTK-DOCKERFILE-0207",
          { target: JSON.stringify(this.opts.target), suggestion: guess === undefined ? "" : ` (did you mean ${guess}?)`, stages: names.length === 0 ? "none are named" : names.join(", ") },
          this.fileRange,
          msg,
          guess,
        ),
      );
    }
    return t;
  }

  private unregisteredState(baseName: string, range: Range): DState {
    const ds: DState = {
      baseName,
      origBaseName: baseName,
      stageName: "",
      range,
      deps: new Map(),
      commands: [],
      unregistered: true,
      resolved: false,
      onBuildInit: false,
      cmdTotal: 0,
      outline: cloneOutline(this.rootOutline),
    };
    return ds;
  }

  /** BuildKit `toCommand`: the stages (or images) a command reads. */
  private toCommand(cmd: Command, isOnBuild: boolean): CompiledCommand {
    if (cmd.kind === "copy" && cmd.from !== undefined) {
      const from = cmd.from;
      const r = processWordWithMatches(from, [], { escapeToken: this.escape });
      if (!r.ok || r.value.result !== from) {
        const msg = "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround";
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0208", { detail: msg, hint: "Define a stage FROM ${IMAGE} AS src with a global ARG IMAGE, then COPY --from=src" }, cmd.range, msg));
      }
      let src: DState | undefined;
      if (/^[+-]?\d+$/.test(from)) {
        const index = Number(from);
        src = index >= 0 ? this.states[index] : undefined;
        if (src === undefined) {
          const msg = `invalid stage index ${index}`;
          this.fail(flagDiagnostic("HTK-DOCKERFILE-0208", { detail: msg, hint: `Use the index of a stage defined above (0 to ${this.states.length - 1}) or its name` }, cmd.range, msg));
        }
      } else {
        src = this.byName.get(from.toLowerCase());
        if (src === undefined) {
          src = this.unregisteredState(from, cmd.range);
        }
      }
      return { command: cmd, sources: [src], isOnBuild };
    }
    if (cmd.kind === "run") {
      const sources = cmd.mounts.map((m): DState | undefined => {
        const from = mountFrom(m);
        if (from === undefined) return undefined;
        return this.byName.get(from.toLowerCase()) ?? this.unregisteredState(from, cmd.range);
      });
      return { command: cmd, sources, isOnBuild };
    }
    return { command: cmd, sources: [], isOnBuild };
  }

  private linkSources(d: DState, cc: CompiledCommand): boolean {
    let added = false;
    for (const src of cc.sources) {
      if (src === undefined) continue;
      d.deps.set(src, cc.command);
      if (src.unregistered && !this.states.includes(src)) {
        this.states.push(src);
        added = true;
      }
    }
    return added;
  }

  private buildDependencyGraph(): void {
    for (const d of [...this.states]) {
      if (d.stage === undefined || d.namedContext !== undefined) continue;
      d.commands = d.stage.commands.map((c) => {
        const cc = this.toCommand(c, false);
        this.linkSources(d, cc);
        return cc;
      });
    }
    this.checkCycles();
    if (this.states.length === 1) {
      const only = this.states[0];
      if (only !== undefined) only.stageName = "";
    }
  }

  private checkCycles(): void {
    const visited = new Set<DState>();
    const path = new Set<DState>();
    const visit = (d: DState): void => {
      if (path.has(d)) {
        const msg = `circular dependency detected on stage: ${d.stageName}`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0208", { detail: msg, hint: "Make the stages depend on each other in one direction only" }, d.range, msg));
      }
      if (visited.has(d)) return;
      visited.add(d);
      path.add(d);
      for (const dep of d.deps.keys()) visit(dep);
      path.delete(d);
    };
    for (const d of this.states) visit(d);
  }

  private reachableFrom(target: DState): Set<DState> {
    const out = new Set<DState>();
    const stack = [target];
    while (stack.length > 0) {
      const s = stack.pop();
      if (s === undefined || out.has(s)) continue;
      out.add(s);
      if (s.base !== undefined) stack.push(s.base);
      for (const d of s.deps.keys()) stack.push(d);
    }
    return out;
  }

  private async resolveStages(target: DState): Promise<Set<DState>> {
    for (;;) {
      const reachable = this.reachableFrom(target);
      const pending: Promise<void>[] = [];
      for (const d of this.states) {
        if (d.base !== undefined || d.resolved) continue;
        if (!reachable.has(d)) continue;
        d.resolved = true;
        if (d.namedContext !== undefined) {
          pending.push(this.resolveNamed(d, d.namedContext));
          continue;
        }
        if (d.baseName === "scratch") {
          d.baseState = scratch();
          d.baseImage = emptyImage(this.targetPlatform);
          d.platform ??= this.targetPlatform;
          continue;
        }
        pending.push(this.resolveBaseImage(d));
      }
      const settled = await Promise.allSettled(pending);
      for (const s of settled) if (s.status === "rejected") throw s.reason;
      let newDeps = false;
      for (const d of this.states) {
        if (!reachable.has(d) || d.stage === undefined || d.onBuildInit) continue;
        const triggers = d.base === undefined ? [...(d.baseImage?.config.OnBuild ?? [])] : [];
        // A stage built on a stage runs that stage's own ONBUILD instructions (not the base image's).
        if (d.base !== undefined) for (const c of d.base.commands) if (c.command.kind === "onbuild") triggers.push(c.command.expression);
        d.onBuildInit = true;
        if (triggers.length > 0 && this.initOnBuild(d, triggers)) newDeps = true;
      }
      if (!newDeps) return this.reachableFrom(target);
    }
  }

  private initOnBuild(d: DState, triggers: readonly string[]): boolean {
    let newDeps = false;
    const cmds: CompiledCommand[] = [];
    for (const trigger of triggers) {
      const parsed = parseDockerfile(trigger);
      const node = parsed.result?.instructions[0];
      if (parsed.result === undefined || node === undefined || parsed.result.instructions.length !== 1) {
        const msg = parsed.result === undefined ? (parsed.diagnostics.find(isError)?.message ?? "cannot parse") : "onbuild trigger should be a single expression";
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0209", { trigger: JSON.stringify(trigger), detail: msg }, d.range, msg));
      }
      const pi = parseInstruction(node);
      if (!pi.ok) this.fail({ ...pi.diagnostic, range: d.range });
      if (pi.value.kind !== "command") {
        const msg = "FROM isn't allowed as an ONBUILD trigger";
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0209", { trigger: "FROM", detail: msg }, d.range, msg));
      }
      // Triggers run at the FROM that pulled them in: that is where their errors and ops point.
      const cmd: Command = { ...pi.value.command, range: d.range };
      const cc = this.toCommand(cmd, true);
      if (cc.sources.some((s) => s !== undefined)) newDeps = true;
      this.linkSources(d, cc);
      cmds.push(cc);
    }
    d.commands = [...cmds, ...d.commands];
    d.cmdTotal += cmds.length;
    return newDeps;
  }

  /** Docker's short spelling of a reference (`docker.io/library/alpine:latest` → `alpine`), for named contexts. */
  private familiar(name: string): string | undefined {
    if (referenceError(name) !== undefined) return undefined;
    return normalizeImageRef(name).replace(/^docker\.io\/(library\/)?/, "").replace(/:latest$/, "");
  }

  private findNamedContext(name: string): { name: string; context: NamedContext } | undefined {
    const contexts = this.opts.namedContexts;
    if (contexts === undefined) return undefined;
    const want = this.familiar(name);
    if (want === undefined) return undefined;
    for (const [key, context] of Object.entries(contexts)) if (this.familiar(key) === want) return { name: key, context };
    return undefined;
  }

  /** A stage or image replaced by a named context. */
  private async resolveNamed(d: DState, named: { name: string; context: NamedContext }): Promise<void> {
    const platform = d.platform ?? this.targetPlatform;
    const c = named.context;
    switch (c.kind) {
      case "image": {
        const err = referenceError(c.ref);
        if (err !== undefined) {
          const msg = `invalid named context ${named.name}: ${err}`;
          this.fail(flagDiagnostic("HTK-DOCKERFILE-0220", { option: `build context ${named.name}`, detail: msg, hint: "Give docker-image:// an image reference, e.g. docker-image://alpine:3.20" }, d.range, msg));
        }
        d.baseName = c.ref;
        return this.resolveBaseImage(d, false);
      }
      case "local":
        d.baseState = local(c.name, { exclude: c.exclude ?? [], sharedKey: `context:${named.name}`, customName: `[context ${named.name}] load from client`, platform });
        break;
      case "git":
        d.baseState = git(c.remote, c.ref ?? "", { keepGitDir: c.keepGitDir ?? false, platform });
        break;
      default:
        return assertNamed(c);
    }
    d.baseName = named.name;
    d.baseImage = emptyImage(platform);
    d.platform = platform;
  }

  private async resolveBaseImage(d: DState, allowNamed = true): Promise<void> {
    const err = referenceError(d.baseName);
    if (err !== undefined) {
      const msg = `failed to parse stage name "${d.baseName}": ${err}`;
      this.fail(flagDiagnostic("HTK-DOCKERFILE-0210", { base: JSON.stringify(d.baseName), stage: d.stage === undefined ? "(COPY --from)" : stageLabel(d.stage), detail: err }, d.range, msg));
    }
    const platform = d.platform ?? this.targetPlatform;
    const ref = normalizeImageRef(d.baseName);
    d.baseName = ref;
    if (allowNamed) {
      const named = this.findNamedContext(ref);
      if (named !== undefined) return this.resolveNamed(d, named);
    }
    d.baseIsImage = true;
    const resolver = this.opts.resolveImageConfig;
    if (resolver === undefined) {
      d.baseImage = emptyBaseImage(platform);
      d.baseState = imageSource(ref, { platform });
      d.platform = platform;
      return;
    }
    let res: Awaited<ReturnType<ImageConfigResolver>>;
    try {
      res = await resolver(ref, platform, this.opts.signal);
    } catch (e) {
      const h = toHtkError(e, { operation: `resolve ${ref}` });
      if (h.id === "HTK-CORE-0002") this.fail(fromHtkError(h, d.range));
      const names = [...this.byName.keys(), ...["alpine", "busybox", "centos", "debian", "golang", "ubuntu", "fedora"]];
      const guess = didYouMean(d.origBaseName, names);
      this.fail(
        flagDiagnostic(
          "HTK-DOCKERFILE-0211",
          { ref: JSON.stringify(d.origBaseName), detail: h.plainCause, suggestion: guess === undefined ? "" : ` (did you mean ${guess}?)` },
          d.range,
          `${d.origBaseName}: ${h.message}`,
          guess,
        ),
      );
    }
    const img = imageFromConfig(res.config, platform);
    let resolvedPlatform = platform;
    if (d.platform === undefined && this.implicitTarget) {
      // BuildKit's autoDetectPlatform: with no explicit target, a base image built for the build
      // platform (and not for the default target) makes the stage run on the build platform.
      const bp = this.buildPlatform;
      if (!(img.os === platform.os && img.architecture === platform.architecture) && img.os === bp.os && img.architecture === bp.architecture) resolvedPlatform = bp;
    }
    const pinned = res.digest === undefined || res.digest === "" ? ref : `${ref.replace(/@.*$/, "")}@${res.digest}`;
    d.baseName = pinned;
    let isScratch = false;
    if (img.diffIds.length === 0) isScratch = img.history.every((h) => h.empty_layer === true);
    d.baseImage = img;
    d.platform = resolvedPlatform;
    d.baseState = isScratch ? scratch() : imageSource(pinned, { platform: resolvedPlatform });
  }

  private loc(range: Range): OpLocation {
    // BuildKit records whole lines (character 0), as parser.Node.Location() does.
    return { file: this.source, ranges: [{ start: { line: range.start.line, character: 0 }, end: { line: range.end.line, character: 0 } }] };
  }

  // -- dispatch

  private dispatchAll(reachable: Set<DState>, context: State, dry: boolean): DispatchPass {
    const pass: DispatchPass = { dry, context, ctxPaths: new Set(), runs: new Map(), diagnostics: [], declaredArgs: new Set() };
    // Images named by COPY --from / --mount=from= are ready once resolved (BuildKit marks them
    // dispatched then), whatever their position in the list.
    const order = [...this.states.filter((s) => s.stage === undefined), ...this.states.filter((s) => s.stage !== undefined)];
    for (const d of order) {
      if (!reachable.has(d) || pass.runs.get(d)?.dispatched === true) continue;
      const run = this.initRun(d, pass);
      pass.runs.set(d, run);
      run.dispatched = true;
      if (d.base === undefined && !dry) {
        // The FROM image op gets its progress name here (index 1), as BuildKit names it at resolve time.
        const named = this.nameBase(d, run);
        if (named !== undefined) run.state = named;
      }
      // COPY --from / --mount=from= an image: just its filesystem.
      if (d.stage === undefined) continue;
      if (!run.image.config.Env.some((e) => parseKeyValue(e)[0] === "PATH") && run.platform.os !== "windows") {
        run.image.config.Env.push(`PATH=${DEFAULT_PATH}`);
      }
      for (const e of run.image.config.Env) {
        const [k, v] = parseKeyValue(e);
        if (k !== "" && !k.includes("=")) run.state = run.state.withEnv(k, v);
      }
      if (run.image.config.WorkingDir !== undefined && run.image.config.WorkingDir !== "") {
        const wd = normalizeWorkdir(run.state.cwd(), run.image.config.WorkingDir);
        run.image.config.WorkingDir = wd;
        run.state = run.state.withCwd(wd);
      }
      if (run.image.config.User !== undefined && run.image.config.User !== "") run.state = run.state.withUser(run.image.config.User);
      // A stage replaced by a named context keeps the context's settings, none of its own instructions.
      if (d.namedContext !== undefined) continue;
      for (const cc of d.commands) {
        run.cmdIsOnBuild = cc.isOnBuild;
        this.dispatch(d, run, cc, pass);
      }
    }
    return pass;
  }

  private initRun(d: DState, pass: DispatchPass): Run {
    if (d.base !== undefined) {
      const b = pass.runs.get(d.base);
      if (b === undefined) throw new Error("a base stage was not dispatched before the stage built on it");
      const image = cloneImage(b.image);
      // ONBUILD triggers do not carry over from a base stage (its ONBUILD instructions ran as triggers).
      delete image.config.OnBuild;
      return { state: b.state, image, platform: b.platform, buildArgs: [...b.buildArgs], cmdIndex: 0, cmdIsOnBuild: false, cmdSet: false, dispatched: false, outline: d.outline };
    }
    const platform = d.platform ?? this.targetPlatform;
    const image = cloneImage(d.baseImage ?? emptyImage(platform));
    // Triggers of the base image ran at this FROM: the new image does not inherit them.
    delete image.config.OnBuild;
    return {
      state: (d.baseState ?? scratch()).withPlatform(platform),
      image,
      platform,
      buildArgs: [],
      cmdIndex: 0,
      cmdIsOnBuild: false,
      cmdSet: false,
      dispatched: false,
      outline: d.outline,
    };
  }

  /** Gives the base image op its progress name (`[stage 1/N] FROM ref`). */
  private nameBase(d: DState, run: Run): State | undefined {
    if (d.baseIsImage !== true || run.state.isScratch()) return undefined;
    const name = this.prefix(d, run, `FROM ${d.baseName}`, false);
    return imageSource(d.baseName, {
      platform: run.platform,
      customName: name,
      locations: [this.loc(d.range)],
      description: { [DOCKERFILE_COMMAND_KEY]: d.stage?.sourceCode ?? "" },
    }).withPlatform(run.platform);
  }

  /** BuildKit `prefixCommand`: `[stage-1 2/5] RUN …`, the index right-aligned to the width of the total. */
  private prefix(d: DState, run: Run, str: string, withTargetEnv = true): string {
    if (d.cmdTotal === 0) return str;
    run.cmdIndex++;
    const width = Math.floor(1 + Math.log10(d.cmdTotal));
    let platform = "";
    if (this.opts.multiPlatform === true) {
      // `[linux/amd64->arm64 build 2/5]`: the step's platform, and the TARGET* ARGs in scope when they differ.
      platform = `${formatPlatformSpec(run.platform)}${withTargetEnv ? formatTargetPlatform(run.platform, stateEnv(run.state)) : ""} `;
    }
    const stage = d.stageName === "" ? "" : `${d.stageName} `;
    return `[${platform}${stage}${String(run.cmdIndex).padStart(width)}/${d.cmdTotal}] ${run.cmdIsOnBuild ? "ONBUILD " : ""}${str}`;
  }

  private history(run: Run, createdBy: string, withLayer: boolean, buildkitSuffix: boolean): void {
    run.image.history.push({
      ...(this.epoch === undefined ? {} : { created: this.epoch }),
      created_by: buildkitSuffix ? `${createdBy} # buildkit` : createdBy,
      comment: HISTORY_COMMENT,
      ...(withLayer ? {} : { empty_layer: true }),
    });
  }

  /**
   * SOURCE_DATE_EPOCH (a build arg, or a global ARG default): history entries get that time, as in
   * BuildKit; file timestamps and the image's `created` are the exporter's to rewrite (`epoch`).
   */
  private resolveEpoch(): void {
    const v = Object.hasOwn(this.buildArgs, "SOURCE_DATE_EPOCH") ? this.buildArgs["SOURCE_DATE_EPOCH"] : this.globalArgs.get("SOURCE_DATE_EPOCH");
    if (v === undefined || v === "") return;
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Math.abs(Number(v)) > 8.64e12) {
      const msg = `invalid SOURCE_DATE_EPOCH: ${v}`;
      this.fail(flagDiagnostic("HTK-DOCKERFILE-0220", { option: "SOURCE_DATE_EPOCH", detail: msg, hint: "Give the time in seconds since 1970-01-01 UTC, e.g. $(git log -1 --pretty=%ct)" }, this.fileRange, msg));
    }
    // Go's time.Time marshals as RFC 3339 without fractional seconds when there are none.
    this.epoch = new Date(Number(v) * 1000).toISOString().replace(".000Z", "Z");
  }

  private expand(run: Run, word: string, range: Range, extra: LexOptions = {}): string {
    return this.expandWith(word, stateEnv(run.state), range, extra).result;
  }

  /** `processCmdEnv`: the progress name with variables expanded (the text unchanged if it cannot be). */
  private cmdName(run: Run, text: string, extra: LexOptions = {}): string {
    const r = processWordWithMatches(text, stateEnv(run.state), { escapeToken: this.escape, ...extra });
    const s = r.ok ? r.value.result : text;
    const sp = s.indexOf(" ");
    return sp === -1 ? s.toUpperCase() : `${s.slice(0, sp).toUpperCase()}${s.slice(sp)}`;
  }

  private opOptions(d: DState, run: Run, range: Range, name: string): { customName: string; locations: OpLocation[]; platform: Platform; ignoreCache?: boolean } {
    return { customName: name, locations: [this.loc(range)], platform: run.platform, ...(this.ignoreCache(d) ? { ignoreCache: true } : {}) };
  }

  /** BuildKit `IsNoCache`: every stage for --no-cache, else the stages --no-cache-filter names. */
  private ignoreCache(d: DState): boolean {
    const nc = this.opts.noCache;
    if (nc === undefined || nc === false) return false;
    if (nc === true) return true;
    const name = d.stage?.name;
    return name !== undefined && nc.some((n) => n.toLowerCase() === name);
  }

  private dispatch(d: DState, run: Run, cc: CompiledCommand, pass: DispatchPass): void {
    const c = cc.command;
    try {
      this.dispatchCommand(d, run, cc, pass);
    } catch (err) {
      if (err instanceof LlbError) {
        const msg = err.message;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0204", { instruction: c.node.keyword.toUpperCase(), detail: msg, hint: "Change the instruction so that it describes a valid build step" }, c.range, msg));
      }
      throw err;
    }
  }

  private dispatchCommand(d: DState, run: Run, cc: CompiledCommand, pass: DispatchPass): void {
    const c = cc.command;
    switch (c.kind) {
      case "env": {
        let msg = "ENV";
        for (const p of c.pairs) {
          const key = this.expand(run, p.key, c.range);
          const value = this.expand(run, p.value, c.range);
          if (key === "" || key.includes("=")) this.badArgs(c, `ENV names can not be blank or contain "="`, "Write ENV name=value");
          msg += ` ${key}=${value}`;
          run.state = run.state.withEnv(key, value);
          addEnv(run.image.config.Env, key, value);
        }
        return this.history(run, msg, false, false);
      }
      case "label": {
        let msg = "LABEL";
        const labels = (run.image.config.Labels ??= {});
        for (const p of c.pairs) {
          const key = this.expand(run, p.key, c.range);
          const value = this.expand(run, p.value, c.range);
          labels[key] = value;
          msg += ` ${key}=${value}`;
        }
        return this.history(run, msg, false, false);
      }
      case "maintainer":
        run.image.author = c.maintainer;
        return this.history(run, `MAINTAINER ${c.maintainer}`, false, false);
      case "workdir":
        return this.dispatchWorkdir(d, run, c, pass);
      case "user": {
        const user = this.expand(run, c.user, c.range);
        run.state = run.state.withUser(user);
        run.image.config.User = user;
        return this.history(run, `USER ${user}`, false, false);
      }
      case "volume": {
        const vols = (run.image.config.Volumes ??= {});
        const list: string[] = [];
        for (const v of c.volumes) {
          const x = this.expand(run, v, c.range);
          if (x === "") this.badArgs(c, "VOLUME specified can not be an empty string", "Write a path, e.g. VOLUME /data");
          vols[x] = {};
          list.push(x);
        }
        return this.history(run, `VOLUME ${goList(list)}`, false, false);
      }
      case "stopsignal": {
        const sig = this.expand(run, c.signal, c.range);
        if (!isValidSignal(sig)) this.fail(flagDiagnostic("HTK-DOCKERFILE-0217", { signal: JSON.stringify(sig) }, c.range, `Invalid signal: ${sig}`));
        run.image.config.StopSignal = sig;
        return this.history(run, `STOPSIGNAL ${sig}`, false, false);
      }
      case "expose": {
        const ports: string[] = [];
        for (const p of c.ports) ports.push(...this.expandWith(p, stateEnv(run.state), c.range).words);
        const exposed = (run.image.config.ExposedPorts ??= {});
        const set = new Set<string>();
        for (const p of ports) {
          const r = parsePortSpec(p);
          if (!r.ok) this.fail(flagDiagnostic("HTK-DOCKERFILE-0218", { port: JSON.stringify(p), detail: r.message }, c.range, r.message));
          for (const k of r.keys) {
            exposed[k] = {};
            set.add(k);
          }
        }
        // `fmt.Sprintf("EXPOSE %v", portSet)`: Go prints the map with its keys sorted.
        const keys = [...set].sort();
        return this.history(run, `EXPOSE map[${keys.map((k) => `${k}:{}`).join(" ")}]`, false, false);
      }
      case "arg":
        return this.dispatchArg(d, run, c, pass);
      case "shell":
        run.image.config.Shell = [...c.shell];
        return this.history(run, `SHELL ${goList(c.shell)}`, false, false);
      case "cmd": {
        const args = c.cmd.prependShell ? withShell(run.image, c.cmd.args) : [...c.cmd.args];
        run.image.config.Cmd = args;
        run.image.config.ArgsEscaped = true;
        run.cmdSet = true;
        return this.history(run, `CMD ${goQuoteList(args)}`, false, false);
      }
      case "entrypoint": {
        let args: string[] | undefined = c.cmd.prependShell ? withShell(run.image, c.cmd.args) : [...c.cmd.args];
        if (!c.cmd.prependShell && args.length === 0) args = undefined;
        if (args === undefined) delete run.image.config.Entrypoint;
        else run.image.config.Entrypoint = args;
        // A new ENTRYPOINT drops the CMD inherited from the base: it was written for another entrypoint.
        if (!run.cmdSet) delete run.image.config.Cmd;
        return this.history(run, `ENTRYPOINT ${goQuoteList(args ?? [])}`, false, false);
      }
      case "healthcheck": {
        const h = c.health;
        run.image.config.Healthcheck = {
          Test: [...h.test],
          ...(h.interval === 0 ? {} : { Interval: h.interval }),
          ...(h.timeout === 0 ? {} : { Timeout: h.timeout }),
          ...(h.startPeriod === 0 ? {} : { StartPeriod: h.startPeriod }),
          ...(h.startInterval === 0 ? {} : { StartInterval: h.startInterval }),
          ...(h.retries === 0 ? {} : { Retries: h.retries }),
        };
        // BuildKit v0.13 writes `fmt.Sprintf("HEALTHCHECK %q", config)` of the config pointer: durations
        // quoted through their String(), the retry count as a quoted rune ('\x03'). Docker shows it so.
        const q = (ns: number): string => goQuoteString(formatGoDuration(ns));
        const v = `&{${goQuoteList(h.test)} ${q(h.interval)} ${q(h.timeout)} ${q(h.startPeriod)} ${q(h.startInterval)} ${goQuoteRune(h.retries)}}`;
        return this.history(run, `HEALTHCHECK ${v}`, false, false);
      }
      case "onbuild":
        (run.image.config.OnBuild ??= []).push(c.expression);
        return;
      case "run":
        return this.dispatchRun(d, run, cc, pass);
      case "add":
      case "copy":
        return this.dispatchCopy(d, run, cc, pass);
      default:
        return assertCommand(c);
    }
  }

  private badArgs(c: Command, msg: string, hint: string): never {
    this.fail(flagDiagnostic("HTK-DOCKERFILE-0204", { instruction: c.node.keyword.toUpperCase(), detail: msg, hint }, c.range, msg));
  }

  private dispatchWorkdir(d: DState, run: Run, c: CommandOf<"workdir">, pass: DispatchPass): void {
    const path = this.expand(run, c.path, c.range);
    if (path === "") this.badArgs(c, "cannot normalize nothing", "Write WORKDIR /path");
    const wd = normalizeWorkdir(run.image.config.WorkingDir ?? "/", path);
    run.image.config.WorkingDir = wd;
    run.state = run.state.withCwd(wd);
    let withLayer = false;
    if (wd !== "/") {
      const name = this.prefix(d, run, this.cmdName(run, c.original));
      const user = run.image.config.User;
      const chown = user === undefined || user === "" ? undefined : toChown(user);
      if (!pass.dry) run.state = run.state.file(mkdir(wd, 0o755, { makeParents: true, ...(chown === undefined ? {} : { chown }) }), this.opOptions(d, run, c.range, name));
      withLayer = true;
    }
    // BuildKit records WORKDIR without the "# buildkit" marker, even when it made a layer.
    this.history(run, `WORKDIR ${wd}`, withLayer, false);
  }

  private dispatchArg(d: DState, run: Run, c: CommandOf<"arg">, pass: DispatchPass): void {
    const strs: string[] = [];
    for (const a of c.args) {
      pass.declaredArgs.add(a.key);
      const hasValue = Object.hasOwn(this.buildArgs, a.key);
      let value = a.value;
      let fromGlobal = false;
      if (value === undefined && !hasValue) {
        const g = this.globalArgs.get(a.key);
        if (g !== undefined) {
          value = g;
          fromGlobal = true;
        }
      }
      if (hasValue) value = this.buildArgs[a.key];
      else if (a.value !== undefined) value = this.expand(run, a.value, c.range);
      if (value !== undefined) run.state = run.state.withEnv(a.key, value);
      if (!fromGlobal) run.outline.allArgs.set(a.key, { ...(value === undefined ? {} : { value }), comment: a.comment, range: c.range, deps: new Set() });
      run.outline.usedArgs.add(a.key);
      run.buildArgs.push({ key: a.key, ...(value === undefined ? {} : { value }) });
      strs.push(value === undefined ? a.key : `${a.key}=${value}`);
    }
    this.history(run, `ARG ${strs.join(" ")}`, false, false);
  }

  // -- RUN

  private dispatchRun(d: DState, run: Run, cc: CompiledCommand, pass: DispatchPass): void {
    const c = cc.command;
    if (c.kind !== "run") return;
    let customName = c.original;
    let args = [...c.cmd.args];
    const mounts: MountSpec[] = [];
    const file = c.cmd.files[0];
    if (file !== undefined) {
      const first = args[0];
      const simple = args.length === 1 && first !== undefined && /^\d*<<-?[^<]*$/.test(first.trim()) && c.cmd.prependShell;
      if (simple) {
        const data = file.chomp ? chompHeredocContent(file.data) : file.data;
        if (run.image.os !== "windows" && file.data.startsWith("#!")) {
          // A heredoc with a shebang is a script: write it to a file and run that file.
          const st = scratch().file(mkfile(file.name, 0o755, data), { customName: "[internal] preparing inline document", platform: run.platform });
          mounts.push(bind("/dev/pipes/", st, { selector: "/" }));
          args = [posix.join("/dev/pipes/", file.name)];
        } else {
          args = [data];
        }
        customName += ` (${summarizeHeredoc(file.data)})`;
      } else {
        let b = args[0] ?? "";
        for (const f of c.cmd.files) b += `\n${f.data}${f.name}`;
        args = [b];
      }
    }
    if (c.cmd.prependShell) args = withShell(run.image, args);

    const env = stateEnv(run.state);
    const secretEnv: string[] = [];
    let sshIndex = 0;
    for (const [i, raw] of c.mounts.entries()) {
      const parsed = parseRunMount(raw, (value) => {
        const r = processWordWithMatches(value, { get: (k: string) => env.get(k), keys: () => env.keys() }, { escapeToken: this.escape });
        return r.ok ? { ok: true, value: r.value.result } : { ok: false, message: r.error.plainCause };
      });
      if (!parsed.ok) this.fail(mountDiagnostic(c.node, raw, parsed.problem.message, parsed.problem.suggestion));
      const m = parsed.mount;
      const spec = this.mountSpec(d, run, c, m, cc.sources[i], pass, sshIndex);
      if (m.kind === "ssh") sshIndex++;
      if (m.kind === "secret" && m.env !== undefined) secretEnv.push(m.env);
      mounts.push(...spec);
    }
    const targets = new Set<string>();
    for (const m of mounts) {
      if (m.kind === "secret-env") continue;
      if (targets.has(m.target)) this.fail(mountDiagnostic(c.node, c.mounts.join(" "), `duplicate mount target ${m.target}`));
      targets.add(m.target);
    }

    if (c.security === "insecure" && !(this.opts.entitlements ?? []).includes("security.insecure")) {
      this.fail(flagDiagnostic("HTK-DOCKERFILE-0216", {}, flagRangeOf(c, "security"), "security.insecure is not allowed"));
    }

    const nameText = this.cmdName(run, customName, { rawQuotes: true, skipUnsetEnv: true });
    const name = this.prefix(d, run, maskSecretEnv(nameText, secretEnv));
    const proxy = proxyEnv(this.buildArgs);
    const description: Record<string, string> = { [DOCKERFILE_COMMAND_KEY]: c.original };
    // The proxy variables reach the process but not the op (nor its digest): a proxy is not part of
    // what a step computes (BuildKit keeps them in ProxyEnv, which its cache key ignores).
    if (Object.keys(proxy).length > 0) description[PROXY_ENV_KEY] = JSON.stringify(proxy);
    if (!pass.dry) {
      const exec = run.state.run({
        args,
        mounts,
        ...(c.network !== undefined ? { network: c.network } : this.opts.network === undefined ? {} : { network: this.opts.network }),
        ...(this.opts.extraHosts === undefined ? {} : { extraHosts: this.opts.extraHosts }),
        ...(this.opts.hostname === undefined ? {} : { hostname: this.opts.hostname }),
        ...(this.opts.shmSize === undefined ? {} : { shmSize: this.opts.shmSize }),
        ...(this.opts.ulimits === undefined ? {} : { ulimits: this.opts.ulimits }),
        ...(this.opts.cgroupParent === undefined ? {} : { cgroupParent: this.opts.cgroupParent }),
        ...(c.security === undefined ? {} : { security: c.security }),
        ...this.opOptions(d, run, c.range, name),
        description,
      });
      run.state = exec.root().withMetaOf(run.state);
    }
    this.history(run, `RUN ${runCommandString(args, run.buildArgs, env)}`, true, true);
  }

  private mountSpec(d: DState, run: Run, c: Command, m: RunMount, src: DState | undefined, pass: DispatchPass, sshIndex: number): MountSpec[] {
    const resolveTarget = (t: string): string => {
      const target = posix.isAbsolute(t) ? posix.resolve("/", t) : posix.resolve("/", run.state.cwd(), t);
      if (target === "/") this.fail(mountDiagnostic(c.node, t, `invalid mount target "${target}"`));
      return target;
    };
    const fromState = (from: string | undefined): State => {
      if (from === undefined) return pass.context;
      const s = src === undefined ? undefined : pass.runs.get(src);
      if (s === undefined) {
        const msg = `cannot mount from stage "${from}", it needs to be defined before current stage "${d.stageName}"`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0208", { detail: msg, hint: "Move the stage you mount from above this one" }, c.range, msg));
      }
      return s.state;
    };
    switch (m.kind) {
      case "bind": {
        const st = fromState(m.from);
        const selector = posix.resolve("/", m.source);
        if (m.from === undefined) pass.ctxPaths.add(selector);
        const target = resolveTarget(m.target);
        return [m.readonly ? bind(target, st, { selector }) : bind(target, st, { selector, readonly: false })];
      }
      case "cache": {
        let st = m.from === undefined || m.from.toLowerCase() === "scratch" ? scratch() : fromState(m.from);
        let selector = posix.resolve("/", m.source);
        if (selector === "/" && (m.uid !== undefined || m.gid !== undefined || m.mode !== undefined)) {
          // A new cache directory with the owner and mode asked for (BuildKit's "settings cache mount permissions").
          const chown: Chown = { user: { kind: "id", id: m.uid ?? 0 }, group: { kind: "id", id: m.gid ?? 0 } };
          // Ops BuildKit makes without a platform get the target platform when the graph is marshalled.
          st = st.file(mkdir("/cache", m.mode ?? 0o755, { chown }), { customName: "[internal] settings cache mount permissions", platform: this.targetPlatform });
          selector = "/cache";
        }
        return [cacheMount(resolveTarget(m.target), { id: m.id, sharing: m.sharing, from: st, selector, readonly: m.readonly })];
      }
      case "tmpfs":
        return [tmpfs(resolveTarget(m.target), { sizeBytes: m.sizeBytes })];
      case "secret": {
        run.outline.secrets.set(m.id, { required: m.required, range: c.range });
        const out: MountSpec[] = [];
        if (m.target !== undefined) out.push(secretMount(m.id, { target: posix.resolve("/", m.target), required: m.required, mode: m.mode, uid: m.uid, gid: m.gid }));
        if (m.env !== undefined) out.push(secretMount(m.id, { env: m.env, required: m.required }));
        return out;
      }
      case "ssh":
        run.outline.ssh.set(m.id, { required: m.required, range: c.range });
        return [sshMount({ id: m.id, target: m.target === undefined ? `/run/buildkit/ssh_agent.${sshIndex}` : posix.resolve("/", m.target), required: m.required, mode: m.mode, uid: m.uid, gid: m.gid })];
      default:
        return assertMount(m);
    }
  }

  // -- COPY / ADD

  private dispatchCopy(d: DState, run: Run, cc: CompiledCommand, pass: DispatchPass): void {
    const c = cc.command;
    if (c.kind !== "copy" && c.kind !== "add") return;
    const isAdd = c.kind === "add";
    const upper = isAdd ? "ADD" : "COPY";
    let source = pass.context;
    const fromStage = c.kind === "copy" && c.from !== undefined;
    if (c.kind === "copy" && c.from !== undefined) {
      const src = cc.sources[0];
      const s = src === undefined ? undefined : pass.runs.get(src);
      if (s === undefined || !s.dispatched) {
        const msg = `cannot copy from stage "${c.from}", it needs to be defined before current stage "${d.stageName}"`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0208", { detail: msg, hint: "Move the stage you copy from above this one, or refer to it by name" }, c.range, msg));
      }
      source = s.state;
    }
    const env = stateEnv(run.state);
    const ex = (w: string): string => this.expandWith(w, env, c.range).result;
    const sources = c.files.sourcePaths.map(ex);
    const destRaw = ex(c.files.dest);
    const chown = c.chown === undefined ? undefined : ex(c.chown);
    const chmodText = c.chmod === undefined ? undefined : ex(c.chmod);
    const checksum = c.kind === "add" && c.checksum !== undefined ? ex(c.checksum) : undefined;
    const exclude = c.exclude.map(ex);
    const parents = c.kind === "copy" && c.parents;

    let chmod: number | undefined;
    if (chmodText !== undefined) {
      const n = /^[0-7]+$/.test(chmodText) ? Number.parseInt(chmodText, 8) : Number.NaN;
      if (Number.isNaN(n) || n > 0o7777) {
        const msg = `invalid chmod parameter: '${chmodText}'. it should be octal string and between 0 and 07777`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0202", { value: JSON.stringify(chmodText), flag: "chmod", detail: msg, expected: "Write the mode in octal, e.g. --chmod=0755 or --chmod=644" }, flagRangeOf(c, "chmod"), msg));
      }
      chmod = n;
    }
    let owner: Chown | undefined;
    if (chown !== undefined) {
      owner = toChown(chown);
      if (owner === undefined) {
        const msg = `invalid chown parameter: '${chown}'`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0202", { value: JSON.stringify(chown), flag: "chown", detail: msg, expected: "Write --chown=USER[:GROUP] with names or numeric ids, e.g. --chown=app:app or --chown=1000:1000" }, flagRangeOf(c, "chown"), msg));
      }
    }
    const badSource = (src: string, msg: string, hint: string): never =>
      this.fail(flagDiagnostic("HTK-DOCKERFILE-0213", { instruction: upper, source: JSON.stringify(src), detail: msg, hint }, c.range, msg));
    if (checksum !== undefined) {
      if (sources.length !== 1) badSource(sources.join(" "), "checksum can't be specified for multiple sources", "Use one ADD --checksum per downloaded file");
      const only = sources[0] ?? "";
      if (!isHttpSource(only)) badSource(only, "checksum can't be specified for non-HTTP(S) sources", "Use --checksum only with an http:// or https:// URL");
      if (!/^sha256:[0-9a-f]{64}$/.test(checksum)) {
        const msg = `invalid checksum digest format: ${checksum}`;
        this.fail(flagDiagnostic("HTK-DOCKERFILE-0202", { value: JSON.stringify(checksum), flag: "checksum", detail: msg, expected: "Write --checksum=sha256:<64 hex digits>" }, flagRangeOf(c, "checksum"), msg));
      }
    }

    // BuildKit `pathRelativeToWorkingDir`: relative to WORKDIR; a trailing slash is kept (it means "into").
    const dest = posix.isAbsolute(destRaw) ? keepSlash(destRaw, posix.resolve("/", destRaw)) : keepSlash(destRaw, posix.resolve("/", run.state.cwd(), destRaw));

    const count = sources.length + c.files.sourceContents.length;
    if (count > 1 && !dest.endsWith("/")) {
      pass.diagnostics.push(flagDiagnostic("HTK-DOCKERFILE-0214", { instruction: upper, count, dest: destRaw }, c.range, undefined, undefined, "warning"));
    }

    let msg = upper;
    if (parents) msg += " --parents";
    if (chown !== undefined) msg += ` --chown=${chown}`;
    if (chmodText !== undefined) msg += ` --chmod=${chmodText}`;
    const name = this.cmdName(run, c.original);
    const pgName = this.prefix(d, run, name);
    const base: CopyOptions = {
      ...(owner === undefined ? {} : { chown: owner }),
      ...(chmod === undefined ? {} : { chmod }),
      ...(exclude.length === 0 ? {} : { exclude }),
    };
    let chain: FileActions | undefined;
    const add = (from: State, src: string, options: CopyOptions): void => {
      chain = chain === undefined ? copyAction(from, src, dest, options) : chain.copy(from, src, dest, options);
    };
    for (const src of sources) {
      msg += ` ${src}`;
      const gitRef = parseGitRef(src);
      if (gitRef !== undefined) {
        if (!isAdd) badSource(src, "source can't be a git ref for COPY", "Use ADD for a git repository, or clone it in a RUN step");
        // BuildKit v0.13 passes `ref:subdir` as the git source's ref.
        const ref = gitRef.subdir === "" ? gitRef.ref : `${gitRef.ref}:${gitRef.subdir}`;
        // Sources get the target platform (BuildKit sets none on them; marshal defaults apply).
        const st = git(gitRef.remote, ref, { keepGitDir: c.kind === "add" && c.keepGitDir, customName: pgName, platform: this.targetPlatform });
        add(st, "/", { ...base, createDestPath: true });
      } else if (isHttpSource(src)) {
        if (!isAdd) badSource(src, "source can't be a URL for COPY", "Use ADD for a URL, or download it in a RUN step");
        let f = "__unnamed__";
        try {
          const b = posix.basename(new URL(src).pathname);
          if (b !== "" && b !== "." && b !== "/") f = b;
        } catch {
          // BuildKit names a file it cannot take a name from the URL for "__unnamed__".
        }
        const st = http(src, { filename: f, customName: pgName, platform: this.targetPlatform, ...(checksum === undefined ? {} : { checksum: checksum as Digest }), description: { [DOCKERFILE_COMMAND_KEY]: "" } });
        add(st, f, { ...base, createDestPath: true });
      } else {
        let s = src;
        let include: string[] = [];
        if (parents) {
          const pivot = s.indexOf("/./");
          const pattern = pivot === -1 ? s : s.slice(pivot + 3);
          s = pivot === -1 ? "/" : s.slice(0, pivot);
          include = [posix.resolve("/", pattern).slice(1)];
        }
        // Go's path.Join: cleaned, no trailing slash (BuildKit NormalizePath with keepSlash=false).
        const clean = posix.resolve("/", s);
        if (!fromStage && posix.normalize(s).split("/")[0] === "..") {
          pass.diagnostics.push(flagDiagnostic("HTK-DOCKERFILE-0215", { source: JSON.stringify(src), resolved: JSON.stringify(clean) }, c.range, undefined, undefined, "warning"));
        }
        if (!fromStage) pass.ctxPaths.add(clean);
        add(source, clean, {
          ...base,
          followSymlinks: true,
          copyDirContents: true,
          attemptUnpackArchive: isAdd,
          createDestPath: true,
          allowWildcard: true,
          allowEmptyWildcard: true,
          ...(include.length === 0 ? {} : { include }),
        });
      }
    }
    for (const sc of c.files.sourceContents) {
      msg += ` <<${sc.path}`;
      const data = sc.expand ? this.expand(run, sc.data, c.range, { skipProcessQuotes: true, escapeToken: "\\" }) : sc.data;
      const st = scratch().file(mkfile(sc.path, 0o644, data), { customName: "[internal] preparing inline document", platform: run.platform });
      add(st, posix.resolve("/", sc.path), { ...base, createDestPath: true });
    }
    msg += ` ${destRaw}`;
    if (chain === undefined || pass.dry) return this.history(run, msg, true, true);

    const fileOpts = this.opOptions(d, run, c.range, pgName);
    if (c.link && chmodText === undefined) {
      // COPY --link: the copy is made on scratch and merged on top, so the layer does not depend on
      // what is below it (and stays cached when the base changes).
      const group = { id: `link:${d.stageName}:${run.cmdIndex}`, name: pgName, weak: true };
      const layer = scratch().file(chain, { ...fileOpts, progressGroup: group });
      const linkName = pgName.replace(/^(\[[^\]]*\] )?/, (p) => `${p}LINK `);
      run.state = merge([run.state, layer], { ...fileOpts, customName: linkName, progressGroup: { ...group, weak: false } }).withMetaOf(run.state);
    } else {
      run.state = run.state.file(chain, fileOpts);
    }
    this.history(run, msg, true, true);
  }

  // -- results

  private unusedBuildArgs(pass: DispatchPass): void {
    const exempt = new Set([...PLATFORM_ARGS, "SOURCE_DATE_EPOCH"]);
    const unused = Object.keys(this.buildArgs)
      .filter((k) => !pass.declaredArgs.has(k) && !this.metaDeclared.has(k) && !exempt.has(k) && !k.startsWith("BUILDKIT_") && !PROXY_ARGS.includes(k.toUpperCase()))
      .sort();
    if (unused.length === 0) return;
    const list = `[${unused.join(" ")}]`;
    pass.diagnostics.push(flagDiagnostic("HTK-DOCKERFILE-0212", { args: list }, this.fileRange, `[Warning] One or more build-args ${list} were not consumed`, undefined, "warning"));
  }

  private finalImage(run: Run): ImageSpec {
    const img = run.image;
    let { architecture, os } = img;
    let variant = img.variant;
    if (!this.implicitTarget) {
      const tp = this.targetPlatform;
      os = tp.os;
      architecture = tp.architecture;
      variant = tp.variant;
    }
    const k = img.config;
    if (this.opts.labels !== undefined && Object.keys(this.opts.labels).length > 0) k.Labels = { ...k.Labels, ...this.opts.labels };
    const config: ImageConfigSpec = {
      ...(k.User === undefined ? {} : { User: k.User }),
      ...(k.ExposedPorts === undefined ? {} : { ExposedPorts: k.ExposedPorts }),
      Env: k.Env,
      ...(k.Entrypoint === undefined ? {} : { Entrypoint: k.Entrypoint }),
      ...(k.Cmd === undefined ? {} : { Cmd: k.Cmd }),
      ...(k.Volumes === undefined ? {} : { Volumes: k.Volumes }),
      ...(k.WorkingDir === undefined ? {} : { WorkingDir: k.WorkingDir }),
      ...(k.Labels === undefined ? {} : { Labels: k.Labels }),
      ...(k.StopSignal === undefined ? {} : { StopSignal: k.StopSignal }),
      ...(k.ArgsEscaped === undefined ? {} : { ArgsEscaped: k.ArgsEscaped }),
      ...(k.Healthcheck === undefined ? {} : { Healthcheck: k.Healthcheck }),
      ...(k.OnBuild === undefined || k.OnBuild.length === 0 ? {} : { OnBuild: k.OnBuild }),
      ...(k.Shell === undefined ? {} : { Shell: k.Shell }),
    };
    return {
      ...(img.author === undefined ? {} : { author: img.author }),
      architecture,
      os,
      ...(variant === undefined || variant === "" ? {} : { variant }),
      config,
      rootfs: { type: "layers", diff_ids: [] },
      history: img.history,
    };
  }

  private outline(target: DState, pass: DispatchPass): OutlineData {
    const args: OutlineData["args"][number][] = [];
    const secrets: OutlineData["secrets"][number][] = [];
    const ssh: OutlineData["ssh"][number][] = [];
    const seenArgs = new Set<string>();
    const seenSecrets = new Set<string>();
    const seenSsh = new Set<string>();
    const visited = new Set<DState>();
    const walk = (d: DState): void => {
      if (visited.has(d)) return;
      visited.add(d);
      const o = pass.runs.get(d)?.outline ?? d.outline;
      const markUsed = (keys: Iterable<string>, guard = new Set<string>()): void => {
        for (const k of keys) {
          if (guard.has(k)) continue;
          guard.add(k);
          o.usedArgs.add(k);
          const a = o.allArgs.get(k);
          if (a !== undefined) markUsed(a.deps, guard);
        }
      };
      markUsed([...o.usedArgs]);
      for (const k of o.usedArgs) {
        const a = o.allArgs.get(k);
        if (a === undefined || seenArgs.has(k)) continue;
        seenArgs.add(k);
        args.push({ name: k, ...(a.value === undefined ? {} : { value: a.value }), description: a.comment, range: a.range });
      }
      for (const [k, v] of o.secrets) {
        if (seenSecrets.has(k)) continue;
        seenSecrets.add(k);
        secrets.push({ name: k, required: v.required, range: v.range });
      }
      for (const [k, v] of o.ssh) {
        if (seenSsh.has(k)) continue;
        seenSsh.add(k);
        ssh.push({ name: k, required: v.required, range: v.range });
      }
      if (d.base !== undefined) walk(d.base);
      for (const dep of d.deps.keys()) walk(dep);
    };
    walk(target);
    const byLine = (a: { range: Range }, b: { range: Range }): number => a.range.start.line - b.range.start.line;
    return {
      name: target.stage?.name ?? "",
      description: target.stage?.comment ?? "",
      args: args.sort(byLine),
      secrets: secrets.sort(byLine),
      ssh: ssh.sort(byLine),
    };
  }
}

// ---- helpers --------------------------------------------------------------------------------------

function assertCommand(x: never): never {
  throw new Error(`unexpected command ${JSON.stringify(x)}`);
}

function assertMount(x: never): never {
  throw new Error(`unexpected mount ${JSON.stringify(x)}`);
}

function stageLabel(st: Stage): string {
  return st.name === undefined ? `${st.index}` : `"${st.name}"`;
}

function flagRange(st: Stage, name: string): Range {
  return st.node.flags.find((f) => f.name === name)?.range ?? st.range;
}

function flagRangeOf(c: Command, name: string): Range {
  return c.node.flags.find((f) => f.name === name)?.range ?? c.range;
}


/** `system.NormalizeWorkdir` on Linux: relative paths are taken from the current one. */
function normalizeWorkdir(current: string, requested: string): string {
  return posix.resolve("/", current === "" ? "/" : current, requested);
}

function keepSlash(original: string, resolved: string): string {
  return (original.endsWith("/") || original.endsWith("/.")) && resolved !== "/" ? `${resolved}/` : resolved;
}

/** `llb.WithUser`: `user[:group]`, each a number (an id) or a name looked up in the image at solve time. */
function toChown(spec: string): Chown | undefined {
  const i = spec.indexOf(":");
  const user = i === -1 ? spec : spec.slice(0, i);
  const group = i === -1 ? undefined : spec.slice(i + 1);
  if (user === "" || group === "") return undefined;
  const one = (s: string): UserSpec => (/^\d+$/.test(s) ? { kind: "id", id: Number(s) } : { kind: "name", name: s });
  return group === undefined ? { user: one(user) } : { user: one(user), group: one(group) };
}


/** BuildKit v0.13 `runCommandString`: `|N K=V … argv` when build args are in scope (a re-declared ARG is listed again). */
function runCommandString(args: readonly string[], buildArgs: readonly { key: string; value?: string }[], env: ReadonlyMap<string, string>): string {
  const tmp = buildArgs.map((a) => `${a.key}=${env.get(a.key) ?? a.value ?? ""}`);
  const prefix = tmp.length > 0 ? [`|${tmp.length}`, ...tmp] : [];
  return [...prefix, ...args].join(" ");
}

function summarizeHeredoc(doc: string): string {
  const lines = doc.trim().replace(/\r\n/g, "\n").split("\n");
  return lines.length > 1 ? `${lines[0] ?? ""}...` : (lines[0] ?? "");
}

/** Secrets exposed as environment variables are not shown in the progress name. */
function maskSecretEnv(text: string, names: readonly string[]): string {
  let out = text;
  for (const n of names) out = out.replace(new RegExp(`\\$\\{?${n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\}?`, "g"), "****");
  return out;
}

function proxyEnv(buildArgs: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(buildArgs).sort()) {
    const up = k.toUpperCase();
    const v = buildArgs[k];
    if (PROXY_ARGS.includes(up) && v !== undefined) out[up] = v;
  }
  return out;
}

/** BuildKit `normalizeContextPaths`: relative, sorted; none when the whole context is read. */
function normalizeContextPaths(paths: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (p === "/") return [];
    out.push(posix.join(".", p));
  }
  return out.sort();
}

export { CUSTOM_NAME_KEY };
export type { ArgEntry };

/** BuildKit `formatTargetPlatform`: `->arm64` (same OS) or `->windows/amd64` when TARGET* ARGs name another platform. */
function formatTargetPlatform(base: Platform, env: ReadonlyMap<string, string>): string {
  const tp = env.get("TARGETPLATFORM");
  let target: Platform | undefined;
  if (tp !== undefined) {
    const r = parsePlatformSpec(tp, base);
    if (r.ok) target = r.platform;
  }
  if (target === undefined) {
    const os = env.get("TARGETOS");
    const arch = env.get("TARGETARCH");
    const variant = env.get("TARGETVARIANT");
    if (os === undefined && arch === undefined && variant === undefined) return "";
    target = normalizePlatform({ os: os === undefined || os === "" ? base.os : os, architecture: arch === undefined || arch === "" ? base.architecture : arch, ...(variant === undefined || variant === "" ? {} : { variant }) });
  }
  if (target.os === base.os && target.architecture !== base.architecture) return `->${target.architecture}${target.variant === undefined ? "" : `/${target.variant}`}`;
  if (target.os !== base.os) return `->${formatPlatformSpec(target)}`;
  return "";
}

/**
 * The stage or image a `--mount` reads, known before variables are (BuildKit `detectRunMount` on the
 * mount parsed without an expander): `from=`, or `scratch` for a cache mount without one; none for
 * tmpfs, secret and ssh mounts. A `type=` with a variable counts as the default, bind.
 */
function mountFrom(raw: string): string | undefined {
  const csv = readCsvRecord(raw);
  if (!csv.ok) return undefined;
  let type = "bind";
  let from: string | undefined;
  for (const field of csv.fields) {
    const eq = field.indexOf("=");
    if (eq === -1) continue;
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === "type" && !value.includes("$")) type = value.toLowerCase();
    if (key === "from") from = value;
  }
  if (type === "cache") return from === undefined || from === "" ? "scratch" : from;
  if (type === "bind") return from === "" ? undefined : from;
  return undefined;
}

function assertNamed(x: never): never {
  throw new Error(`unexpected named context ${JSON.stringify(x)}`);
}
