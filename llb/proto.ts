import { create, type MessageInitShape } from "@bufbuild/protobuf";
import * as pb from "./gen/llb_pb.ts";
import { canonicalOp, compareStrings, inputsOf, isDigest, outputKey } from "./graph.ts";
import {
  assertNever,
  type CacheSharing,
  type Chown,
  type ExecMount,
  type FileAction,
  type FileInput,
  type LlbResult,
  type MountAccess,
  type NetworkMode,
  type Op,
  type OpMetadata,
  type OutputRef,
  type Platform,
  type ResolveMode,
  type SecurityMode,
  type Source,
  type SourceLocation,
  type SourcePosition,
  type StateRef,
  type UserSpec,
} from "./types.ts";

/**
 * Conversion between the IR (types.ts) and the generated protobuf messages (gen/llb_pb.ts), both
 * ways. `opToProto` writes the canonical form (what digests are computed over): edges become
 * positions in a derived input table, maps are filled in sorted key order, mounts are sorted.
 * `opFromProto` never throws on bad input; it returns an INVALID_OP issue.
 */

type RefInit = MessageInitShape<typeof pb.RefSchema>;

// ---- IR → protobuf ------------------------------------------------------------------------------

export function opToProto(op: Op): pb.Op {
  const c = canonicalOp(op);
  const inputs = inputsOf(c);
  const position = new Map(inputs.map((r, i) => [outputKey(r), i]));
  const ref = (r: FileInput): RefInit => {
    switch (r.kind) {
      case "scratch":
        return { ref: { case: "scratch", value: {} } };
      case "output": {
        const i = position.get(outputKey(r));
        // inputsOf visits every edge of the op, so a miss is a bug here, not bad input.
        if (i === undefined) throw new Error(`llb: edge ${outputKey(r)} missing from the input table`);
        return { ref: { case: "input", value: i } };
      }
      case "action":
        return { ref: { case: "action", value: r.index } };
      default:
        return assertNever(r, "reference");
    }
  };
  const init: MessageInitShape<typeof pb.OpSchema> = {
    inputs: inputs.map((r) => ({ digest: r.digest, index: r.index })),
    op: opBodyToProto(c, ref),
  };
  if (c.platform !== undefined) init.platform = platformToProto(c.platform);
  return create(pb.OpSchema, init);
}

function opBodyToProto(op: Op, ref: (r: FileInput) => RefInit): NonNullable<MessageInitShape<typeof pb.OpSchema>["op"]> {
  switch (op.kind) {
    case "source":
      return { case: "source", value: { source: sourceToProto(op.source) } };
    case "exec":
      return {
        case: "exec",
        value: {
          args: [...op.args],
          env: sortedRecord(op.env),
          cwd: op.cwd,
          user: op.user,
          network: NETWORK_TO_PB[op.network],
          security: SECURITY_TO_PB[op.security],
          rootfs: { source: ref(op.rootfs.source), access: accessToProto(op.rootfs.access) },
          mounts: op.mounts.map((m) => mountToProto(m, ref)),
          secretEnv: op.secretEnv.map((s) => ({ name: s.name, id: s.id, required: s.required })),
          hostname: op.hostname,
          extraHosts: op.extraHosts.map((h) => ({ host: h.host, ip: h.ip })),
          shmSizeBytes: BigInt(op.shmSize),
          ulimits: op.ulimits.map((u) => ({ name: u.name, soft: BigInt(u.soft), hard: BigInt(u.hard) })),
          cgroupParent: op.cgroupParent,
        },
      };
    case "file":
      return { case: "file", value: { actions: op.actions.map((a) => actionToProto(a, ref)) } };
    case "merge":
      return { case: "merge", value: { inputs: op.inputs.map(ref) } };
    case "diff":
      return { case: "diff", value: { lower: ref(op.lower), upper: ref(op.upper) } };
    default:
      return assertNever(op, "op");
  }
}

function sourceToProto(s: Source): NonNullable<MessageInitShape<typeof pb.SourceOpSchema>["source"]> {
  switch (s.kind) {
    case "image":
      return { case: "image", value: { ref: s.ref, resolveMode: RESOLVE_TO_PB[s.resolveMode] } };
    case "local":
      return {
        case: "local",
        value: { name: s.name, includePatterns: [...s.include], excludePatterns: [...s.exclude], sharedKey: s.sharedKey },
      };
    case "git":
      return { case: "git", value: { remote: s.remote, ref: s.ref, keepGitDir: s.keepGitDir } };
    case "http": {
      const value: MessageInitShape<typeof pb.HttpSourceSchema> = { url: s.url, checksum: s.checksum ?? "", filename: s.filename ?? "" };
      if (s.chmod !== undefined) value.chmod = s.chmod;
      return { case: "http", value };
    }
    default:
      return assertNever(s, "source");
  }
}

function accessToProto(a: MountAccess): MessageInitShape<typeof pb.AccessSchema> {
  switch (a.kind) {
    case "readonly":
      return { access: { case: "readonly", value: {} } };
    case "writable":
      return { access: { case: "writable", value: {} } };
    case "output":
      return { access: { case: "output", value: a.index } };
    default:
      return assertNever(a, "access");
  }
}

function mountToProto(m: ExecMount, ref: (r: FileInput) => RefInit): MessageInitShape<typeof pb.MountSchema> {
  switch (m.kind) {
    case "bind":
      return {
        target: m.target,
        mount: { case: "bind", value: { source: ref(m.source), selector: m.selector, access: accessToProto(m.access) } },
      };
    case "cache":
      return {
        target: m.target,
        mount: {
          case: "cache",
          value: { id: m.id, sharing: SHARING_TO_PB[m.sharing], source: ref(m.source), readonly: m.readonly, selector: m.selector },
        },
      };
    case "tmpfs":
      return { target: m.target, mount: { case: "tmpfs", value: { sizeBytes: BigInt(m.sizeBytes) } } };
    case "secret":
    case "ssh": {
      const value = { id: m.id, required: m.required, mode: m.mode, uid: m.uid, gid: m.gid };
      return { target: m.target, mount: m.kind === "secret" ? { case: "secret", value } : { case: "ssh", value } };
    }
    default:
      return assertNever(m, "mount");
  }
}

function userToProto(u: UserSpec): MessageInitShape<typeof pb.UserSpecSchema> {
  return u.kind === "id" ? { user: { case: "id", value: u.id } } : { user: { case: "name", value: u.name } };
}

function chownToProto(c: Chown | undefined): MessageInitShape<typeof pb.ChownSchema> | undefined {
  if (c === undefined) return undefined;
  const out: MessageInitShape<typeof pb.ChownSchema> = { user: userToProto(c.user) };
  if (c.group !== undefined) out.group = userToProto(c.group);
  return out;
}

function actionToProto(a: FileAction, ref: (r: FileInput) => RefInit): MessageInitShape<typeof pb.FileActionSchema> {
  const base = ref(a.base);
  const owner = a.kind === "rm" ? undefined : chownToProto(a.owner);
  const withOwner = <T extends object>(v: T): T => (owner === undefined ? v : { ...v, owner });
  switch (a.kind) {
    case "mkdir":
      return { base, action: { case: "mkdir", value: withOwner({ path: a.path, mode: a.mode, makeParents: a.makeParents }) } };
    case "mkfile":
      return { base, action: { case: "mkfile", value: withOwner({ path: a.path, mode: a.mode, data: a.data }) } };
    case "rm":
      return { base, action: { case: "rm", value: { path: a.path, allowNotFound: a.allowNotFound, allowWildcard: a.allowWildcard } } };
    case "copy": {
      const value: MessageInitShape<typeof pb.CopyActionSchema> = withOwner({
        source: ref(a.source),
        src: a.src,
        dest: a.dest,
        followSymlinks: a.followSymlinks,
        copyDirContents: a.copyDirContents,
        attemptUnpackArchive: a.attemptUnpackArchive,
        createDestPath: a.createDestPath,
        allowWildcard: a.allowWildcard,
        allowEmptyWildcard: a.allowEmptyWildcard,
        alwaysReplaceExisting: a.alwaysReplaceExisting,
        includePatterns: [...a.include],
        excludePatterns: [...a.exclude],
      });
      if (a.mode !== undefined) value.mode = a.mode;
      return { base, action: { case: "copy", value } };
    }
    default:
      return assertNever(a, "file action");
  }
}

export function platformToProto(p: Platform): MessageInitShape<typeof pb.PlatformSchema> {
  return { os: p.os, architecture: p.architecture, variant: p.variant ?? "" };
}

export function metadataToProto(m: OpMetadata): pb.OpMetadata {
  const init: MessageInitShape<typeof pb.OpMetadataSchema> = { ignoreCache: m.ignoreCache, description: sortedRecord(m.description) };
  if (m.progressGroup !== undefined) init.progressGroup = { ...m.progressGroup };
  if (m.locations !== undefined) {
    init.locations = m.locations.map((l) => ({
      source: l.source,
      ranges: l.ranges.map((r) => ({ start: { ...r.start }, end: { ...r.end } })),
    }));
  }
  return create(pb.OpMetadataSchema, init);
}

/** A copy with keys inserted in sorted order: protobuf-es writes map entries in key iteration order. */
function sortedRecord(r: Readonly<Record<string, string>>): Record<string, string> {
  // fromEntries defines own properties, so even a "__proto__" key stays an ordinary entry.
  return Object.fromEntries(Object.keys(r).sort(compareStrings).map((k) => [k, r[k] ?? ""]));
}

const NETWORK_TO_PB: Record<NetworkMode, pb.NetworkMode> = {
  default: pb.NetworkMode.DEFAULT,
  none: pb.NetworkMode.NONE,
  host: pb.NetworkMode.HOST,
};
const SECURITY_TO_PB: Record<SecurityMode, pb.SecurityMode> = { sandbox: pb.SecurityMode.SANDBOX, insecure: pb.SecurityMode.INSECURE };
const SHARING_TO_PB: Record<CacheSharing, pb.CacheSharing> = {
  shared: pb.CacheSharing.SHARED,
  private: pb.CacheSharing.PRIVATE,
  locked: pb.CacheSharing.LOCKED,
};
const RESOLVE_TO_PB: Record<ResolveMode, pb.ResolveMode> = {
  default: pb.ResolveMode.DEFAULT,
  pull: pb.ResolveMode.PULL,
  local: pb.ResolveMode.LOCAL,
};

// ---- protobuf → IR ------------------------------------------------------------------------------

/** Thrown inside the decoder only; `opFromProto` turns it into an issue. */
class DecodeIssue extends Error {}

function reverse<K extends string, V>(m: Record<K, V>): Map<V, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as V, k as K]));
}
const NETWORK_FROM_PB = reverse(NETWORK_TO_PB);
const SECURITY_FROM_PB = reverse(SECURITY_TO_PB);
const SHARING_FROM_PB = reverse(SHARING_TO_PB);
const RESOLVE_FROM_PB = reverse(RESOLVE_TO_PB);

/** An int64 of the wire as a JS number: one that a double cannot hold exactly is refused, not rounded. */
function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new DecodeIssue(`${what} has the value ${v}, too large`);
  return Number(v);
}

function fromEnum<V, K>(m: Map<V, K>, v: V, what: string): K {
  const k = m.get(v);
  if (k === undefined) throw new DecodeIssue(`unknown ${what} ${String(v)}`);
  return k;
}

/**
 * Decodes a protobuf Op into the IR. Input digests are taken as written (the definition validator
 * checks they exist); an unknown enum value, a missing oneof or an input position out of range is an
 * INVALID_OP issue.
 */
export function opFromProto(msg: pb.Op): LlbResult<Op> {
  try {
    return { ok: true, value: decodeOp(msg) };
  } catch (err) {
    if (err instanceof DecodeIssue) return { ok: false, error: { code: "INVALID_OP", message: `The op is not valid: ${err.message}` } };
    throw err;
  }
}

function decodeOp(msg: pb.Op): Op {
  const inputs: OutputRef[] = msg.inputs.map((i, n) => {
    if (!isDigest(i.digest)) throw new DecodeIssue(`input ${n} names "${i.digest}", which is not a sha256 digest`);
    return { kind: "output", digest: i.digest, index: i.index };
  });
  const ref = (r: pb.Ref | undefined, where: string): FileInput => {
    if (r === undefined) throw new DecodeIssue(`${where} has no source`);
    switch (r.ref.case) {
      case "scratch":
        return { kind: "scratch" };
      case "input": {
        const found = inputs[r.ref.value];
        if (found === undefined) throw new DecodeIssue(`${where} reads input ${r.ref.value}, but the op has ${inputs.length} inputs`);
        return found;
      }
      case "action":
        return { kind: "action", index: r.ref.value };
      case undefined:
        throw new DecodeIssue(`${where} has no source`);
      default:
        return assertNever(r.ref, "reference");
    }
  };
  const stateRef = (r: pb.Ref | undefined, where: string): StateRef => {
    const out = ref(r, where);
    if (out.kind === "action") throw new DecodeIssue(`${where} reads a file action, which only file actions may do`);
    return out;
  };
  const platform = msg.platform === undefined ? undefined : platformFromProto(msg.platform);
  const withPlatform = <T extends Op>(op: T): T => (platform === undefined ? op : { ...op, platform });
  const body = msg.op;
  switch (body.case) {
    case "source":
      return withPlatform({ kind: "source", source: sourceFromProto(body.value) });
    case "exec": {
      const e = body.value;
      if (e.rootfs === undefined) throw new DecodeIssue("the exec has no rootfs");
      return withPlatform({
        kind: "exec",
        args: [...e.args],
        env: { ...e.env },
        cwd: e.cwd,
        user: e.user,
        network: fromEnum(NETWORK_FROM_PB, e.network, "network mode"),
        security: fromEnum(SECURITY_FROM_PB, e.security, "security mode"),
        rootfs: { source: stateRef(e.rootfs.source, "the rootfs"), access: accessFromProto(e.rootfs.access, "the rootfs") },
        mounts: e.mounts.map((m) => mountFromProto(m, stateRef)),
        secretEnv: e.secretEnv.map((s) => ({ name: s.name, id: s.id, required: s.required })),
        hostname: e.hostname,
        extraHosts: e.extraHosts.map((h) => ({ host: h.host, ip: h.ip })),
        shmSize: safeNumber(e.shmSizeBytes, "the /dev/shm size"),
        ulimits: e.ulimits.map((u) => ({ name: u.name, soft: safeNumber(u.soft, `the ulimit "${u.name}"`), hard: safeNumber(u.hard, `the ulimit "${u.name}"`) })),
        cgroupParent: e.cgroupParent,
      });
    }
    case "file":
      return withPlatform({ kind: "file", actions: body.value.actions.map((a, i) => actionFromProto(a, i, ref)) });
    case "merge":
      return withPlatform({
        kind: "merge",
        inputs: body.value.inputs.map((r, i) => {
          const out = stateRef(r, `merge input ${i}`);
          if (out.kind === "scratch") throw new DecodeIssue(`merge input ${i} is scratch; a merge only lists op outputs`);
          return out;
        }),
      });
    case "diff":
      return withPlatform({
        kind: "diff",
        lower: stateRef(body.value.lower, "the diff's lower input"),
        upper: stateRef(body.value.upper, "the diff's upper input"),
      });
    case undefined:
      throw new DecodeIssue("the op has no kind (exec, file, source, merge or diff)");
    default:
      return assertNever(body, "op");
  }
}

export function platformFromProto(p: pb.Platform): Platform {
  return p.variant === "" ? { os: p.os, architecture: p.architecture } : { os: p.os, architecture: p.architecture, variant: p.variant };
}

function sourceFromProto(s: pb.SourceOp): Source {
  const v = s.source;
  switch (v.case) {
    case "image":
      return { kind: "image", ref: v.value.ref, resolveMode: fromEnum(RESOLVE_FROM_PB, v.value.resolveMode, "resolve mode") };
    case "local":
      return {
        kind: "local",
        name: v.value.name,
        include: [...v.value.includePatterns],
        exclude: [...v.value.excludePatterns],
        sharedKey: v.value.sharedKey,
      };
    case "git":
      return { kind: "git", remote: v.value.remote, ref: v.value.ref, keepGitDir: v.value.keepGitDir };
    case "http": {
      const h = v.value;
      if (h.checksum !== "" && !isDigest(h.checksum)) throw new DecodeIssue(`the checksum "${h.checksum}" is not a sha256 digest`);
      return {
        kind: "http",
        url: h.url,
        ...(h.checksum === "" ? {} : { checksum: h.checksum as `sha256:${string}` }),
        ...(h.filename === "" ? {} : { filename: h.filename }),
        ...(h.chmod === undefined ? {} : { chmod: h.chmod }),
      };
    }
    case undefined:
      throw new DecodeIssue("the source op has no kind (image, local, git or http)");
    default:
      return assertNever(v, "source");
  }
}

function accessFromProto(a: pb.Access | undefined, where: string): MountAccess {
  if (a === undefined) throw new DecodeIssue(`${where} does not say whether it is read-only`);
  switch (a.access.case) {
    case "readonly":
      return { kind: "readonly" };
    case "writable":
      return { kind: "writable" };
    case "output":
      return { kind: "output", index: a.access.value };
    case undefined:
      throw new DecodeIssue(`${where} does not say whether it is read-only`);
    default:
      return assertNever(a.access, "access");
  }
}

function mountFromProto(m: pb.Mount, stateRef: (r: pb.Ref | undefined, where: string) => StateRef): ExecMount {
  const where = `the mount at "${m.target}"`;
  const v = m.mount;
  switch (v.case) {
    case "bind":
      return {
        kind: "bind",
        target: m.target,
        source: stateRef(v.value.source, where),
        selector: v.value.selector,
        access: accessFromProto(v.value.access, where),
      };
    case "cache":
      return {
        kind: "cache",
        target: m.target,
        id: v.value.id,
        sharing: fromEnum(SHARING_FROM_PB, v.value.sharing, "cache sharing mode"),
        source: stateRef(v.value.source, where),
        selector: v.value.selector,
        readonly: v.value.readonly,
      };
    case "tmpfs": {
      const size = v.value.sizeBytes;
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeIssue(`${where} has size ${size}, too large`);
      return { kind: "tmpfs", target: m.target, sizeBytes: Number(size) };
    }
    case "secret":
    case "ssh": {
      const s = v.value;
      return { kind: v.case, target: m.target, id: s.id, required: s.required, mode: s.mode, uid: s.uid, gid: s.gid };
    }
    case undefined:
      throw new DecodeIssue(`${where} has no kind`);
    default:
      return assertNever(v, "mount");
  }
}

function userFromProto(u: pb.UserSpec | undefined, where: string): UserSpec {
  if (u === undefined) throw new DecodeIssue(`${where} has an owner without a user`);
  switch (u.user.case) {
    case "id":
      return { kind: "id", id: u.user.value };
    case "name":
      return { kind: "name", name: u.user.value };
    case undefined:
      throw new DecodeIssue(`${where} has an owner without a user`);
    default:
      return assertNever(u.user, "user");
  }
}

function chownFromProto(c: pb.Chown | undefined, where: string): { owner?: Chown } {
  if (c === undefined) return {};
  const user = userFromProto(c.user, where);
  return { owner: c.group === undefined ? { user } : { user, group: userFromProto(c.group, where) } };
}

function actionFromProto(a: pb.FileAction, i: number, ref: (r: pb.Ref | undefined, where: string) => FileInput): FileAction {
  const where = `action ${i}`;
  const base = ref(a.base, where);
  const v = a.action;
  switch (v.case) {
    case "mkdir":
      return { kind: "mkdir", base, path: v.value.path, mode: v.value.mode, makeParents: v.value.makeParents, ...chownFromProto(v.value.owner, where) };
    case "mkfile":
      return { kind: "mkfile", base, path: v.value.path, mode: v.value.mode, data: v.value.data, ...chownFromProto(v.value.owner, where) };
    case "rm":
      return { kind: "rm", base, path: v.value.path, allowNotFound: v.value.allowNotFound, allowWildcard: v.value.allowWildcard };
    case "copy": {
      const c = v.value;
      return {
        kind: "copy",
        base,
        source: ref(c.source, `${where} (copy) source`),
        src: c.src,
        dest: c.dest,
        ...chownFromProto(c.owner, where),
        ...(c.mode === undefined ? {} : { mode: c.mode }),
        followSymlinks: c.followSymlinks,
        copyDirContents: c.copyDirContents,
        attemptUnpackArchive: c.attemptUnpackArchive,
        createDestPath: c.createDestPath,
        allowWildcard: c.allowWildcard,
        allowEmptyWildcard: c.allowEmptyWildcard,
        alwaysReplaceExisting: c.alwaysReplaceExisting,
        include: [...c.includePatterns],
        exclude: [...c.excludePatterns],
      };
    }
    case undefined:
      throw new DecodeIssue(`${where} has no kind (mkdir, mkfile, rm or copy)`);
    default:
      return assertNever(v, "file action");
  }
}

export function metadataFromProto(m: pb.OpMetadata | undefined): OpMetadata {
  if (m === undefined) return { description: {}, ignoreCache: false };
  const pos = (p: pb.SourcePosition | undefined): SourcePosition => ({ line: p?.line ?? 0, character: p?.character ?? 0 });
  const locations: SourceLocation[] = m.locations.map((l) => ({
    source: l.source,
    ranges: l.ranges.map((r) => ({ start: pos(r.start), end: pos(r.end) })),
  }));
  return {
    description: { ...m.description },
    ignoreCache: m.ignoreCache,
    ...(m.progressGroup === undefined ? {} : { progressGroup: { id: m.progressGroup.id, name: m.progressGroup.name, weak: m.progressGroup.weak } }),
    ...(locations.length === 0 ? {} : { locations }),
  };
}
