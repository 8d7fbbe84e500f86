import { createHash } from "node:crypto";
import type { ApiClient, Fixture, ImplementedOperation } from "./implemented.ts";

/**
 * The Image, Distribution and auth operations (issues 7 and 8). The conformance engines have no
 * registry, so images come from `docker import` of an empty tar and `docker load` of an archive made
 * here; what needs a registry (a pull, a push that completes, a login that succeeds, a distribution
 * inspect) is checked through its error answers here and with real registries in
 * engine/api/images.e2e.test.ts.
 */

/** An empty tar: the end-of-archive marker, two zero blocks. */
const EMPTY_TAR = Buffer.alloc(1024);

/** One ustar entry (a regular file), enough for a `docker save`-style archive. */
function tarEntry(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string): void => void header.write(value, offset, length, "ascii");
  field(0, 100, name);
  field(100, 8, "0000644\0");
  field(108, 8, "0000000\0");
  field(116, 8, "0000000\0");
  field(124, 12, `${content.length.toString(8).padStart(11, "0")}\0`);
  field(136, 12, "00000000000\0");
  field(148, 8, "        ");
  field(156, 1, "0");
  field(257, 6, "ustar\0");
  field(263, 2, "00");
  let sum = 0;
  for (const b of header) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding]);
}

/** A `docker save` archive (Docker 25+ blob paths) of one image with an empty layer, tagged `name`. */
function loadArchive(name: string): Buffer {
  const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
  const layer = EMPTY_TAR;
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, created: "2024-01-01T00:00:00Z", rootfs: { type: "layers", diff_ids: [`sha256:${sha(layer)}`] }, history: [{ created: "2024-01-01T00:00:00Z", comment: "conformance" }] }));
  const manifest = Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${sha(config)}`, RepoTags: [name], Layers: [`blobs/sha256/${sha(layer)}`] }]));
  return Buffer.concat([tarEntry(`blobs/sha256/${sha(config)}`, config), tarEntry(`blobs/sha256/${sha(layer)}`, layer), tarEntry("manifest.json", manifest), EMPTY_TAR]);
}

/**
 * Docker reports a config field the image does not set as null (`"Env": null`, `"Labels": null`),
 * where the spec's schema admits only arrays and objects: fixtures set every such field, so the
 * answers validate (and stay Docker's).
 */
const FULL_CONFIG = ["ENV A=b", 'CMD ["sh"]', 'ENTRYPOINT ["/bin/sh", "-c"]', "VOLUME /data", "LABEL conformance=1", "ONBUILD RUN true"];

/** An imported image named `name` for one case, removed (with every name it got) afterwards. */
async function image(api: ApiClient, name: string): Promise<Fixture> {
  const query = new URLSearchParams({ fromSrc: "-", repo: name });
  for (const c of FULL_CONFIG) query.append("changes", c);
  const r = await api.call("POST", `/images/create?${query.toString()}`, { rawBody: EMPTY_TAR });
  const text = r.body.toString("utf8");
  if (r.status !== 200 || text.includes("errorDetail")) throw new Error(`image import answered ${r.status}: ${text}`);
  return { params: { name }, cleanup: async () => void (await api.call("DELETE", `/images/${name}`, { query: { force: "1" } })) };
}

const removeImage = (name: string) => async (api: ApiClient): Promise<Fixture> => ({ cleanup: async () => void (await api.call("DELETE", `/images/${name}`, { query: { force: "1" } })) });

/** `{}`: no credentials, as the docker CLI sends for a registry it has none for. */
const NO_AUTH = { "X-Registry-Auth": Buffer.from("{}").toString("base64url") };

export const IMPLEMENTED_IMAGES: Readonly<Record<string, ImplementedOperation>> = {
  ImageList: {
    cases: [
      { path: "/images/json" },
      {
        name: "all, digests, shared size, reference filter",
        path: "/images/json",
        query: { all: "1", digests: "1", "shared-size": "1", filters: '{"reference":["conformance-list*"],"dangling":["false"]}' },
        setup: (api) => image(api, "conformance-list:1"),
      },
    ],
  },
  ImageCreate: {
    cases: [
      {
        name: "import from the body with repo, tag, message and changes",
        path: "/images/create",
        query: { fromSrc: "-", repo: "conformance-import", tag: "1", message: "conformance", changes: "ENV A=b" },
        rawBody: EMPTY_TAR,
        setup: removeImage("conformance-import:1"),
      },
    ],
    negative: [
      { name: "pull from a registry that is not there → 500", path: "/images/create", query: { fromImage: "127.0.0.1:1/conformance", tag: "latest" }, headers: NO_AUTH, status: 500 },
    ],
  },
  ImageInspect: { cases: [{ path: "/images/{name}/json", setup: (api) => image(api, "conformance-inspect:1") }] },
  ImageHistory: { cases: [{ path: "/images/{name}/history", setup: (api) => image(api, "conformance-history:1") }] },
  ImagePush: {
    cases: [
      {
        name: "progress stream (the registry is not there: the error is its last line, as in Docker)",
        path: "/images/{name}/push",
        query: { tag: "1" },
        headers: NO_AUTH,
        setup: async (api) => {
          const f = await image(api, "127.0.0.1:1/conformance-push:1");
          return { params: { name: "127.0.0.1:1/conformance-push" }, ...(f.cleanup !== undefined ? { cleanup: f.cleanup } : {}) };
        },
      },
    ],
    // A push reports a missing image in its stream ("An image does not exist locally…"), status 200,
    // as Docker does: the spec's 404 is never sent, so no negative case is generated.
    negative: [],
  },
  ImageTag: {
    cases: [
      {
        path: "/images/{name}/tag",
        query: { repo: "conformance-tagged", tag: "2" },
        status: 201,
        setup: (api) => image(api, "conformance-tag:1"),
      },
    ],
    negative: [
      { name: "unknown image → 404", path: "/images/conformance-missing:1/tag", query: { repo: "x", tag: "1" }, status: 404 },
      { name: "digest as the new name → 400", path: "/images/{name}/tag", query: { repo: "x@sha256:0000000000000000000000000000000000000000000000000000000000000000" }, status: 400, setup: (api) => image(api, "conformance-tag-bad:1") },
    ],
  },
  ImageDelete: {
    cases: [{ path: "/images/{name}", query: { force: "1", noprune: "1" }, setup: async (api) => ({ params: (await image(api, "conformance-delete:1")).params ?? {} }) }],
  },
  ImagePrune: {
    // An image that goes: Docker answers `"ImagesDeleted": null` when nothing does, which the spec's
    // schema (an array) does not admit.
    cases: [{ path: "/images/prune", query: { filters: '{"label":["conformance=1"],"dangling":["false"]}' }, setup: (api) => image(api, "conformance-prune:1") }],
  },
  ImageGet: { cases: [{ path: "/images/{name}/get", setup: (api) => image(api, "conformance-get:1") }] },
  ImageGetAll: { cases: [{ path: "/images/get", query: { names: "{name}" }, setup: (api) => image(api, "conformance-getall:1") }] },
  ImageLoad: {
    cases: [{ path: "/images/load", query: { quiet: "1" }, rawBody: loadArchive("conformance-load:1"), setup: removeImage("conformance-load:1") }],
  },
  ImageSearch: {
    // Searching needs a registry with a search API; the deprecated is-automated=true filter answers
    // without one (nothing is automated any more), which checks the shape of the answer.
    cases: [{ path: "/images/search", query: { term: "conformance", filters: '{"is-automated":["true"]}' } }],
  },
  SystemAuth: {
    cases: [],
    negative: [{ name: "a registry that is not there → 500", path: "/auth", body: { username: "u", password: "p", serveraddress: "127.0.0.1:1" }, status: 500 }],
  },
  DistributionInspect: {
    cases: [],
    negative: [{ name: "a registry that is not there → 500", path: "/distribution/127.0.0.1:1/conformance/json", headers: NO_AUTH, status: 500 }],
  },
};
