import { readFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { parseReference, referenceName, referenceString, sha256Of, withDigest, type Digest, type Reference } from "../../base/oci/index.ts";
import { PlainPrinter } from "../../base/progress/index.ts";
import { DockerConfigCredentials, RegistryClient } from "../../base/registry/index.ts";
import { combine, copySource, filterPlatforms, parsePlatformFilters, parseAnnotations, parseSource, type KeptManifest, type Source } from "../imagetools/create.ts";
import { loadTarget, prettyInspect, templateInspect } from "../imagetools/inspect.ts";
import { SpoolStore } from "../imagetools/spool-store.ts";
import type { CommandContext } from "../types.ts";

/**
 * `docker buildx imagetools inspect|create`: registries are reached from the client, as buildx does,
 * with the docker CLI's credentials (config.json, credential helpers) — never through the engine.
 */
function registryClient(ctx: CommandContext): RegistryClient {
  return new RegistryClient({ credentials: new DockerConfigCredentials({ configDir: ctx.cli.configDir, env: ctx.io.env }) });
}

async function withRegistry<T>(ctx: CommandContext, fn: (client: RegistryClient, store: SpoolStore) => Promise<T>): Promise<T> {
  const client = registryClient(ctx);
  const store = await SpoolStore.open();
  try {
    return await fn(client, store);
  } finally {
    await store.close();
    await client.close();
  }
}

export async function runImagetoolsInspect(ctx: CommandContext): Promise<number> {
  const format = ctx.flags.string("format") ?? "";
  const raw = ctx.flags.bool("raw");
  if (format !== "" && raw) throw htkError("HTK-BUILDX-0100", {});
  const name = ctx.args[0] as string;
  return withRegistry(ctx, async (client, store) => {
    const target = await loadTarget(client, name, ctx.signal);
    // --raw: the registry's bytes exactly, no newline (their digest is the image's).
    if (raw) ctx.io.stdout.write(target.bytes);
    else if (format === "") ctx.io.stdout.write(prettyInspect(target));
    else ctx.io.stdout.write(await templateInspect(client, store, target, name, format, ctx.signal));
    return 0;
  });
}

function parseTag(input: string): Reference {
  const r = parseReference(input);
  if (!r.ok) throw htkError("HTK-BUILDX-0110", { reference: input, detail: r.error });
  return r.value;
}

export async function runImagetoolsCreate(ctx: CommandContext): Promise<number> {
  const files = ctx.flags.list("file");
  const tagArgs = ctx.flags.list("tag");
  const dryRun = ctx.flags.bool("dry-run");
  if (ctx.args.length === 0 && files.length === 0) throw htkError("HTK-BUILDX-0101", {});
  if (!dryRun && tagArgs.length === 0) throw htkError("HTK-BUILDX-0102", {});
  let args = [...files.map((f) => readFileSync(f, "utf8")), ...ctx.args];
  const tags = tagArgs.map(parseTag);
  if (ctx.flags.bool("append") && tagArgs.length > 0) args = [tagArgs[0] as string, ...args];
  const srcs: Source[] = args.map(parseSource);
  const repos = new Set<string>(tags.map(referenceName));
  let sourceRefs = false;
  for (const s of srcs) {
    if (s.ref !== undefined) {
      repos.add(referenceName(s.ref));
      sourceRefs = true;
    }
  }
  if (repos.size === 0) throw htkError("HTK-BUILDX-0104", {});
  const defaultRepo = repos.size === 1 ? [...repos][0] : undefined;
  for (const [i, s] of srcs.entries()) {
    if (s.ref !== undefined) continue;
    if (defaultRepo === undefined) throw htkError("HTK-BUILDX-0105", { source: args[i] ?? "" });
    const repo = parseTag(defaultRepo);
    if ((s.desc.mediaType === undefined || s.desc.mediaType === "") && s.desc.digest !== undefined) {
      s.ref = withDigest(repo, s.desc.digest);
      sourceRefs = true;
    } else s.ref = { ...repo, tag: "latest" };
  }
  const annotations = parseAnnotations(ctx.flags.list("annotation"));
  const platforms = parsePlatformFilters(ctx.flags.list("platform"));
  const metadataFile = ctx.flags.string("metadata-file") ?? "";
  const preferIndex = ctx.flags.bool("prefer-index");
  return withRegistry(ctx, async (client, store) => {
    if (sourceRefs) {
      for (const s of srcs) {
        if (s.ref === undefined) continue;
        const ref = s.ref.tag === undefined && s.ref.digest === undefined ? { ...s.ref, tag: "latest" } : s.ref;
        const { descriptor } = await client.resolve(ref, { signal: ctx.signal });
        if (s.desc.digest === undefined) s.desc = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
        else {
          // buildx's mergeDesc: the registry's descriptor, with what the given one adds.
          if (s.desc.size !== undefined && s.desc.size !== 0 && s.desc.size !== descriptor.size) {
            throw htkError("HTK-BUILDX-0103", { source: referenceString(ref), detail: `invalid size mismatch for ${descriptor.digest}, ${s.desc.size} != ${descriptor.size}` });
          }
          s.desc = {
            ...s.desc,
            digest: descriptor.digest,
            size: descriptor.size,
            mediaType: s.desc.mediaType !== undefined && s.desc.mediaType !== "" ? s.desc.mediaType : descriptor.mediaType,
          };
        }
      }
    }
    const combined = await combine(client, store, srcs, annotations, preferIndex, ctx.signal);
    // --platform: buildx's filterPlatforms; the manifests kept are then copied one by one from their sources.
    const filtered = platforms.length > 0 ? filterPlatforms(combined, platforms) : undefined;
    const result = filtered?.combined ?? combined;
    const kept: readonly KeptManifest[] | undefined = filtered !== undefined && filtered.manifests.length > 0 ? filtered.manifests : undefined;
    if (dryRun) {
      ctx.io.stdout.write(`${result.bytes.toString("utf8")}\n`);
      return 0;
    }
    const quiet = ["quiet", "none"].includes(ctx.flags.string("progress") ?? "auto");
    const printer = new PlainPrinter((t) => void (quiet ? undefined : ctx.io.stderr.write(t)));
    let index = 1;
    for (const [i, t] of tags.entries()) {
      const vertex = sha256Of(`imagetools-push-${i}-${referenceString(t)}`) as Digest;
      const now = (): string => new Date().toISOString();
      const log = (text: string): void => printer.handle({ kind: "log", vertex, index, time: now(), stream: 1, data: Buffer.from(text) });
      printer.handle({ kind: "vertex-started", vertex, index, name: `[internal] pushing ${referenceString(t)}`, time: now() });
      try {
        const copies = kept?.map((k) => ({ ref: k.source.ref as Reference, desc: k.descriptor })) ?? srcs.map((s) => ({ ref: s.ref as Reference, desc: { mediaType: s.desc.mediaType ?? "", digest: s.desc.digest as Digest, size: s.desc.size ?? 0 } }));
        for (const { ref, desc } of copies) {
          if (ref.domain === t.domain && ref.path === t.path) continue;
          log(`copying ${desc.digest} from ${referenceString(ref)} to ${referenceString(t)}\n`);
          await copySource(client, store, ref, desc, t, ctx.signal);
        }
        log(`pushing ${result.descriptor.digest} to ${referenceString(t)}\n`);
        await client.putManifest(t, t.tag ?? (t.digest === undefined ? "latest" : t.digest), result.descriptor, result.bytes, { signal: ctx.signal });
        printer.handle({ kind: "vertex-completed", vertex, index, time: now() });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        printer.handle({ kind: "vertex-errored", vertex, index, time: now(), error: { id: "", message } });
        throw err;
      }
      index++;
    }
    if (metadataFile !== "") {
      // buildx's metadata: the pushed descriptor and the names (Go's sorted map keys, indented).
      const d = result.descriptor;
      const meta = { "containerimage.descriptor": { mediaType: d.mediaType, digest: d.digest, size: d.size }, "image.name": tags.map(referenceName).join(",") };
      const path = resolve(ctx.io.cwd, metadataFile);
      await writeFile(`${path}.tmp`, JSON.stringify(meta, null, 2));
      await rename(`${path}.tmp`, path);
    }
    return 0;
  });
}
