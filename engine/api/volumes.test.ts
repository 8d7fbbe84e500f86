import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { testStore, type TestStore } from "../state/test-support.ts";
import { errorOf, serveRoutes, type TestApi } from "./test-support.ts";
import { volumeRoutes } from "./volumes.ts";

describe("the volume routes", () => {
  let t: TestStore;
  let api: TestApi;
  beforeEach(async () => {
    t = testStore();
    api = await serveRoutes(volumeRoutes({ state: t.store, config: { dataRoot: t.dataRoot } }));
  });
  afterEach(async () => {
    await api.close();
    t.close();
  });

  it("creates with Docker's shape and status, and lists with Warnings as a list", async () => {
    const r = await api.call("POST", "/volumes/create", { body: { Name: "v1", Labels: { b: "2", a: "1" }, DriverOpts: {} } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.json as object)).toEqual(["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]);
    expect(r.text).toContain('"Labels":{"a":"1","b":"2"}');
    const anon = await api.call("POST", "/volumes/create");
    expect(anon.status).toBe(201);
    const list = await api.call("GET", "/volumes?filters=%7B%22label%22%3A%5B%22a%3D1%22%5D%7D");
    expect(list.json).toEqual({ Volumes: [expect.objectContaining({ Name: "v1" })], Warnings: [] });
  });

  it("reads the body as Docker's ReadJSON: content type, JSON, field types, size", async () => {
    expect(errorOf(await api.call("POST", "/volumes/create", { body: '{"Name":', headers: { "Content-Type": "application/json" } }))).toMatchObject({
      status: 400,
      id: "HTK-ENGINE-0450",
    });
    expect(errorOf(await api.call("POST", "/volumes/create", { body: { Name: 5 } }))).toMatchObject({
      status: 400,
      id: "HTK-ENGINE-0450",
      message: expect.stringMatching(/^invalid JSON: json: cannot unmarshal number into Go struct field CreateOptions\.Name of type string \[HTK-ENGINE-0450\]/) as unknown,
    });
    expect(errorOf(await api.call("POST", "/volumes/create", { body: { Labels: { a: 1 } } }))).toMatchObject({ status: 400, id: "HTK-ENGINE-0450" });
    expect(errorOf(await api.call("POST", "/volumes/create", { body: '{"Name":"x1"}', headers: { "Content-Type": "text/plain" } }))).toMatchObject({
      status: 400,
      id: "HTK-ENGINE-0451",
      message: expect.stringMatching(/^unsupported Content-Type header \(text\/plain\): must be 'application\/json' \[/) as unknown,
    });
    const huge = JSON.stringify({ Name: "big", Labels: { x: "y".repeat(2 * 1024 * 1024) } });
    expect(errorOf(await api.call("POST", "/volumes/create", { body: huge, headers: { "Content-Type": "application/json" } }))).toMatchObject({ status: 413, id: "HTK-ENGINE-0452" });
    expect(t.store.volumes.list()).toEqual([]);
    // A cluster volume needs a swarm manager, as on a non-swarm Docker Engine.
    expect(errorOf(await api.call("POST", "/volumes/create", { body: { Name: "cv", ClusterVolumeSpec: {} } }))).toMatchObject({ status: 503, id: "HTK-API-0005" });
  });

  it("answers inspect, update (swarm only), delete and prune as Docker", async () => {
    await api.call("POST", "/volumes/create", { body: { Name: "v1" } });
    expect((await api.call("GET", "/volumes/v1")).json).toMatchObject({ Name: "v1", Driver: "local", Scope: "local", Options: {}, Labels: {} });
    expect(errorOf(await api.call("GET", "/volumes/nope"))).toMatchObject({ status: 404, id: "HTK-ENGINE-0122" });
    expect(errorOf(await api.call("PUT", "/volumes/v1?version=1", { body: {} }))).toMatchObject({
      status: 503,
      id: "HTK-ENGINE-0462",
      message: expect.stringMatching(/^volume update only valid for cluster volumes, but swarm is unavailable \[/) as unknown,
    });
    expect((await api.call("DELETE", "/volumes/v1")).status).toBe(204);
    expect((await api.call("DELETE", "/volumes/v1?force=1")).status).toBe(204);
    expect(errorOf(await api.call("DELETE", "/volumes/v1?force=0"))).toMatchObject({ status: 404, id: "HTK-ENGINE-0122" });
    await api.call("POST", "/volumes/create", { body: { Name: "named" } });
    await api.call("POST", "/volumes/create", { body: {} });
    expect((await api.call("POST", "/v1.45/volumes/prune")).json).toEqual({ VolumesDeleted: [expect.stringMatching(/^[0-9a-f]{64}$/) as unknown], SpaceReclaimed: 0 });
    // Before API 1.42 a prune meant every unused volume.
    expect((await api.call("POST", "/v1.41/volumes/prune")).json).toEqual({ VolumesDeleted: ["named"], SpaceReclaimed: 0 });
  });

  it("reports a folder that cannot be made (HTK-ENGINE-0463) and records nothing", async () => {
    writeFileSync(join(t.dataRoot, "volumes"), "not a directory");
    expect(errorOf(await api.call("POST", "/volumes/create", { body: { Name: "v1" } }))).toMatchObject({ status: 500, id: "HTK-ENGINE-0463" });
    expect(t.store.volumes.list()).toEqual([]);
  });
});
