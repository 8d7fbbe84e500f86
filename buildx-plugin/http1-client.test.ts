import { getEventListeners } from "node:events";
import { Agent, createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { http1Client } from "./http1-client.ts";

const servers: Server[] = [];
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/svc/Method`;
}

/** The client, with the ClientRequests it makes and their listener counts before the client added any. */
function client(): { fn: ReturnType<typeof http1Client>; sent: { request: ClientRequest; drain: number; close: number }[] } {
  const sent: { request: ClientRequest; drain: number; close: number }[] = [];
  const agent = new Agent();
  agents.push(agent);
  const request = ((url: string, options: object) => {
    const r = httpRequest(url, options);
    sent.push({ request: r, drain: r.listenerCount("drain"), close: r.listenerCount("close") });
    return r;
  }) as unknown as typeof httpRequest;
  return { fn: http1Client({ baseUrl: "http://127.0.0.1", agent, request }), sent };
}

async function* chunks(n: number, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < n; i++) yield new Uint8Array(size).fill(i % 256);
}

describe("the plugin's HTTP/1 client", () => {
  it("waits for many drains of a long request body without leaving listeners behind", async () => {
    let received = 0;
    const url = await serve((req, res) => {
      req.on("data", (c: Buffer) => (received += c.length));
      req.on("end", () => res.end("ok"));
    });
    const { fn, sent } = client();
    const ctrl = new AbortController();
    // Each chunk is larger than the request's buffer: every write waits for a drain.
    const res = await fn({ url, method: "POST", header: new Headers(), body: chunks(200, 64 * 1024), signal: ctrl.signal });
    const body: Uint8Array[] = [];
    for await (const c of res.body ?? []) body.push(c);
    expect(Buffer.concat(body).toString()).toBe("ok");
    expect(received).toBe(200 * 64 * 1024);
    const [s] = sent;
    expect(s?.request.listenerCount("drain")).toBe(s?.drain);
    expect(s?.request.listenerCount("close")).toBeLessThanOrEqual(s?.close ?? 0);
    expect(getEventListeners(ctrl.signal, "abort")).toHaveLength(0);
  });

  it("stops listening to the call's signal when a response that was never read closes", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/connect+proto" });
      res.write("partial");
      setImmediate(() => res.socket?.destroy());
    });
    const { fn, sent } = client();
    const ctrl = new AbortController();
    await fn({ url, method: "POST", header: new Headers(), body: chunks(1, 10), signal: ctrl.signal });
    expect(getEventListeners(ctrl.signal, "abort")).toHaveLength(1);
    const response = await new Promise<IncomingMessage>((resolve) => {
      const r = sent[0]?.request;
      if (r === undefined) throw new Error("no request");
      const res = (r as unknown as { res?: IncomingMessage }).res;
      if (res !== undefined) resolve(res);
      else r.once("response", resolve);
    });
    if (!response.closed) await new Promise((resolve) => response.once("close", resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(getEventListeners(ctrl.signal, "abort")).toHaveLength(0);
  });
});
