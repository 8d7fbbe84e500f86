import { htkError } from "../../base/errors/index.ts";
import type { AttachConnection, ExecCreateRequest, ExecManager } from "../containers/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import { apiAtLeast, frame, hijack, streamContentType } from "./hijack.ts";
import { DEFAULT_JSON_BODY_LIMIT, JsonObject, readJsonBody } from "./json-body.ts";
import { intParam } from "./query-params.ts";
import { sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";

/**
 * The exec endpoints of Engine API v1.45 (Docker's api/server/router/container/exec.go) on the
 * ExecManager: create, start (attached on a hijacked connection — stdcopy-framed without a TTY, raw
 * with one — or detached), resize, inspect.
 */
export function execRoutes(services: EngineServices): Route[] {
  const execs: ExecManager = services.containerOps.execs;
  return [
    {
      method: "POST",
      pattern: "/containers/{id}/exec",
      async handle(ctx) {
        const body = await readJsonBody(ctx);
        const request = parseExecConfig(body, apiAtLeast(ctx.apiVersion, "1.42"));
        const id = execs.create(ctx.params["id"] ?? "", request);
        sendJson(ctx.res, 201, { Id: id });
      },
    },
    {
      method: "POST",
      pattern: "/exec/{id}/start",
      async handle(ctx) {
        // An upgraded request's body (the docker CLI sends one) arrives on the socket ahead of stdin.
        const { body: raw, ctx: streamCtx } = await readUpgradeJsonBody(ctx);
        const body = new JsonObject(raw, "ExecStartCheck");
        const detach = body.boolean("Detach") ?? false;
        const tty = body.boolean("Tty") ?? false;
        // Docker ignores the start's console size before 1.42 and without a TTY.
        const consoleSize = tty && apiAtLeast(ctx.apiVersion, "1.42") ? consoleSizeOf(body, "ExecStartCheck") : undefined;
        const started = await execs.start(ctx.params["id"] ?? "", { detach, tty, ...(consoleSize === undefined ? {} : { consoleSize }) });
        if (started.kind === "detached") {
          ctx.res.writeHead(200, { "Content-Length": "0" }).end();
          return;
        }
        // Docker frames by the start request's Tty; a non-upgraded stream is always labelled raw.
        const conn = hijack(streamCtx, streamContentType(ctx, tty));
        const attachConn: AttachConnection = {
          write: (stream, chunk) => conn.output.write(tty ? chunk : frame(stream, chunk)),
          onDrain: (cb) => conn.output.once("drain", cb),
          input: conn.input,
          close: () => conn.close(),
        };
        await started.run(attachConn, ctx.signal);
      },
    },
    {
      method: "POST",
      pattern: "/exec/{id}/resize",
      query: ["h", "w"],
      handle(ctx) {
        const h = intParam(ctx.query, "h") ?? failInt(ctx.query.get("h"));
        const w = intParam(ctx.query, "w") ?? failInt(ctx.query.get("w"));
        execs.resize(ctx.params["id"] ?? "", h, w);
        ctx.res.writeHead(200, { "Content-Length": "0" }).end();
      },
    },
    {
      method: "GET",
      pattern: "/exec/{id}/json",
      handle(ctx) {
        sendJson(ctx.res, 200, execs.inspect(ctx.params["id"] ?? ""));
      },
    },
  ];
}

/** Docker's strconv.Atoi of an absent or empty h/w: `parsing "": invalid syntax` (400). */
function failInt(value: string | null): never {
  throw htkError("HTK-ENGINE-0372", { value: JSON.stringify(value ?? "") });
}

/** The ExecConfig body with encoding/json's type errors; ConsoleSize only from API 1.42 on. */
export function parseExecConfig(raw: unknown, consoleSizeSupported: boolean): ExecCreateRequest {
  const o = new JsonObject(raw, "ExecConfig");
  const opt = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [key]: v } as { [P in K]?: V }));
  const consoleSize = consoleSizeSupported ? consoleSizeOf(o, "ExecConfig") : undefined;
  return {
    Cmd: o.strings("Cmd") ?? [],
    ...opt("User", o.string("User")),
    ...opt("Privileged", o.boolean("Privileged")),
    ...opt("Tty", o.boolean("Tty")),
    ...opt("AttachStdin", o.boolean("AttachStdin")),
    ...opt("AttachStdout", o.boolean("AttachStdout")),
    ...opt("AttachStderr", o.boolean("AttachStderr")),
    ...opt("DetachKeys", o.string("DetachKeys")),
    ...opt("Env", o.strings("Env")),
    ...opt("WorkingDir", o.string("WorkingDir")),
    ...opt("ConsoleSize", consoleSize),
  };
}

/** `ConsoleSize`: Go's *[2]uint — null or absent is none; anything but two whole numbers ≥ 0 is a type error. */
function consoleSizeOf(o: JsonObject, struct: string): readonly [number, number] | undefined {
  const raw = o.raw("ConsoleSize");
  if (raw === undefined || raw === null) return undefined;
  const ok = Array.isArray(raw) && raw.every((n) => typeof n === "number" && Number.isInteger(n) && n >= 0);
  if (!ok || (raw as number[]).length !== 2) {
    throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${JSON.stringify(raw)} into Go struct field ${struct}.ConsoleSize of type [2]uint` });
  }
  const [h, w] = raw as [number, number];
  return [h, w];
}

/**
 * The JSON body of a request that asked to upgrade: Node hands such a request over with its body
 * unread, in `head` and on the socket, where the stream's input follows it. Reads Content-Length
 * bytes (Docker's rules of readJsonBody otherwise) and returns the context whose `head` is what came
 * after them. Not an upgrade: the ordinary body.
 */
export async function readUpgradeJsonBody(ctx: RequestContext): Promise<{ body: unknown; ctx: RequestContext }> {
  const upgrade = ctx.upgrade;
  if (upgrade === undefined) return { body: await readJsonBody(ctx), ctx };
  const length = Number(ctx.req.headers["content-length"] ?? "0");
  if (!Number.isSafeInteger(length) || length < 0) throw htkError("HTK-ENGINE-0450", { detail: "invalid Content-Length" });
  if (length > DEFAULT_JSON_BODY_LIMIT) throw htkError("HTK-ENGINE-0452", { limit: DEFAULT_JSON_BODY_LIMIT });
  let buffered = upgrade.head;
  const socket = upgrade.socket;
  while (buffered.length < length) {
    const chunk = socket.read() as Buffer | null;
    if (chunk !== null) {
      buffered = Buffer.concat([buffered, chunk]);
      continue;
    }
    const more = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        socket.off("readable", onReadable);
        socket.off("end", onEnd);
        socket.off("close", onEnd);
        resolve(ok);
      };
      const onReadable = (): void => done(true);
      const onEnd = (): void => done(false);
      socket.once("readable", onReadable);
      socket.once("end", onEnd);
      socket.once("close", onEnd);
    });
    if (!more) throw htkError("HTK-ENGINE-0450", { detail: "unexpected EOF" });
  }
  const bodyBytes = buffered.subarray(0, length);
  const rest = buffered.subarray(length);
  const next: RequestContext = { ...ctx, upgrade: { socket, head: rest } };
  if (length === 0) return { body: undefined, ctx: next };
  const type = (ctx.req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type !== "application/json") throw htkError("HTK-ENGINE-0451", { type: ctx.req.headers["content-type"] ?? "" });
  try {
    return { body: JSON.parse(bodyBytes.toString("utf8")) as unknown, ctx: next };
  } catch (err) {
    throw htkError("HTK-ENGINE-0450", { detail: (err as Error).message }, { cause: err });
  }
}
