import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isHtkError } from "../base/errors/index.ts";
import { testLogDir } from "./paths.ts";
import { freePort, runChecked, startService } from "./process.ts";
import { PROGRAMS, requireProgram } from "./system.ts";
import { makeTempDir, removeTree } from "./temp.ts";

/** A registry the tests can talk to (plain HTTP on 127.0.0.1). */
export interface RegistryInfo {
  /** "http://127.0.0.1:5123" */
  readonly url: string;
  /** "127.0.0.1:5123": what goes in an image reference. */
  readonly host: string;
  readonly port: number;
}

/** A registry that wants HTTP basic auth with these credentials. */
export interface AuthRegistryInfo extends RegistryInfo {
  readonly username: string;
  readonly password: string;
}

export interface RunningRegistry extends RegistryInfo {
  readonly username?: string;
  readonly password?: string;
  /** Storage root and config live here; removed by `stop`. */
  readonly dir: string;
  /** Under .cache/logs/; removed by `stop`, kept when the registry failed to start. */
  readonly logFile: string;
  /** Kill the registry and remove its folder. Idempotent. */
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** For messages and folder names: "registry", "auth-registry". */
  readonly name?: string;
  /** Require HTTP basic auth with these credentials (bcrypt htpasswd file). */
  readonly auth?: { readonly username: string; readonly password: string };
  readonly timeoutMs?: number;
}

function registryConfig(root: string, port: number, htpasswdFile: string | undefined): string {
  // distribution 2.8 config (docs/configuration.md). No blob descriptor cache: tests delete and
  // re-push, and a stale cache would hide that. Upload purging off: nothing runs behind our back.
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(join(root, "storage"))}`,
    "  delete:",
    "    enabled: true",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "  secret: hatake-test-not-a-secret",
  ];
  if (htpasswdFile !== undefined) {
    lines.push("auth:", "  htpasswd:", "    realm: hatake-test", `    path: ${JSON.stringify(htpasswdFile)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Start Debian's `docker-registry` (distribution 2.8) on a free 127.0.0.1 port and wait until
 * `GET /v2/` answers (200, or 401 with auth). The process dies with this one. A port taken between
 * choosing and binding is retried with another port.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const name = options.name ?? (options.auth ? "auth-registry" : "registry");
  const program = requireProgram(PROGRAMS.registry);
  const dir = await makeTempDir(name);
  try {
    let htpasswdFile: string | undefined;
    if (options.auth) {
      requireProgram(PROGRAMS.htpasswd);
      const { stdout } = await runChecked("htpasswd", ["-Bbn", options.auth.username, options.auth.password], { timeoutMs: 10_000 });
      htpasswdFile = join(dir, "htpasswd");
      await writeFile(htpasswdFile, stdout);
    }
    // The log lives outside the temp folder so it survives a failed start (the error names it) until
    // the next run's sweep; a registry that started and stopped cleanly removes it.
    const logDir = testLogDir();
    await mkdir(logDir, { recursive: true });
    // Named like the temp folders, so the sweep removes it once this process is gone.
    const logFile = join(logDir, `htk-test-${process.pid}-${name}-${Date.now()}.log`);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const configFile = join(dir, "config.yml");
      await writeFile(configFile, registryConfig(dir, port, htpasswdFile));
      const url = `http://127.0.0.1:${port}`;
      try {
        const service = await startService({
          name: `docker-registry (${name})`,
          command: program,
          args: ["serve", configFile],
          logFile,
          port,
          timeoutMs: options.timeoutMs ?? 10_000,
          ready: async () => {
            const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
            await res.body?.cancel();
            return res.status === 200 || (options.auth !== undefined && res.status === 401);
          },
        });
        let stopped = false;
        return {
          url,
          host: `127.0.0.1:${port}`,
          port,
          ...(options.auth ? { username: options.auth.username, password: options.auth.password } : {}),
          dir,
          logFile,
          stop: async () => {
            if (stopped) return;
            stopped = true;
            await service.stop();
            await removeTree(dir);
            await rm(logFile, { force: true });
          },
        };
      } catch (err) {
        if (attempt < 3 && isHtkError(err, "HTK-TEST-0002") && err.plainCause.includes("address already in use")) continue;
        throw err;
      }
    }
  } catch (err) {
    await removeTree(dir).catch(() => undefined);
    throw err;
  }
}
