import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const DOCKERFILE = `FROM scratch AS assets
COPY assets/ /assets/
FROM scratch
COPY --from=assets /assets/logo.txt /app/
COPY app.txt /app/
`;

function project(): string {
  const root = mkdtempSync(join(tmpdir(), "htk-prune-"));
  dirs.push(root);
  mkdirSync(join(root, "ctx", "assets"), { recursive: true });
  writeFileSync(join(root, "ctx", "Dockerfile"), DOCKERFILE);
  writeFileSync(join(root, "ctx", "assets", "logo.txt"), "logo\n");
  writeFileSync(join(root, "ctx", "app.txt"), "app\n");
  return root;
}

async function hatake(root: string, args: string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  // The file worker everywhere: the cache layout under test is the same for both workers' step records.
  const io = memoryIo({ cwd: root, env: { HATAKE_BUILD_WORKER: "file" }, ...(stdin === undefined ? {} : { stdin }) });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

const build = (root: string): Promise<{ code: number; out: string; err: string }> =>
  hatake(root, ["build", "--data-root", "data", "--progress=plain", "-o", "type=local,dest=out", "ctx"]);

describe("hatake du and hatake prune", () => {
  it("du lists the build's records by type; prune -a empties the cache and the next build re-runs every step", async () => {
    const root = project();
    expect((await build(root)).code).toBe(0);
    const du = await hatake(root, ["du", "--data-root", "data"]);
    expect(du.code, du.err).toBe(0);
    expect(du.out).toMatch(/^ID +RECLAIMABLE +SIZE +LAST ACCESSED\n/);
    expect(du.out).toMatch(/\n[0-9a-f]{25} +true +\d[\d.]*[kM]?B +(Less than a second|\d+ seconds) ago\n/);
    expect(du.out).toMatch(/Reclaimable: +\d[\d.]*[kM]?B\nTotal: +\d[\d.]*[kM]?B\n$/);
    const verbose = await hatake(root, ["du", "--data-root", "data", "--verbose"]);
    expect(verbose.out).toContain("Type:\t\tregular\n");
    expect(verbose.out).toContain("Type:\t\tsource.local\n");
    expect(verbose.out).toMatch(/Description:\t\[stage-1 2\/2\] COPY app.txt \/app\//);
    const onlyLocal = await hatake(root, ["du", "--data-root", "data", "--verbose", "--filter", "type=source.local"]);
    expect(onlyLocal.out).not.toContain("Type:\t\tregular");

    const pruned = await hatake(root, ["prune", "--data-root", "data", "-a", "-f"]);
    expect(pruned.code, pruned.err).toBe(0);
    expect(pruned.out).toMatch(/^ID +RECLAIMABLE +SIZE +LAST ACCESSED\n([0-9a-f]{25} +true .*\n)+Total: +\d[\d.]*[kM]?B\n$/);
    const after = await hatake(root, ["du", "--data-root", "data"]);
    expect(after.out).toBe("Reclaimable: 0B\nTotal:       0B\n");
    for (const d of ["snapshots", "locals"]) expect(readdirSync(join(root, "data", "worker", d)), d).toEqual([]);
    expect(verbose.out).toContain("Description:\tlocal source mirror\n");

    rmSync(join(root, "out"), { recursive: true });
    const again = await build(root);
    expect(again.code, again.err).toBe(0);
    expect(again.err).not.toContain("CACHED");
    expect(again.err.match(/DONE/g)?.length).toBeGreaterThanOrEqual(3);
    expect(readFileSync(join(root, "out", "app", "logo.txt"), "utf8")).toBe("logo\n");
    expect(readFileSync(join(root, "out", "app", "app.txt"), "utf8")).toBe("app\n");
    // And the rebuilt cache is used again.
    const third = await build(root);
    expect(third.err).toMatch(/CACHED/);
  }, 60_000);

  it("prune without -f asks, and refuses without a yes (HTK-CACHE-0102); 'y' goes ahead", async () => {
    const root = project();
    expect((await build(root)).code).toBe(0);
    const no = await hatake(root, ["prune", "--data-root", "data"]);
    expect(no.code).toBe(1);
    expect(no.out).toBe("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
    expect(no.err).toContain("HTK-CACHE-0102");
    expect(readdirSync(join(root, "data", "worker", "snapshots")).length).toBeGreaterThan(0);
    const yes = await hatake(root, ["prune", "--data-root", "data"], "y\n");
    expect(yes.code, yes.err).toBe(0);
    expect(readdirSync(join(root, "data", "worker", "snapshots"))).toEqual([]);
  }, 60_000);

  it("reports bad sizes (HTK-CACHE-0100), bad filters (HTK-CACHE-0101) and a missing data root (HTK-CACHE-0103)", async () => {
    const root = project();
    mkdirSync(join(root, "data"));
    const size = await hatake(root, ["prune", "--data-root", "data", "-f", "--keep-storage", "lots"]);
    expect(size.code).toBe(1);
    expect(size.err).toContain("HTK-CACHE-0100");
    const filter = await hatake(root, ["du", "--data-root", "data", "--filter", "type=layers"]);
    expect(filter.err).toContain("HTK-CACHE-0101");
    const until = await hatake(root, ["prune", "--data-root", "data", "-f", "--filter", "until=1d"]);
    expect(until.err).toContain("HTK-CACHE-0101");
    const missing = await hatake(root, ["du", "--data-root", "nowhere"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("HTK-CACHE-0103");
  });

  it("a cache hit counts as a use: until= keeps a step made long ago but reused by the last build", async () => {
    const root = project();
    expect((await build(root)).code).toBe(0);
    // Age every key record by ten hours, as if the first build had run then.
    const file = join(root, "data", "cache-keys.jsonl");
    const old = new Date(Date.now() - 10 * 3_600_000).toISOString();
    writeFileSync(file, readFileSync(file, "utf8").replace(/"createdAt":"[^"]+"/g, `"createdAt":"${old}"`));
    const aged = await hatake(root, ["du", "--data-root", "data", "--verbose", "--filter", "type=regular"]);
    expect(aged.out).toContain("Last used:\t10 hours ago\n");
    const again = await build(root);
    expect(again.err).toMatch(/CACHED/);
    const du = await hatake(root, ["du", "--data-root", "data", "--verbose", "--filter", "type=regular"]);
    expect(du.out).not.toContain("10 hours ago");
    expect(du.out).toContain("Usage count:\t2\n");
    const pruned = await hatake(root, ["prune", "--data-root", "data", "-f", "--filter", "until=5h"]);
    expect(pruned.out).toBe("Total: 0B\n");
  }, 60_000);

  it("prune --keep-storage and --filter until= keep recent records", async () => {
    const root = project();
    expect((await build(root)).code).toBe(0);
    const keep = await hatake(root, ["prune", "--data-root", "data", "-f", "--filter", "until=1h"]);
    expect(keep.out).toBe("Total: 0B\n");
    const big = await hatake(root, ["prune", "--data-root", "data", "-f", "--keep-storage", "1GB"]);
    expect(big.out).toBe("Total: 0B\n");
    const zero = await hatake(root, ["prune", "--data-root", "data", "-f", "--keep-storage", "0"]);
    expect(zero.out).toMatch(/Total: +[1-9]/);
  }, 60_000);
});
