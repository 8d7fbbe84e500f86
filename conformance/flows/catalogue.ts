import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

/**
 * The golden-flow catalogue: `catalogue/<group>.yaml`, one file per flow group. A flow is a sequence
 * of docker CLI steps sharing one private DOCKER_CONFIG (contexts created in step 1 exist in step 2).
 *
 *     flows:
 *       - id: node-ls                      # unique in the group; reported as <group>/<id>
 *         summary: docker node ls on a non-swarm engine
 *         steps:
 *           - run: docker node ls          # argv split like a shell (quotes, backslash); no shell runs
 *             stdin: "…"                   # optional
 *             env: { DOCKER_HOST: "" }     # optional; "" unsets a variable
 *             exit: 1                      # default 0
 *             stdout: ""                   # optional: the whole normalised stdout, exactly
 *             stderr: 'Error response from daemon: … [HTK-API-0005]'
 *             stdoutMatch: ['^1\.45$']     # optional: regexes (multiline) the normalised output must match
 *             stderrMatch: []
 *             compare: output              # differential mode: output (default) | exit | none
 *
 * `${DOCKER_HOST}` and `${DOCKER_CONFIG}` in `run`, `stdin` and `env` are the engine's address and the
 * flow's config folder. Flows that use a registry name it with `${REGISTRY}` (a plain local registry,
 * `host:port`), `${AUTH_REGISTRY}`, `${REGISTRY_USER}` and `${REGISTRY_PASSWORD}` (one with htpasswd
 * basic auth) and `${BUSYBOX}` (the busybox fixture in the plain registry); `${RUN}` is a token unique
 * to one run of the flow on one engine (a repository of its own to push to, so that the reference's
 * run starts from the same registry state). In output they read `<REGISTRY>`, `<AUTH_REGISTRY>`,
 * `<RUN>` (`${BUSYBOX}` is `<REGISTRY>/busybox:latest`). Expectations are checked against the normalised output (normalise.ts). In
 * differential mode `compare: output` steps must produce the same normalised stdout, stderr and exit
 * code on both engines, `exit` only the same exit code; `none` steps (and every later step of the
 * flow) are not run on the reference: they change it or are HATAKE-specific.
 */
export interface FlowStep {
  readonly run: string;
  readonly argv: readonly string[];
  readonly stdin?: string;
  readonly env: Readonly<Record<string, string>>;
  readonly exit: number;
  readonly stdout?: string;
  readonly stderr?: string;
  readonly stdoutMatch: readonly string[];
  readonly stderrMatch: readonly string[];
  readonly compare: "output" | "exit" | "none";
}

export interface Flow {
  readonly group: string;
  readonly id: string;
  readonly summary: string;
  readonly steps: readonly FlowStep[];
}

/** The variables only a runner with registries can fill. */
export const REGISTRY_VARIABLES = ["${REGISTRY}", "${AUTH_REGISTRY}", "${REGISTRY_USER}", "${REGISTRY_PASSWORD}", "${BUSYBOX}"] as const;

/** Whether a flow needs the runner's registries (it names one of their variables). */
export function needsRegistry(flow: Flow): boolean {
  return flow.steps.some((s) => REGISTRY_VARIABLES.some((v) => s.run.includes(v) || (s.stdin ?? "").includes(v) || Object.values(s.env).some((e) => e.includes(v))));
}

export const CATALOGUE_DIR = join(dirname(fileURLToPath(import.meta.url)), "catalogue");

/** Loads every group file; a malformed entry is an error naming the file and the flow. */
export function loadCatalogue(dir: string = CATALOGUE_DIR): Flow[] {
  const flows: Flow[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    const group = basename(file, ".yaml");
    const doc = parse(readFileSync(join(dir, file), "utf8")) as { flows?: unknown };
    if (!Array.isArray(doc.flows)) throw new Error(`${file}: expected a top-level "flows" list`);
    const seen = new Set<string>();
    for (const raw of doc.flows as Array<Record<string, unknown>>) {
      const id = raw["id"];
      if (typeof id !== "string" || !/^[a-z0-9][a-z0-9-]*$/.test(id)) throw new Error(`${file}: flow id ${JSON.stringify(id)} must be kebab-case`);
      if (seen.has(id)) throw new Error(`${file}: flow "${id}" is defined twice`);
      seen.add(id);
      const steps = raw["steps"];
      if (!Array.isArray(steps) || steps.length === 0) throw new Error(`${file}: flow "${id}" has no steps`);
      flows.push({
        group,
        id,
        summary: typeof raw["summary"] === "string" ? raw["summary"] : "",
        steps: (steps as Array<Record<string, unknown>>).map((s, i) => parseStep(s, `${file}: flow "${id}" step ${i + 1}`)),
      });
    }
  }
  return flows;
}

function parseStep(s: Record<string, unknown>, where: string): FlowStep {
  const known = new Set(["run", "stdin", "env", "exit", "stdout", "stderr", "stdoutMatch", "stderrMatch", "compare"]);
  for (const k of Object.keys(s)) if (!known.has(k)) throw new Error(`${where}: unknown key "${k}" (keys: ${[...known].join(", ")})`);
  const run = s["run"];
  if (typeof run !== "string") throw new Error(`${where}: "run" must be a command line`);
  const argv = splitWords(run);
  if (argv[0] !== "docker") throw new Error(`${where}: a step runs the docker CLI: "${run}" does not start with docker`);
  const strings = (key: string): string[] => {
    const v = s[key] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new Error(`${where}: "${key}" must be a list of regexes`);
    for (const re of v as string[]) new RegExp(re, "m");
    return v as string[];
  };
  const text = (key: string): string | undefined => {
    const v = s[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw new Error(`${where}: "${key}" must be text`);
    return v.replace(/\n+$/, "");
  };
  const env = (s["env"] ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(env)) if (typeof v !== "string") throw new Error(`${where}: env ${k} must be a string`);
  const compare = s["compare"] ?? "output";
  if (compare !== "output" && compare !== "exit" && compare !== "none") throw new Error(`${where}: compare must be output, exit or none`);
  const exit = s["exit"] ?? 0;
  if (typeof exit !== "number") throw new Error(`${where}: exit must be a number`);
  const stdin = text("stdin");
  const stdout = text("stdout");
  const stderr = text("stderr");
  return {
    run,
    argv: argv.slice(1),
    env: env as Record<string, string>,
    exit,
    compare,
    stdoutMatch: strings("stdoutMatch"),
    stderrMatch: strings("stderrMatch"),
    ...(stdin === undefined ? {} : { stdin: s["stdin"] as string }),
    ...(stdout === undefined ? {} : { stdout }),
    ...(stderr === undefined ? {} : { stderr }),
  };
}

/** Splits a command line as a POSIX shell would for words: '…' literal, "…" with \" and \\, \x outside. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] ?? "";
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= "";
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) i++;
        word += line[i] ?? "";
      }
      if (i >= line.length) throw new Error(`unterminated " in: ${line}`);
    } else if (c === "\\") {
      word = (word ?? "") + (line[i + 1] ?? "");
      i++;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
