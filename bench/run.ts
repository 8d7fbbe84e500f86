import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { isHtkError, renderError, toHtkError } from "../base/errors/index.ts";
import { renderTable, runBench, selectWorkloads } from "./harness.ts";
import type { BenchContext, BenchReport } from "./types.ts";
import { allWorkloads } from "./workloads/index.ts";

const USAGE = `Usage: npm run bench -- [OPTIONS] [WORKLOAD...]

Runs the named workloads (a prefix selects several: "build" = every shared build workload), prints a
Markdown table of median (min–max) per metric, and writes the report as JSON.

Options:
  --list                    List the workloads and exit
  --runs N                  Samples per workload (default: the workload's own)
  --vs-docker-host URL      Also run every workload against this engine (unix:///… or tcp://…) and print ours/ref
  --registry HOST:PORT      Registry with the bench bases (default: start a local one and push them)
  --json FILE               Where to write the report (default: bench/results/<time>.json, and latest.json)
`;

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      list: { type: "boolean" },
      runs: { type: "string" },
      "vs-docker-host": { type: "string" },
      registry: { type: "string" },
      json: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.list === true) {
    for (const w of allWorkloads) process.stdout.write(`${w.name.padEnd(30)} ${w.description}\n`);
    return 0;
  }
  const workloads = selectWorkloads(allWorkloads, positionals);
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort(new DOMException("interrupted", "AbortError")));
  const scratch = mkdtempSync(join(tmpdir(), "hatake-bench-"));
  const stops: Array<() => Promise<void>> = [];
  let registry: Promise<string> | undefined;
  const ctx: BenchContext = {
    repo,
    scratch,
    signal: controller.signal,
    log: (m) => process.stderr.write(`bench: ${m}\n`),
    registry(signal) {
      registry ??= (async () => {
        const { startRegistry } = await import("../testing/registry.ts");
        const { ensureBenchBases } = await import("../testing/bases.ts");
        let host: string;
        if (values.registry === undefined) {
          const r = await startRegistry({ name: "bench-registry" });
          stops.push(() => r.stop());
          host = r.host;
        } else {
          host = values.registry;
        }
        await ensureBenchBases(host, { signal });
        return host;
      })();
      return registry;
    },
  };
  try {
    const report = await runBench({
      workloads,
      ctx,
      ...(runs === undefined ? {} : { runs }),
      ...(values["vs-docker-host"] === undefined ? {} : { referenceHost: values["vs-docker-host"] }),
    });
    const resultsDir = join(repo, "bench", "results");
    mkdirSync(resultsDir, { recursive: true });
    const latest = join(resultsDir, "latest.json");
    let previous: BenchReport | undefined;
    try {
      previous = JSON.parse(readFileSync(latest, "utf8")) as BenchReport;
    } catch {
      previous = undefined;
    }
    const table = renderTable(report, previous);
    process.stdout.write(`\n${table}\n`);
    const out = values.json ?? join(resultsDir, `${report.startedAt.replace(/[:.]/g, "-")}.json`);
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(resultsDir, `${report.startedAt.replace(/[:.]/g, "-")}.md`), `${table}\n`);
    writeFileSync(latest, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`bench: report written to ${out}${previous === undefined ? "" : ` (compared with the run of ${previous.startedAt})`}\n`);
    const failed = report.results.some((r) => r.hatake.kind === "failed" || r.reference?.kind === "failed");
    return failed ? 1 : 0;
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    const e = isHtkError(err) ? err : toHtkError(err, { operation: "bench" });
    process.stderr.write(`${renderError(e)}\n`);
    process.exitCode = 1;
  },
);
