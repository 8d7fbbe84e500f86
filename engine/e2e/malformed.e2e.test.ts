import { request } from "node:http";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { suiteEngine } from "./harness.ts";

/**
 * Issue 7: malformed requests get Docker's status code and a clear message (`{"message"}` naming a
 * diagnostic ID), and the daemon stays up. A batch of them is fired at once, then the engine must
 * still answer, and the requests that need a body must not have created anything.
 */

interface Answer {
  readonly status: number;
  readonly body: string;
}

function call(socket: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers: { ...(body === undefined ? {} : { "Content-Length": String(Buffer.byteLength(body)) }), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", cut);
    });
    // A request the engine refuses before reading its whole body may see the socket closed under it
    // (on the request or the response, depending on timing): that is an answer too.
    const cut = (err: NodeJS.ErrnoException): void => (err.code === "EPIPE" || err.code === "ECONNRESET" ? resolve({ status: -1, body: err.code }) : reject(err));
    req.on("error", cut);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * A request written on a raw socket whose errors are all handled: for the oversized upload, which the
 * engine answers (and closes) before the client has finished writing — with node:http the late EPIPE
 * can surface on the socket after the request object let go of it.
 */
function rawCall(socket: string, method: string, path: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const conn = connect(socket);
    conn.on("error", () => undefined);
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? -1);
      resolve({ status, body: status === -1 ? "closed without an answer" : text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
    const head = [`${method} ${path} HTTP/1.1`, "Host: engine", "Connection: close", `Content-Length: ${body.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
    conn.write(head);
    conn.end(body);
  });
}

const JSON_HEADERS = { "Content-Type": "application/json" };

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly status: number;
  /** A part of Docker's message that must be in ours. */
  readonly message?: RegExp;
}

const CASES: readonly Case[] = [
  { name: "bad JSON", method: "POST", path: "/v1.45/containers/create", body: "{", headers: JSON_HEADERS, status: 400, message: /JSON|json/ },
  { name: "wrong type", method: "POST", path: "/v1.45/containers/create", body: '{"Image": 5}', headers: JSON_HEADERS, status: 400, message: /cannot unmarshal number/ },
  { name: "wrong nested type", method: "POST", path: "/v1.45/containers/create", body: '{"Image":"busybox","Env":"A=1"}', headers: JSON_HEADERS, status: 400, message: /cannot unmarshal string/ },
  { name: "array body", method: "POST", path: "/v1.45/volumes/create", body: "[]", headers: JSON_HEADERS, status: 400, message: /cannot unmarshal array/ },
  { name: "not JSON content type", method: "POST", path: "/v1.45/networks/create", body: '{"Name":"x"}', headers: { "Content-Type": "text/plain" }, status: 400, message: /Content-Type/ },
  { name: "huge body", method: "POST", path: "/v1.45/containers/create", body: Buffer.alloc(8 * 1024 * 1024, 0x20), headers: JSON_HEADERS, status: 413 },
  { name: "unknown container", method: "GET", path: "/v1.45/containers/no-such-thing/json", status: 404, message: /No such container: no-such-thing/ },
  { name: "unknown container delete", method: "DELETE", path: "/v1.45/containers/no-such-thing", status: 404, message: /No such container/ },
  { name: "unknown volume", method: "GET", path: "/v1.45/volumes/no-such-volume", status: 404, message: /no such volume/ },
  { name: "unknown network", method: "GET", path: "/v1.45/networks/no-such-network", status: 404, message: /network no-such-network not found/ },
  { name: "encoded traversal in a path segment", method: "GET", path: "/v1.45/containers/..%2F..%2Fetc%2Fpasswd/json", status: 404, message: /No such container/ },
  { name: "traversal as a volume name", method: "POST", path: "/v1.45/volumes/create", body: '{"Name":"../../etc"}', headers: JSON_HEADERS, status: 400 },
  { name: "unknown endpoint", method: "GET", path: "/v1.45/containers/x/no-such-endpoint", status: 404 },
  { name: "unsupported API version", method: "GET", path: "/v9.99/version", status: 400, message: /client version 9\.99 is too new/ },
  // Docker (gorilla/mux without a MethodNotAllowed handler) answers a wrong method with 404.
  { name: "method not allowed", method: "PUT", path: "/v1.45/containers/json", status: 404, message: /does not accept the method PUT/ },
];

describe("malformed requests (issue 7)", () => {
  const engine = suiteEngine();

  it("answer with Docker's status and a diagnostic message, all at once, and the daemon stays up", async () => {
    const answers = await Promise.all(CASES.map((c) => (c.status === 413 && Buffer.isBuffer(c.body) ? rawCall(engine.socket, c.method, c.path, c.body, c.headers ?? {}) : call(engine.socket, c.method, c.path, c.body, c.headers))));
    // Only the oversized upload may be cut off; every other request must get its answer.
    const problems: string[] = [];
    CASES.forEach((c, i) => {
      const a = answers[i];
      if (a === undefined) return;
      // The huge body may be cut off by the engine before the client finished sending it.
      if (c.status === 413 && a.status === -1) return;
      if (a.status === -1) problems.push(`${c.name}: the connection was closed without an answer (${a.body})`);
      if (a.status !== c.status) problems.push(`${c.name}: status ${a.status} (want ${c.status}): ${a.body.slice(0, 200)}`);
      let message = "";
      try {
        message = (JSON.parse(a.body) as { message?: string }).message ?? "";
      } catch {
        problems.push(`${c.name}: body is not Docker's JSON error: ${a.body.slice(0, 200)}`);
        return;
      }
      if (!/\[HTK-[A-Z]+-\d{4}\]/.test(message)) problems.push(`${c.name}: no diagnostic ID in ${message}`);
      if (c.message !== undefined && !c.message.test(message)) problems.push(`${c.name}: ${message} does not match ${c.message}`);
    });
    expect(problems).toEqual([]);

    const ping = await call(engine.socket, "GET", "/_ping");
    expect(ping).toEqual({ status: 200, body: "OK" });
    // Nothing was created by the refused requests.
    const containers = await call(engine.socket, "GET", "/v1.45/containers/json?all=1");
    expect(JSON.parse(containers.body)).toEqual([]);
    const volumes = JSON.parse((await call(engine.socket, "GET", "/v1.45/volumes")).body) as { Volumes: unknown[] };
    expect(volumes.Volumes).toEqual([]);
  });
});
