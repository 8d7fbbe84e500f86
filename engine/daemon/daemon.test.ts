import { request } from "node:http";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { createLogger } from "../../base/observability/index.ts";
import { resolveConfig, startDaemon, type RunningDaemon } from "../index.ts";

const quiet = createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "fatal");
const info = { version: "9.9.9", gitCommit: "abc" };
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "htk-engine-"));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function start(hosts: string[], dataRoot = dir()): Promise<RunningDaemon> {
  const { config } = resolveConfig({ dataRoot, hosts }, {});
  const d = await startDaemon(config, info, quiet);
  cleanup.push(() => d.stop());
  return d;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
function call(socketPath: string, method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the engine daemon skeleton", () => {
  it("answers /_ping as Docker does, with and without a version prefix, GET and HEAD", async () => {
    const sock = join(dir(), "d.sock");
    await start([`unix://${sock}`]);
    for (const path of ["/_ping", "/v1.45/_ping", "/v1.24/_ping"]) {
      const r = await call(sock, "GET", path);
      expect(r.status).toBe(200);
      expect(r.body).toBe("OK");
      expect(r.headers["api-version"]).toBe("1.45");
      expect(r.headers["ostype"]).toBe("linux");
      expect(r.headers["builder-version"]).toBe("2");
      expect(r.headers["docker-experimental"]).toBe("false");
      expect(r.headers["swarm"]).toBe("inactive");
      expect(r.headers["cache-control"]).toBe("no-cache, no-store, must-revalidate");
    }
    const head = await call(sock, "HEAD", "/_ping");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
  });

  it("reports its version in Docker's shape", async () => {
    const sock = join(dir(), "d.sock");
    await start([`unix://${sock}`]);
    const r = await call(sock, "GET", "/v1.45/version");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("application/json");
    const v = JSON.parse(r.body) as Record<string, unknown>;
    expect(v).toMatchObject({ Version: "9.9.9", ApiVersion: "1.45", MinAPIVersion: "1.24", Os: "linux", GitCommit: "abc" });
    expect(v["Components"]).toEqual([expect.objectContaining({ Name: "Engine", Version: "9.9.9" })]);
  });

  it("negotiates versions with Docker's error texts", async () => {
    const sock = join(dir(), "d.sock");
    await start([`unix://${sock}`]);
    const tooNew = await call(sock, "GET", "/v1.46/version");
    expect(tooNew.status).toBe(400);
    expect(JSON.parse(tooNew.body).message).toMatch(/^client version 1.46 is too new. Maximum supported API version is 1.45. \[HTK-API-0002\]/);
    const tooOld = await call(sock, "GET", "/v1.20/version");
    expect(tooOld.status).toBe(400);
    expect(JSON.parse(tooOld.body).message).toMatch(/^client version 1.20 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version. \[HTK-API-0003\]/);
  });

  it("answers unknown paths and methods with Docker's JSON error shape", async () => {
    const sock = join(dir(), "d.sock");
    await start([`unix://${sock}`]);
    const missing = await call(sock, "GET", "/v1.45/no/such/thing");
    expect(missing.status).toBe(404);
    const body = JSON.parse(missing.body) as { message: string; diagnostic: { id: string } };
    expect(body.diagnostic.id).toBe("HTK-API-0001");
    expect(body.message).toContain("GET /v1.45/no/such/thing");
    const wrongMethod = await call(sock, "DELETE", "/_ping");
    expect(wrongMethod.status).toBe(404);
    expect(JSON.parse(wrongMethod.body).diagnostic.id).toBe("HTK-API-0004");
  });

  it("serves Prometheus metrics that count requests and unknown query options", async () => {
    const sock = join(dir(), "d.sock");
    await start([`unix://${sock}`]);
    await call(sock, "GET", "/_ping?bogus=1");
    const m = await call(sock, "GET", "/metrics");
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/hatake_api_requests_total\{[^}]*route="\/_ping"[^}]*\} \d+/);
    expect(m.body).toMatch(/hatake_compat_events_total\{[^}]*kind="unknown-query-option"[^}]*\} [1-9]/);
  });

  it("serves several addresses, including loopback TCP", async () => {
    const sock = join(dir(), "d.sock");
    const d = await start([`unix://${sock}`, "tcp://127.0.0.1:0"]);
    expect(d.addresses[0]).toBe(`unix://${sock}`);
    const port = Number(/:(\d+)$/.exec(d.addresses[1] ?? "")?.[1]);
    expect(port).toBeGreaterThan(0);
    const r = await fetch(`http://127.0.0.1:${port}/_ping`);
    expect(await r.text()).toBe("OK");
  });

  it("refuses a second daemon on the same data root (HTK-ENGINE-0001) and cleans up on stop", async () => {
    const root = dir();
    const sock = join(root, "a.sock");
    const first = await start([`unix://${sock}`], root);
    const err = await start([`unix://${join(root, "b.sock")}`], root).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-ENGINE-0001")).toBe(true);
    expect(existsSync(join(root, "b.sock"))).toBe(false);
    await first.stop();
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(join(root, "engine.pid"))).toBe(false);
  });

  it("validates registry mirrors as dockerd does (HTK-ENGINE-0004) and keeps them as scheme://host", () => {
    expect(resolveConfig({ registryMirrors: ["https://mirror.example/", "http://127.0.0.1:5000"] }, {}).config.registryMirrors).toEqual(["https://mirror.example", "http://127.0.0.1:5000"]);
    expect(() => resolveConfig({ registryMirrors: ["mirror.example"] }, {})).toThrow(/HTK-ENGINE-0004.*invalid mirror: "mirror.example" is not a valid URI/);
    expect(() => resolveConfig({ registryMirrors: ["ftp://m.example"] }, {})).toThrow(/HTK-ENGINE-0004.*invalid mirror: unsupported scheme "ftp"/);
    expect(() => resolveConfig({ registryMirrors: ["https://m.example/v2/"] }, {})).toThrow(/HTK-ENGINE-0004.*invalid mirror: path, query, or fragment/);
  });

  it("reads shutdown-timeout as dockerd (default 15 s, 0 allowed, negative refused)", () => {
    expect(resolveConfig({}, {}).config.shutdownTimeout).toBe(15);
    expect(resolveConfig({ shutdownTimeout: "0" }, {}).config.shutdownTimeout).toBe(0);
    expect(() => resolveConfig({ shutdownTimeout: "-1" }, {})).toThrow(/HTK-ENGINE-0004.*"shutdown-timeout" must be a whole number of 0 or more/);
  });

  it("reads builder.entitlements with dockerd's defaults (network-host allowed, security-insecure not)", () => {
    expect(resolveConfig({}, {}).config.builderEntitlements).toEqual({ networkHost: true, securityInsecure: false });
    expect(resolveConfig({ builder: { entitlements: { "network-host": false, "security-insecure": true } } }, {}).config.builderEntitlements).toEqual({ networkHost: false, securityInsecure: true });
    expect(() => resolveConfig({ builder: { entitlements: { "security-insecure": "yes" } } }, {})).toThrow(/HTK-ENGINE-0004.*"builder.entitlements.security-insecure" must be true or false/);
  });

  it("refuses a data root that a live in-process build holds (HTK-ENGINE-0005), leaving no engine.pid", async () => {
    const root = dir();
    writeFileSync(join(root, "build.lock"), "1"); // pid 1 is alive and is not this process
    const err = await start([`unix://${join(root, "c.sock")}`], root).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-ENGINE-0005")).toBe(true);
    expect(existsSync(join(root, "engine.pid"))).toBe(false);
  });

  it("takes over a stale lock and a stale socket left by a killed daemon", async () => {
    const root = dir();
    const dead = spawn(process.execPath, ["-e", ""]);
    const deadPid = await new Promise<number>((r) => dead.on("exit", () => r(dead.pid ?? 0)));
    writeFileSync(join(root, "engine.pid"), `${deadPid}\n`);
    const sock = join(root, "d.sock");
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(sock, r));
    // Closing a listening unix server unlinks its file; recreate a dead socket file the way a SIGKILL leaves it.
    await new Promise<void>((r) => stale.close(() => r()));
    writeFileSync(sock, "");
    const d = await start([`unix://${sock}`], root);
    expect((await call(sock, "GET", "/_ping")).body).toBe("OK");
    await d.stop();
  });

  it("refuses an address another process serves (HTK-ENGINE-0002)", async () => {
    const root = dir();
    const sock = join(root, "busy.sock");
    const other = createServer();
    await new Promise<void>((r) => other.listen(sock, r));
    cleanup.push(() => new Promise<void>((r) => other.close(() => r())));
    const err = await start([`unix://${sock}`], root).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-ENGINE-0002")).toBe(true);
    expect(existsSync(join(root, "engine.pid"))).toBe(false);
  });
});

describe("daemon configuration", () => {
  it("rejects addresses it cannot serve (HTK-ENGINE-0003)", () => {
    for (const host of ["tcp://0.0.0.0:2375", "ssh://host", "unix://"]) {
      const err = (() => {
        try {
          resolveConfig({ hosts: [host] }, {});
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(isHtkError(err, "HTK-ENGINE-0003"), host).toBe(true);
    }
  });

  it("reads dockerd's config file keys, warns about unknown ones, and refuses a setting given twice (HTK-ENGINE-0004)", () => {
    const d = dir();
    const file = join(d, "daemon.json");
    writeFileSync(file, JSON.stringify({ "data-root": "/x", "max-concurrent-downloads": 7, "live-restore": true }));
    const { config, unknownFileKeys } = resolveConfig({ configFile: file }, {});
    expect(config.dataRoot).toBe("/x");
    expect(config.maxConcurrentDownloads).toBe(7);
    expect(unknownFileKeys).toEqual(["live-restore"]);
    expect(() => resolveConfig({ configFile: file, dataRoot: "/y" }, {})).toThrow(/HTK-ENGINE-0004.*both as a flag and in the file: data-root/);
    writeFileSync(file, "{ not json");
    expect(() => resolveConfig({ configFile: file }, {})).toThrow(/HTK-ENGINE-0004.*not valid JSON/);
    expect(() => resolveConfig({ maxParallelBuilds: "0" }, {})).toThrow(/HTK-ENGINE-0004/);
  });
});
