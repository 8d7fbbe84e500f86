import { request } from "node:http";
import { describe, expect, inject, it } from "vitest";
import { suiteEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * GET /containers/json answers from the list cache (container-list.ts): every change of state —
 * a start, a rename, a network connect, a removal — shows in the next answer, and the cached text is
 * the same as the summaries rendered afresh (the `size=1` path renders without the cache).
 */
function list(engine: TestEngine, query: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const r = request({ socketPath: engine.socket, path: `/v1.45/containers/json?${query}` }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Array<Record<string, unknown>>);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    r.on("error", reject);
    r.end();
  });
}

const withoutTime = (entries: ReadonlyArray<Record<string, unknown>>): unknown[] => entries.map(({ Status: _s, SizeRw: _rw, SizeRootFs: _root, ...rest }) => rest);

describe("GET /containers/json from the list cache", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  it("shows every change at once and renders what an uncached summary renders", async () => {
    const id = (await engine.docker(["create", "--name", "list-a", "--label", "t=list", busybox, "sleep", "30"])).stdout.trim();
    const first = await list(engine, "all=1");
    expect(first.map((c) => [c["Names"], c["State"], c["Status"]])).toEqual([[["/list-a"], "created", "Created"]]);
    // Asked again with nothing changed: the same answer.
    expect(await list(engine, "all=1")).toEqual(first);
    expect(await list(engine, "")).toEqual([]);

    expect((await engine.docker(["start", id])).code).toBe(0);
    const running = await list(engine, "");
    expect(running.map((c) => [c["State"], String(c["Status"]).startsWith("Up ")])).toEqual([["running", true]]);

    expect((await engine.docker(["rename", "list-a", "list-b"])).code).toBe(0);
    expect((await list(engine, "all=1")).map((c) => c["Names"])).toEqual([["/list-b"]]);

    expect((await engine.docker(["network", "create", "list-net"])).code).toBe(0);
    expect((await engine.docker(["network", "connect", "list-net", "list-b"])).code).toBe(0);
    const connected = await list(engine, "all=1&filters=" + encodeURIComponent(JSON.stringify({ label: ["t=list"] })));
    expect(Object.keys((connected[0]?.["NetworkSettings"] as { Networks: Record<string, unknown> }).Networks).sort()).toEqual(["bridge", "list-net"]);
    // The size=1 path renders each summary afresh: the cached text says the same.
    expect(withoutTime(connected)).toEqual(withoutTime(await list(engine, "all=1&size=1&filters=" + encodeURIComponent(JSON.stringify({ label: ["t=list"] })))));

    expect((await engine.docker(["rm", "-f", "list-b"])).code).toBe(0);
    expect(await list(engine, "all=1")).toEqual([]);
    expect((await engine.docker(["network", "rm", "list-net"])).code).toBe(0);
  });
});
