import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SuiteResult } from "../run.ts";
import { loadCatalogue, needsRegistry, type Flow, type FlowStep } from "./catalogue.ts";
import { forComparison, normalise } from "./normalise.ts";

/**
 * Runs the golden flows with the real docker CLI against an engine; with a reference host, runs each
 * flow there too and compares the normalised outputs step by step (differential mode). A flow passes
 * when every step meets its expectations on the engine under test and, in differential mode, matches
 * the reference where the step asks for it.
 */
export interface FlowsSuiteOptions {
  readonly host: string;
  /** A reference engine (a Docker Engine, or a second hatake engine) for differential mode. */
  readonly refHost?: string;
  readonly flows?: readonly Flow[];
  /** The docker CLI: `DOCKER_CLI`, else /usr/local/bin/docker, else `docker` on PATH. */
  readonly docker?: string;
  readonly stepTimeoutMs?: number;
  /** Adds each step's normalised output to the report: the text to paste when writing a flow. */
  readonly show?: boolean;
  /** The registries flows may use (both engines use the same ones); flows that need one fail without. */
  readonly registry?: FlowRegistry;
}

/** A plain registry with busybox in it and one with basic auth, as `host:port` addresses. */
export interface FlowRegistry {
  readonly registry: string;
  readonly authRegistry: string;
  readonly username: string;
  readonly password: string;
  /** The busybox image's reference in the plain registry. */
  readonly busybox: string;
}

export interface FlowsReport extends SuiteResult {
  /** One line per flow: `ok group/id` or `FAIL group/id`, and the mode. */
  readonly report: readonly string[];
}

export interface StepOutput {
  readonly exit: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runFlowsSuite(opts: FlowsSuiteOptions): Promise<FlowsReport> {
  const flows = opts.flows ?? loadCatalogue();
  const docker = opts.docker ?? dockerCli();
  const failures: string[] = [];
  const report: string[] = [opts.refHost === undefined ? `golden flows against ${opts.host}` : `golden flows against ${opts.host}, differential with ${opts.refHost}`];
  let passed = 0;
  for (const flow of flows) {
    const name = `${flow.group}/${flow.id}`;
    const problems: string[] = [];
    if (needsRegistry(flow) && opts.registry === undefined) {
      report.push(`FAIL ${name}`);
      failures.push(`${name}: the flow uses a registry and the runner was given none`);
      continue;
    }
    const ours = await runFlow(flow, opts.host, docker, opts.stepTimeoutMs, opts.registry);
    ours.outputs.forEach((out, i) => {
      const step = flow.steps[i];
      if (step !== undefined) problems.push(...checkStep(step, out).map((p) => `step ${i + 1} (${step.run}): ${p}`));
    });
    if (ours.error !== undefined) problems.push(ours.error);
    if (opts.refHost !== undefined) {
      const compared = flow.steps.findIndex((s) => s.compare === "none");
      const upTo = compared < 0 ? flow.steps.length : compared;
      if (upTo > 0) {
        const ref = await runFlow({ ...flow, steps: flow.steps.slice(0, upTo) }, opts.refHost, docker, opts.stepTimeoutMs, opts.registry);
        if (ref.error !== undefined) problems.push(`reference: ${ref.error}`);
        for (let i = 0; i < upTo; i++) {
          const step = flow.steps[i];
          const a = ours.outputs[i];
          const b = ref.outputs[i];
          if (step === undefined || a === undefined || b === undefined) continue;
          problems.push(...differences(step, a, b).map((d) => `step ${i + 1} (${step.run}) differs from the reference: ${d}`));
        }
      }
    }
    if (problems.length === 0) {
      passed++;
      report.push(`ok   ${name}`);
    } else {
      report.push(`FAIL ${name}`);
      for (const p of problems) failures.push(`${name}: ${p}`);
    }
    if (opts.show === true) {
      ours.outputs.forEach((out, i) => {
        report.push(`  $ ${flow.steps[i]?.run ?? ""}`, `    exit: ${out.exit}`);
        for (const stream of ["stdout", "stderr"] as const) {
          if (out[stream] !== "") report.push(`    ${stream}: |`, ...out[stream].split("\n").map((l) => `      ${l}`));
        }
      });
    }
  }
  return { passed, failed: flows.length - passed, failures, report };
}

/** The repository's buildx plugin (bin/docker-buildx), when its bundle is built. */
const BUILDX_PLUGIN = fileURLToPath(new URL("../../bin/docker-buildx", import.meta.url));
const buildxBuilt = (): boolean => existsSync(fileURLToPath(new URL("../../dist/docker-buildx.mjs", import.meta.url)));

/**
 * Runs a flow's steps in order with a fresh private DOCKER_CONFIG; outputs come back normalised. The
 * config has the buildx plugin installed (as tools/up.sh installs it), so `docker buildx …` and
 * `docker build` run as they do for a user of HATAKE.
 */
async function runFlow(flow: Flow, host: string, docker: string, timeoutMs = 60_000, registry?: FlowRegistry): Promise<{ outputs: StepOutput[]; error?: string }> {
  const configDir = mkdtempSync(join(tmpdir(), "htk-flow-"));
  const token = `run${randomBytes(4).toString("hex")}`;
  const variables: Array<[string, string]> = [
    ["${DOCKER_HOST}", host],
    ["${DOCKER_CONFIG}", configDir],
    ["${RUN}", token],
    ...(registry === undefined
      ? []
      : ([
          ["${REGISTRY}", registry.registry],
          ["${AUTH_REGISTRY}", registry.authRegistry],
          ["${REGISTRY_USER}", registry.username],
          ["${REGISTRY_PASSWORD}", registry.password],
          ["${BUSYBOX}", registry.busybox],
        ] as Array<[string, string]>)),
  ];
  const replace: Array<readonly [string, string]> = [
    ...(registry === undefined
      ? []
      : ([
          [registry.authRegistry, "<AUTH_REGISTRY>"],
          [registry.registry, "<REGISTRY>"],
        ] as const)),
    [token, "<RUN>"],
  ];
  if (buildxBuilt()) {
    mkdirSync(join(configDir, "cli-plugins"));
    symlinkSync(BUILDX_PLUGIN, join(configDir, "cli-plugins", "docker-buildx"));
  }
  const outputs: StepOutput[] = [];
  try {
    for (const step of flow.steps) {
      const vars = (s: string): string => variables.reduce((t, [name, value]) => t.split(name).join(value), s);
      const env: NodeJS.ProcessEnv = {
        PATH: process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
        HOME: configDir,
        LANG: "C.UTF-8",
        DOCKER_CONFIG: configDir,
        DOCKER_HOST: host,
      };
      for (const [k, v] of Object.entries(step.env)) {
        if (v === "") delete env[k];
        else env[k] = vars(v);
      }
      const raw = await runDocker(docker, step.argv.map(vars), env, step.stdin === undefined ? undefined : vars(step.stdin), timeoutMs);
      if (typeof raw === "string") return { outputs, error: `step ${outputs.length + 1} (${step.run}): ${raw}` };
      const ctx = { host, configDir, replace };
      outputs.push({ exit: raw.exit, stdout: normalise(raw.stdout, ctx), stderr: normalise(raw.stderr, ctx) });
    }
    return { outputs };
  } finally {
    rmSync(configDir, { recursive: true, force: true });
  }
}

/** The step's expectations against a normalised output; one line per unmet one. */
export function checkStep(step: FlowStep, out: StepOutput): string[] {
  const problems: string[] = [];
  if (out.exit !== step.exit) problems.push(`exit code ${out.exit}, expected ${step.exit}${excerpt(out)}`);
  if (step.stdout !== undefined && out.stdout !== step.stdout) problems.push(`stdout ${JSON.stringify(out.stdout)}, expected ${JSON.stringify(step.stdout)}`);
  if (step.stderr !== undefined && out.stderr !== step.stderr) problems.push(`stderr ${JSON.stringify(out.stderr)}, expected ${JSON.stringify(step.stderr)}`);
  for (const re of step.stdoutMatch) if (!new RegExp(re, "m").test(out.stdout)) problems.push(`stdout ${JSON.stringify(out.stdout)} does not match /${re}/`);
  for (const re of step.stderrMatch) if (!new RegExp(re, "m").test(out.stderr)) problems.push(`stderr ${JSON.stringify(out.stderr)} does not match /${re}/`);
  return problems;
}

/** What differs between our normalised output and the reference's, as the step's `compare` asks. */
export function differences(step: FlowStep, ours: StepOutput, ref: StepOutput): string[] {
  if (step.compare === "none") return [];
  const d: string[] = [];
  if (ours.exit !== ref.exit) d.push(`exit code ${ours.exit}, reference ${ref.exit}`);
  if (step.compare === "exit") return d;
  for (const stream of ["stdout", "stderr"] as const) {
    const a = forComparison(ours[stream]);
    const b = forComparison(ref[stream]);
    if (a !== b) d.push(`${stream} ${JSON.stringify(a)}, reference ${JSON.stringify(b)}`);
  }
  return d;
}

function excerpt(out: StepOutput): string {
  const text = `${out.stderr}\n${out.stdout}`.trim();
  return text === "" ? "" : ` (${JSON.stringify(text.slice(0, 300))})`;
}

function dockerCli(): string {
  const env = process.env["DOCKER_CLI"];
  if (env !== undefined && env !== "") return env;
  return existsSync("/usr/local/bin/docker") ? "/usr/local/bin/docker" : "docker";
}

/** One docker CLI run; the child is killed at the timeout and always reaped. A string is a run failure. */
function runDocker(docker: string, args: readonly string[], env: NodeJS.ProcessEnv, stdin: string | undefined, timeoutMs: number): Promise<{ exit: number; stdout: string; stderr: string } | string> {
  return new Promise((resolve) => {
    const child = spawn(docker, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve(`cannot run ${docker}: ${err.message}`);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve(`no exit within ${timeoutMs} ms (killed)`);
      else resolve({ exit: code ?? (signal === null ? -1 : 128), stdout, stderr });
    });
    // A CLI that exits before reading its stdin must not fail the run with EPIPE.
    child.stdin.on("error", () => undefined);
    child.stdin.end(stdin);
  });
}
