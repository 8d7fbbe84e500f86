import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { fixtures, tempDir } from "../../testing/index.ts";

async function hatake(cwd: string, args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({ cwd, env: {} });
  const code = await main([...args], io);
  return { code, out: io.out(), err: io.err() };
}

const build = (cwd: string): Promise<{ code: number; out: string; err: string }> =>
  hatake(cwd, ["build", "--data-root", "data", "--progress=plain", "-o", "type=local,dest=out", "-t", "prune/app", "ctx"]);

describe("hatake du / prune on the runtime worker's data root", () => {
  it("lists pulled layers, steps, the context and cache mounts; prunes by type and all; the next build re-runs and succeeds", async () => {
    const root = await tempDir("prune-rt");
    mkdirSync(join(root, "ctx"), { recursive: true });
    writeFileSync(
      join(root, "ctx", "Dockerfile"),
      `FROM ${fixtures().registry.host}/busybox\nRUN --mount=type=cache,id=pkgcache,target=/c echo cached >> /c/count && echo step > /step.txt\nCOPY a.txt /a.txt\n`,
    );
    writeFileSync(join(root, "ctx", "a.txt"), "a\n");
    const first = await build(root);
    expect(first.code, first.err).toBe(0);

    const du = await hatake(root, ["du", "--data-root", "data", "--verbose"]);
    expect(du.code, du.err).toBe(0);
    expect(du.out).toContain("Type:\t\texec.cachemount\n");
    expect(du.out).toContain("Description:\tcached mount pkgcache\n");
    expect(du.out).toContain("Type:\t\tsource.local\n");
    expect(du.out).toMatch(/Description:\t\[stage-0 2\/3\] RUN --mount=type=cache,id=pkgcache/);
    expect(du.out).toMatch(/Description:\t\[stage-0 1\/3\] FROM .*\/busybox/);
    expect(du.out).toContain("Description:\tlocal source mirror\n");

    // Without -a the cache mount stays (and keeps its contents across the rebuild).
    const plain = await hatake(root, ["prune", "--data-root", "data", "-f"]);
    expect(plain.code, plain.err).toBe(0);
    expect(readdirSync(join(root, "data", "snapshots", "layers"))).toEqual([]);
    const left = await hatake(root, ["du", "--data-root", "data", "--verbose"]);
    expect(left.out.match(/^Type:.*$/gm)).toEqual(["Type:\t\texec.cachemount"]);

    const second = await build(root);
    expect(second.code, second.err).toBe(0);
    expect(second.err).not.toContain("CACHED");
    expect(readFileSync(join(root, "out", "step.txt"), "utf8")).toBe("step\n");
    expect(readFileSync(join(root, "out", "a.txt"), "utf8")).toBe("a\n");

    const mounts = await hatake(root, ["prune", "--data-root", "data", "-f", "--filter", "type=exec.cachemount"]);
    expect(mounts.out).toMatch(/^ID +RECLAIMABLE +SIZE +LAST ACCESSED\n[0-9a-f]{25} +true .*\nTotal: /);
    expect(readdirSync(join(root, "data", "worker", "cache-mounts"))).toEqual([]);

    const all = await hatake(root, ["prune", "--data-root", "data", "-a", "-f"]);
    expect(all.code, all.err).toBe(0);
    expect((await hatake(root, ["du", "--data-root", "data"])).out).toBe("Reclaimable: 0B\nTotal:       0B\n");
    // Nothing left over: no snapshot, no active snapshot, no mount, no cache mount.
    for (const d of ["snapshots/layers", "snapshots/active", "snapshots/staging", "worker/cache-mounts", "worker/locals", "worker/exports", "worker/trees"]) expect(readdirSync(join(root, "data", d)), d).toEqual([]);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(join(root, "data"));

    const third = await build(root);
    expect(third.code, third.err).toBe(0);
    expect(third.err).not.toContain("CACHED");
    expect(readFileSync(join(root, "out", "step.txt"), "utf8")).toBe("step\n");
  }, 180_000);
});
