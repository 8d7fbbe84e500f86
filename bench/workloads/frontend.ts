import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { compileDockerfile, parseDockerfile } from "../../frontend-dockerfile/index.ts";
import type { OpenResult, Workload } from "../types.ts";
import { sharedDir } from "./builds.ts";

/** A Dockerfile of `n` instructions over a few stages, with the instruction mix of real files. */
export function generatedDockerfile(n: number): string {
  const lines = ["# syntax=docker/dockerfile:1", "ARG BASE=scratch", "FROM ${BASE} AS base"];
  let count = 2;
  let stage = 0;
  while (count < n) {
    const i = count;
    switch (i % 10) {
      case 0:
        lines.push(`ENV VAR_${i}=value-${i} OTHER_${i}="quoted ${i}"`);
        break;
      case 1:
        lines.push(`RUN set -eux; \\\n    echo step ${i} > /tmp/${i}.txt && \\\n    cat /tmp/${i}.txt`);
        break;
      case 2:
        lines.push(`COPY --chown=1000:1000 src/file-${i}.txt /app/${i}/`);
        break;
      case 3:
        lines.push(`LABEL org.example.step-${i}="label ${i}"`);
        break;
      case 4:
        lines.push(`WORKDIR /app/dir-${i}`);
        break;
      case 5:
        lines.push(`ARG ARG_${i}=default-${i}`);
        break;
      case 6:
        lines.push(`RUN ["/bin/sh", "-c", "echo exec form ${i}"]`);
        break;
      case 7:
        lines.push(`EXPOSE ${1000 + (i % 5000)}/tcp`);
        break;
      case 8:
        lines.push(`USER ${1000 + (i % 100)}`);
        break;
      default:
        if (i % 500 === 9) {
          stage++;
          lines.push(`FROM base AS stage-${stage}`);
        } else {
          lines.push(`CMD ["run", "${i}"]`);
        }
    }
    count++;
  }
  return `${lines.join("\n")}\n`;
}

function parserCases(repo: string): string[] {
  const dir = join(sharedDir(repo), "conformance", "dockerfile-parser", "testfiles");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((c) => readFileSync(join(dir, c, "Dockerfile"), "utf8"));
}

/** Parse and compile throughput of the Dockerfile frontend, in process (no I/O in the timed part). */
export const frontendThroughput: Workload = {
  name: "frontend-parse-compile",
  description: "parse, and parse+compile, of a generated 5,000-instruction Dockerfile and of every shared parser case",
  metrics: [
    { name: "parse5000", unit: "ms", better: "lower" },
    { name: "compile5000", unit: "ms", better: "lower" },
    { name: "parseRate", unit: "instr/s", better: "higher" },
    { name: "compileRate", unit: "instr/s", better: "higher" },
    { name: "casesParseCompile", unit: "ms", better: "lower" },
  ],
  runs: 5,
  warmupRuns: 1,
  async open(target, ctx): Promise<OpenResult> {
    if (target.kind === "reference") return { kind: "unavailable", reason: "an in-process frontend figure" };
    const text = generatedDockerfile(5000);
    const cases = parserCases(ctx.repo);
    return {
      kind: "ready",
      session: {
        async sample(signal) {
          let t = performance.now();
          const parsed = parseDockerfile(text);
          const parse5000 = performance.now() - t;
          if (parsed.result === undefined) throw new Error(`generated Dockerfile did not parse: ${parsed.diagnostics[0]?.message ?? ""}`);
          t = performance.now();
          const compiled = await compileDockerfile(text, { signal });
          const compile5000 = performance.now() - t;
          if (compiled.result === undefined) throw new Error(`generated Dockerfile did not compile: ${compiled.diagnostics.find((d) => d.severity === "error")?.message ?? ""}`);
          t = performance.now();
          for (const c of cases) await compileDockerfile(c, { signal });
          const casesParseCompile = performance.now() - t;
          return { parse5000, compile5000, parseRate: 5000 / (parse5000 / 1000), compileRate: 5000 / (compile5000 / 1000), casesParseCompile };
        },
        async close() {},
      },
    };
  },
};
