import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { request } from "undici";
import type { ContentStore } from "../content-store.ts";
import { sha256Of, type Digest } from "../../base/oci/digest.ts";
import { MediaTypes } from "../../base/oci/media-types.ts";
import type { OciDescriptor } from "../../base/oci/types.ts";

/** A generated image in a store: random layers (gzip), a valid config, a Docker schema 2 manifest. */
export interface GeneratedImage {
  readonly manifest: OciDescriptor;
  readonly config: OciDescriptor;
  readonly layers: readonly OciDescriptor[];
}

/**
 * Writes an image with one layer per entry of `layerSizes` (uncompressed random bytes, so gzip
 * barely shrinks them) into `store`. `seed` text goes into the config so that two calls differ.
 */
export async function generateImage(store: ContentStore, layerSizes: readonly number[], seed = randomBytes(8).toString("hex"), oci = false): Promise<GeneratedImage> {
  const layers: OciDescriptor[] = [];
  const diffIds: Digest[] = [];
  for (const size of layerSizes) {
    const raw = randomBytes(size);
    const gz = gzipSync(raw, { level: 1 });
    diffIds.push(sha256Of(raw));
    const d = await store.put(gz);
    layers.push({ mediaType: oci ? MediaTypes.ociLayerGzip : MediaTypes.dockerLayerGzip, digest: d.digest, size: d.size });
  }
  const configJson = JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/bin:/bin"], Cmd: ["/bin/sh"], Labels: { "hatake.test.seed": seed } },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created_by: `generated layer ${i}` })),
  });
  const c = await store.put(Buffer.from(configJson));
  const config: OciDescriptor = { mediaType: oci ? MediaTypes.ociConfig : MediaTypes.dockerConfig, digest: c.digest, size: c.size };
  const manifestJson = JSON.stringify({
    schemaVersion: 2,
    mediaType: oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest,
    config,
    layers,
  });
  const m = await store.put(Buffer.from(manifestJson));
  return { manifest: { mediaType: oci ? MediaTypes.ociManifest : MediaTypes.dockerManifest, digest: m.digest, size: m.size }, config, layers };
}

/** What a fault-injecting proxy does with one request. */
export type ProxyAction =
  /** Forward; `dropAuthorization` strips the client's Authorization (the proxy checked it itself). */
  | { readonly kind: "forward"; readonly dropAuthorization?: boolean }
  /** Answer with this response instead of forwarding. */
  | { readonly kind: "respond"; readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: string }
  /** Forward, but destroy the connection after `afterBytes` bytes of the response body. */
  | { readonly kind: "cut"; readonly afterBytes: number }
  /** Forward with the byte at `offset` of the response body flipped. */
  | { readonly kind: "corrupt"; readonly offset: number }
  /** Answer with this status instead of forwarding. */
  | { readonly kind: "status"; readonly status: number; readonly headers?: Readonly<Record<string, string>> };

export interface ProxyRequestLog {
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
}

export interface FaultProxy {
  /** "127.0.0.1:port": use it as the registry host in references. */
  readonly host: string;
  readonly log: ProxyRequestLog[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a registry (`upstream` "http://127.0.0.1:5000"). Every
 * request is forwarded with its Host header kept (so the registry's Location headers point back at
 * the proxy); `decide` picks a fault per request.
 */
export async function startFaultProxy(upstream: string, decide: (req: IncomingMessage, log: readonly ProxyRequestLog[]) => ProxyAction): Promise<FaultProxy> {
  const log: ProxyRequestLog[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const range = req.headers["range"];
    log.push({ method: req.method ?? "", url: req.url ?? "", range: Array.isArray(range) ? range[0] : range });
    const action = decide(req, log);
    if (action.kind === "respond") {
      req.resume();
      res.writeHead(action.status, { "content-type": "application/json", ...action.headers });
      res.end(action.body ?? "");
      return;
    }
    if (action.kind === "status") {
      req.resume();
      res.writeHead(action.status, { "content-type": "application/json", ...action.headers });
      res.end(JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "injected by the test proxy" }] }));
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || k === "connection" || (k === "authorization" && action.kind === "forward" && action.dropAuthorization === true)) continue;
      headers[k] = v;
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const up = await request(`${upstream}${req.url ?? "/"}`, {
      method: (req.method ?? "GET") as "GET",
      headers,
      ...(hasBody ? { body: req } : {}),
    });
    const outHeaders: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding") outHeaders[k] = v;
    res.writeHead(up.statusCode, outHeaders);
    let sent = 0;
    for await (const chunk of up.body) {
      let c = Buffer.from(chunk as Buffer);
      if (action.kind === "cut" && sent + c.byteLength > action.afterBytes) {
        const part = c.subarray(0, action.afterBytes - sent);
        await new Promise<void>((resolve) => res.write(part, () => resolve()));
        up.body.destroy();
        // Drop the TCP connection mid-body: the client sees a short read, not an HTTP error.
        res.socket?.destroy();
        return;
      }
      if (action.kind === "corrupt" && action.offset >= sent && action.offset < sent + c.byteLength) {
        c = Buffer.from(c);
        c[action.offset - sent] = (c[action.offset - sent] ?? 0) ^ 0xff;
      }
      sent += c.byteLength;
      if (!res.write(c)) await new Promise<void>((resolve) => res.once("drain", () => resolve()));
    }
    res.end();
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.socket?.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
