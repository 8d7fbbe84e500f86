import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { htkError, renderError } from "../../base/errors/index.ts";
import { parseCacheFrom, parseCacheTo } from "../../cache/remote/index.ts";
import { runLocalBuild, type BuildOutput } from "../../engine/build/local-build.ts";
import { buildThroughEngine } from "./build-engine.ts";
import { loadSshSources } from "../../engine/build/ssh-sources.ts";
import { buildPlatform } from "../../engine/build/platforms.ts";
import { checkedLimits, type StepLimits } from "../../engine/build/step-limits.ts";
import { parseRamInBytes, parseUlimit, type UlimitValue } from "../../base/units.ts";
import type { ProgressMode } from "../../solver/index.ts";
import type { Entitlement } from "../../frontend-dockerfile/index.ts";
import type { NetworkMode } from "../../llb/index.ts";
import { parseOptions } from "../options.ts";
import type { Command } from "../types.ts";

const HELP = `Usage: hatake build [OPTIONS] PATH

Builds a Dockerfile with the HATAKE builder. Without --data-root the build runs in the engine
(DOCKER_HOST, else HATAKE's own socket) through this installation's docker-buildx plugin, with
buildx's flags, output and exit codes (the image lands in the engine's store). With --data-root DIR
it runs in this process on that state folder. Flags are those of docker buildx build.

Options:
  -f, --file string            Name of the Dockerfile (default: PATH/Dockerfile)
      --target string          Stage to build
      --build-arg list         Build-time variables (NAME=VALUE)
  -o, --output list            Output destination: type=local,dest=DIR | type=tar,dest=FILE |
                               type=oci,dest=FILE | type=docker,dest=FILE | DIR |
                               type=image[,name=NAME][,push=true] | type=registry[,name=NAME] |
                               type=docker (no dest: as --load)
      --load                   Load the image into the data root's image store (-o type=docker),
                               under the -t names if any. For an engine's image store instead:
                               -o type=docker,dest=FILE, then docker load -i FILE
      --push                   Push the image to its registry (-o type=registry with the -t names)
  -t, --tag list               Name the image in the data root's image store (NAME[:TAG])
      --secret list            Secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR
      --platform list          Target platform: only this machine's own (no emulation here)
      --allow list             Allow extra privileged entitlement: network.host, security.insecure
      --network string         Network of RUN steps: default (own namespace, outbound through a
                               build bridge), none, host (implies --allow network.host)
      --shm-size bytes         Size of /dev/shm of RUN steps (128m, 1g; default 64m)
      --ulimit ulimit          Resource limit of RUN steps, repeatable: NAME=SOFT[:HARD]
                               (nofile=1024:2048, nproc, core, memlock, stack …; -1 unlimited)
      --cgroup-parent string   Parent cgroup of RUN steps (each runs in PARENT/buildkit/ID)
      --ssh list               SSH agent for RUN --mount=type=ssh: default ($SSH_AUTH_SOCK),
                               ID=SOCKET or ID=KEYFILE[,KEYFILE…]
      --progress string        auto, plain, tty, rawjson or quiet (default "auto")
  -q, --quiet                  Print nothing but errors (--progress=quiet)
      --no-cache               Do not use the cache when building
      --explain-cache          Say, for every step that ran, what changed since the last build
      --cache-from list        Use a remote build cache: REF, type=registry,ref=REF,
                               type=local,src=DIR[,tag=TAG]; IMAGE for an inline cache
      --cache-to list          Export the build cache: type=registry,ref=REF[,mode=min|max,
                               image-manifest=true|false,oci-mediatypes=true|false,
                               compression=gzip|uncompressed,ignore-error=true,
                               cache-mounts=true|ID;ID],
                               type=local,dest=DIR[,tag=TAG,…] or type=inline
      --metadata-file string   Write build result metadata to a file
      --gc-keep-storage size   After the build, remove least-recently-used cache until it fits
                               (also HATAKE_BUILD_GC_KEEP; cache mounts stay)
      --data-root string       Build in this process on this state folder instead of the engine
                               (--explain-cache and --gc-keep-storage need it)

RUN steps and registry images run on the runtime worker (crun, overlay snapshots) when crun is
usable here (root, crun installed); otherwise the file worker is used (said on stderr) and they fail
with HTK-RUNTIME-0001. HATAKE_BUILD_WORKER=file forces the file worker.
`;

export const buildCommand: Command = {
  name: "build",
  summary: "Build from a Dockerfile",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseOptions("build", args, {
      file: { type: "string", short: "f" },
      target: { type: "string" },
      "build-arg": { type: "string", multiple: true },
      output: { type: "string", short: "o", multiple: true },
      progress: { type: "string" },
      quiet: { type: "boolean", short: "q" },
      "no-cache": { type: "boolean" },
      "explain-cache": { type: "boolean" },
      "metadata-file": { type: "string" },
      "gc-keep-storage": { type: "string" },
      "data-root": { type: "string" },
      tag: { type: "string", short: "t", multiple: true },
      secret: { type: "string", multiple: true },
      ssh: { type: "string", multiple: true },
      "cache-from": { type: "string", multiple: true },
      "cache-to": { type: "string", multiple: true },
      platform: { type: "string", multiple: true },
      push: { type: "boolean" },
      load: { type: "boolean" },
      allow: { type: "string", multiple: true },
      network: { type: "string" },
      "shm-size": { type: "string" },
      ulimit: { type: "string", multiple: true },
      "cgroup-parent": { type: "string" },
    });
    if (values["data-root"] === undefined) return buildThroughEngine(args, io);
    const [context, ...extra] = positionals;
    if (context === undefined || extra.length > 0) {
      throw htkError("HTK-CLI-0002", { command: "build", detail: `it takes exactly one PATH argument (got ${positionals.length})` });
    }
    const progress = values.quiet === true ? "quiet" : parseProgress(values.progress ?? "auto");
    const result = await runLocalBuild({
      dataRoot: resolve(io.cwd, values["data-root"]),
      contextDir: context,
      ...(values.file === undefined ? {} : { dockerfile: values.file }),
      ...(values.target === undefined ? {} : { target: values.target }),
      buildArgs: parseBuildArgs(values["build-arg"] ?? [], io.env),
      noCache: values["no-cache"] === true,
      outputs: withShorthands((values.output ?? []).map(parseOutput), values.push === true, values.load === true),
      progress,
      progressOut: io.stderr as NodeJS.WritableStream & { isTTY?: boolean },
      explainCache: values["explain-cache"] === true,
      signal: io.signal,
      cwd: io.cwd,
      ...gcOption(values["gc-keep-storage"] ?? io.env["HATAKE_BUILD_GC_KEEP"]),
      tags: values.tag ?? [],
      secrets: await parseSecrets(values.secret ?? [], io.env, io.cwd),
      ...(values.ssh === undefined ? {} : { ssh: await loadSshSources(values.ssh, io.env, io.cwd) }),
      ...(values.platform === undefined ? {} : { platform: buildPlatform(values.platform) }),
      ...(io.env["HATAKE_BUILD_WORKER"] === "file" ? { worker: "file" as const } : {}),
      cacheFrom: (values["cache-from"] ?? []).map(parseCacheFrom),
      cacheTo: (values["cache-to"] ?? []).map(parseCacheTo),
      entitlements: parseAllow(values.allow ?? []),
      ...(values.network === undefined ? {} : { network: parseNetwork(values.network) }),
      limits: parseStepLimits(values["shm-size"], values.ulimit ?? [], values["cgroup-parent"]),
    });
    switch (result.kind) {
      case "invalid-dockerfile":
        io.stderr.write(`${result.rendered}\n`);
        return 1;
      case "checks-failed":
        io.stderr.write(`${result.rendered}\nERROR: failed to solve: ${result.message}\n`);
        return 1;
      case "canceled":
        io.stderr.write("ERROR: canceled\n");
        return 130;
      case "failed":
        for (const line of result.explanation) io.stderr.write(`${line}\n`);
        // BuildKit's last line, then our next step and the chain of causes (the worker's own diagnostic).
        io.stderr.write(`ERROR: failed to solve: ${renderError(result.error).replace(/^ERROR /, "")}\n`);
        return 1;
      case "completed":
        if (result.warnings !== "") io.stderr.write(`${result.warnings}\n`);
        if (result.checkWarnings.length > 0) {
          const n = result.checkWarnings.length;
          io.stderr.write(`\n ${n} warning${n === 1 ? "" : "s"} found (use hatake dockerfile check to expand):\n`);
          for (const w of result.checkWarnings) io.stderr.write(` - ${w}\n`);
        }
        for (const line of result.explanation) io.stderr.write(`${line}\n`);
        if (values["metadata-file"] !== undefined) {
          const meta = {
            "buildx.build.ref": `hatake/local/${result.record.id}`,
            ...(result.exported === undefined ? {} : { "containerimage.config.digest": result.exported.id, "containerimage.digest": result.exported.manifest.digest }),
          };
          await writeFile(resolve(io.cwd, values["metadata-file"]), `${JSON.stringify(meta, null, 2)}\n`);
        }
        return 0;
    }
  },
};

function parseProgress(value: string): ProgressMode {
  const modes: readonly ProgressMode[] = ["auto", "plain", "tty", "rawjson", "quiet"];
  if ((modes as readonly string[]).includes(value)) return value as ProgressMode;
  throw htkError("HTK-CLI-0002", { command: "build", detail: `--progress "${value}" is not one of ${modes.join(", ")}` });
}

/** `NAME=VALUE`, or `NAME` alone to take the value from the environment (docker's rule). */
export function parseBuildArgs(list: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    if (eq === 0) throw htkError("HTK-CLI-0002", { command: "build", detail: `cannot parse build arg "${item}": expected NAME=VALUE` });
    if (eq < 0) {
      const v = env[item];
      if (v !== undefined) out[item] = v;
    } else {
      out[item.slice(0, eq)] = item.slice(eq + 1);
    }
  }
  return out;
}

/**
 * buildx's shorthands: --push adds -o type=registry (the -t names); --load adds -o type=docker
 * unless one without dest is there. An image loaded "into docker" is, for a build on a data root,
 * an image in that data root's image store: buildx's docker driver turns such an output into
 * type=image, and so do we.
 */
export function withShorthands(outputs: readonly BuildOutput[], push: boolean, load: boolean): BuildOutput[] {
  const out = [...outputs];
  if (push) out.push({ type: "image", names: [], push: true });
  if (load && !out.some((o) => o.type === "image" && !o.push)) out.push({ type: "image", names: [], push: false });
  return out;
}

/** The engine a --load would target, as the docker CLI finds it (for the message). */
/** buildx's -o forms: `type=local,dest=DIR`, `type=tar,dest=FILE`, or a bare path (local). */
export function parseOutput(spec: string): BuildOutput {
  if (!spec.includes("=")) {
    if (spec === "-") throw htkError("HTK-CLI-0004", { option: "-o -", command: "build", where: "in in-process builds", alternative: "Write the tar to a file: -o type=tar,dest=FILE." });
    return { type: "local", dest: spec };
  }
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw htkError("HTK-CLI-0002", { command: "build", detail: `cannot parse output "${spec}": "${part}" is not KEY=VALUE` });
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1));
  }
  const type = fields.get("type") ?? "local";
  if (type === "image" || type === "registry") {
    // buildx: `name=` (else the -t names), `push=true` (implied by type=registry).
    const name = fields.get("name");
    const push = type === "registry" || /^(true|1)$/i.test(fields.get("push") ?? "false");
    return { type: "image", names: name === undefined || name === "" ? [] : [name], push };
  }
  const dest = fields.get("dest");
  // buildx: a docker output without dest is loaded into the image store (--load).
  if (type === "docker" && dest === undefined) {
    const name = fields.get("name");
    return { type: "image", names: name === undefined || name === "" ? [] : [name], push: false };
  }
  if (dest === undefined) throw htkError("HTK-CLI-0002", { command: "build", detail: `output "${spec}" has no dest` });
  if (type === "local" || type === "tar" || type === "oci" || type === "docker") return { type, dest };
  throw htkError("HTK-CLI-0004", { option: `-o type=${type}`, command: "build", where: "in in-process builds", alternative: "Use -o type=local|tar|oci|docker,dest=… or -o type=image|registry[,name=…]." });
}

/**
 * buildx's `--secret` forms: `id=ID,src=FILE` (also `source=`), `id=ID,env=VAR`, `type=file|env`; a
 * missing id is the file's base name (buildx's rule); `id=ID` alone reads the variable ID, then the file ID.
 */
export async function parseSecrets(list: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const item of list) {
    const fields = new Map<string, string>();
    for (const part of item.split(",")) {
      const eq = part.indexOf("=");
      if (eq <= 0) throw htkError("HTK-CLI-0002", { command: "build", detail: `cannot parse secret "${item}": "${part}" is not KEY=VALUE` });
      fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1));
    }
    const src = fields.get("src") ?? fields.get("source");
    const fromEnv = fields.get("env");
    const type = fields.get("type");
    const id = fields.get("id") ?? (src !== undefined ? (src.split("/").at(-1) ?? "") : fromEnv);
    if (id === undefined || id === "") throw htkError("HTK-CLI-0002", { command: "build", detail: `secret "${item}" has no id` });
    if (fromEnv !== undefined || (type === "env" && src === undefined)) {
      const v = env[fromEnv ?? id];
      if (v === undefined) throw htkError("HTK-CLI-0002", { command: "build", detail: `secret "${id}": the environment variable ${fromEnv ?? id} is not set` });
      out[id] = new TextEncoder().encode(v);
      continue;
    }
    const path = src ?? id;
    try {
      out[id] = await readFile(resolve(cwd, path));
    } catch (err) {
      if (src === undefined && env[id] !== undefined) {
        out[id] = new TextEncoder().encode(env[id]);
        continue;
      }
      throw htkError("HTK-CLI-0002", { command: "build", detail: `secret "${id}": cannot read ${path}: ${(err as Error).message}` });
    }
  }
  return out;
}

/** `--allow network.host,security.insecure` (repeatable, comma lists), buildx's names. */
function parseAllow(values: readonly string[]): Entitlement[] {
  const out: Entitlement[] = [];
  for (const v of values.flatMap((x) => x.split(","))) {
    const e = v.trim();
    if (e === "") continue;
    if (e !== "network.host" && e !== "security.insecure") throw htkError("HTK-BUILD-0411", { entitlement: e });
    out.push(e);
  }
  return out;
}

function parseNetwork(value: string): NetworkMode {
  if (value === "default" || value === "none" || value === "host") return value;
  throw htkError("HTK-BUILD-0412", { network: value });
}

/** --shm-size, --ulimit and --cgroup-parent as docker buildx build parses them (go-units, its texts: HTK-BUILD-0424). */
export function parseStepLimits(shm: string | undefined, ulimitFlags: readonly string[], cgroupParent: string | undefined): StepLimits {
  let shmSize = 0;
  if (shm !== undefined) {
    const r = parseRamInBytes(shm);
    if (!r.ok) throw htkError("HTK-BUILD-0424", { value: shm, flag: "--shm-size", detail: r.message });
    shmSize = r.value;
  }
  const ulimits = new Map<string, UlimitValue>();
  for (const text of ulimitFlags) {
    const r = parseUlimit(text);
    if (!r.ok) throw htkError("HTK-BUILD-0424", { value: text, flag: "--ulimit", detail: r.message });
    ulimits.set(r.value.name, r.value);
  }
  return checkedLimits({
    ...(shmSize > 0 ? { shmSize } : {}),
    ...(ulimits.size === 0 ? {} : { ulimits: [...ulimits.values()] }),
    ...(cgroupParent === undefined || cgroupParent === "" ? {} : { cgroupParent }),
  });
}

function gcOption(text: string | undefined): { gcKeepStorage?: number } {
  if (text === undefined || text === "") return {};
  const bytes = parseRamInBytes(text);
  if (!bytes.ok) throw htkError("HTK-CLI-0002", { command: "build", detail: `--gc-keep-storage "${text}" is not a size such as 10GB or 512MiB` });
  return { gcKeepStorage: bytes.value };
}
