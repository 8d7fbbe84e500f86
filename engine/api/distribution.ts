import { htkError, isHtkError } from "../../base/errors/index.ts";
import { parseImageConfig, parseManifestDocument, parseReference, type Platform } from "../../base/oci/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { isFullId, parseName } from "../images/index.ts";
import { RequestRegistries, decodeRegistryAuth, withRegistryStatus } from "./registry-auth.ts";
import { headerValue } from "./query-params.ts";
import { sendJson } from "./respond.ts";
import type { Route } from "./types.ts";

/**
 * `GET /distribution/{name}/json`: what the registry says a reference is, without pulling: the
 * descriptor of the manifest or index the tag (`:latest` added) or digest names, and its platforms
 * (an index's entries, or a manifest's config's os/architecture), as Docker 26's distribution router.
 */
export function distributionRoutes(services: EngineServices): Route[] {
  const registries = new RequestRegistries(services.registry);
  return [
    {
      method: "GET",
      pattern: "/distribution/{name:.*}/json",
      query: [],
      handle: (ctx) => withRegistryStatus(ctx, async () => {
        const name = ctx.params["name"] ?? "";
        if (isFullId(name)) throw htkError("HTK-ENGINE-0200", { reference: name.startsWith("sha256:") ? name : `sha256:${name}` });
        parseName(name);
        const parsed = parseReference(name);
        if (!parsed.ok) throw htkError("HTK-ENGINE-0201", { detail: "" });
        const ref = parsed.value.tag === undefined && parsed.value.digest === undefined ? { ...parsed.value, tag: "latest" } : parsed.value;
        const registry = registries.for(decodeRegistryAuth(headerValue(ctx.req.headers["x-registry-auth"])));
        const doc = await registry.manifestDocument(ref, { signal: ctx.signal });
        const parsedDoc = parseManifestDocument(doc.bytes, doc.descriptor.mediaType);
        const platforms: Platform[] = [];
        let mediaType = doc.descriptor.mediaType;
        if (parsedDoc.ok) {
          if (parsedDoc.value.kind === "index") {
            mediaType = parsedDoc.value.index.mediaType ?? mediaType;
            for (const m of parsedDoc.value.index.manifests) if (m.platform !== undefined) platforms.push(m.platform);
          } else {
            mediaType = parsedDoc.value.manifest.mediaType ?? mediaType;
            const config = parsedDoc.value.manifest.config;
            try {
              await registry.fetchBlob(ref, config, services.images.content, { signal: ctx.signal });
              const c = parseImageConfig(await services.images.content.readBytes(config.digest, { signal: ctx.signal }));
              if (c.ok && (c.value.os !== "" || c.value.architecture !== "")) {
                platforms.push({
                  architecture: c.value.architecture,
                  os: c.value.os,
                  ...(c.value["os.version"] !== undefined && c.value["os.version"] !== "" ? { "os.version": c.value["os.version"] } : {}),
                  ...(c.value.variant !== undefined && c.value.variant !== "" ? { variant: c.value.variant } : {}),
                });
              }
            } catch (err) {
              // Docker leaves the platforms out when the config cannot be fetched.
              if (!isHtkError(err)) throw err;
            }
          }
        }
        sendJson(ctx.res, 200, {
          Descriptor: { mediaType, digest: doc.descriptor.digest, size: doc.descriptor.size },
          Platforms: platforms.length > 0 ? platforms : null,
        });
      }),
    },
  ];
}

