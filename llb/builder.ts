import { posix } from "node:path";
import { digestOf } from "./digest.ts";
import { mergeMetadata } from "./definition.ts";
import { checkOp, compareStrings, inputsOf } from "./graph.ts";
import { normalizeImageRef } from "./image-ref.ts";
import { normalizeSelector, normalizeTarget, resolveIn } from "./paths.ts";
import {
  DEFINITION_VERSION,
  LlbError,
  assertNever,
  type CacheSharing,
  type Chown,
  type Definition,
  type Digest,
  type ExecMount,
  type FileAction,
  type FileInput,
  type HostEntry,
  type Ulimit,
  type MountAccess,
  type NetworkMode,
  type Op,
  type OpMetadata,
  type Platform,
  type ProgressGroup,
  type ResolveMode,
  type SecretEnv,
  type SecurityMode,
  type SourceFile,
  type SourceLocation,
  type SourceRange,
  type StateRef,
  type UserSpec,
  type Vertex,
} from "./types.ts";

/**
 * The builder API: how frontends write LLB (BuildKit's client/llb, in TypeScript). Everything is an
 * immutable value. A {@link State} is "a filesystem plus the process settings that go with it" (env,
 * working directory, user, platform); operations on a state return new states and never change the
 * old one, so a frontend can branch freely (`const base = image(…); const a = base.run(…)`).
 *
 * Invalid graphs cannot be built: an op is checked when it is created (an exec without args, a
 * relative mount target, two mounts on one target throw an {@link LlbError} at the call that made
 * the mistake, not at solve time), edges are object references so they cannot dangle, and only
 * writable mounts can be asked for their output.
 */

// ---- nodes: ops with their digests, linked by reference -----------------------------------------

/** One op of the graph under construction. The op's digest is computed once, at creation. */
class Node {
  readonly digest: Digest;
  readonly metadata: OpMetadata;
  /** Locations with file objects; `marshal` turns them into indexes into `Definition.sources`. */
  readonly locations: readonly OpLocation[];
  constructor(
    readonly op: Op,
    opts: OpOptions,
    /** The nodes this op reads, in `inputsOf(op)` order, for the walk in `marshal`. */
    readonly deps: readonly Node[],
  ) {
    this.metadata = metadataOf(opts);
    this.locations = opts.locations ?? [];
    const issue = checkOp(op);
    if (issue !== undefined) throw new LlbError({ ...issue, code: "INVALID_ARGUMENT" });
    this.digest = digestOf(op);
  }
}

/** Output `index` of a node. */
interface Output {
  readonly node: Node;
  readonly index: number;
}

function refOf(output: Output | undefined): StateRef {
  return output === undefined ? { kind: "scratch" } : { kind: "output", digest: output.node.digest, index: output.index };
}

function depsOf(outputs: readonly (Output | undefined)[]): Node[] {
  const out: Node[] = [];
  for (const o of outputs) if (o !== undefined && !out.includes(o.node)) out.push(o.node);
  return out;
}

// ---- per-op options ------------------------------------------------------------------------------

/** Options every op-creating call takes. None of them but `platform` changes the op's digest. */
export interface OpOptions {
  /** The platform of the op; default: the platform of the state it works on (if any). */
  readonly platform?: Platform;
  /** The progress line for this op (`llb.customname`), e.g. `[2/5] RUN make`. */
  readonly customName?: string;
  /** More description keys. */
  readonly description?: Readonly<Record<string, string>>;
  readonly progressGroup?: ProgressGroup;
  /** Run even when cached. */
  readonly ignoreCache?: boolean;
  /**
   * The lines of a source file this op was compiled from (`llb.WithLocation` in BuildKit). Pass the
   * same {@link SourceFile} object for every op of one file: `marshal` lists each object once in
   * `Definition.sources`.
   */
  readonly locations?: readonly OpLocation[];
}

/** A range of lines of a source file, as the builder takes it. */
export interface OpLocation {
  readonly file: SourceFile;
  readonly ranges: readonly SourceRange[];
}

export const CUSTOM_NAME_KEY = "llb.customname";

function metadataOf(opts: OpOptions): OpMetadata {
  const description: Record<string, string> = { ...opts.description };
  if (opts.customName !== undefined) description[CUSTOM_NAME_KEY] = opts.customName;
  const out: OpMetadata = { description, ignoreCache: opts.ignoreCache ?? false };
  return opts.progressGroup === undefined ? out : { ...out, progressGroup: opts.progressGroup };
}

function withPlatform<T extends Op>(op: T, platform: Platform | undefined): T {
  return platform === undefined ? op : { ...op, platform: normalizePlatform(platform) };
}

function normalizePlatform(p: Platform): Platform {
  // An empty variant is no variant: both spellings must give one digest.
  return p.variant === undefined || p.variant === "" ? { os: p.os, architecture: p.architecture } : { ...p };
}

/** `linux/arm64/v8` → `{ os: "linux", architecture: "arm64", variant: "v8" }`. */
export function parsePlatform(spec: string): Platform {
  const [os, architecture, variant, ...rest] = spec.split("/");
  if (os === undefined || os === "" || architecture === undefined || architecture === "" || rest.length > 0) {
    throw new LlbError({ code: "INVALID_ARGUMENT", message: `Cannot parse platform "${spec}": expected OS/ARCH or OS/ARCH/VARIANT` });
  }
  return variant === undefined || variant === "" ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return p.variant === undefined ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

// ---- states --------------------------------------------------------------------------------------

/** The process settings a state carries to the next `run` (BuildKit keeps them as State values too). */
interface StateMeta {
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly user: string;
  readonly platform: Platform | undefined;
}

const DEFAULT_META: StateMeta = { env: {}, cwd: "/", user: "", platform: undefined };

/** A filesystem (scratch or an op's output) plus the settings the next process in it gets. */
export class State {
  /** @internal Use the factory functions ({@link image}, {@link scratch} …). */
  constructor(
    private readonly out: Output | undefined,
    private readonly meta: StateMeta,
  ) {}

  /** True for the empty filesystem. */
  isScratch(): boolean {
    return this.out === undefined;
  }

  /** The edge to this state's filesystem, as an op would write it. */
  ref(): StateRef {
    return refOf(this.out);
  }

  /** The digest of the op producing this state, undefined for scratch. */
  digest(): Digest | undefined {
    return this.out?.node.digest;
  }

  // -- process settings

  env(): Readonly<Record<string, string>> {
    return this.meta.env;
  }
  getEnv(name: string): string | undefined {
    return Object.hasOwn(this.meta.env, name) ? this.meta.env[name] : undefined;
  }
  withEnv(name: string, value: string): State {
    if (name === "" || name.includes("=")) {
      throw new LlbError({ code: "INVALID_ARGUMENT", message: `Cannot set environment variable "${name}": a name may not be empty or contain "="` });
    }
    // fromEntries and spread define own properties: assignment would treat "__proto__" specially.
    return this.with({ env: { ...this.meta.env, ...Object.fromEntries([[name, value]]) } });
  }
  withoutEnv(name: string): State {
    const env: Record<string, string> = { ...this.meta.env };
    delete env[name];
    return this.with({ env });
  }
  cwd(): string {
    return this.meta.cwd;
  }
  /** A relative path is taken from the current working directory (WORKDIR semantics). */
  withCwd(path: string): State {
    return this.with({ cwd: posix.resolve("/", this.meta.cwd, path) });
  }
  user(): string {
    return this.meta.user;
  }
  withUser(user: string): State {
    return this.with({ user });
  }
  platform(): Platform | undefined {
    return this.meta.platform;
  }
  withPlatform(platform: Platform): State {
    return this.with({ platform: normalizePlatform(platform) });
  }

  /** The same filesystem with the settings of `other` (e.g. a merge result keeping the base's env). */
  withMetaOf(other: State): State {
    return new State(this.out, other.meta);
  }

  private with(patch: Partial<StateMeta>): State {
    return new State(this.out, { ...this.meta, ...patch });
  }

  // -- operations

  /** Runs a process with this state as `/`. */
  run(opts: RunOptions): ExecState {
    return buildExec(this, opts);
  }

  /** Applies file actions; relative paths are taken from this state's working directory. */
  file(actions: FileActions, opts: OpOptions = {}): State {
    const ops: FileAction[] = [];
    const outputs: (Output | undefined)[] = [this.out];
    for (const [i, a] of actions.list.entries()) {
      const base: FileInput = i === 0 ? refOf(this.out) : { kind: "action", index: i - 1 };
      ops.push(a.make(base, this.meta.cwd));
      if (a.from !== undefined) outputs.push(a.from.out);
    }
    const op = withPlatform<Op>({ kind: "file", actions: ops }, opts.platform ?? this.meta.platform);
    const node = new Node(op, opts, depsInOrder(op, outputs));
    return new State({ node, index: 0 }, this.meta);
  }

  /** @internal */
  static output(s: State): Output | undefined {
    return s.out;
  }
  /** @internal */
  static metaOf(s: State): StateMeta {
    return s.meta;
  }
}

/** The empty filesystem (FROM scratch). */
export function scratch(): State {
  return new State(undefined, DEFAULT_META);
}

function sourceState(op: Op, opts: OpOptions, platform: Platform | undefined): State {
  const node = new Node(withPlatform(op, opts.platform), opts, []);
  return new State({ node, index: 0 }, { ...DEFAULT_META, platform: platform === undefined ? undefined : normalizePlatform(platform) });
}

// ---- sources -------------------------------------------------------------------------------------

export interface ImageOptions extends OpOptions {
  readonly resolveMode?: ResolveMode;
}

/**
 * An image's root filesystem. The ref is normalized (`busybox` → `docker.io/library/busybox:latest`).
 * The image's config (ENV, WORKDIR, USER) is not read here: the frontend resolves it and applies it
 * with `withEnv` / `withCwd` / `withUser`.
 */
export function image(ref: string, opts: ImageOptions = {}): State {
  return sourceState({ kind: "source", source: { kind: "image", ref: normalizeImageRef(ref), resolveMode: opts.resolveMode ?? "default" } }, opts, opts.platform);
}

export interface LocalOptions extends OpOptions {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly sharedKey?: string;
}

/** Files the client sends under `name` (`context` for the build context). */
export function local(name: string, opts: LocalOptions = {}): State {
  return sourceState(
    { kind: "source", source: { kind: "local", name, include: [...(opts.include ?? [])], exclude: [...(opts.exclude ?? [])], sharedKey: opts.sharedKey ?? "" } },
    opts,
    opts.platform,
  );
}

export interface GitOptions extends OpOptions {
  readonly keepGitDir?: boolean;
}

export function git(remote: string, ref = "", opts: GitOptions = {}): State {
  return sourceState({ kind: "source", source: { kind: "git", remote, ref, keepGitDir: opts.keepGitDir ?? false } }, opts, opts.platform);
}

export interface HttpOptions extends OpOptions {
  readonly checksum?: Digest;
  readonly filename?: string;
  readonly chmod?: number;
}

export function http(url: string, opts: HttpOptions = {}): State {
  return sourceState(
    {
      kind: "source",
      source: {
        kind: "http",
        url,
        ...(opts.checksum === undefined ? {} : { checksum: opts.checksum }),
        ...(opts.filename === undefined ? {} : { filename: opts.filename }),
        ...(opts.chmod === undefined ? {} : { chmod: opts.chmod }),
      },
    },
    opts,
    opts.platform,
  );
}

// ---- exec ----------------------------------------------------------------------------------------

/** A mount for {@link RunOptions.mounts}; make them with {@link bind}, {@link cache}, {@link tmpfs}, {@link secret}, {@link ssh}. */
export type MountSpec =
  | { readonly kind: "bind"; readonly target: string; readonly from: State; readonly selector: string; readonly access: "readonly" | "writable" | "output" }
  | {
      readonly kind: "cache";
      readonly target: string;
      readonly id: string;
      readonly sharing: CacheSharing;
      readonly from: State;
      readonly selector: string;
      readonly readonly: boolean;
    }
  | { readonly kind: "tmpfs"; readonly target: string; readonly sizeBytes: number }
  | { readonly kind: "secret"; readonly target: string; readonly id: string; readonly required: boolean; readonly mode: number; readonly uid: number; readonly gid: number }
  | { readonly kind: "secret-env"; readonly name: string; readonly id: string; readonly required: boolean }
  | { readonly kind: "ssh"; readonly target: string; readonly id: string; readonly required: boolean; readonly mode: number; readonly uid: number; readonly gid: number };

/**
 * A bind mount of `from` (or of `selector` inside it). Read-only unless `readonly: false`; a writable
 * mount's changes are dropped unless `output: true`, which makes them an output of the exec
 * (`ExecState.mount(target)`). `output` only exists on the writable form.
 */
export function bind(
  target: string,
  from: State,
  opts: { readonly selector?: string } & ({ readonly readonly?: true } | { readonly readonly: false; readonly output?: boolean }) = {},
): MountSpec {
  const access = opts.readonly === false ? (opts.output === true ? "output" : "writable") : "readonly";
  return { kind: "bind", target, from, selector: normalizeSelector(opts.selector ?? "/"), access };
}

/**
 * A cache mount; `id` defaults to the target (as RUN --mount=type=cache does). A new cache starts as
 * `selector` inside `from` (scratch by default): that is also how a frontend gives a cache its
 * uid/gid/mode, by starting it from a directory made with those.
 */
export function cache(
  target: string,
  opts: { readonly id?: string; readonly sharing?: CacheSharing; readonly from?: State; readonly selector?: string; readonly readonly?: boolean } = {},
): MountSpec {
  return {
    kind: "cache",
    target,
    id: opts.id ?? target,
    sharing: opts.sharing ?? "shared",
    from: opts.from ?? scratch(),
    selector: normalizeSelector(opts.selector ?? "/"),
    readonly: opts.readonly ?? false,
  };
}

export function tmpfs(target: string, opts: { readonly sizeBytes?: number } = {}): MountSpec {
  return { kind: "tmpfs", target, sizeBytes: opts.sizeBytes ?? 0 };
}

/**
 * A secret, as a file (default `/run/secrets/<id>`, mode 0400) or, with `env`, as an environment
 * variable of the process.
 */
export function secret(
  id: string,
  opts:
    | { readonly env: string; readonly required?: boolean }
    | { readonly env?: undefined; readonly target?: string; readonly required?: boolean; readonly mode?: number; readonly uid?: number; readonly gid?: number } = {},
): MountSpec {
  if (opts.env !== undefined) return { kind: "secret-env", name: opts.env, id, required: opts.required ?? false };
  return {
    kind: "secret",
    target: opts.target ?? `/run/secrets/${id}`,
    id,
    required: opts.required ?? false,
    mode: opts.mode ?? 0o400,
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
  };
}

/** The client's SSH agent socket (default id `default`, target `/run/buildkit/ssh_agent.0`, mode 0600). */
export function ssh(
  opts: { readonly id?: string; readonly target?: string; readonly required?: boolean; readonly mode?: number; readonly uid?: number; readonly gid?: number } = {},
): MountSpec {
  return {
    kind: "ssh",
    target: opts.target ?? "/run/buildkit/ssh_agent.0",
    id: opts.id ?? "default",
    required: opts.required ?? false,
    mode: opts.mode ?? 0o600,
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
  };
}

/** The command: shell form (`/bin/sh -c`, or `shellPrefix` from a SHELL instruction) or exec form. */
export type RunCommand =
  | { readonly shell: string; readonly shellPrefix?: readonly string[]; readonly args?: undefined }
  | { readonly args: readonly string[]; readonly shell?: undefined };

export type RunOptions = RunCommand &
  OpOptions & {
    readonly mounts?: readonly MountSpec[];
    readonly network?: NetworkMode;
    readonly security?: SecurityMode;
    /** Extra environment for this process only (RUN's build args); the state's env is the base. */
    readonly env?: Readonly<Record<string, string>>;
    /** Overrides the state's working directory for this process. */
    readonly cwd?: string;
    /** Overrides the state's user for this process. */
    readonly user?: string;
    readonly hostname?: string;
    readonly extraHosts?: readonly HostEntry[];
    /** `--shm-size`: /dev/shm in bytes; default (and 0): the worker's 64 MiB. */
    readonly shmSize?: number;
    /** `--ulimit`: resource limits of the process, by Docker's names; in any order (sorted by name). */
    readonly ulimits?: readonly Ulimit[];
    /** `--cgroup-parent`: the cgroup the step's own cgroup is made under. */
    readonly cgroupParent?: string;
    /** `/` is read-only and the exec has no rootfs output (`root()` is then an error). */
    readonly readonlyRootfs?: boolean;
  };

/** The result of `run`: the new rootfs and the outputs of writable mounts marked `output`. */
export class ExecState {
  /** @internal */
  constructor(
    private readonly node: Node,
    private readonly base: StateMeta,
    private readonly outputs: ReadonlyMap<string, number>,
  ) {}

  /** The filesystem `/` after the process ran: the next state of a Dockerfile stage. */
  root(): State {
    return this.mount("/");
  }

  /** What the process left in the output mount at `target` (`/` for the rootfs). */
  mount(target: string): State {
    const index = this.outputs.get(normalizeTarget(target));
    if (index === undefined) {
      const known = [...this.outputs.keys()].map((t) => `"${t}"`).join(", ");
      throw new LlbError({
        code: "INVALID_ARGUMENT",
        message: `The exec has no output mount at "${target}" (outputs: ${known === "" ? "none" : known}); only writable mounts made with output: true have one`,
        digest: this.node.digest,
      });
    }
    return new State({ node: this.node, index }, this.base);
  }

  digest(): Digest {
    return this.node.digest;
  }
}

function buildExec(state: State, opts: RunOptions): ExecState {
  const meta = State.metaOf(state);
  const args = opts.shell !== undefined ? [...(opts.shellPrefix ?? ["/bin/sh", "-c"]), opts.shell] : [...opts.args];
  const env: Record<string, string> = { ...meta.env, ...opts.env };
  const cwd = opts.cwd === undefined ? meta.cwd : posix.resolve("/", meta.cwd, opts.cwd);
  const specs = [...(opts.mounts ?? [])];
  // BuildKit's client sets SSH_AUTH_SOCK to the first ssh mount (in the order given) unless it is set.
  const firstSsh = specs.find((m): m is Extract<MountSpec, { kind: "ssh" }> => m.kind === "ssh");
  if (firstSsh !== undefined && env["SSH_AUTH_SOCK"] === undefined) env["SSH_AUTH_SOCK"] = firstSsh.target;
  const mounts: ExecMount[] = [];
  const secretEnv: SecretEnv[] = [];
  const outputs: (Output | undefined)[] = [State.output(state)];
  for (const m of specs) {
    if (m.kind === "secret-env") secretEnv.push({ name: m.name, id: m.id, required: m.required });
    else mounts.push(toMount(m, outputs));
  }
  mounts.sort((a, b) => compareStrings(a.target, b.target));
  secretEnv.sort((a, b) => compareStrings(a.name, b.name));
  // Outputs are numbered rootfs first, then output mounts in target order: a canonical numbering.
  const outputIndex = new Map<string, number>();
  const rootAccess: MountAccess = opts.readonlyRootfs === true ? { kind: "readonly" } : { kind: "output", index: 0 };
  if (rootAccess.kind === "output") outputIndex.set("/", 0);
  const numbered = mounts.map((m): ExecMount => {
    if (m.kind !== "bind" || m.access.kind !== "output") return m;
    const index = outputIndex.size;
    outputIndex.set(m.target, index);
    return { ...m, access: { kind: "output", index } };
  });
  const op = withPlatform<Op>(
    {
      kind: "exec",
      args,
      env,
      cwd,
      user: opts.user ?? meta.user,
      network: opts.network ?? "default",
      security: opts.security ?? "sandbox",
      rootfs: { source: state.ref(), access: rootAccess },
      mounts: numbered,
      secretEnv,
      hostname: opts.hostname ?? "",
      extraHosts: [...(opts.extraHosts ?? [])],
      shmSize: opts.shmSize ?? 0,
      ulimits: [...(opts.ulimits ?? [])].sort((a, b) => compareStrings(a.name, b.name)),
      cgroupParent: opts.cgroupParent ?? "",
    },
    opts.platform ?? meta.platform,
  );
  const node = new Node(op, opts, depsInOrder(op, outputs));
  return new ExecState(node, meta, outputIndex);
}

/** The nodes of `outputs`, ordered as the op's canonical inputs (so `marshal` lists ops canonically). */
function depsInOrder(op: Op, outputs: readonly (Output | undefined)[]): Node[] {
  const nodes = depsOf(outputs);
  const order = inputsOf(op).map((r) => r.digest);
  return nodes.sort((a, b) => order.indexOf(a.digest) - order.indexOf(b.digest));
}

function toMount(m: Exclude<MountSpec, { kind: "secret-env" }>, outputs: (Output | undefined)[]): ExecMount {
  // Targets are taken from `/`, not from the working directory: RUN --mount=target=x means /x.
  const target = normalizeTarget(m.target);
  switch (m.kind) {
    case "bind":
      outputs.push(State.output(m.from));
      return {
        kind: "bind",
        target,
        source: m.from.ref(),
        selector: m.selector,
        // The index is a placeholder; buildExec numbers outputs once mounts are sorted.
        access: m.access === "output" ? { kind: "output", index: 0 } : { kind: m.access },
      };
    case "cache":
      outputs.push(State.output(m.from));
      return { kind: "cache", target, id: m.id, sharing: m.sharing, source: m.from.ref(), selector: m.selector, readonly: m.readonly };
    case "tmpfs":
      return { kind: "tmpfs", target, sizeBytes: m.sizeBytes };
    case "secret":
    case "ssh":
      return { kind: m.kind, target, id: m.id, required: m.required, mode: m.mode, uid: m.uid, gid: m.gid };
    default:
      return assertNever(m, "mount");
  }
}

// ---- file actions --------------------------------------------------------------------------------

/** `1000`, `app`, `1000:1000`, `app:staff` → a {@link Chown}. */
export function parseChown(spec: string): Chown {
  const [user = "", group, ...rest] = spec.split(":");
  if (user === "" || group === "" || rest.length > 0) {
    throw new LlbError({ code: "INVALID_ARGUMENT", message: `Cannot parse owner "${spec}": expected USER or USER:GROUP` });
  }
  const one = (s: string): UserSpec => (/^\d+$/.test(s) ? { kind: "id", id: Number(s) } : { kind: "name", name: s });
  return group === undefined ? { user: one(user) } : { user: one(user), group: one(group) };
}

const chownOf = (c: string | Chown | undefined): { owner?: Chown } =>
  c === undefined ? {} : { owner: typeof c === "string" ? parseChown(c) : c };

export interface MkdirOptions {
  readonly makeParents?: boolean;
  readonly chown?: string | Chown;
}
export interface MkfileOptions {
  readonly chown?: string | Chown;
}
export interface RmOptions {
  readonly allowNotFound?: boolean;
  readonly allowWildcard?: boolean;
}
/** Copy switches; all default to false (BuildKit's defaults): frontends say what they mean. */
export interface CopyOptions {
  readonly chown?: string | Chown;
  readonly chmod?: number;
  readonly followSymlinks?: boolean;
  readonly copyDirContents?: boolean;
  readonly attemptUnpackArchive?: boolean;
  readonly createDestPath?: boolean;
  readonly allowWildcard?: boolean;
  readonly allowEmptyWildcard?: boolean;
  readonly alwaysReplaceExisting?: boolean;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
}

interface PendingAction {
  /** The state a copy reads, if any. */
  readonly from: State | undefined;
  make(base: FileInput, cwd: string): FileAction;
}

/**
 * A chain of file actions, applied in order by `state.file(…)`; each action works on the result of
 * the previous one. Immutable: `mkdir(…).mkfile(…)` returns a new chain.
 */
export class FileActions {
  /** @internal */
  constructor(readonly list: readonly PendingAction[]) {}

  mkdir(path: string, mode: number, opts: MkdirOptions = {}): FileActions {
    return this.then({
      from: undefined,
      make: (base, cwd) => ({ kind: "mkdir", base, path: resolveIn(cwd, path), mode, makeParents: opts.makeParents ?? false, ...chownOf(opts.chown) }),
    });
  }

  mkfile(path: string, mode: number, data: string | Uint8Array, opts: MkfileOptions = {}): FileActions {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : Uint8Array.from(data);
    return this.then({
      from: undefined,
      make: (base, cwd) => ({ kind: "mkfile", base, path: resolveIn(cwd, path), mode, data: bytes, ...chownOf(opts.chown) }),
    });
  }

  rm(path: string, opts: RmOptions = {}): FileActions {
    return this.then({
      from: undefined,
      make: (base, cwd) => ({ kind: "rm", base, path: resolveIn(cwd, path), allowNotFound: opts.allowNotFound ?? false, allowWildcard: opts.allowWildcard ?? false }),
    });
  }

  /**
   * Copies `src` from `from` to `dest`. A relative `src` is taken from `from`'s working directory;
   * a relative `dest` from the working directory of the state the chain is applied to.
   */
  copy(from: State, src: string, dest: string, opts: CopyOptions = {}): FileActions {
    const srcPath = resolveIn(from.cwd(), src);
    return this.then({
      from,
      make: (base, cwd) => ({
        kind: "copy",
        base,
        source: from.ref(),
        src: srcPath,
        dest: resolveIn(cwd, dest),
        ...chownOf(opts.chown),
        ...(opts.chmod === undefined ? {} : { mode: opts.chmod }),
        followSymlinks: opts.followSymlinks ?? false,
        copyDirContents: opts.copyDirContents ?? false,
        attemptUnpackArchive: opts.attemptUnpackArchive ?? false,
        createDestPath: opts.createDestPath ?? false,
        allowWildcard: opts.allowWildcard ?? false,
        allowEmptyWildcard: opts.allowEmptyWildcard ?? false,
        alwaysReplaceExisting: opts.alwaysReplaceExisting ?? false,
        include: [...(opts.include ?? [])],
        exclude: [...(opts.exclude ?? [])],
      }),
    });
  }

  private then(a: PendingAction): FileActions {
    return new FileActions([...this.list, a]);
  }
}

const EMPTY_CHAIN = new FileActions([]);
export const mkdir = (path: string, mode: number, opts?: MkdirOptions): FileActions => EMPTY_CHAIN.mkdir(path, mode, opts);
export const mkfile = (path: string, mode: number, data: string | Uint8Array, opts?: MkfileOptions): FileActions =>
  EMPTY_CHAIN.mkfile(path, mode, data, opts);
export const rm = (path: string, opts?: RmOptions): FileActions => EMPTY_CHAIN.rm(path, opts);
export const copy = (from: State, src: string, dest: string, opts?: CopyOptions): FileActions => EMPTY_CHAIN.copy(from, src, dest, opts);

// ---- merge and diff ------------------------------------------------------------------------------

/**
 * Layers states on top of each other, first at the bottom (COPY --link is `merge([base, diff(scratch,
 * copied)])`). Scratch inputs are dropped; a merge of one state is that state; of none, scratch. The
 * result keeps the settings (env, cwd …) of the first state.
 */
export function merge(states: readonly State[], opts: OpOptions = {}): State {
  const first = states[0];
  if (first === undefined) return scratch();
  const layers = states.filter((s) => !s.isScratch());
  const only = layers[0];
  if (only === undefined) return first;
  if (layers.length === 1) return only.withMetaOf(first);
  const outputs = layers.map((s) => State.output(s)).filter((o): o is Output => o !== undefined);
  const inputs = outputs.map((o) => ({ kind: "output" as const, digest: o.node.digest, index: o.index }));
  const node = new Node(withPlatform<Op>({ kind: "merge", inputs }, opts.platform), opts, depsOf(outputs));
  return new State({ node, index: 0 }, State.metaOf(first));
}

/**
 * The changes from `lower` to `upper`, as a filesystem of its own. A diff of a state with itself is
 * scratch. The result keeps the settings of `upper`.
 */
export function diff(lower: State, upper: State, opts: OpOptions = {}): State {
  const lo = State.output(lower);
  const up = State.output(upper);
  if (lo?.node === up?.node && lo?.index === up?.index) return scratch().withMetaOf(upper);
  const node = new Node(withPlatform<Op>({ kind: "diff", lower: lower.ref(), upper: upper.ref() }, opts.platform), opts, depsOf([lo, up]));
  return new State({ node, index: 0 }, State.metaOf(upper));
}

// ---- marshal -------------------------------------------------------------------------------------

/**
 * The definition of everything `state` depends on: each op once (two builder calls that make the same
 * op are one vertex, with their metadata combined), inputs first, in a canonical order.
 */
export function marshal(state: State): Definition {
  const vertices: Vertex[] = [];
  const sources: SourceFile[] = [];
  const sourceIndex = new Map<SourceFile, number>();
  const metadataOfNode = (node: Node): OpMetadata => {
    if (node.locations.length === 0) return node.metadata;
    const locations: SourceLocation[] = node.locations.map((l) => {
      let index = sourceIndex.get(l.file);
      if (index === undefined) {
        index = sources.length;
        sourceIndex.set(l.file, index);
        sources.push(l.file);
      }
      return { source: index, ranges: l.ranges };
    });
    return { ...node.metadata, locations };
  };
  const at = new Map<Digest, number>();
  const visited = new Set<Node>();
  // Iterative post-order: a Dockerfile with thousands of steps must not overflow the stack.
  const root = State.output(state);
  const stack: { node: Node; next: number }[] = root === undefined ? [] : [{ node: root.node, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top === undefined) break;
    const dep = top.node.deps[top.next];
    if (dep !== undefined) {
      top.next++;
      if (!visited.has(dep)) stack.push({ node: dep, next: 0 });
      continue;
    }
    stack.pop();
    if (visited.has(top.node)) continue;
    visited.add(top.node);
    const i = at.get(top.node.digest);
    const prev = i === undefined ? undefined : vertices[i];
    if (i !== undefined && prev !== undefined) {
      vertices[i] = { ...prev, metadata: mergeMetadata(prev.metadata, metadataOfNode(top.node)) };
    } else {
      at.set(top.node.digest, vertices.length);
      vertices.push({ digest: top.node.digest, op: top.node.op, metadata: metadataOfNode(top.node) });
    }
  }
  return { version: DEFINITION_VERSION, vertices, root: state.ref(), sources };
}
