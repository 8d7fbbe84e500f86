import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, statSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { formatBytes } from "../../base/progress/index.ts";
import { htkError } from "../../base/errors/index.ts";
import { formatUlimit, parseRamInBytes, parseUlimit, type UlimitValue } from "../../base/units.ts";
import { progressFromWire, type BuildError, type SolveResult } from "../../wire/index.ts";
import { builderClient } from "../builders.ts";
import { call, clientError, type EngineClient } from "../client.ts";
import { cacheRequest, checkedExports, parseCacheEntries, receiveCaches, usableImports } from "../cache-options.ts";
import { clientIdentity, syncContext } from "../context-sync.ts";
import { readContextInput } from "../context-input.ts";
import { Display, sourceFrame, type DisplayMode } from "../display.ts";
import { splitCsv } from "../flags.ts";
import { parseAnnotations, type Annotation } from "../imagetools/create.ts";
import { resolveOciLayout } from "../oci-layout-context.ts";
import { askAgent, keyAgent, parseSsh, type ClientAuth } from "../session.ts";
import { DockerConfigCredentials } from "../../base/registry/credentials.ts";
import { BuilderStore, randomId } from "../store.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx build` (and `docker build`, which the CLI forwards here): the context and the
 * Dockerfile go to the builder's engine (context-sync.ts), the build runs there (Solve), its progress
 * is rendered here with BuildKit's renderers, file outputs are fetched, and the end is buildx's:
 * warnings, the error layout and exit code, --iidfile, --metadata-file, --call results.
 */
interface Exporter {
  readonly type: string;
  readonly attrs: Record<string, string>;
}

interface SecretSpec {
  readonly id: string;
  readonly read: () => Promise<Uint8Array>;
}

/** What the engine may ask for during the build (see session.ts). */
export interface BuildSession {
  readonly secrets: readonly SecretSpec[];
  /** Registry credentials for a host, as the docker CLI keeps them. */
  readonly auth: (host: string) => Promise<ClientAuth>;
  /** --ssh ids → the agent socket their messages go to. */
  readonly ssh: ReadonlyMap<string, string>;
}

const MODES: readonly DisplayMode[] = ["auto", "plain", "tty", "rawjson", "quiet"];

/** An annotation as the exporters' attribute BuildKit reads: `annotation[-TYPE][[PLATFORM]].KEY`. */
function annotationAttr(a: Annotation): string {
  return `annotation${a.type === "" ? "" : `-${a.type}`}${a.platform === undefined ? "" : `[${a.platform}]`}.${a.key}`;
}

/**
 * --attest, --sbom, --provenance (buildx's shorthands: a boolean, or the attestation's options).
 * Disabled ones are what this builder does anyway; an enabled one is refused, since no attestation
 * is made here (HTK-BUILDX-0082): no SBOM generator, no provenance statement, no attestation manifest.
 */
export function checkAttestations(attest: readonly string[], sbom: string | undefined, provenance: string | undefined): void {
  const specs = [...attest];
  for (const [type, v] of [["sbom", sbom], ["provenance", provenance]] as const) {
    if (v === undefined || v === "") continue;
    const b = v === "true" || v === "1" ? true : v === "false" || v === "0" ? false : undefined;
    specs.push(b === undefined ? `type=${type},${v}` : `type=${type},disabled=${!b}`);
  }
  for (const spec of specs) {
    let type = "";
    let disabled = false;
    for (const f of splitCsv(spec)) {
      const eq = f.indexOf("=");
      if (eq < 0) throw htkError("HTK-BUILDX-0080", { buildxMessage: `invalid value ${f}` });
      const k = f.slice(0, eq).trim().toLowerCase();
      const v = f.slice(eq + 1);
      if (k === "type") type = v;
      else if (k === "disabled") disabled = v === "true" || v === "1";
    }
    if (type === "") throw htkError("HTK-BUILDX-0080", { buildxMessage: "attestation type not specified" });
    if (disabled) continue;
    throw htkError("HTK-BUILDX-0082", {
      option: type === "sbom" ? "--sbom (an SBOM attestation)" : type === "provenance" ? "--provenance (a provenance attestation)" : `--attest type=${type}`,
      reason: "this builder makes no attestations (no SBOM generator, no SLSA provenance statement) and stores images without an attestation manifest",
    });
  }
}

export async function runBuild(ctx: CommandContext): Promise<number> {
  const { flags, io } = ctx;
  // HATAKE_BUILDX_TIMING=1: where a build's time goes, on stderr (ms since the process started).
  const timing = io.env["HATAKE_BUILDX_TIMING"] === "1" ? (what: string): void => void io.stderr.write(`[timing] ${what} ${performance.now().toFixed(1)}ms\n`) : (): void => undefined;
  timing("command loaded");
  // Validation in buildx's order and texts, before anything is sent.
  let progress = (flags.string("progress") ?? "auto") as DisplayMode;
  if (!MODES.includes(progress)) throw usage(`invalid progress mode "${progress}"`);
  if (flags.bool("quiet")) {
    if (progress !== "auto" && progress !== "quiet") throw usage(`progress=${progress} and quiet cannot be used together`);
    progress = "quiet";
  }
  const call = callFunc(flags.string("call") ?? "build", flags.bool("check"));
  const exporters = parseExports(flags.list("output"), flags.bool("push"), flags.bool("load"));
  const iidfile = flags.string("iidfile");
  if (iidfile !== undefined && exporters.some((e) => e.type === "local" || e.type === "tar")) throw usage("local and tar exporters are incompatible with image ID file");
  const secrets = flags.list("secret").map((s) => parseSecret(s, io.env, io.cwd));
  const sshSpecs = parseSsh(flags.list("ssh"), io.env, io.cwd);
  const entitlements = parseEntitlements(flags.list("allow"), flags.string("network"));
  const namedContexts = parseBuildContexts(flags.list("build-context"), io.cwd);
  const annotations = parseAnnotations(flags.list("annotation"));
  checkAttestations(flags.list("attest"), flags.string("sbom"), flags.string("provenance"));
  const cacheFrom = usableImports(parseCacheEntries("--cache-from", flags.list("cache-from"), usage), io.cwd, (line) => void io.stderr.write(`${line}\n`));
  const cacheTo = checkedExports(parseCacheEntries("--cache-to", flags.list("cache-to"), usage), io.cwd);
  if (flags.list("platform").length > 1) throw htkError("HTK-BUILDX-0021", { option: "--platform with several platforms" });
  const contextArg = ctx.args[0] as string;
  const fileFlag = flags.string("file");
  // A URL goes to the engine as the context attribute; `-` is stdin (a tar, or the Dockerfile); else a directory.
  const input = await readContextInput(contextArg, fileFlag, io, readAll);
  const local = input.kind === "local" ? input : undefined;
  const contextDir = local?.dir ?? contextArg;
  const dockerfilePath = local?.dockerfilePath ?? (input.kind === "remote" ? input.filename : "Dockerfile");
  const dockerfile = input.dockerfile;
  const ignore = local?.ignore ?? { patterns: [] as string[], file: undefined };

  const store = BuilderStore.for(ctx.cli);
  const { builder, node, client } = builderClient(ctx.cli, store, ctx.builder);
  const keyAgents: Array<{ close(): void }> = [];
  try {
    const ssh = new Map<string, string>();
    for (const spec of sshSpecs) {
      if (spec.socket !== undefined) ssh.set(spec.id, spec.socket);
      else {
        const agent = await keyAgent(spec.keys ?? [], io.env);
        keyAgents.push(agent);
        ssh.set(spec.id, agent.socket);
      }
    }
    // One reader of the CLI's config file per build: it keeps config.json once for every host the engine asks about.
    const credentials = new DockerConfigCredentials({ configDir: ctx.cli.configDir, env: io.env });
    const session: BuildSession = { secrets, ssh, auth: (host) => credentials.authConfig(host) };
    if (exporters.length === 0 && call === undefined) {
      if (builder.driver === "remote") {
        io.stderr.write(`WARNING: No output specified with remote driver. Build result will only remain in the build cache.\nTo push result image into registry use --push or to load image into docker use --load\n`);
      } else exporters.push({ type: "image", attrs: {} });
    }
    for (const e of exporters) if (e.type === "image" || e.type === "oci" || e.type === "docker") for (const a of annotations) e.attrs[annotationAttr(a)] = a.value;
    const tags = flags.list("tag");
    if (tags.length > 0) for (const e of exporters) if ((e.type === "image" || e.type === "docker" || e.type === "oci") && e.attrs["name"] === undefined) e.attrs["name"] = tags.join(",");
    const ref = randomId(25);
    const clientId = clientIdentity(store.root);
    const display = call === undefined ? new Display(progress, io.stderr, `building with "${builder.name}" instance using ${builder.driver} driver`) : undefined;
    // An interrupt cancels the build in the engine; the stream then ends as BuildKit's does (the steps
    // CANCELED, the canceled error). Should the engine not answer, the stream is dropped after 5 s.
    const streamAbort = new AbortController();
    const signal = streamAbort.signal;
    let dropTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      void client.service.cancel({ ref }).catch(() => streamAbort.abort(ctx.signal.reason));
      dropTimer = setTimeout(() => streamAbort.abort(ctx.signal.reason), 5_000);
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    let outcome: { kind: "result"; result: SolveResult } | { kind: "error"; error: BuildError };
    try {
      const synced = local === undefined ? undefined : await syncContext(client, { clientId, name: "context", dir: local.dir, excludes: ignore.patterns, signal, timing });
      if (synced !== undefined) timing(`context synced (${synced.entries} entries, manifest ${synced.manifestSent ? "sent" : "not sent"}, ${synced.files} files and ${synced.transferred} bytes sent)`);
      const caches = await cacheRequest(client, { clientId, from: cacheFrom, to: cacheTo, signal });
      const attrs = frontendAttrs(ctx, dockerfilePath, fileFlag, call);
      // BuildKit's remote context: the engine fetches the URL; `filename` is a path inside it.
      if (input.kind === "remote") Object.assign(attrs, { context: input.url, filename: input.filename });
      // --build-context: directories are synced as the main context is; the rest goes as is.
      const localRefs: Record<string, string> = synced === undefined ? {} : { context: synced.ref };
      for (const c of namedContexts) {
        attrs[`context:${c.name}`] = c.kind === "local" ? (c.attr ?? `local:${c.local}`) : c.value;
        if (c.kind === "local") localRefs[c.local] = (await syncContext(client, { clientId, name: c.local, dir: c.dir, excludes: [], signal, timing })).ref;
      }
      const stream = client.service.solve(
        {
          ref,
          frontend: "dockerfile.v0",
          frontendAttrs: attrs,
          localRefs: { ...localRefs, ...caches.localRefs },
          cacheImports: caches.cacheImports,
          cacheExports: caches.cacheExports,
          dockerfile,
          exporters,
          entitlements,
          secretIds: secrets.map((s) => s.id),
          sshIds: [...ssh.keys()],
          dockerignore: [...ignore.patterns],
          clientAttrs: {
            "client.id": clientId,
            "context.dir": contextDir,
            "context.arg": contextArg,
            "context.transferred": String(synced?.transferred ?? 0),
            "dockerignore.size": String(ignore.file === undefined ? 0 : statSync(ignore.file).size),
            builder: builder.name,
          },
        },
        { signal },
      );
      outcome = await consume(client, stream, display, session, ref, signal, timing);
      timing("solve done");
    } catch (err) {
      display?.close();
      throw engineFailure(err, client);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      if (dropTimer !== undefined) clearTimeout(dropTimer);
    }
    if (outcome.kind === "error") {
      display?.close();
      return reportBuildError(outcome.error, ctx);
    }
    const result = outcome.result;
    if (call !== undefined) return printCall(call, result, io);
    await fetchExports(client, result, exporters, display, io, signal);
    await receiveCaches(client, result.cacheExports, cacheTo, signal).catch((err: unknown) => {
      throw engineFailure(err, client);
    });
    display?.close();
    const response = result.exporterResponse;
    if (display !== undefined && display.mode !== "quiet" && display.mode !== "rawjson") printWarnings(result, io);
    const imageId = response["containerimage.config.digest"] ?? response["containerimage.digest"] ?? "";
    if (progress === "quiet") io.stdout.write(`${imageId}\n`);
    if (iidfile !== undefined) await writeFile(resolve(io.cwd, iidfile), imageId);
    const metadataFile = flags.string("metadata-file");
    if (metadataFile !== undefined && metadataFile !== "") {
      const meta = decodeExporterResponse({ ...response, "buildx.build.ref": `${builder.name}/${node.Name}/${ref}` });
      await atomicWrite(resolve(io.cwd, metadataFile), JSON.stringify(meta, null, 2));
    }
    store.touch(builder.name);
    return 0;
  } finally {
    for (const a of keyAgents) a.close();
    client.close();
    await local?.cleanup();
  }
}

export async function consume(
  client: EngineClient,
  stream: AsyncIterable<{ event: { case: string | undefined; value?: unknown } }>,
  display: Display | undefined,
  session: BuildSession,
  ref: string,
  signal: AbortSignal,
  timing: (what: string) => void = () => undefined,
): Promise<{ kind: "result"; result: SolveResult } | { kind: "error"; error: BuildError }> {
  let first = true;
  for await (const msg of stream) {
    if (first) timing("first solve event");
    first = false;
    const ev = msg.event;
    switch (ev.case) {
      case "progress": {
        const p = progressFromWire(ev.value as Parameters<typeof progressFromWire>[0]);
        if (p !== undefined) display?.handle(p);
        break;
      }
      case "secretRequest": {
        const req = ev.value as { requestId: string; ids: string[] };
        const values: Record<string, Uint8Array> = {};
        for (const id of req.ids) {
          const s = session.secrets.find((x) => x.id === id);
          if (s !== undefined) values[id] = await s.read();
        }
        await call(client, "ProvideSecrets", () => client.service.provideSecrets({ ref, requestId: req.requestId, secrets: values }, { signal }));
        break;
      }
      case "credentialsRequest": {
        const req = ev.value as { requestId: string; host: string };
        const auth = await session.auth(req.host);
        await call(client, "ProvideCredentials", () => client.service.provideCredentials({ ref, requestId: req.requestId, ...auth }, { signal }));
        break;
      }
      case "sshRequest": {
        // Answered beside the stream: a step's agent conversation must not hold the progress back.
        const req = ev.value as { requestId: string; id: string; message: Uint8Array };
        const socket = session.ssh.get(req.id);
        void (async () => {
          let answer: { message: Uint8Array } | { error: string };
          try {
            if (socket === undefined) throw new Error(`no SSH agent "${req.id}" on the client`);
            answer = { message: await askAgent(socket, req.message, signal) };
          } catch (err) {
            answer = { error: (err as Error).message || "the SSH agent failed" };
          }
          await client.service.provideSshReply({ ref, requestId: req.requestId, ...answer }, { signal });
        })().catch(() => undefined);
        break;
      }
      case "result":
        return { kind: "result", result: ev.value as SolveResult };
      case "error":
        return { kind: "error", error: ev.value as BuildError };
      default:
        break;
    }
  }
  throw htkError("HTK-BUILDX-0024", { endpoint: client.endpoint });
}

/** BuildKit's error layout, after the progress: the step's block (printed by the display), the code frame, the message. */
function reportBuildError(e: BuildError, ctx: CommandContext): number {
  const { io } = ctx;
  if (e.canceled) {
    io.stderr.write("ERROR: failed to build: failed to solve: Canceled: context canceled\n");
    return 130;
  }
  if (e.rendered !== "") {
    io.stderr.write(`${e.rendered.trimEnd()}\n`);
    io.stderr.write(`ERROR: failed to build: failed to solve: ${e.message}\n`);
    return 1;
  }
  if (e.source !== undefined && e.source.ranges.length > 0) io.stderr.write(sourceFrame(e.source.filename, e.source.data, e.source.ranges));
  io.stderr.write(`ERROR: failed to build: failed to solve: ${e.message}\n`);
  // HATAKE's own diagnostic beside BuildKit's text, when the step's error is not Docker's exact text.
  if (e.diagnosticId !== "" && e.nextStep !== "" && !ctx.cli.debug) io.stderr.write(`  ${e.diagnosticId}: ${e.nextStep}\n`);
  return 1;
}

function printWarnings(result: SolveResult, io: CommandContext["io"]): void {
  const n = result.warnings.length;
  if (n === 0) return;
  let out = `\n ${n === 1 ? "1 warning found" : `${n} warnings found`} (use docker --debug to expand):\n`;
  for (const w of result.warnings) out += ` - ${w.short}\n`;
  io.stderr.write(out);
}

/** `--call` results as buildx prints them: the text form (or JSON with format=json); the status code is the exit code. */
function printCall(c: { name: string; format: string }, result: SolveResult, io: CommandContext["io"]): number {
  const r = result.exporterResponse;
  if (c.format === "json") io.stdout.write(`${r["result.json"] ?? ""}\n`);
  else io.stdout.write(r["result.txt"] ?? "");
  const code = Number(r["result.statuscode"] ?? "0");
  return Number.isInteger(code) ? code : 1;
}

/** Fetches file outputs (local, tar, oci, docker with dest) from the engine into their destinations. */
async function fetchExports(client: EngineClient, result: SolveResult, exporters: readonly Exporter[], display: Display | undefined, io: CommandContext["io"], signal: AbortSignal): Promise<void> {
  const files = exporters.filter((e) => e.type === "local" || e.type === "tar" || ((e.type === "oci" || e.type === "docker") && e.attrs["dest"] !== undefined));
  for (const [i, handle] of result.exports.entries()) {
    const exp = files[i];
    if (exp === undefined) continue;
    const dest = exp.attrs["dest"] ?? "";
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      for await (const c of client.service.readExport({ id: handle.id }, { signal })) yield c.data;
    };
    const index = display?.nextIndex() ?? 0;
    const name = exp.type === "local" ? "exporting to client directory" : exp.type === "tar" ? "exporting to client tarball" : `exporting to ${exp.type} image format`;
    const vertex = `sha256:${randomBytes(32).toString("hex")}` as const;
    const started = new Date().toISOString();
    display?.handle({ kind: "vertex-started", vertex, index, name, time: started });
    let bytes = 0;
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      for await (const c of chunks()) {
        bytes += c.length;
        yield c;
      }
    };
    try {
      if (handle.kind === "local") {
        const dir = resolve(io.cwd, dest);
        await mkdir(dir, { recursive: true }).catch((err: unknown) => {
          throw htkError("HTK-BUILDX-0025", { dest: dir, detail: (err as Error).message });
        });
        const tar = spawn("tar", ["-x", "-f", "-", "-C", dir, "--no-same-owner"], { stdio: ["pipe", "ignore", "pipe"] });
        let stderr = "";
        tar.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
        const done = new Promise<number | null>((r) => tar.on("close", r));
        // tar stops reading at the archive's end marker: the padding after it may find the pipe closed.
        tar.stdin.on("error", () => undefined);
        for await (const c of counted()) {
          if (tar.stdin.destroyed) continue;
          if (!tar.stdin.write(c)) await new Promise<void>((r) => {
            tar.stdin.once("drain", r);
            tar.stdin.once("close", r);
          });
        }
        tar.stdin.end();
        const code = await done;
        if (code !== 0) throw htkError("HTK-BUILDX-0025", { dest: dir, detail: stderr.trim() || `tar exited with ${code}` });
      } else if (dest === "-") {
        for await (const c of counted()) io.stdout.write(c);
      } else {
        const file = resolve(io.cwd, dest);
        await mkdir(dirname(file), { recursive: true }).catch((err: unknown) => {
          throw htkError("HTK-BUILDX-0025", { dest: file, detail: (err as Error).message });
        });
        await pipeline(Readable.from(counted()), createWriteStream(file));
      }
    } catch (err) {
      throw engineFailure(err, client);
    }
    const id = exp.type === "local" ? `copying files ${formatBytes(bytes)}` : "sending tarball";
    display?.handle({ kind: "status", vertex, index, time: new Date().toISOString(), status: { id, current: 0, started, completed: new Date().toISOString() } });
    display?.handle({ kind: "vertex-completed", vertex, index, time: new Date().toISOString() });
  }
}

/** A failure of the conversation with the engine (not of the build): in the plugin's terms. */
function engineFailure(err: unknown, client: EngineClient): unknown {
  return clientError(err, client.endpoint, "Solve");
}

/** BuildKit's frontend attributes for the build's options. */
function frontendAttrs(ctx: CommandContext, dockerfilePath: string, fileFlag: string | undefined, c: { name: string } | undefined): Record<string, string> {
  const { flags, io } = ctx;
  const a: Record<string, string> = { filename: fileFlag === "-" ? "Dockerfile" : dockerfilePath.split("/").at(-1) ?? "Dockerfile" };
  const target = flags.string("target");
  if (target !== undefined && target !== "") a["target"] = target;
  for (const kv of flags.list("build-arg")) {
    const eq = kv.indexOf("=");
    if (eq === 0) throw usage(`invalid key-value pair "${kv}": empty key`);
    if (eq < 0) {
      const v = io.env[kv];
      if (v !== undefined) a[`build-arg:${kv}`] = v;
    } else a[`build-arg:${kv.slice(0, eq)}`] = kv.slice(eq + 1);
  }
  if (io.env["SOURCE_DATE_EPOCH"] !== undefined && a["build-arg:SOURCE_DATE_EPOCH"] === undefined) a["build-arg:SOURCE_DATE_EPOCH"] = io.env["SOURCE_DATE_EPOCH"];
  for (const kv of flags.list("label")) {
    const eq = kv.indexOf("=");
    if (eq === 0) throw usage(`invalid key-value pair "${kv}": empty key`);
    a[`label:${eq < 0 ? kv : kv.slice(0, eq)}`] = eq < 0 ? "" : kv.slice(eq + 1);
  }
  const noCacheFilter = flags.list("no-cache-filter").flatMap((s) => s.split(",")).filter((s) => s !== "");
  if (flags.bool("no-cache")) a["no-cache"] = "";
  else if (noCacheFilter.length > 0) a["no-cache"] = noCacheFilter.join(",");
  if (flags.bool("pull")) a["image-resolve-mode"] = "pull";
  const platform = flags.list("platform")[0];
  if (platform !== undefined && platform !== "") a["platform"] = platform;
  const network = flags.string("network");
  if (network !== undefined && network !== "default") a["force-network-mode"] = network;
  const hosts = flags.list("add-host");
  if (hosts.length > 0) a["add-hosts"] = hosts.map((h) => h.replace(":", "=")).join(",");
  Object.assign(a, stepLimitAttrs(flags.string("shm-size"), flags.list("ulimit"), flags.string("cgroup-parent")));
  if (c !== undefined) a["requestid"] = `frontend.${c.name === "check" ? "lint" : c.name}`;
  return a;
}

/**
 * --shm-size, --ulimit, --cgroup-parent as buildx sends them (BuildKit's dockerfile frontend reads
 * them): `shm-size` in bytes when above 0, `ulimit` as `name=soft:hard` joined with commas (one per
 * name, the last given winning: buildx keeps them in a map), `cgroup-parent` as given. The flags
 * checked the values as they were parsed.
 */
export function stepLimitAttrs(shm: string | undefined, ulimitFlags: readonly string[], cgroupParent: string | undefined): Record<string, string> {
  const a: Record<string, string> = {};
  const bytes = shm === undefined ? undefined : parseRamInBytes(shm);
  if (bytes?.ok === true && bytes.value > 0) a["shm-size"] = String(bytes.value);
  const ulimits = new Map<string, UlimitValue>();
  for (const text of ulimitFlags) {
    const u = parseUlimit(text);
    if (u.ok) ulimits.set(u.value.name, u.value);
  }
  if (ulimits.size > 0) a["ulimit"] = [...ulimits.values()].map(formatUlimit).join(",");
  if (cgroupParent !== undefined && cgroupParent !== "") a["cgroup-parent"] = cgroupParent;
  return a;
}

/** buildx's ParseExports: `type=…,k=v`, a bare path (local), `-` (a tar on stdout); --push and --load. */
export function parseExports(outputs: readonly string[], push: boolean, load: boolean): Exporter[] {
  const out: Exporter[] = [];
  for (const o of outputs) {
    const attrs: Record<string, string> = {};
    let type = "";
    const fields = splitCsv(o);
    if (fields.length === 1 && !(fields[0] as string).includes("=")) {
      const dest = fields[0] as string;
      out.push(dest === "-" ? { type: "tar", attrs: { dest } } : { type: "local", attrs: { dest } });
      continue;
    }
    for (const f of fields) {
      const eq = f.indexOf("=");
      if (eq < 0) throw usage(`invalid value ${f}`);
      const k = f.slice(0, eq).trim().toLowerCase();
      if (k === "type") type = f.slice(eq + 1);
      else attrs[k] = f.slice(eq + 1);
    }
    if (type === "") {
      if (attrs["dest"] === undefined) throw usage("type is required for output");
      type = "local";
    }
    if (type === "registry") {
      type = "image";
      attrs["push"] = "true";
    }
    out.push({ type, attrs });
  }
  if (push) {
    const image = out.find((e) => e.type === "image");
    if (image !== undefined) image.attrs["push"] = "true";
    else out.push({ type: "image", attrs: { push: "true" } });
  }
  if (load && !out.some((e) => e.type === "docker" && e.attrs["dest"] === undefined)) out.push({ type: "docker", attrs: {} });
  return out;
}

/** buildx's ParseSecretSpecs: `id=ID[,src=FILE|,env=VAR][,type=file|env]`; the value is read only when the engine asks. */
export function parseSecret(spec: string, env: NodeJS.ProcessEnv, cwd: string): SecretSpec {
  let id = "";
  let src = "";
  let envName = "";
  let type = "";
  for (const f of splitCsv(spec)) {
    const eq = f.indexOf("=");
    if (eq < 0) throw usage(`invalid field '${f}' must be a key=value pair`);
    const k = f.slice(0, eq).trim().toLowerCase();
    const v = f.slice(eq + 1);
    if (k === "type") {
      if (v !== "file" && v !== "env") throw usage(`unsupported secret type ${JSON.stringify(v)}`);
      type = v;
    } else if (k === "id") id = v;
    else if (k === "source" || k === "src") src = v;
    else if (k === "env") envName = v;
    else throw usage(`unexpected key '${k}' in '${f}'`);
  }
  if (type === "env" && envName === "") envName = src;
  if (envName !== "" && src !== "" && type !== "env") throw usage("src and env can't be used together");
  if (id === "") id = envName !== "" ? envName : src.split("/").at(-1) ?? "";
  if (id === "") throw usage(`invalid secret ${spec}`);
  const read = async (): Promise<Uint8Array> => {
    if (envName !== "") return new TextEncoder().encode(env[envName] ?? "");
    if (src === "" && env[id] !== undefined) return new TextEncoder().encode(env[id]);
    try {
      return await readFile(resolve(cwd, src === "" ? id : src));
    } catch (err) {
      throw htkError("HTK-BUILDX-0026", { id, detail: (err as Error).message });
    }
  };
  return { id, read };
}

type NamedContextSpec =
  /** A directory synced under `local`; `attr` when the attribute is not `local:LOCAL` (an OCI layout's). */
  | { readonly name: string; readonly kind: "local"; readonly local: string; readonly dir: string; readonly attr?: string }
  | { readonly name: string; readonly kind: "passed"; readonly value: string };

/**
 * buildx's --build-context NAME=VALUE: the name as Docker's familiar reference (without `:latest`);
 * `docker-image://`, `target:`, `oci-layout://` and URLs go to the builder as they are, anything else
 * is a directory the client sends (local name `_context` / `_dockerfile` for those two names).
 */
export function parseBuildContexts(values: readonly string[], cwd: string): NamedContextSpec[] {
  const out = new Map<string, NamedContextSpec>();
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq < 0) throw htkError("HTK-BUILDX-0080", { buildxMessage: `invalid context value: ${v}, expected key=value` });
    const key = v.slice(0, eq);
    const value = v.slice(eq + 1);
    if (key === "" || key !== key.toLowerCase()) throw htkError("HTK-BUILDX-0080", { buildxMessage: `invalid context name ${key}: invalid reference format${key === "" ? "" : ": repository name must be lowercase"}` });
    const name = key.replace(/^docker\.io\/(library\/)?/, "").replace(/:latest$/, "");
    if (value.startsWith("oci-layout://")) {
      const layout = resolveOciLayout(value, cwd);
      const local = `oci-layout-${name.replace(/[^a-z0-9._-]/g, "-")}`;
      out.set(name, { name, kind: "local", local, dir: layout.dir, attr: `oci-layout://${local}:${layout.tag}@${layout.digest}` });
      continue;
    }
    if (/^(docker-image|oci-layout):\/\//.test(value) || value.startsWith("target:") || /^(https?|git|ssh):\/\//.test(value) || value.startsWith("git@") || value.startsWith("github.com/")) {
      out.set(name, { name, kind: "passed", value });
      continue;
    }
    const dir = resolve(cwd, value);
    let st;
    try {
      st = statSync(dir);
    } catch {
      throw htkError("HTK-BUILDX-0080", { buildxMessage: `failed to get build context ${name}: stat ${value}: no such file or directory` });
    }
    if (!st.isDirectory()) throw htkError("HTK-BUILDX-0080", { buildxMessage: `failed to get build context path {${value}  <nil>}: not a directory` });
    out.set(name, { name, kind: "local", local: name === "context" || name === "dockerfile" ? `_${name}` : name, dir });
  }
  return [...out.values()];
}

/** buildx's ParseEntitlements (BuildKit's names), plus network.host for --network=host as buildx adds it. */
export function parseEntitlements(values: readonly string[], network: string | undefined): string[] {
  const out: string[] = [];
  for (const v of values.flatMap((x) => x.split(","))) {
    if (v === "") continue;
    if (v !== "network.host" && v !== "security.insecure") throw htkError("HTK-BUILDX-0080", { buildxMessage: `unknown entitlement ${v}` });
    if (!out.includes(v)) out.push(v);
  }
  if (network === "host" && !out.includes("network.host")) out.push("network.host");
  return out;
}

function callFunc(value: string, check: boolean): { name: string; format: string } | undefined {
  const spec = check ? "check" : value;
  const fields = splitCsv(spec);
  let name = "";
  let format = "";
  for (const f of fields) {
    const eq = f.indexOf("=");
    if (eq < 0) name = f;
    else if (f.slice(0, eq) === "format") format = f.slice(eq + 1);
  }
  if (name === "build" || name === "") return undefined;
  if (!["check", "outline", "targets"].includes(name)) throw usage(`invalid call ${JSON.stringify(name)}`);
  return { name, format };
}

/** buildx's decodeExporterResponse: base64 JSON values become objects, the rest stays text. */
export function decodeExporterResponse(resp: Readonly<Record<string, string>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resp).sort(([a], [b]) => a.localeCompare(b))) {
    const text = k === "result.json" ? v : /^[A-Za-z0-9+/]+={0,2}$/.test(v) && v.length % 4 === 0 ? Buffer.from(v, "base64").toString("utf8") : undefined;
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed !== null && typeof parsed === "object" && Object.keys(parsed).length > 0) {
          out[k] = parsed;
          continue;
        }
      } catch {
        // Not JSON: kept as text.
      }
    }
    out[k] = v;
  }
  return out;
}

async function atomicWrite(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

function usage(message: string): Error {
  return htkError("HTK-BUILDX-0020", { buildxMessage: message });
}

