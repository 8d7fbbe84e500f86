/**
 * LLB: the low-level build IR. A build is a DAG of *ops* (vertices); each op reads filesystem
 * snapshots produced by other ops (its inputs) and produces one or more new snapshots (its outputs).
 * Frontends (the Dockerfile compiler) produce it with the builder API (`builder.ts`); the solver runs
 * it. This file is the explanation of the IR; everything else in llb/ serves it.
 *
 * Three ideas carry the design (all BuildKit's, made explicit here):
 *
 * 1. **Content addressing.** An op is named by the sha256 of its canonical bytes ({@link Digest}).
 *    An edge to another op is that op's digest plus an output index ({@link OutputRef}), so an op's
 *    digest covers its whole upstream graph: equal digests mean equal work. The solver's cache keys
 *    start from here.
 * 2. **Edges live inside the op.** A mount's source, a file action's base, a diff's lower layer are
 *    {@link StateRef}s written where they are used, not positions in a side list that could go out of
 *    range. The ordered input list the solver needs is derived ({@link inputsOf} in `graph.ts`), and
 *    so is the wire form's input table.
 * 3. **Scratch is not an op.** The empty filesystem is the value `{ kind: "scratch" }` wherever a
 *    filesystem is read. It never runs and never has a digest.
 *
 * What is *not* in an op is not in its digest: per-op metadata (descriptions, progress groups,
 * ignore-cache) rides beside the op in the {@link Definition}, so renaming a step in the progress
 * output never invalidates the cache.
 *
 * Every union has a `kind`; consumers `switch` on it and end with `assertNever`.
 */

/** `sha256:<64 lowercase hex>`: the digest of an op's canonical bytes (see `canonical.ts`). */
export type Digest = `sha256:${string}`;

/** The empty filesystem. Reading it is free; it is what `FROM scratch` starts from. */
export interface ScratchRef {
  readonly kind: "scratch";
}

/**
 * One output of one op. Most ops have exactly one output (index 0); an exec has one per mount whose
 * final contents are kept ({@link MountAccess} `output`).
 */
export interface OutputRef {
  readonly kind: "output";
  readonly digest: Digest;
  readonly index: number;
}

/** A filesystem an op reads: scratch or some op's output. */
export type StateRef = ScratchRef | OutputRef;

/**
 * The OCI platform an op targets. It is part of the op (and so of its digest): the same `RUN` for
 * arm64 and for amd64 is different work. Unset means "the worker's default platform".
 */
export interface Platform {
  /** `linux`, `windows` … */
  readonly os: string;
  /** `amd64`, `arm64`, `arm`, `riscv64` … (GOARCH spelling, as in OCI image indexes). */
  readonly architecture: string;
  /** `v7` for arm/v7, `v8` for arm64/v8; empty when the architecture has no variants. */
  readonly variant?: string;
}

/** Fields every op has. */
interface OpBase {
  readonly platform?: Platform;
}

export type Op = SourceOp | ExecOp | FileOp | MergeOp | DiffOp;
export type OpKind = Op["kind"];

// ---- sources: ops with no inputs, whose output comes from outside the graph ----------------------

/** Brings a filesystem from outside the build. Always exactly one output and no inputs. */
export interface SourceOp extends OpBase {
  readonly kind: "source";
  readonly source: Source;
}

export type Source = ImageSource | LocalSource | GitSource | HttpSource;
export type SourceKind = Source["kind"];

/**
 * How an image ref is resolved to a manifest: `default` lets the worker decide (use the local store
 * when the ref is a digest, else ask the registry), `pull` always asks the registry, `local` prefers
 * the local store (docker build --pull=false semantics).
 */
export type ResolveMode = "default" | "pull" | "local";

/** The root filesystem of a container image. The platform picked from an index is `SourceOp.platform`. */
export interface ImageSource {
  readonly kind: "image";
  /**
   * The reference as resolved: the builder normalizes `busybox` to `docker.io/library/busybox:latest`
   * so both spellings share a digest (and a cache).
   */
  readonly ref: string;
  readonly resolveMode: ResolveMode;
}

/**
 * Files sent by the client for this build: the build context or another named context. The contents
 * are not in the digest (the solver keys them by content); the selection of files is.
 */
export interface LocalSource {
  readonly kind: "local";
  /** The name the client serves it under: `context`, `dockerfile`, or a named context. */
  readonly name: string;
  /** Only paths matching one of these are transferred (empty: everything). */
  readonly include: readonly string[];
  /** .dockerignore patterns, in order: a later `!pattern` re-includes, so order is meaning. */
  readonly exclude: readonly string[];
  /**
   * A hint that lets two builds reuse one incremental transfer of the same directory (BuildKit's
   * `sharedkeyhint`); empty when there is none.
   */
  readonly sharedKey: string;
}

/** A git checkout. */
export interface GitSource {
  readonly kind: "git";
  /** `https://github.com/moby/buildkit.git`, `git@github.com:moby/buildkit.git` … */
  readonly remote: string;
  /** Branch, tag or commit; empty means the remote's default branch. */
  readonly ref: string;
  /** Keep `.git` in the result (ADD --keep-git-dir). Off by default so the result is reproducible. */
  readonly keepGitDir: boolean;
}

/** A single file downloaded over HTTP(S) (ADD <url>). */
export interface HttpSource {
  readonly kind: "http";
  readonly url: string;
  /** `sha256:…` the download must match (ADD --checksum); the solver refuses a mismatch. */
  readonly checksum?: Digest;
  /** The name of the file in the result; default: the last path segment of the URL. */
  readonly filename?: string;
  /** Permission bits of the file; default 0o644. */
  readonly chmod?: number;
}

// ---- exec: run a process in a container assembled from mounts ------------------------------------

/** `default` is the sandboxed network of the worker, `none` no network, `host` the host's (RUN --network). */
export type NetworkMode = "default" | "none" | "host";
/** `insecure` is a privileged container (RUN --security=insecure, needs the entitlement). */
export type SecurityMode = "sandbox" | "insecure";
/**
 * How concurrent builds share a cache mount: `shared` all at once, `private` each writer gets its own
 * copy, `locked` writers wait for each other (RUN --mount=type=cache,sharing=…).
 */
export type CacheSharing = "shared" | "private" | "locked";

/**
 * Whether a filesystem mount is writable, and whether what the process leaves in it is an output of
 * the exec. Read-only mounts carry no output index: a read-only mount that "is an output" cannot be
 * written down.
 */
export type MountAccess =
  | { readonly kind: "readonly" }
  /** Writable, but the changes are thrown away when the process ends. */
  | { readonly kind: "writable" }
  /** Writable, and its final contents are exec output number `index`. */
  | { readonly kind: "output"; readonly index: number };

/**
 * The container's `/`. Separate from {@link ExecOp.mounts} so that "exactly one rootfs" needs no check.
 * In a `RUN`, its access is `output` 0: the new image layer.
 */
export interface RootfsMount {
  readonly source: StateRef;
  readonly access: MountAccess;
}

/** Another filesystem (or part of one) at `target` (RUN --mount=type=bind). */
export interface BindMount {
  readonly kind: "bind";
  readonly target: string;
  readonly source: StateRef;
  /** The path inside `source` to mount; `/` for all of it. */
  readonly selector: string;
  readonly access: MountAccess;
}

/**
 * A persistent directory that survives across builds, keyed by `id` (RUN --mount=type=cache). Its
 * contents are deliberately not in any digest nor an output: caches speed a step up, never change
 * what it means.
 */
export interface CacheMount {
  readonly kind: "cache";
  readonly target: string;
  readonly id: string;
  readonly sharing: CacheSharing;
  /**
   * What a new, empty cache starts with: scratch by default; `from=` and `source=` of RUN
   * --mount=type=cache, or a directory the frontend made with the cache's uid/gid/mode.
   */
  readonly source: StateRef;
  /** The path inside `source` to start from; `/` for all of it. */
  readonly selector: string;
  readonly readonly: boolean;
}

/** An in-memory filesystem (RUN --mount=type=tmpfs). */
export interface TmpfsMount {
  readonly kind: "tmpfs";
  readonly target: string;
  /** Upper limit in bytes; 0 means the kernel default (half the RAM). */
  readonly sizeBytes: number;
}

/**
 * A secret the client provides, as a file at `target` (RUN --mount=type=secret). Only the secret's
 * id is in the digest, never its value. Secrets exposed as environment variables are
 * {@link SecretEnv}: they are not mounts.
 */
export interface SecretMount {
  readonly kind: "secret";
  readonly target: string;
  readonly id: string;
  /** Fail the step when the client has no such secret (otherwise the file is just absent). */
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** A forwarded SSH agent socket at `target` (RUN --mount=type=ssh). */
export interface SshMount {
  readonly kind: "ssh";
  readonly target: string;
  /** The id of the client's agent (`default` unless --ssh named one). */
  readonly id: string;
  readonly required: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export type ExecMount = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;
export type ExecMountKind = ExecMount["kind"];

/** A secret exposed to the process as environment variable `name` (RUN --mount=type=secret,env=…). */
export interface SecretEnv {
  readonly name: string;
  readonly id: string;
  readonly required: boolean;
}

/** An /etc/hosts entry (--add-host). */
export interface HostEntry {
  readonly host: string;
  readonly ip: string;
}

/**
 * A resource limit of the process (`--ulimit nofile=1024:2048`): Docker's names (`nofile`, `nproc`,
 * `core`, `memlock`, `stack` …; the worker maps them to RLIMIT_*), soft ≤ hard, -1 for unlimited.
 */
export interface Ulimit {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/**
 * Runs `args` in a container whose `/` is {@link rootfs} with {@link mounts} on top. Outputs: one per
 * mount (rootfs included) whose access is `output`, numbered 0..n-1 without gaps.
 */
export interface ExecOp extends OpBase {
  readonly kind: "exec";
  /** argv; never empty. A shell-form RUN is `["/bin/sh", "-c", "…"]`. */
  readonly args: readonly string[];
  /** The process environment. A record: its key order is not meaning, and not in the digest. */
  readonly env: Readonly<Record<string, string>>;
  /** Absolute working directory. */
  readonly cwd: string;
  /** `user`, `uid`, `user:group` or `uid:gid`; empty means root. */
  readonly user: string;
  readonly network: NetworkMode;
  readonly security: SecurityMode;
  readonly rootfs: RootfsMount;
  /**
   * Mounts on top of rootfs. Targets are absolute, not `/`, and unique. Their order is not meaning:
   * the canonical form (and so the digest, the wire form and the builder's output) sorts them by
   * target, which also mounts a parent directory before anything mounted inside it.
   */
  readonly mounts: readonly ExecMount[];
  /** Names are unique; the canonical form sorts them by name. */
  readonly secretEnv: readonly SecretEnv[];
  /** The container's hostname; empty means the worker's default. */
  readonly hostname: string;
  readonly extraHosts: readonly HostEntry[];
  /**
   * The size of the container's /dev/shm in bytes (`--shm-size`); 0 means the worker's default (64 MiB,
   * Docker's). Part of the digest, as BuildKit's `Meta.ShmSize`.
   */
  readonly shmSize: number;
  /**
   * The process's resource limits (`--ulimit`); names are unique, and the canonical form sorts them by
   * name. Part of the digest: a changed ulimit re-runs the step, as in BuildKit.
   */
  readonly ulimits: readonly Ulimit[];
  /** The cgroup the step's cgroup is made under (`--cgroup-parent`); empty means the worker's own. */
  readonly cgroupParent: string;
}

// ---- file: filesystem edits without running a container -----------------------------------------

/**
 * What a file action reads: a filesystem from outside the op, or the result of an earlier action of
 * the same op (by position). Chaining actions in one op saves a snapshot per step.
 */
export type FileInput = StateRef | ActionRef;

export interface ActionRef {
  readonly kind: "action";
  /** Position in {@link FileOp.actions}; always smaller than the position of the action using it. */
  readonly index: number;
}

/** A user or group, by number or by name (looked up in the action's base `/etc/passwd` / `/etc/group`). */
export type UserSpec = { readonly kind: "id"; readonly id: number } | { readonly kind: "name"; readonly name: string };

/** COPY --chown=user:group. A missing group means the user's primary group. */
export interface Chown {
  readonly user: UserSpec;
  readonly group?: UserSpec;
}

/**
 * A sequence of edits. Each action changes its `base` filesystem and produces a new one; the result
 * of the op (its one output) is the result of the last action.
 */
export interface FileOp extends OpBase {
  readonly kind: "file";
  /** Never empty. */
  readonly actions: readonly FileAction[];
}

export type FileAction = MkdirAction | MkfileAction | RmAction | CopyAction;
export type FileActionKind = FileAction["kind"];

/** Creates a directory (WORKDIR uses it). */
export interface MkdirAction {
  readonly kind: "mkdir";
  readonly base: FileInput;
  readonly path: string;
  readonly mode: number;
  /** Create missing parents too (mkdir -p). */
  readonly makeParents: boolean;
  readonly owner?: Chown;
}

/** Creates (or replaces) a file with the given bytes. */
export interface MkfileAction {
  readonly kind: "mkfile";
  readonly base: FileInput;
  readonly path: string;
  readonly mode: number;
  readonly data: Uint8Array;
  readonly owner?: Chown;
}

/** Removes a path. */
export interface RmAction {
  readonly kind: "rm";
  readonly base: FileInput;
  readonly path: string;
  /** Succeed when nothing matches. */
  readonly allowNotFound: boolean;
  /** `path` is a glob. */
  readonly allowWildcard: boolean;
}

/** Copies `src` from `source` to `dest` in `base` (COPY and ADD). */
export interface CopyAction {
  readonly kind: "copy";
  readonly base: FileInput;
  readonly source: FileInput;
  readonly src: string;
  readonly dest: string;
  /** COPY --chown; unset keeps the source's owner as root-relative. */
  readonly owner?: Chown;
  /** COPY --chmod; unset keeps the source's permission bits. */
  readonly mode?: number;
  /** Resolve `src` if it is a symlink, instead of copying the link. */
  readonly followSymlinks: boolean;
  /** When `src` is a directory, copy what is in it rather than the directory itself (COPY semantics). */
  readonly copyDirContents: boolean;
  /** ADD: a local tar archive is unpacked at `dest` instead of copied. */
  readonly attemptUnpackArchive: boolean;
  /** Create missing parent directories of `dest`. */
  readonly createDestPath: boolean;
  /** `src` may be a glob. */
  readonly allowWildcard: boolean;
  /** A glob that matches nothing is not an error. */
  readonly allowEmptyWildcard: boolean;
  /** A path in `dest` whose type differs from the source (file vs directory) is replaced instead of failing. */
  readonly alwaysReplaceExisting: boolean;
  /** Copy only paths matching one of these (COPY --parents / --include semantics); empty: all. */
  readonly include: readonly string[];
  /** Skip paths matching these (COPY --exclude). */
  readonly exclude: readonly string[];
}

// ---- merge and diff: layer algebra for COPY --link ----------------------------------------------

/**
 * Stacks filesystems: `inputs[1]` over `inputs[0]`, and so on. It is how `COPY --link` adds a layer
 * that does not depend on what is below it, so the layer can be cached (and pushed) independently.
 * At least two inputs (a merge of one is that one).
 */
export interface MergeOp extends OpBase {
  readonly kind: "merge";
  readonly inputs: readonly OutputRef[];
}

/** What changed from `lower` to `upper`: the layer `upper` adds on top of `lower`. */
export interface DiffOp extends OpBase {
  readonly kind: "diff";
  readonly lower: StateRef;
  readonly upper: StateRef;
}

// ---- metadata and the definition ----------------------------------------------------------------

/** A set of steps shown together in progress output (e.g. the steps a `COPY --link` expands to). */
export interface ProgressGroup {
  readonly id: string;
  readonly name: string;
  /** Weak groups only group when their ops run at the same time. */
  readonly weak: boolean;
}

/** A file ops were compiled from (a Dockerfile), kept so errors can show the lines that made an op. */
export interface SourceFile {
  readonly filename: string;
  /** `Dockerfile`, …: how a tool should highlight `data`. */
  readonly language: string;
  readonly data: Uint8Array;
}

/** Line is 1-based, character 0-based (as BuildKit's parser and source maps count). */
export interface SourcePosition {
  readonly line: number;
  readonly character: number;
}

export interface SourceRange {
  readonly start: SourcePosition;
  readonly end: SourcePosition;
}

/** The ranges of `Definition.sources[source]` an op was compiled from (a RUN spanning lines 4–6). */
export interface SourceLocation {
  readonly source: number;
  readonly ranges: readonly SourceRange[];
}

/**
 * Per-op data that is not part of the op: it does not change what the op computes, so it is not in
 * the digest and may differ between two builds that share a cache.
 */
export interface OpMetadata {
  /**
   * Free-form strings for humans and tools, e.g. `llb.customname` (the progress line: "[2/5] RUN …")
   * and `com.docker.dockerfile.v1.*` keys. Key order is not meaning.
   */
  readonly description: Readonly<Record<string, string>>;
  readonly progressGroup?: ProgressGroup;
  /** Run the op even when a cached result exists (--no-cache, --no-cache-filter). */
  readonly ignoreCache: boolean;
  /**
   * Where the op came from, so a failure can be shown as a code frame. Several when one op serves
   * several instructions (the same `FROM` in two stages).
   */
  readonly locations?: readonly SourceLocation[];
}

/** One op of a definition, with its digest and metadata. */
export interface Vertex {
  readonly digest: Digest;
  readonly op: Op;
  readonly metadata: OpMetadata;
}

/** The current wire-format version (see llb.proto). */
export const DEFINITION_VERSION = 1;

/**
 * A whole graph, ready to solve or to persist: every op reachable from the root, each once, inputs
 * before the ops that use them (so a solver can walk it front to back).
 */
export interface Definition {
  readonly version: typeof DEFINITION_VERSION;
  readonly vertices: readonly Vertex[];
  /** The result of the build; scratch for a build that produces the empty filesystem. */
  readonly root: StateRef;
  /** The files `OpMetadata.locations` point into; empty when the frontend recorded none. */
  readonly sources: readonly SourceFile[];
}

// ---- errors -------------------------------------------------------------------------------------

/**
 * Why a definition or an op is not valid LLB. Stable strings: callers in other folders map them to
 * diagnostic IDs (llb/ imports nothing of ours, so it cannot create those itself).
 */
export type LlbErrorCode =
  /** The bytes are not a protobuf Definition / Op. */
  | "DECODE_FAILED"
  /** Definition.version is not one this code reads. */
  | "UNSUPPORTED_VERSION"
  /** An op is malformed on its own: a missing field, an empty argv, a relative path, duplicate mount targets … */
  | "INVALID_OP"
  /** An edge names a digest that is not an op of the definition. */
  | "UNKNOWN_INPUT"
  /** An edge names an output the op does not have. */
  | "BAD_OUTPUT_INDEX"
  /** The edges form a cycle. */
  | "CYCLE"
  /** Two vertices share a digest. */
  | "DUPLICATE_OP"
  /** A vertex's digest is not the digest of its op. */
  | "DIGEST_MISMATCH"
  /** Ops are not listed inputs-first. */
  | "NOT_TOPOLOGICAL"
  /** Metadata names a digest that is not an op of the definition. */
  | "UNKNOWN_METADATA"
  /** A source location names a source file the definition does not have. */
  | "BAD_SOURCE_INDEX"
  /** The builder API was called with something that cannot become valid LLB. */
  | "INVALID_ARGUMENT";

export interface LlbIssue {
  readonly code: LlbErrorCode;
  /** Sentence case, values quoted: `Op "sha256:…" reads input "sha256:…", which is not in the definition`. */
  readonly message: string;
  /** The op the issue is about, when there is one. */
  readonly digest?: Digest;
}

/** Validation never throws on bad input: it returns this. */
export type LlbResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: LlbIssue };

/**
 * Thrown by the builder API for programming errors (an exec with no args, a mount target that is not
 * absolute) and by `unwrap`. A plain Error subclass: other folders wrap it into their diagnostics.
 */
export class LlbError extends Error {
  override readonly name = "LlbError";
  readonly code: LlbErrorCode;
  readonly digest: Digest | undefined;

  constructor(issue: LlbIssue) {
    super(issue.message);
    this.code = issue.code;
    this.digest = issue.digest;
  }
}

export function assertNever(value: never, what = "value"): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
