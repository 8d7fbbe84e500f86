import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../base/observability/index.ts";
import { outOfScopeRoutes } from "./out-of-scope.ts";
import { createApiServer, type ApiServer } from "./server.ts";

const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

let dir = "";
let sock = "";
let api: ApiServer | undefined;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "htk-oos-"));
  sock = join(dir, "api.sock");
  api = createApiServer({ routes: outOfScopeRoutes(), log: createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "fatal"), serverHeader: "HATAKE/test (linux)" });
  await api.listen({ kind: "unix", path: sock });
});
afterAll(async () => {
  await api?.close(0);
  rmSync(dir, { recursive: true, force: true });
});

function call(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function error(method: string, path: string): Promise<{ status: number; message: string; id: string }> {
  const r = await call(method, path);
  const body = JSON.parse(r.body) as { message: string; diagnostic: { id: string } };
  return { status: r.status, message: body.message, id: body.diagnostic.id };
}

describe("out-of-scope Engine API families", () => {
  it("answers the swarm-manager calls with Docker's 503 errNoManager text (HTK-API-0005)", async () => {
    for (const [method, path] of [
      ["GET", "/swarm"],
      ["GET", "/v1.45/nodes"],
      ["DELETE", "/nodes/abc"],
      ["GET", "/services"],
      ["POST", "/services/create"],
      ["GET", "/services/web/logs"],
      ["GET", "/tasks/t1"],
      ["GET", "/secrets"],
      ["POST", "/configs/c1/update"],
      ["POST", "/swarm/unlock"],
      ["GET", "/swarm/unlockkey"],
    ] as const) {
      const e = await error(method, path);
      expect(e.status, `${method} ${path}`).toBe(503);
      expect(e.id).toBe("HTK-API-0005");
      expect(e.message.startsWith(`${NOT_MANAGER} [HTK-API-0005] `)).toBe(true);
    }
  });

  it("answers leave with errNoSwarm (HTK-API-0006) and refuses init/join as unsupported (HTK-API-0007)", async () => {
    const leave = await error("POST", "/swarm/leave?force=1");
    expect(leave).toMatchObject({ status: 503, id: "HTK-API-0006" });
    expect(leave.message).toMatch(/^This node is not part of a swarm\. \[HTK-API-0006\]/);
    for (const path of ["/swarm/init", "/swarm/join"]) {
      const e = await error("POST", path);
      expect(e).toMatchObject({ status: 501, id: "HTK-API-0007" });
      expect(e.message).toContain(`(POST ${path})`);
    }
  });

  it("lists no plugins, and names in calls are not found (HTK-API-0008), slashes included", async () => {
    const list = await call("GET", "/plugins");
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body)).toEqual([]);
    for (const [method, path, name] of [
      ["GET", "/plugins/sshfs/json", "sshfs"],
      ["GET", "/plugins/vieux/sshfs:latest/json", "vieux/sshfs:latest"],
      ["DELETE", "/plugins/localhost:5000/owner/p", "localhost:5000/owner/p"],
      ["POST", "/plugins/p/enable", "p"],
      ["POST", "/plugins/p/disable", "p"],
      ["POST", "/plugins/p/push", "p"],
      ["POST", "/plugins/p/set", "p"],
      ["POST", "/plugins/p/upgrade", "p"],
    ] as const) {
      const e = await error(method, path);
      expect(e, `${method} ${path}`).toMatchObject({ status: 404, id: "HTK-API-0008" });
      expect(e.message.startsWith(`plugin "${name}" not found. [HTK-API-0008]`)).toBe(true);
    }
  });

  it("refuses plugin installation as unsupported (HTK-API-0009)", async () => {
    for (const [method, path] of [
      ["GET", "/plugins/privileges?remote=vieux/sshfs"],
      ["POST", "/plugins/pull?remote=vieux/sshfs"],
      ["POST", "/plugins/create?name=p"],
    ] as const) {
      expect(await error(method, path), path).toMatchObject({ status: 501, id: "HTK-API-0009" });
    }
  });
});
