import { create } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SolveRequestSchema } from "../../wire/index.ts";
import type { ContextStore } from "./build-service-contexts.ts";
import { credentialsFrom, registryConfigCredentials, solveCaches } from "./build-service-cache.ts";

const never = new AbortController().signal;
const dir = mkdtempSync(join(tmpdir(), "htk-solve-caches-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const leased: string[] = [];
const contexts = {
  lease: (ref: string) => {
    leased.push(ref);
    return Promise.resolve({ dir: `/copies/${ref}`, release: () => void leased.splice(leased.indexOf(ref), 1) });
  },
} as unknown as ContextStore;

describe("a Solve's cache options in the engine's terms", () => {
  it("parses BuildKit's entries with the command line's rules; local imports come from the synced copy, local exports go under the build's folder", async () => {
    const req = create(SolveRequestSchema, {
      ref: "r",
      localRefs: { "cache-from:1": "copy1" },
      cacheImports: [
        { type: "registry", attrs: { ref: "127.0.0.1:5000/app:cache" } },
        { type: "local", attrs: { src: "/client/cache", tag: "t1" } },
      ],
      cacheExports: [
        { type: "registry", attrs: { ref: "127.0.0.1:5000/app:cache", mode: "max", "image-manifest": "false" } },
        { type: "local", attrs: { dest: "/client/cache" } },
        { type: "inline", attrs: {} },
      ],
    });
    const c = await solveCaches(req, contexts, dir, never);
    expect(c.cacheFrom).toEqual([
      { type: "registry", ref: "127.0.0.1:5000/app:cache", ignoreError: false },
      { type: "local", src: "/copies/copy1", tag: "t1", ignoreError: false },
    ]);
    expect(c.cacheTo[0]).toMatchObject({ type: "registry", mode: "max", layout: "index" });
    expect(c.cacheTo[1]).toMatchObject({ type: "local", dest: join(dir, "cache-1"), tag: "latest" });
    expect(c.cacheTo[2]).toEqual({ type: "inline" });
    expect(c.localExports).toEqual([join(dir, "cache-1")]);
    expect(leased).toEqual(["copy1"]);
    c.release();
    expect(leased).toEqual([]);
  });

  it("refuses a local import the client did not send (HTK-ENGINE-0700), an entry without a type (HTK-ENGINE-0701), unknown options (HTK-CACHE-0200)", async () => {
    type Entry = { type: string; attrs: Record<string, string> };
    const ask = (entries: { cacheImports?: Entry[]; cacheExports?: Entry[] }) => solveCaches(create(SolveRequestSchema, { ref: "r", ...entries }), contexts, dir, never);
    await expect(ask({ cacheImports: [{ type: "local", attrs: { src: "/x" } }] })).rejects.toThrow(/HTK-ENGINE-0700/);
    await expect(ask({ cacheExports: [{ type: "", attrs: { ref: "a" } }] })).rejects.toThrow(/HTK-ENGINE-0701/);
    await expect(ask({ cacheExports: [{ type: "registry", attrs: { ref: "a", nope: "1" } }] })).rejects.toThrow(/HTK-CACHE-0200/);
  });

  it("uses the client's credentials for its hosts only, Docker Hub under any of its names", async () => {
    const creds = credentialsFrom({ "127.0.0.1:5000": { username: "u", password: "p" }, "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") } });
    expect(await creds.get("127.0.0.1:5000")).toEqual({ kind: "basic", username: "u", password: "p" });
    expect(await creds.get("docker.io")).toEqual({ kind: "basic", username: "hub", password: "pw" });
    expect(await creds.get("registry-1.docker.io")).toEqual({ kind: "basic", username: "hub", password: "pw" });
    expect(await creds.get("other.example")).toBeUndefined();
    const classic = registryConfigCredentials(Buffer.from(JSON.stringify({ "127.0.0.1:5000": { username: "u", password: "p" } })).toString("base64"));
    expect(await classic.get("127.0.0.1:5000")).toEqual({ kind: "basic", username: "u", password: "p" });
    expect(await registryConfigCredentials("not base64 json").get("127.0.0.1:5000")).toBeUndefined();
  });
});
