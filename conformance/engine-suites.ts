import { runApiSuite } from "./api/run-api.ts";
import { resolveTarget, type EngineTarget } from "./engine.ts";
import { startRegistryFixtures, type RegistryFixtures } from "../testing/registry-fixtures.ts";
import { loadCatalogue, needsRegistry } from "./flows/catalogue.ts";
import { runFlowsSuite } from "./flows/run-flows.ts";

/**
 * The suites that need a running engine, as `run.ts` commands: `api` and `flows`, each taking
 * `[--docker-host URL]`. Without the flag they use `DOCKER_HOST`, and without that they start a
 * `hatake engine` of their own on a temporary data root (stopped and removed afterwards). `flows`
 * also reads `REF_DOCKER_HOST` (or `--ref-docker-host URL`) for differential mode, `--only GROUP` or
 * `--only GROUP/ID` to run part of the catalogue, and `--show` to print every step's normalised
 * output (the text to paste as expectations when writing a flow). Each prints one
 * line per failure, its report, and `N passed, M failed` last; the exit code is non-zero on failure.
 */
export type EngineSuiteCommand = (args: readonly string[], write: (line: string) => void) => Promise<number>;

export const engineSuites: Readonly<Record<string, EngineSuiteCommand>> = {
  async api(args, write) {
    return withTarget(args, write, async (target) => {
      const r = await runApiSuite({ host: target.host });
      for (const f of r.failures) write(f);
      for (const w of [...new Set(r.warnings)]) write(`warning: ${w}`);
      write("");
      write(`Engine API v1.45 coverage (${target.host}):`);
      for (const l of r.table.split("\n")) write(l);
      write("");
      write(`${r.passed} passed, ${r.failed} failed`);
      return r.failed === 0 ? 0 : 1;
    });
  },
  async flows(args, write) {
    const ref = flag(args, "--ref-docker-host") ?? nonEmpty(process.env["REF_DOCKER_HOST"]);
    return withTarget(args, write, async (target) => {
      const only = flag(args, "--only");
      const flows = loadCatalogue().filter((f) => only === undefined || `${f.group}/${f.id}` === only || f.group === only);
      // The registry flows get a plain and an htpasswd registry of their own with busybox pushed
      // (testing/registry-fixtures.ts: Debian's docker-registry, skopeo), used by both engines.
      let registries: RegistryFixtures | undefined;
      if (flows.some(needsRegistry)) {
        try {
          registries = await startRegistryFixtures();
        } catch (err) {
          write(`cannot start the local registries the registry flows use: ${(err as Error).message}`);
        }
      }
      try {
        const r = await runFlowsSuite({ host: target.host, flows, show: args.includes("--show"), ...(ref === undefined ? {} : { refHost: ref }), ...(registries === undefined ? {} : { registry: registries }) });
        for (const l of r.report) write(l);
        for (const f of r.failures) write(f);
        write(`${r.passed} passed, ${r.failed} failed`);
        return r.failed === 0 ? 0 : 1;
      } finally {
        await registries?.stop();
      }
    });
  },
};

async function withTarget(args: readonly string[], write: (line: string) => void, body: (t: EngineTarget) => Promise<number>): Promise<number> {
  let target: EngineTarget;
  try {
    target = await resolveTarget(flag(args, "--docker-host"));
  } catch (err) {
    write(`cannot reach or start an engine: ${(err as Error).message}`);
    write("0 passed, 1 failed");
    return 2;
  }
  try {
    return await body(target);
  } catch (err) {
    write(`suite aborted: ${(err as Error).stack ?? String(err)}`);
    write("0 passed, 1 failed");
    return 2;
  } finally {
    await target.stop();
  }
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq === undefined ? undefined : eq.slice(name.length + 1);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}
