import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { htkError } from "../../base/errors/index.ts";

/**
 * Where the API is served. TCP is loopback-only unless TLS verifies clients (`--tlsverify`): without
 * it, anyone who reaches the port owns the machine (dockerd warns; we refuse).
 */
export type ListenAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

/**
 * dockerd's `--tls` / `--tlsverify` (`tls`, `tlsverify`, `tlscacert`, `tlscert`, `tlskey` in
 * daemon.json): TCP listeners serve HTTPS with this certificate; with `verify`, clients must present
 * a certificate signed by `ca` (mutual TLS), as `docker --tlsverify` and buildx's remote driver do.
 * Paths; the files are read when the listeners start.
 */
export type DaemonTls =
  | { readonly verify: false; readonly cert: string; readonly key: string; readonly ca?: string }
  | { readonly verify: true; readonly cert: string; readonly key: string; readonly ca: string };

export type LogLevel = "debug" | "info" | "warn" | "error" | "fatal";

/** The daemon's settings, named as dockerd names them so users and scripts carry over. */
export interface DaemonConfig {
  readonly dataRoot: string;
  readonly hosts: readonly ListenAddress[];
  readonly pidfile: string | undefined;
  readonly logLevel: LogLevel;
  readonly insecureRegistries: readonly string[];
  readonly registryMirrors: readonly string[];
  readonly defaultRuntime: string;
  readonly maxConcurrentDownloads: number;
  readonly maxConcurrentUploads: number;
  readonly maxParallelBuilds: number;
  /** dockerd's shutdown-timeout: seconds a container gets to stop when the daemon shuts down (default 15). */
  readonly shutdownTimeout: number;
  /** TLS on TCP listeners (unix sockets are never wrapped). */
  readonly tls?: DaemonTls;
  /**
   * daemon.json `builder.entitlements` (dockerd's names): what builds may be granted with `--allow`.
   * dockerd's defaults: `network-host` allowed, `security-insecure` not.
   */
  readonly builderEntitlements: { readonly networkHost: boolean; readonly securityInsecure: boolean };
  /**
   * daemon.json `ipv6` and `fixed-cidr-v6` (dockerd's `--ipv6 --fixed-cidr-v6`): the default bridge
   * also has this IPv6 subnet; `ip6tables` (default true, as Docker 27+): IPv6 networks get ip6tables
   * rules (NAT, isolation, published ports).
   */
  readonly defaultBridgeIPv6?: string;
  readonly ip6tables: boolean;
}

/** Flags as given on the command line (undefined = not given), before merging with the config file. */
export interface DaemonFlags {
  readonly dataRoot?: string | undefined;
  readonly hosts?: readonly string[] | undefined;
  readonly pidfile?: string | undefined;
  readonly configFile?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly insecureRegistries?: readonly string[] | undefined;
  readonly registryMirrors?: readonly string[] | undefined;
  readonly defaultRuntime?: string | undefined;
  readonly maxConcurrentDownloads?: string | undefined;
  readonly maxConcurrentUploads?: string | undefined;
  readonly maxParallelBuilds?: string | undefined;
  readonly shutdownTimeout?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly tlsVerify?: boolean | undefined;
  readonly tlsCaCert?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  /** daemon.json only: `{ "entitlements": { "network-host": bool, "security-insecure": bool } }`. */
  readonly builder?: unknown;
  readonly ipv6?: boolean | undefined;
  readonly fixedCidrV6?: string | undefined;
  readonly ip6tables?: boolean | undefined;
}

/** dockerd's daemon.json keys that we read, mapped to our flag names. */
const FILE_KEYS = {
  "data-root": "dataRoot",
  hosts: "hosts",
  pidfile: "pidfile",
  "log-level": "logLevel",
  "insecure-registries": "insecureRegistries",
  "registry-mirrors": "registryMirrors",
  "default-runtime": "defaultRuntime",
  "max-concurrent-downloads": "maxConcurrentDownloads",
  "max-concurrent-uploads": "maxConcurrentUploads",
  "max-parallel-builds": "maxParallelBuilds",
  "shutdown-timeout": "shutdownTimeout",
  tls: "tls",
  tlsverify: "tlsVerify",
  tlscacert: "tlsCaCert",
  tlscert: "tlsCert",
  tlskey: "tlsKey",
  builder: "builder",
  ipv6: "ipv6",
  "fixed-cidr-v6": "fixedCidrV6",
  ip6tables: "ip6tables",
} as const satisfies Record<string, keyof DaemonFlags>;

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "fatal"];

export interface ResolvedConfig {
  readonly config: DaemonConfig;
  /** Keys of the config file we do not know: logged as a warning and a compatibility event. */
  readonly unknownFileKeys: readonly string[];
}

/** Defaults follow dockerd's for root; an unprivileged user gets per-user paths (as rootless dockerd). */
export function defaultPaths(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): { dataRoot: string; socket: string } {
  if (uid === 0) return { dataRoot: "/var/lib/hatake", socket: "/run/hatake/docker.sock" };
  const runtime = env["XDG_RUNTIME_DIR"] ?? join("/tmp", `hatake-${uid}`);
  const data = env["XDG_DATA_HOME"] ?? join(homedir(), ".local", "share");
  return { dataRoot: join(data, "hatake"), socket: join(runtime, "hatake", "docker.sock") };
}

/**
 * Merges flags and the config file as dockerd does: a setting given both ways is an error (dockerd:
 * "the following directives are specified both as a flag and in the configuration file").
 */
export function resolveConfig(flags: DaemonFlags, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const file = flags.configFile === undefined ? {} : readConfigFile(flags.configFile);
  const merged: Record<string, unknown> = {};
  const unknownFileKeys: string[] = [];
  const both: string[] = [];
  for (const [key, value] of Object.entries(file)) {
    const name = (FILE_KEYS as Record<string, keyof DaemonFlags>)[key];
    if (name === undefined) {
      unknownFileKeys.push(key);
      continue;
    }
    if (flags[name] !== undefined) both.push(key);
    merged[name] = value;
  }
  if (both.length > 0) {
    throw htkError("HTK-ENGINE-0004", {
      path: flags.configFile ?? "",
      detail: `these settings are given both as a flag and in the file: ${both.join(", ")}`,
    });
  }
  for (const [k, v] of Object.entries(flags)) if (v !== undefined && k !== "configFile") merged[k] = v;

  const defaults = defaultPaths(env);
  const where = flags.configFile ?? "(flags)";
  const hosts = stringList(merged["hosts"], "hosts", where);
  const logLevel = String(merged["logLevel"] ?? "info");
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw htkError("HTK-ENGINE-0004", { path: where, detail: `log-level "${logLevel}" is not one of ${LOG_LEVELS.join(", ")}` });
  }
  const tls = tlsConfig(merged, env, where);
  return {
    unknownFileKeys,
    config: {
      dataRoot: String(merged["dataRoot"] ?? defaults.dataRoot),
      hosts: (hosts.length > 0 ? hosts : [`unix://${defaults.socket}`]).map((h) => parseListenAddress(h, { tlsVerify: tls?.verify === true })),
      ...(tls === undefined ? {} : { tls }),
      pidfile: merged["pidfile"] === undefined ? undefined : String(merged["pidfile"]),
      logLevel: logLevel as LogLevel,
      insecureRegistries: stringList(merged["insecureRegistries"], "insecure-registries", where),
      registryMirrors: stringList(merged["registryMirrors"], "registry-mirrors", where).map((m) => validMirror(m, where)),
      defaultRuntime: String(merged["defaultRuntime"] ?? "crun"),
      maxConcurrentDownloads: positiveInt(merged["maxConcurrentDownloads"], 3, "max-concurrent-downloads", where),
      maxConcurrentUploads: positiveInt(merged["maxConcurrentUploads"], 5, "max-concurrent-uploads", where),
      maxParallelBuilds: positiveInt(merged["maxParallelBuilds"], 4, "max-parallel-builds", where),
      shutdownTimeout: wholeNumber(merged["shutdownTimeout"], 15, "shutdown-timeout", where),
      builderEntitlements: builderEntitlements(merged["builder"], where),
      ...defaultBridgeIPv6(merged, where),
    },
  };
}

/** `ipv6`, `fixed-cidr-v6`, `ip6tables` (dockerd's names and defaults). */
function defaultBridgeIPv6(merged: Record<string, unknown>, where: string): { defaultBridgeIPv6?: string; ip6tables: boolean } {
  const flag = (k: string, dflt: boolean): boolean => {
    const v = merged[k];
    if (v === undefined) return dflt;
    if (typeof v !== "boolean") throw htkError("HTK-ENGINE-0004", { path: where, detail: `"${k === "ip6tables" ? k : "ipv6"}" must be true or false` });
    return v;
  };
  const ip6tables = flag("ip6tables", true);
  if (!flag("ipv6", false)) return { ip6tables };
  const cidr = merged["fixedCidrV6"];
  if (typeof cidr !== "string" || !/^[0-9a-fA-F:]+\/\d{1,3}$/.test(cidr) || !cidr.includes(":")) {
    throw htkError("HTK-ENGINE-0004", { path: where, detail: `"ipv6": true needs "fixed-cidr-v6" with the default bridge's IPv6 subnet (for example "fd00:db8:1::/64")${cidr === undefined ? "" : `; "${String(cidr)}" is not an IPv6 CIDR`}` });
  }
  return { defaultBridgeIPv6: cidr, ip6tables };
}

/**
 * dockerd's TLS settings: `--tlsverify` implies `--tls`; the files default to `$DOCKER_CERT_PATH`
 * (else `~/.docker`) `ca.pem`, `cert.pem`, `key.pem`, as dockerd's.
 */
function tlsConfig(merged: Record<string, unknown>, env: NodeJS.ProcessEnv, where: string): DaemonTls | undefined {
  const flag = (k: string): boolean => {
    const v = merged[k];
    if (v === undefined) return false;
    if (typeof v === "boolean") return v;
    if (v === "true" || v === "false") return v === "true";
    throw htkError("HTK-ENGINE-0004", { path: where, detail: `"${k}" must be true or false` });
  };
  const verify = flag("tlsVerify");
  if (!verify && !flag("tls")) return undefined;
  const dir = env["DOCKER_CERT_PATH"] || join(env["HOME"] ?? homedir(), ".docker");
  const path = (k: string, file: string): string => (merged[k] === undefined ? join(dir, file) : String(merged[k]));
  const cert = path("tlsCert", "cert.pem");
  const key = path("tlsKey", "key.pem");
  const ca = path("tlsCaCert", "ca.pem");
  return verify ? { verify, cert, key, ca } : { verify, cert, key, ...(merged["tlsCaCert"] === undefined ? {} : { ca }) };
}

/** `unix:///run/x.sock`, `tcp://127.0.0.1:2375`, or a bare socket path (as `-H /path` in dockerd). */
export function parseListenAddress(address: string, opts: { readonly tlsVerify?: boolean } = {}): ListenAddress {
  if (address.startsWith("unix://")) {
    const path = address.slice("unix://".length);
    if (path === "") throw htkError("HTK-ENGINE-0003", { address, detail: "the socket path is empty" });
    return { kind: "unix", path };
  }
  if (address.startsWith("/")) return { kind: "unix", path: address };
  if (address.startsWith("tcp://")) {
    let url: URL;
    try {
      url = new URL(address.replace(/^tcp:/, "http:"));
    } catch {
      throw htkError("HTK-ENGINE-0003", { address, detail: "it is not a valid tcp://HOST:PORT address" });
    }
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (host !== "127.0.0.1" && host !== "::1" && host !== "localhost" && opts.tlsVerify !== true) {
      throw htkError("HTK-ENGINE-0003", { address, detail: "only loopback addresses are served unless --tlsverify makes clients prove who they are" });
    }
    const port = url.port === "" ? 2375 : Number(url.port);
    return { kind: "tcp", host, port };
  }
  throw htkError("HTK-ENGINE-0003", { address, detail: "the scheme is neither unix:// nor tcp://" });
}

export function formatListenAddress(a: ListenAddress): string {
  return a.kind === "unix" ? `unix://${a.path}` : `tcp://${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw htkError("HTK-ENGINE-0004", { path, detail: (err as Error).message }, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw htkError("HTK-ENGINE-0004", { path, detail: `it is not valid JSON (${(err as Error).message})` }, { cause: err });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw htkError("HTK-ENGINE-0004", { path, detail: "it must hold a JSON object" });
  }
  return parsed as Record<string, unknown>;
}

function stringList(value: unknown, key: string, where: string): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  throw htkError("HTK-ENGINE-0004", { path: where, detail: `"${key}" must be a list of strings` });
}

/** dockerd's ValidateMirror: an http(s) URL with a host and no path, query or fragment (a trailing "/" is fine). */
function validMirror(mirror: string, where: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw htkError("HTK-ENGINE-0004", { path: where, detail: `invalid mirror: "${mirror}" is not a valid URI` });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw htkError("HTK-ENGINE-0004", { path: where, detail: `invalid mirror: unsupported scheme "${url.protocol.slice(0, -1)}" in "${mirror}"` });
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") throw htkError("HTK-ENGINE-0004", { path: where, detail: `invalid mirror: path, query, or fragment at end of the URI "${mirror}"` });
  return `${url.protocol}//${url.host}`;
}

function builderEntitlements(value: unknown, where: string): DaemonConfig["builderEntitlements"] {
  const ents = value !== null && typeof value === "object" ? (value as { entitlements?: unknown }).entitlements : undefined;
  const get = (key: string, fallback: boolean): boolean => {
    const v = ents !== null && typeof ents === "object" ? (ents as Record<string, unknown>)[key] : undefined;
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw htkError("HTK-ENGINE-0004", { path: where, detail: `"builder.entitlements.${key}" must be true or false` });
    return v;
  };
  return { networkHost: get("network-host", true), securityInsecure: get("security-insecure", false) };
}

/** A whole number of 0 or more (dockerd's shutdown-timeout may be 0: SIGKILL at once). */
function wholeNumber(value: unknown, fallback: number, key: string, where: string): number {
  if (value === undefined) return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < 0) throw htkError("HTK-ENGINE-0004", { path: where, detail: `"${key}" must be a whole number of 0 or more, not ${JSON.stringify(value)}` });
  return n;
}

function positiveInt(value: unknown, fallback: number, key: string, where: string): number {
  if (value === undefined) return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < 1) throw htkError("HTK-ENGINE-0004", { path: where, detail: `"${key}" must be a whole number of 1 or more, not ${JSON.stringify(value)}` });
  return n;
}
