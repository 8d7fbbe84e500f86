import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { htkError } from "../base/errors/index.ts";
import { parseBool, type FlagSpec, type ParsedFlags } from "./flags.ts";

/**
 * What the docker CLI knows when it runs a plugin, re-derived the way the CLI derives it: the global
 * flags given before `buildx` (the CLI passes its whole argv on), DOCKER_CONFIG / DOCKER_HOST /
 * DOCKER_CONTEXT / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, `config.json`'s `currentContext`, and the
 * context store under `<config>/contexts` (meta.json per context, keyed by sha256 of its name).
 */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "config", kind: "string", usage: "Location of client config files", default: "~/.docker" },
  { name: "context", short: "c", kind: "string", usage: 'Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "docker context use")' },
  { name: "debug", short: "D", kind: "bool", usage: "Enable debug mode" },
  { name: "host", short: "H", kind: "value", typeName: "list", usage: "Daemon socket to connect to" },
  { name: "log-level", short: "l", kind: "string", usage: 'Set the logging level ("debug", "info", "warn", "error", "fatal")', default: "info" },
  { name: "tls", kind: "bool", usage: "Use TLS; implied by --tlsverify" },
  { name: "tlscacert", kind: "string", usage: "Trust certs signed only by this CA" },
  { name: "tlscert", kind: "string", usage: "Path to TLS certificate file" },
  { name: "tlskey", kind: "string", usage: "Path to TLS key file" },
  { name: "tlsverify", kind: "bool", usage: "Use TLS and verify the remote" },
  { name: "version", short: "v", kind: "bool", usage: "Print version information and quit", hidden: true },
];

export const DEFAULT_CONTEXT = "default";
export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

export interface TlsFiles {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** Trust any server certificate (a context's SkipTLSVerify, or --tls without --tlsverify). */
  readonly skipVerify: boolean;
}

/** A docker (or hatake) engine address, as a context or DOCKER_HOST names it. */
export interface DockerEndpoint {
  /** `unix:///run/x.sock`, `tcp://host:2376`, … as written. */
  readonly host: string;
  readonly tls?: TlsFiles;
}

export interface DockerContextInfo {
  readonly name: string;
  readonly description: string;
  readonly endpoint: DockerEndpoint;
}

export interface DockerCli {
  readonly configDir: string;
  /** The context the CLI would use (CurrentContext()). */
  readonly currentContext: string;
  readonly env: NodeJS.ProcessEnv;
  readonly debug: boolean;
  /** Every context in the store plus "default", sorted by name. */
  contexts(): DockerContextInfo[];
  /** The endpoint of a context; throws the CLI's "context not found" for an unknown one. */
  contextEndpoint(name: string): DockerEndpoint;
  /** The current context's endpoint (for "default": -H, DOCKER_HOST or the default socket). */
  currentEndpoint(): DockerEndpoint;
  /** buildx's store key for "current builder" (GetCurrentEndpoint): the context name, or the default host. */
  currentStoreKey(): string;
  configFile(): DockerConfigFile;
}

export interface DockerConfigFile {
  readonly currentContext?: string;
  readonly aliases?: Readonly<Record<string, string>>;
}

export function resolveDockerCli(globals: ParsedFlags, env: NodeJS.ProcessEnv): DockerCli {
  const configDir = globals.changed("config") ? (globals.string("config") as string) : (env["DOCKER_CONFIG"] || join(env["HOME"] ?? homedir(), ".docker"));
  let config: DockerConfigFile | undefined;
  const configFile = (): DockerConfigFile => {
    if (config !== undefined) return config;
    try {
      config = JSON.parse(readFileSync(join(configDir, "config.json"), "utf8")) as DockerConfigFile;
    } catch {
      config = {};
    }
    return config;
  };
  const hosts = globals.list("host");
  const currentContext = ((): string => {
    const fromFlag = globals.string("context");
    if (globals.changed("context") && fromFlag !== undefined && fromFlag !== "") return fromFlag;
    if (hosts.length > 0) return DEFAULT_CONTEXT;
    if ((env["DOCKER_HOST"] ?? "") !== "") return DEFAULT_CONTEXT;
    if ((env["DOCKER_CONTEXT"] ?? "") !== "") return env["DOCKER_CONTEXT"] as string;
    return configFile().currentContext || DEFAULT_CONTEXT;
  })();
  const defaultEndpoint = (): DockerEndpoint => {
    const host = hosts.at(-1) ?? (env["DOCKER_HOST"] || DEFAULT_DOCKER_HOST);
    const tlsverify = globals.changed("tlsverify") ? globals.bool("tlsverify") : (env["DOCKER_TLS_VERIFY"] ?? "") !== "";
    const tls = tlsverify || globals.bool("tls");
    if (!tls) return { host };
    const certPath = env["DOCKER_CERT_PATH"] || configDir;
    const file = (flag: string, name: string): Buffer | undefined => {
      const path = globals.string(flag) ?? join(certPath, name);
      return existsSync(path) ? readFileSync(path) : undefined;
    };
    return { host, tls: { ...opt("ca", file("tlscacert", "ca.pem")), ...opt("cert", file("tlscert", "cert.pem")), ...opt("key", file("tlskey", "key.pem")), skipVerify: !tlsverify } };
  };
  const contextEndpoint = (name: string): DockerEndpoint => {
    if (name === DEFAULT_CONTEXT) return defaultEndpoint();
    return readContext(configDir, name).endpoint;
  };
  return {
    configDir,
    currentContext,
    env,
    debug: globals.bool("debug") || parseBool(env["BUILDX_DEBUG"] ?? "") === true,
    contexts() {
      const out: DockerContextInfo[] = [{ name: DEFAULT_CONTEXT, description: "Current DOCKER_HOST based configuration", endpoint: defaultEndpoint() }];
      const metaRoot = join(configDir, "contexts", "meta");
      let dirs: string[] = [];
      try {
        dirs = readdirSync(metaRoot);
      } catch {
        // No context store yet.
      }
      for (const d of dirs) {
        try {
          const meta = JSON.parse(readFileSync(join(metaRoot, d, "meta.json"), "utf8")) as ContextMeta;
          if (typeof meta.Name === "string" && meta.Name !== DEFAULT_CONTEXT) out.push(contextFromMeta(configDir, meta));
        } catch {
          // A broken entry is skipped, as the CLI's store listing does.
        }
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },
    contextEndpoint,
    currentEndpoint: () => contextEndpoint(currentContext),
    currentStoreKey: () => (currentContext !== DEFAULT_CONTEXT ? currentContext : defaultEndpoint().host),
    configFile,
  };
}

interface ContextMeta {
  readonly Name: string;
  readonly Metadata?: { readonly Description?: string };
  readonly Endpoints?: Readonly<Record<string, { readonly Host?: string; readonly SkipTLSVerify?: boolean }>>;
}

const contextId = (name: string): string => createHash("sha256").update(name).digest("hex");

function readContext(configDir: string, name: string): DockerContextInfo {
  const path = join(configDir, "contexts", "meta", contextId(name), "meta.json");
  let meta: ContextMeta;
  try {
    meta = JSON.parse(readFileSync(path, "utf8")) as ContextMeta;
  } catch (err) {
    const detail = (err as NodeJS.ErrnoException).code === "ENOENT" ? `open ${path}: no such file or directory` : (err as Error).message;
    throw htkError("HTK-BUILDX-0002", { name, detail });
  }
  return contextFromMeta(configDir, meta);
}

function contextFromMeta(configDir: string, meta: ContextMeta): DockerContextInfo {
  const docker = meta.Endpoints?.["docker"];
  const tlsDir = join(configDir, "contexts", "tls", contextId(meta.Name), "docker");
  const file = (n: string): Buffer | undefined => {
    const p = join(tlsDir, n);
    return existsSync(p) ? readFileSync(p) : undefined;
  };
  const ca = file("ca.pem");
  const cert = file("cert.pem");
  const key = file("key.pem");
  const tls = ca !== undefined || cert !== undefined || docker?.SkipTLSVerify === true ? { ...opt("ca", ca), ...opt("cert", cert), ...opt("key", key), skipVerify: docker?.SkipTLSVerify === true } : undefined;
  return {
    name: meta.Name,
    description: meta.Metadata?.Description ?? "",
    endpoint: { host: docker?.Host ?? DEFAULT_DOCKER_HOST, ...(tls === undefined ? {} : { tls }) },
  };
}

function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
