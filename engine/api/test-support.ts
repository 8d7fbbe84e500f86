import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../base/observability/index.ts";
import { createApiServer } from "./server.ts";
import type { Route } from "./types.ts";

/** For tests only: route families served on a private unix socket, and a raw HTTP client for it. */
export interface TestApi {
  readonly socketPath: string;
  call(method: string, path: string, opts?: { readonly body?: string | object; readonly headers?: Readonly<Record<string, string>> }): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  /** The parsed body (undefined when it is not JSON). */
  readonly json: unknown;
}

export async function serveRoutes(routes: readonly Route[]): Promise<TestApi> {
  const dir = mkdtempSync(join(tmpdir(), `htk-test-${process.pid}-api-`));
  const socketPath = join(dir, "api.sock");
  const api = createApiServer({ routes, log: createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "fatal"), serverHeader: "HATAKE/test (linux)" });
  await api.listen({ kind: "unix", path: socketPath });
  return {
    socketPath,
    call(method, path, opts = {}) {
      const body = opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
      const headers: Record<string, string> = { ...(body === undefined || typeof opts.body === "string" ? {} : { "Content-Type": "application/json" }), ...opts.headers };
      return new Promise((resolve, reject) => {
        const req = request({ socketPath, method, path, headers }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => {
            let json: unknown;
            try {
              json = JSON.parse(text) as unknown;
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
        });
        req.on("error", reject);
        // A refused upload (413) is answered before the body is sent in full; the server may then
        // close the socket under the client's write. That EPIPE is the expected end, not a failure.
        req.on("socket", (s) => s.on("error", () => undefined));
        req.end(body);
      });
    },
    async close() {
      await api.close(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The `{message, diagnostic}` of an error answer. */
export function errorOf(r: TestResponse): { status: number; id: string; message: string } {
  const body = r.json as { message?: string; diagnostic?: { id?: string } } | undefined;
  return { status: r.status, id: body?.diagnostic?.id ?? "", message: body?.message ?? r.text };
}
