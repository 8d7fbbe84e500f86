import { request } from "node:http";
import { describe, expect, inject, it } from "vitest";
import { Agent, WebSocket } from "undici";
import { suiteEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * `GET /containers/{id}/attach/ws` with a real websocket client (undici's WHATWG WebSocket, an
 * implementation independent of the engine's `ws` server) over the engine's unix socket.
 */
interface Received {
  readonly messages: Array<{ readonly binary: boolean; readonly text: string }>;
  readonly closed: Promise<{ code: number }>;
  readonly socket: WebSocket;
  readonly opened: Promise<void>;
}

function connect(engine: TestEngine, path: string): Received {
  const dispatcher = new Agent({ connect: { socketPath: engine.socket } });
  const socket = new WebSocket(`ws://docker${path}`, { dispatcher });
  socket.binaryType = "arraybuffer";
  const messages: Array<{ binary: boolean; text: string }> = [];
  socket.addEventListener("message", (e) => {
    const data: unknown = e.data;
    messages.push(typeof data === "string" ? { binary: false, text: data } : { binary: true, text: Buffer.from(data as ArrayBuffer).toString("utf8") });
  });
  const opened = new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve());
    socket.addEventListener("error", () => reject(new Error(`websocket ${path} failed`)));
  });
  const closed = new Promise<{ code: number }>((resolve) => socket.addEventListener("close", (e) => resolve({ code: e.code })));
  void closed.then(() => dispatcher.close());
  return { messages, closed, socket, opened };
}

function plainGet(engine: TestEngine, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ socketPath: engine.socket, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body: Buffer.concat(chunks).toString("utf8") }));
    });
    r.on("error", reject);
    r.end();
  });
}

describe("GET /containers/{id}/attach/ws", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  it("streams stdout and stderr as binary messages and sends the client's messages to stdin; closes normally when the container ends", async () => {
    const id = (await engine.docker(["create", "-i", busybox, "sh", "-c", "read line; echo got:$line; echo err:$line >&2"])).stdout.trim();
    expect((await engine.docker(["start", id])).code).toBe(0);
    const ws = connect(engine, `/v1.45/containers/${id}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1`);
    await ws.opened;
    ws.socket.send(new TextEncoder().encode("hello\n"));
    expect((await ws.closed).code).toBe(1000);
    expect(ws.messages.every((m) => m.binary)).toBe(true);
    expect(ws.messages.map((m) => m.text).join("")).toBe("got:hello\nerr:hello\n");
    expect((await engine.docker(["wait", id])).stdout.trim()).toBe("0");
    // logs=1, stream=0 on the exited container: its log so far, only the streams asked for, then the close.
    const logs = connect(engine, `/v1.45/containers/${id}/attach/ws?logs=1&stream=0&stdout=1`);
    expect((await logs.closed).code).toBe(1000);
    expect(logs.messages.map((m) => m.text).join("")).toBe("got:hello\n");
    expect((await engine.docker(["rm", id])).code).toBe(0);
  });

  it("follows dockerd's older API versions: text frames before 1.28, stdout and stderr always before 1.42", async () => {
    const id = (await engine.docker(["run", "-d", busybox, "sh", "-c", "echo one; echo two >&2"])).stdout.trim();
    expect((await engine.docker(["wait", id])).stdout.trim()).toBe("0");
    const old = connect(engine, `/v1.27/containers/${id}/attach/ws?logs=1&stdout=0`);
    expect((await old.closed).code).toBe(1000);
    expect(old.messages.every((m) => !m.binary)).toBe(true);
    expect(old.messages.map((m) => m.text).join("")).toBe("one\ntwo\n");
    expect((await engine.docker(["rm", id])).code).toBe(0);
  });

  it("answers Docker's JSON errors before any upgrade: no such container, and a request that is not a websocket one [HTK-ENGINE-0860]", async () => {
    const missing = await plainGet(engine, "/v1.45/containers/hatake-no-such/attach/ws?stream=1");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ message: expect.stringMatching(/^No such container: hatake-no-such/) as unknown });
    const id = (await engine.docker(["create", busybox, "true"])).stdout.trim();
    const plain = await plainGet(engine, `/v1.45/containers/${id}/attach/ws?stream=1`);
    expect(plain.status).toBe(400);
    expect(plain.type).toMatch(/^application\/json/);
    expect((JSON.parse(plain.body) as { message: string }).message).toContain("HTK-ENGINE-0860");
    const tcp = await plainGet(engine, `/v1.45/containers/${id}/attach/ws?stream=1`, { Connection: "Upgrade", Upgrade: "tcp" });
    expect(tcp.status).toBe(400);
    expect((await engine.docker(["rm", id])).code).toBe(0);
  });
});
