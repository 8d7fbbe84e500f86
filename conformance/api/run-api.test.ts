import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatCoverage, probeRequest, runApiSuite } from "./run-api.ts";
import { loadSpec, type Spec } from "./spec.ts";

/**
 * The runner against a fake engine whose answers are wrong in known ways: each must surface as a
 * failure line, so a green run means something.
 */
let dir = "";
let server: Server | undefined;
let host = "";
let spec: Spec;

beforeAll(async () => {
  spec = loadSpec();
  dir = mkdtempSync(join(tmpdir(), "htk-api-suite-"));
  const sock = join(dir, "fake.sock");
  host = `unix://${sock}`;
  server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/v1.45/version") {
      // Version must be a string, Components[].Version is required.
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ Version: 1, Components: [{ Name: "Engine" }] }));
    } else if (path === "/v1.45/_ping") {
      res.writeHead(200, { "Content-Type": "text/plain", "Docker-Experimental": "maybe" }).end(req.method === "HEAD" ? undefined : "OK");
    } else if (path === "/v1.45/images/json") {
      res.writeHead(200, { "Content-Type": "application/json" }).end("[]");
    } else if (path === "/v1.45/events") {
      res.writeHead(200, { "Content-Type": "application/json" }).end('{"Type":"container","Action":"start","time":1}\n{"Type":"container","Action":5}\n');
    } else if (path === "/v1.45/volumes") {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("404 page not found");
    } else {
      res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ message: "no" }));
    }
  });
  await new Promise<void>((resolve) => server?.listen(sock, resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  rmSync(dir, { recursive: true, force: true });
});

describe("the api suite runner", () => {
  it("reports schema violations, bad headers, unlisted implementations, non-Docker errors and typos", async () => {
    const r = await runApiSuite({
      host,
      spec,
      implemented: {
        SystemVersion: { cases: [{ path: "/version" }] },
        SystemPing: { cases: [{ path: "/_ping" }] },
        SystemInfo: { cases: [{ path: "/info" }] },
        ContainerInspect: { cases: [] },
        SystemEvents: { cases: [{ path: "/events" }] },
        ContainerTop: {
          cases: [
            {
              path: "/containers/{id}/top",
              setup: () => Promise.reject(new Error("no busybox")),
            },
          ],
        },
        NoSuchOperation: { cases: [] },
      },
    });
    const text = r.failures.join("\n");
    expect(text).toContain("SystemVersion case GET /version: body /Version must be string");
    expect(text).toContain("SystemVersion case GET /version: body /Components/0 must have required property 'Version'");
    expect(text).toContain('SystemPing case GET /_ping: header Docker-Experimental: "maybe" is not a boolean');
    expect(text).toContain("SystemInfo case GET /info: status 404, expected 200");
    // The generated negative case: a 404 for unknown IDs, in Docker's error shape.
    expect(r.failures.some((f) => f.startsWith("ContainerInspect negative"))).toBe(false);
    expect(text).toContain("ImageList not implemented: GET /images/json: answered 200: the engine implements it");
    expect(text).toContain('VolumeList not implemented: GET /volumes: status 404 with content type "text/plain"');
    expect(text).toContain('"NoSuchOperation" is not an operationId');
    expect(text).toContain("SystemEvents case GET /events: body value 2 /Action must be string");
    expect(text).not.toContain("body value 1");
    expect(text).toContain("ContainerTop case GET /containers/{id}/top: set-up failed: no busybox");
    expect(text).toContain("SwarmInspect out of scope: GET /swarm: status 404, expected 503");
    expect(r.warnings.join()).toContain("lacks the header API-Version");
    const container = r.rows.find((row) => row.tag === "Container");
    expect(container).toMatchObject({ implemented: 2, validated: 1, failing: 1 });
    expect(r.rows.find((row) => row.tag === "System")).toMatchObject({ implemented: 4, validated: 0, failing: 4 });
    expect(r.failed).toBe(r.failures.length);
  });

  it("probes with requests that get past Docker's argument checks and remove nothing", () => {
    const op = (id: string) => spec.operations.find((o) => o.operationId === id) ?? expect.fail(id);
    expect(probeRequest(op("ContainerPrune")).query?.["filters"]).toContain("hatake.conformance.never");
    expect(probeRequest(op("ServiceUpdate"))).toMatchObject({ path: "/services/hatake-conformance-missing/update", query: { version: "1" } });
    expect(probeRequest(op("PluginInspect")).path).toBe("/plugins/hatake-conformance/no-such-plugin:latest/json");
  });

  it("prints the coverage table with totals over the in-scope tags", () => {
    const table = formatCoverage([
      { tag: "System", inSpec: 7, implemented: 3, validated: 3, failing: 0, probes: 4, probesPassed: 4 },
      { tag: "Swarm", inSpec: 7, implemented: 0, validated: 0, failing: 0, probes: 7, probesPassed: 7, outOfScope: "swarm mode" },
    ]);
    expect(table.split("\n")[0]).toMatch(/^tag +implemented\/spec +validated +failing/);
    expect(table).toMatch(/^Swarm +0\/7 .*out of scope: swarm mode$/m);
    expect(table).toMatch(/^total \(in scope\) +3\/7 +3 +0 +11\/11 +14 operations in the spec$/m);
  });
});
