import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { timedSpawn } from "../timing.ts";
import type { BenchContext, OpenResult, Target, Workload } from "../types.ts";
import { answers } from "./engine-process.ts";

/** The six shared build workloads (../shared/bench/workloads), used exactly as they are. */
export const SHARED_BUILD_WORKLOADS = [
  "01-multistage-parallel",
  "02-cache-mount",
  "03-many-files",
  "04-buildarg-target",
  "05-secret-mount",
  "06-heredoc",
] as const;

export function sharedDir(repo: string): string {
  return process.env["HATAKE_SHARED_DIR"] ?? join(repo, "..", "shared");
}

/** What a workload's bench.env says (it is a shell fragment: read through bash, never re-parsed by hand). */
export interface BenchEnv {
  readonly buildArgs: readonly string[];
  readonly editFile: string;
  readonly needsSecret: boolean;
  readonly prepare: string;
}

export function readBenchEnv(dir: string): BenchEnv {
  const script = 'set -a; . ./bench.env; eval "args=($BUILD_ARGS)"; printf "%s\\0" "$EDIT_FILE" "${NEEDS_SECRET:-}" "${PREPARE:-}" "${args[@]}"';
  const r = spawnSync("bash", ["-c", script], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`cannot read ${join(dir, "bench.env")}: ${r.stderr}`);
  const [editFile = "", needsSecret = "", prepare = "", ...buildArgs] = r.stdout.split("\0").slice(0, -1);
  return { editFile, needsSecret: needsSecret === "1", prepare, buildArgs };
}

const SECRET_VALUE = "s3cr3t-token-value";

/**
 * The line appended for the "edit" figure: a comment in the file's own language, so the edit changes
 * the file's content (and the cache keys) without breaking what the build does with it — workload 04
 * runs its edited `app.sh`, workload 02 hashes its edited `main.c`.
 */
export function editLine(file: string, round: number): string {
  return /\.(c|h|js|ts|go|java)$/.test(file) ? `/* edit ${round} */\n` : `# edit ${round}\n`;
}

/** How a build is started on a target: `docker build` against the reference, `hatake build` on ours. */
function buildCommand(target: Target, ctx: BenchContext, dataRoot: string, args: readonly string[]): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (target.kind === "reference") {
    return { cmd: "docker", args: ["build", "--progress=plain", ...args], env: { ...process.env, DOCKER_HOST: target.dockerHost, DOCKER_BUILDKIT: "1" } };
  }
  return { cmd: process.execPath, args: [join(ctx.repo, "bin", "hatake"), "build", "--data-root", dataRoot, "--progress=plain", ...args], env: process.env };
}

type BuildCommand = ReturnType<typeof buildCommand>;
const timedRun = (c: BuildCommand, cwd: string, signal: AbortSignal): Promise<number> => timedSpawn(c.cmd, c.args, { cwd, env: c.env, signal, label: c.args.slice(0, 2).join(" ") });


/**
 * Every shared workload pulls a base image and runs RUN steps: a hatake whose builder cannot yet is
 * reported as such (from the error it gives on a one-line probe), never measured on a subset.
 */
function probeHatakeBuild(ctx: BenchContext): string | undefined {
  const dir = join(ctx.scratch, "probe");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nRUN [\"/true\"]\n");
  const bin = join(ctx.repo, "bin", "hatake");
  const r = spawnSync(process.execPath, [bin, "build", "--data-root", join(dir, "data"), "--progress=quiet", dir], { encoding: "utf8" });
  if (r.status === 0 || /not found|no such file|exec/i.test(r.stderr)) return undefined;
  if (r.stderr.includes("HTK-RUNTIME-0001")) return "hatake build has no container runtime yet (HTK-RUNTIME-0001)";
  return `hatake build failed its probe: ${r.stderr.trim().split("\n").at(-1) ?? ""}`;
}

/** cold (build cache empty, bases already pulled), no-op (identical rebuild), edit (one file changed). */
function buildWorkload(name: (typeof SHARED_BUILD_WORKLOADS)[number]): Workload {
  return {
    name: `build-${name}`,
    description: `shared workload ${name}: cold, no-op and edit builds`,
    metrics: [
      { name: "cold", unit: "ms", better: "lower" },
      { name: "noop", unit: "ms", better: "lower" },
      { name: "edit", unit: "ms", better: "lower" },
    ],
    runs: 3,
    async open(target, ctx): Promise<OpenResult> {
      const source = join(sharedDir(ctx.repo), "bench", "workloads", name);
      if (!existsSync(source)) return { kind: "unavailable", reason: `${source} not found (set HATAKE_SHARED_DIR)` };
      if (target.kind === "hatake") {
        const why = probeHatakeBuild(ctx);
        if (why !== undefined) return { kind: "unavailable", reason: why };
      } else if (!(await answers(target.dockerHost))) {
        return { kind: "unavailable", reason: `${target.dockerHost} does not answer` };
      }
      const env = readBenchEnv(source);
      const registry = await ctx.registry(ctx.signal);
      const work = join(ctx.scratch, `${name}-${target.kind}`);
      rmSync(work, { recursive: true, force: true });
      cpSync(source, join(work, "context"), { recursive: true });
      const contextDir = join(work, "context");
      if (env.prepare !== "") {
        const r = spawnSync("bash", ["-c", env.prepare], { cwd: contextDir, encoding: "utf8" });
        if (r.status !== 0) throw new Error(`PREPARE failed: ${r.stderr}`);
      }
      const args = ["--build-arg", `REGISTRY=${registry}`, ...env.buildArgs];
      if (env.needsSecret) {
        const secretFile = join(work, "token");
        writeFileSync(secretFile, SECRET_VALUE);
        args.push("--secret", `id=token,src=${secretFile}`);
      }
      const editPath = join(contextDir, env.editFile);
      const original = readFileSync(editPath);
      let round = 0;
      return {
        kind: "ready",
        session: {
          async sample(signal) {
            round++;
            writeFileSync(editPath, original);
            const dataRoot = join(work, `data-${round}`);
            mkdirSync(dataRoot, { recursive: true });
            if (target.kind === "reference") {
              spawnSync("docker", ["builder", "prune", "-af"], { env: { ...process.env, DOCKER_HOST: target.dockerHost } });
            } else {
              // "cold" means an empty build cache with the bases already pulled: a fresh data root, then
              // one build per base that only pulls it.
              for (const base of ["busybox", "debian:bookworm"]) {
                const dir = join(work, `pull-${base.replace(/\W/g, "-")}`);
                mkdirSync(dir, { recursive: true });
                writeFileSync(join(dir, "Dockerfile"), `FROM ${registry}/${base}\n`);
                await timedRun(buildCommand(target, ctx, dataRoot, ["."]), dir, signal);
              }
            }
            const cmd = buildCommand(target, ctx, dataRoot, [...args, "-t", `hatake-bench/${name}:latest`, "."]);
            const cold = await timedRun(cmd, contextDir, signal);
            const noop = await timedRun(cmd, contextDir, signal);
            appendFileSync(editPath, editLine(env.editFile, round));
            const edit = await timedRun(cmd, contextDir, signal);
            rmSync(dataRoot, { recursive: true, force: true });
            return { cold, noop, edit };
          },
          async close() {
            rmSync(work, { recursive: true, force: true });
          },
        },
      };
    },
  };
}

export const buildWorkloads: readonly Workload[] = SHARED_BUILD_WORKLOADS.map(buildWorkload);

/**
 * The in-process builder on workload 03's context (5,000 files sent, 2,250 excluded) with the same
 * `WORKDIR` + `COPY . .` but `FROM scratch` and no RUN, so it runs without a container runtime: the
 * context-transfer and hashing path of a no-op rebuild, next to a plain lstat walk of the same tree.
 */
export const inprocManyFiles: Workload = {
  name: "inproc-03-many-files-scratch",
  description: "hatake build --data-root on 03-many-files's context, FROM scratch + COPY . .: cold, no-op, edit, vs an lstat walk",
  metrics: [
    { name: "cold", unit: "ms", better: "lower" },
    { name: "noop", unit: "ms", better: "lower" },
    { name: "edit", unit: "ms", better: "lower" },
    { name: "lstatWalk", unit: "ms", better: "lower" },
  ],
  runs: 3,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "an in-process builder figure (the reference runs the shared Dockerfile: build-03-many-files)" };
    const source = join(sharedDir(ctx.repo), "bench", "workloads", "03-many-files");
    if (!existsSync(source)) return { kind: "unavailable", reason: `${source} not found (set HATAKE_SHARED_DIR)` };
    const work = join(ctx.scratch, "inproc-03");
    const contextDir = join(work, "context");
    cpSync(source, contextDir, { recursive: true });
    spawnSync("sh", ["./gen.sh"], { cwd: contextDir });
    writeFileSync(join(contextDir, "Dockerfile"), "FROM scratch\nWORKDIR /app\nCOPY . .\n");
    const editPath = join(contextDir, "src/d00/f0000.txt");
    const original = readFileSync(editPath);
    let round = 0;
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          round++;
          writeFileSync(editPath, original);
          const dataRoot = join(work, `data-${round}`);
          const cmd = buildCommand({ kind: "hatake" }, ctx, dataRoot, ["--progress=quiet", "."]);
          const cold = await timedRun(cmd, contextDir, signal);
          const noop = await timedRun(cmd, contextDir, signal);
          appendFileSync(editPath, editLine(editPath, round));
          const edit = await timedRun(cmd, contextDir, signal);
          const t = performance.now();
          lstatWalk(contextDir);
          const lstatWalkMs = performance.now() - t;
          rmSync(dataRoot, { recursive: true, force: true });
          return { cold, noop, edit, lstatWalk: lstatWalkMs };
        },
        async close() {
          rmSync(work, { recursive: true, force: true });
        },
      },
    };
  },
};

function lstatWalk(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    lstatSync(p);
    n++;
    if (e.isDirectory()) n += lstatWalk(p);
  }
  return n;
}
