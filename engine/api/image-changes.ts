import { posix } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { parseDockerfile, parseInstructions, type Command } from "../../frontend-dockerfile/index.ts";
import { processWord } from "../../frontend-dockerfile/shell/index.ts";

/**
 * `--change` of `docker import` (and `docker commit`): Dockerfile instructions applied to a container
 * config, as Docker 26's `dockerfile.BuildFromConfig` does. Only the instructions that change the
 * config are allowed; values are expanded with the config's environment (as a build would).
 */
const ALLOWED = new Set(["cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild", "stopsignal", "user", "volume", "workdir"]);

type Config = Record<string, unknown>;

export function configFromChanges(changes: readonly string[], base: Readonly<Config> = {}): Config {
  const commands: Command[] = [];
  for (const change of changes) {
    if (change.trim() === "") continue;
    const keyword = (/^\s*(\S+)/.exec(change)?.[1] ?? "").toLowerCase();
    if (!ALLOWED.has(keyword)) throw htkError("HTK-ENGINE-0306", { command: keyword });
    const parsed = parseDockerfile(`FROM scratch\n${change}\n`);
    const error = parsed.diagnostics.find((d) => d.severity === "error");
    if (parsed.result === undefined || error !== undefined) throw htkError("HTK-ENGINE-0307", { change, detail: error?.message.replace(/\.$/, "") ?? "it is not an instruction" });
    const instructions = parseInstructions(parsed.result);
    const bad = instructions.diagnostics.find((d) => d.severity === "error");
    if (bad !== undefined) throw htkError("HTK-ENGINE-0307", { change, detail: bad.message.replace(/\.$/, "") });
    commands.push(...(instructions.stages[0]?.commands ?? []));
  }
  const config: Config = { ...base };
  let cmdSet = false;
  const env = (): string[] => [...((config["Env"] as string[] | null | undefined) ?? [])];
  const expand = (word: string, change: string): string => {
    const r = processWord(word, env());
    if (!r.ok) throw htkError("HTK-ENGINE-0307", { change, detail: r.error.plainCause.replace(/\.$/, "") });
    return r.value;
  };
  for (const c of commands) {
    switch (c.kind) {
      case "env": {
        const list = env();
        for (const p of c.pairs) {
          const key = expand(p.key, c.original);
          const value = expand(p.value, c.original);
          const i = list.findIndex((e) => e.split("=")[0] === key);
          if (i === -1) list.push(`${key}=${value}`);
          else list[i] = `${key}=${value}`;
        }
        config["Env"] = list;
        break;
      }
      case "label": {
        const labels = { ...((config["Labels"] as Record<string, string> | null | undefined) ?? {}) };
        for (const p of c.pairs) labels[expand(p.key, c.original)] = expand(p.value, c.original);
        config["Labels"] = labels;
        break;
      }
      case "cmd":
        config["Cmd"] = c.cmd.prependShell ? ["/bin/sh", "-c", ...c.cmd.args] : [...c.cmd.args];
        cmdSet = true;
        break;
      case "entrypoint":
        config["Entrypoint"] = c.cmd.prependShell ? ["/bin/sh", "-c", ...c.cmd.args] : [...c.cmd.args];
        // Docker: an ENTRYPOINT resets the CMD unless a CMD came earlier in the same changes.
        if (!cmdSet) config["Cmd"] = null;
        break;
      case "expose": {
        const ports = { ...((config["ExposedPorts"] as Record<string, object> | undefined) ?? {}) };
        for (const p of c.ports) {
          const port = expand(p, c.original);
          ports[port.includes("/") ? port.toLowerCase() : `${port}/tcp`] = {};
        }
        config["ExposedPorts"] = ports;
        break;
      }
      case "user":
        config["User"] = expand(c.user, c.original);
        break;
      case "workdir": {
        const dir = expand(c.path, c.original);
        const current = typeof config["WorkingDir"] === "string" && config["WorkingDir"] !== "" ? config["WorkingDir"] : "/";
        config["WorkingDir"] = posix.isAbsolute(dir) ? posix.normalize(dir) : posix.join(current, dir);
        break;
      }
      case "volume": {
        const volumes = { ...((config["Volumes"] as Record<string, object> | null | undefined) ?? {}) };
        for (const v of c.volumes) {
          const path = expand(v, c.original).trim();
          if (path === "") throw htkError("HTK-ENGINE-0307", { change: c.original, detail: "VOLUME specified can not be an empty string" });
          volumes[path] = {};
        }
        config["Volumes"] = volumes;
        break;
      }
      case "stopsignal":
        config["StopSignal"] = expand(c.signal, c.original);
        break;
      case "onbuild":
        config["OnBuild"] = [...((config["OnBuild"] as string[] | null | undefined) ?? []), c.expression];
        break;
      case "healthcheck": {
        const h = c.health;
        config["Healthcheck"] = {
          Test: [...h.test],
          ...(h.interval !== 0 ? { Interval: h.interval } : {}),
          ...(h.timeout !== 0 ? { Timeout: h.timeout } : {}),
          ...(h.startPeriod !== 0 ? { StartPeriod: h.startPeriod } : {}),
          ...(h.startInterval !== 0 ? { StartInterval: h.startInterval } : {}),
          ...(h.retries !== 0 ? { Retries: h.retries } : {}),
        };
        break;
      }
      default:
        throw htkError("HTK-ENGINE-0306", { command: c.kind });
    }
  }
  return config;
}
