import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runApiSuite } from "./api/run-api.ts";
import { startEngine, type EngineTarget } from "./engine.ts";
import { runFlowsSuite } from "./flows/run-flows.ts";

/**
 * The conformance suites as part of the test run: the Engine API contract suite and the golden flows
 * against a `hatake engine` process started here (the built bundle), the flows also in differential
 * mode against a second engine, which must find no difference; the registry flows use the harness'
 * registries and busybox fixture. The coverage table goes to the log.
 */
let engine: EngineTarget | undefined;
let reference: EngineTarget | undefined;

beforeAll(async () => {
  [engine, reference] = await Promise.all([startEngine(), startEngine()]);
});

afterAll(async () => {
  await Promise.all([engine?.stop(), reference?.stop()]);
});

describe("conformance against a hatake engine", () => {
  it("validates every implemented Engine API operation against the v1.45 spec, and the rest answer as required", async () => {
    if (engine === undefined) throw new Error("engine not started");
    const r = await runApiSuite({ host: engine.host });
    console.log(`Engine API v1.45 coverage:\n${r.table}\n${[...new Set(r.warnings)].map((w) => `warning: ${w}`).join("\n")}\n${r.passed} passed, ${r.failed} failed`);
    expect(r.failures).toEqual([]);
    expect(r.passed).toBeGreaterThanOrEqual(107);
    // Every operation of the spec is accounted for in some row.
    expect(r.rows.reduce((n, row) => n + row.inSpec, 0)).toBe(107);
    for (const tag of ["Swarm", "Node", "Service", "Task", "Secret", "Config", "Plugin"]) {
      expect(r.rows.find((row) => row.tag === tag)?.outOfScope, tag).toBeDefined();
    }
    // Issue 10's end state: every System, Image, Container, Network, Volume, Exec and Distribution
    // operation implemented and validated; Session is not served, and the table says why.
    for (const tag of ["System", "Image", "Container", "Network", "Volume", "Exec", "Distribution"]) {
      const row = r.rows.find((x) => x.tag === tag);
      expect(row === undefined ? undefined : { implemented: row.implemented, validated: row.validated, failing: row.failing }, tag).toEqual({ implemented: row?.inSpec, validated: row?.inSpec, failing: 0 });
    }
    expect(r.rows.find((row) => row.tag === "Session")?.notServed).toMatch(/^not served: /);
  }, 300_000);

  it("passes every golden flow with the docker CLI, identical to a second engine in differential mode", async () => {
    if (engine === undefined || reference === undefined) throw new Error("engines not started");
    // The registry flows use the harness' registries and busybox (both engines the same ones).
    const auth = inject("authRegistry");
    const registry = { registry: inject("registry").host, authRegistry: auth.host, username: auth.username, password: auth.password, busybox: inject("busybox").reference };
    const r = await runFlowsSuite({ host: engine.host, refHost: reference.host, registry });
    console.log([...r.report, ...r.failures, `${r.passed} passed, ${r.failed} failed`].join("\n"));
    expect(r.failures).toEqual([]);
    expect(r.passed).toBeGreaterThanOrEqual(10);
    // Every flow runs twice (differentially), many with containers: the catalogue outgrew the default 2 minutes.
  }, 600_000);
});
