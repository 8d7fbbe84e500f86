import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { htkError } from "../base/errors/index.ts";
import { parseHost } from "./client.ts";
import type { DockerEndpoint } from "./docker-cli.ts";
import { EngineError } from "./engine-error.ts";

/**
 * The few Docker Engine API calls the plugin makes besides the build service (the build cache's
 * `du` and `prune` are the engine's `/system/df` and `/build/prune`, as buildx's docker driver uses
 * them). JSON in, JSON out; the engine's `{"message"}` errors become EngineErrors with their IDs.
 */
export async function dockerApiJson<T>(endpoint: DockerEndpoint, method: "GET" | "POST", path: string, signal: AbortSignal): Promise<T> {
  const url = parseHost(endpoint.host);
  const tls = endpoint.tls;
  const options: RequestOptions = { method, path: `/v1.45${path}`, signal, headers: { Accept: "application/json" } };
  const send = url.kind === "tcp" && tls !== undefined ? httpsRequest : httpRequest;
  if (url.kind === "unix") options.socketPath = url.path;
  else {
    const [host, port] = url.hostPort.split(/:(?=\d+$)/);
    options.host = host;
    options.port = Number(port);
    if (tls !== undefined) Object.assign(options, { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: !tls.skipVerify });
  }
  const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = send(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (signal.aborted) reject(new DOMException("context canceled", "AbortError"));
      else reject(htkError("HTK-BUILDX-0006", { endpoint: endpoint.host, detail: err.code ?? err.message }));
    });
    req.end();
  });
  if (status >= 200 && status < 300) return JSON.parse(body) as T;
  let message = body.trim();
  let id: string | undefined;
  let next: string | undefined;
  try {
    const parsed = JSON.parse(body) as { message?: string; diagnostic?: { id?: string; cause?: string; next?: string } };
    message = parsed.diagnostic?.cause ?? parsed.message ?? message;
    id = parsed.diagnostic?.id;
    next = parsed.diagnostic?.next;
  } catch {
    // Not Docker's JSON error: the body is the message.
  }
  throw new EngineError(message, id, next);
}
