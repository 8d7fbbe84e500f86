import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildService } from "../../wire/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * The build service's own refusals, through a bare Connect client on the engine's socket: each error
 * carries its diagnostic ID in the `htk-id` metadata (what the plugin shows).
 */
describe("the build service's refusals", () => {
  let engine: TestEngine;
  let client: Client<typeof BuildService>;

  beforeAll(async () => {
    engine = await startTestEngine();
    client = createClient(BuildService, createConnectTransport({ baseUrl: "http://engine", httpVersion: "1.1", nodeOptions: { socketPath: engine.socket } }));
  });
  afterAll(async () => engine?.stop());

  async function idOf(p: Promise<unknown> | AsyncIterable<unknown>): Promise<string | null> {
    try {
      if (Symbol.asyncIterator in Object(p)) for await (const _ of p as AsyncIterable<unknown>) void _;
      else await p;
    } catch (err) {
      return (err as { metadata: Headers }).metadata.get("htk-id");
    }
    return "no error";
  }

  it("refuses frontends, exporters and subrequests it does not have (HTK-ENGINE-0603, HTK-ENGINE-0604), a push without a name (HTK-BUILD-0202)", async () => {
    const dockerfile = new TextEncoder().encode("FROM scratch\n");
    expect(await idOf(client.solve({ ref: "r1", frontend: "gateway.v0", dockerfile }))).toBe("HTK-ENGINE-0603");
    expect(await idOf(client.solve({ ref: "r2", frontendAttrs: { requestid: "frontend.nope" }, dockerfile }))).toBe("HTK-ENGINE-0603");
    const ctx = await client.syncContext({ clientId: "c", name: "context", dir: "/x", manifestDigest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", withEntries: true });
    const ref = ctx.result.case === "ready" ? ctx.result.value.contextRef : "";
    expect(ref).not.toBe("");
    expect(await idOf(client.solve({ ref: "r3", dockerfile, localRefs: { context: ref }, exporters: [{ type: "registry", attrs: {} }] }))).toBe("HTK-BUILD-0202");
    expect(await idOf(client.solve({ ref: "r4", dockerfile, localRefs: { context: "nope" } }))).toBe("HTK-ENGINE-0601");
  });

  it("answers --call on a Dockerfile it cannot parse with the frontend's diagnostics (HTK-ENGINE-0605)", async () => {
    const bad = new TextEncoder().encode("FROM\n");
    expect(await idOf(client.solve({ ref: "r5", frontendAttrs: { requestid: "frontend.outline" }, dockerfile: bad }))).toBe("HTK-ENGINE-0605");
    expect(await idOf(client.solve({ ref: "r6", frontendAttrs: { requestid: "frontend.targets" }, dockerfile: new TextEncoder().encode("FROM a\nNOPE x\n") }))).toBe("HTK-ENGINE-0605");
  });

  it("refuses secrets nobody asked for and outputs that are not there (HTK-ENGINE-0608, HTK-ENGINE-0606)", async () => {
    expect(await idOf(client.provideSecrets({ ref: "nope", requestId: "x", secrets: { a: new Uint8Array(1) } }))).toBe("HTK-ENGINE-0608");
    expect(await idOf(client.readExport({ id: "nope" }))).toBe("HTK-ENGINE-0606");
  });

  it("refuses credentials and SSH agent answers nobody asked for (HTK-ENGINE-0720)", async () => {
    expect(await idOf(client.provideCredentials({ ref: "nope", requestId: "x", username: "u", password: "p" }))).toBe("HTK-ENGINE-0720");
    expect(await idOf(client.provideSshReply({ ref: "nope", requestId: "x", message: Uint8Array.of(12) }))).toBe("HTK-ENGINE-0720");
  });

  it("reports and prunes the build cache, refusing filters it does not know", async () => {
    const du = await client.diskUsage({ filters: ["type=regular"] });
    expect(Array.isArray(du.records)).toBe(true);
    const pruned = await client.prune({ all: true, filters: ["until=1h"] });
    expect(pruned.reclaimed).toBeGreaterThanOrEqual(0n);
    expect(await idOf(client.prune({ filters: ["colour=blue"] }))).toBe("HTK-ENGINE-0603");
    expect(await idOf(client.diskUsage({ filters: ["until=soon"] }))).toBe("HTK-ENGINE-0603");
  });
});
