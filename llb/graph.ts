import {
  assertNever,
  type Digest,
  type ExecMount,
  type ExecOp,
  type FileInput,
  type LlbIssue,
  type MountAccess,
  type Op,
  type OutputRef,
  type StateRef,
} from "./types.ts";

/**
 * Facts about single ops that every consumer needs and that must agree everywhere: the canonical
 * form, the ordered inputs, the number of outputs, and whether an op is well formed on its own.
 */

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/** Sorts with a plain code-unit comparison: `localeCompare` depends on the machine's locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The canonical form of an op: mounts sorted by target, env secrets and ulimits by name. Canonical encoding and
 * `inputsOf` both start from here, so the digest and the input order do not depend on the order in
 * which a frontend happened to add mounts.
 */
export function canonicalOp(op: Op): Op {
  if (op.kind !== "exec") return op;
  const mounts = [...op.mounts].sort((a, b) => compareStrings(a.target, b.target));
  const secretEnv = [...op.secretEnv].sort((a, b) => compareStrings(a.name, b.name));
  const ulimits = [...op.ulimits].sort((a, b) => compareStrings(a.name, b.name));
  return { ...op, mounts, secretEnv, ulimits };
}

export const outputKey = (ref: OutputRef): string => `${ref.digest}#${ref.index}`;

/**
 * The distinct outputs an op reads, in canonical order (first use in the canonical op). The solver
 * combines the cache keys of these, in this order, into the op's cache key; the wire form lists them
 * as `Op.inputs` in the same order.
 */
export function inputsOf(op: Op): OutputRef[] {
  const out: OutputRef[] = [];
  const seen = new Set<string>();
  const add = (ref: FileInput): void => {
    if (ref.kind !== "output") return;
    const key = outputKey(ref);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(ref);
  };
  const c = canonicalOp(op);
  switch (c.kind) {
    case "source":
      break;
    case "exec":
      add(c.rootfs.source);
      for (const m of c.mounts) if (m.kind === "bind" || m.kind === "cache") add(m.source);
      break;
    case "file":
      for (const a of c.actions) {
        add(a.base);
        if (a.kind === "copy") add(a.source);
      }
      break;
    case "merge":
      for (const r of c.inputs) add(r);
      break;
    case "diff":
      add(c.lower);
      add(c.upper);
      break;
    default:
      assertNever(c, "op");
  }
  return out;
}

/** How many outputs an op has; an edge to output `n` needs `n < outputCount(op)`. */
export function outputCount(op: Op): number {
  switch (op.kind) {
    case "source":
    case "file":
    case "merge":
    case "diff":
      return 1;
    case "exec":
      return execOutputs(op).length;
    default:
      return assertNever(op, "op");
  }
}

/** A mount of an exec that can be an output: the rootfs (target `/`) or a bind mount. */
export interface ExecOutputMount {
  readonly target: string;
  readonly source: StateRef;
  readonly selector: string;
}

/**
 * The mounts whose final contents are the exec's outputs, indexed by output number (for the worker:
 * "output 1 is what the process left in /out"). Assumes a valid op (see {@link checkOp}).
 */
export function execOutputs(op: ExecOp): ExecOutputMount[] {
  const out: ExecOutputMount[] = [];
  const put = (access: MountAccess, m: ExecOutputMount): void => {
    if (access.kind === "output") out[access.index] = m;
  };
  put(op.rootfs.access, { target: "/", source: op.rootfs.source, selector: "/" });
  for (const m of op.mounts) if (m.kind === "bind") put(m.access, { target: m.target, source: m.source, selector: m.selector });
  return out;
}

const isUint32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffffffff;

/**
 * Whether an op is well formed on its own (edges to other ops are checked by the definition
 * validator). Returns the first problem found, or undefined.
 */
export function checkOp(op: Op, digest?: Digest): LlbIssue | undefined {
  const bad = (message: string): LlbIssue =>
    digest === undefined ? { code: "INVALID_OP", message } : { code: "INVALID_OP", message: `Op "${digest}": ${message}`, digest };
  const badRef = (ref: FileInput, where: string, position?: number): LlbIssue | undefined => {
    switch (ref.kind) {
      case "scratch":
        return undefined;
      case "output":
        if (!isDigest(ref.digest)) return bad(`${where} names "${ref.digest}", which is not a sha256 digest`);
        if (!isUint32(ref.index)) return bad(`${where} names output ${ref.index}, which is not an output number`);
        return undefined;
      case "action":
        if (position === undefined) return bad(`${where} reads a file action, which only file actions may do`);
        if (!Number.isInteger(ref.index) || ref.index < 0 || ref.index >= position) {
          return bad(`${where} reads action ${ref.index}; an action may only read earlier actions (0..${position - 1})`);
        }
        return undefined;
      default:
        return assertNever(ref, "reference");
    }
  };
  if (op.platform !== undefined && (op.platform.os === "" || op.platform.architecture === "")) {
    return bad(`the platform "${op.platform.os}/${op.platform.architecture}" needs both an OS and an architecture`);
  }
  switch (op.kind) {
    case "source": {
      const s = op.source;
      switch (s.kind) {
        case "image":
          return s.ref === "" ? bad("the image source has an empty reference") : undefined;
        case "local":
          return s.name === "" ? bad("the local source has an empty name") : undefined;
        case "git":
          return s.remote === "" ? bad("the git source has an empty remote") : undefined;
        case "http":
          if (s.url === "") return bad("the HTTP source has an empty URL");
          if (s.checksum !== undefined && !isDigest(s.checksum)) return bad(`the checksum "${s.checksum}" is not a sha256 digest`);
          if (s.chmod !== undefined && !isUint32(s.chmod)) return bad(`the mode ${s.chmod} is not a permission value`);
          return undefined;
        default:
          return assertNever(s, "source");
      }
    }
    case "exec":
      return checkExec(op, bad, badRef);
    case "file": {
      if (op.actions.length === 0) return bad("the file op has no actions");
      for (const [i, a] of op.actions.entries()) {
        const issue =
          badRef(a.base, `action ${i} (${a.kind})`, i) ??
          (a.kind === "copy" ? badRef(a.source, `action ${i} (copy) source`, i) : undefined);
        if (issue !== undefined) return issue;
        if (a.kind === "copy" ? a.src === "" || a.dest === "" : a.path === "") {
          return bad(`action ${i} (${a.kind}) has an empty path`);
        }
        if ((a.kind === "mkdir" || a.kind === "mkfile") && !isUint32(a.mode)) return bad(`action ${i} has mode ${a.mode}`);
        if (a.kind === "copy" && a.mode !== undefined && !isUint32(a.mode)) return bad(`action ${i} has mode ${a.mode}`);
      }
      return undefined;
    }
    case "merge":
      if (op.inputs.length < 2) return bad(`a merge needs at least two inputs, not ${op.inputs.length}`);
      for (const [i, r] of op.inputs.entries()) {
        const issue = badRef(r, `merge input ${i}`);
        if (issue !== undefined) return issue;
      }
      return undefined;
    case "diff":
      return badRef(op.lower, "the diff's lower input") ?? badRef(op.upper, "the diff's upper input");
    default:
      return assertNever(op, "op");
  }
}

function checkExec(
  op: ExecOp,
  bad: (message: string) => LlbIssue,
  badRef: (ref: FileInput, where: string) => LlbIssue | undefined,
): LlbIssue | undefined {
  if (op.args.length === 0) return bad("the exec has no arguments");
  if (!op.cwd.startsWith("/")) return bad(`the working directory "${op.cwd}" is not absolute`);
  for (const key of Object.keys(op.env)) {
    if (key === "" || key.includes("=")) return bad(`the environment variable name "${key}" is not valid`);
  }
  const issue = badRef(op.rootfs.source, "the rootfs");
  if (issue !== undefined) return issue;
  const outputs: number[] = [];
  const noteAccess = (access: MountAccess, where: string): LlbIssue | undefined => {
    if (access.kind !== "output") return undefined;
    if (!isUint32(access.index)) return bad(`${where} has output index ${access.index}`);
    outputs.push(access.index);
    return undefined;
  };
  const rootIssue = noteAccess(op.rootfs.access, "the rootfs");
  if (rootIssue !== undefined) return rootIssue;
  const targets = new Set<string>();
  for (const m of op.mounts) {
    const where = `the ${m.kind} mount at "${m.target}"`;
    if (!m.target.startsWith("/") || m.target === "/") return bad(`${where} needs an absolute target other than "/"`);
    if (targets.has(m.target)) return bad(`two mounts share the target "${m.target}"`);
    targets.add(m.target);
    const mIssue = checkMount(m, where, bad, badRef) ?? (m.kind === "bind" ? noteAccess(m.access, where) : undefined);
    if (mIssue !== undefined) return mIssue;
  }
  outputs.sort((a, b) => a - b);
  for (const [i, n] of outputs.entries()) {
    if (n !== i) return bad(`the output indexes are ${JSON.stringify(outputs)}; they must be 0..${outputs.length - 1}, each once`);
  }
  const names = new Set<string>();
  for (const s of op.secretEnv) {
    if (s.name === "" || s.id === "") return bad("an environment secret needs a name and an id");
    if (names.has(s.name)) return bad(`two secrets set the environment variable "${s.name}"`);
    names.add(s.name);
  }
  if (!Number.isSafeInteger(op.shmSize) || op.shmSize < 0) return bad(`the /dev/shm size ${op.shmSize} is not a number of bytes`);
  const limits = new Set<string>();
  for (const u of op.ulimits) {
    if (u.name === "") return bad("a ulimit needs a name");
    if (limits.has(u.name)) return bad(`two ulimits are named "${u.name}"`);
    limits.add(u.name);
    if (!isLimit(u.soft) || !isLimit(u.hard)) return bad(`the ulimit "${u.name}" has limits ${u.soft}:${u.hard}; they must be whole numbers, -1 for unlimited`);
    if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard)) return bad(`the ulimit "${u.name}" has a soft limit above its hard limit (${u.soft}:${u.hard})`);
  }
  if (op.cgroupParent.split("/").includes("..")) return bad(`the cgroup parent "${op.cgroupParent}" leaves the cgroup tree ("..")`);
  return undefined;
}

const isLimit = (n: number): boolean => Number.isSafeInteger(n) && n >= -1;

function checkMount(
  m: ExecMount,
  where: string,
  bad: (message: string) => LlbIssue,
  badRef: (ref: FileInput, where: string) => LlbIssue | undefined,
): LlbIssue | undefined {
  switch (m.kind) {
    case "bind":
      return badRef(m.source, where);
    case "cache":
      return m.id === "" ? bad(`${where} has an empty cache id`) : badRef(m.source, where);
    case "tmpfs":
      return Number.isSafeInteger(m.sizeBytes) && m.sizeBytes >= 0 ? undefined : bad(`${where} has size ${m.sizeBytes}`);
    case "secret":
    case "ssh":
      if (m.id === "") return bad(`${where} has an empty id`);
      if (!isUint32(m.mode) || !isUint32(m.uid) || !isUint32(m.gid)) return bad(`${where} has an invalid mode, uid or gid`);
      return undefined;
    default:
      return assertNever(m, "mount");
  }
}

/**
 * A copy of `op` with every edge to another op passed through `f` (scratch and action references are
 * kept). Used to re-point edges when digests are recomputed.
 */
export function mapOutputs(op: Op, f: (ref: OutputRef) => OutputRef): Op {
  const st = (r: StateRef): StateRef => (r.kind === "output" ? f(r) : r);
  const fi = (r: FileInput): FileInput => (r.kind === "output" ? f(r) : r);
  switch (op.kind) {
    case "source":
      return op;
    case "exec":
      return {
        ...op,
        rootfs: { ...op.rootfs, source: st(op.rootfs.source) },
        mounts: op.mounts.map((m) => (m.kind === "bind" || m.kind === "cache" ? { ...m, source: st(m.source) } : m)),
      };
    case "file":
      return {
        ...op,
        actions: op.actions.map((a) => (a.kind === "copy" ? { ...a, base: fi(a.base), source: fi(a.source) } : { ...a, base: fi(a.base) })),
      };
    case "merge":
      return { ...op, inputs: op.inputs.map(f) };
    case "diff":
      return { ...op, lower: st(op.lower), upper: st(op.upper) };
    default:
      return assertNever(op, "op");
  }
}
