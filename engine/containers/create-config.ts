import { isIP } from "node:net";
import { posix } from "node:path";
import { htkError } from "../../base/errors/index.ts";
import { parseRamInBytes } from "../../base/units.ts";
import type { ContainerConfig as ImageContainerConfig } from "../../base/oci/index.ts";
import { normalizeCapability, signalArg } from "../runtime/index.ts";
import type { ContainerConfig, HostConfig } from "../state/index.ts";

/**
 * `POST /containers/create`: the request body as Docker's decoder reads it (Config, with HostConfig and
 * NetworkingConfig beside it), checked field by field with the Go decoder's error text, then
 * validated with Docker 26's create-time rules (daemon/container.go, api/types/container). Pure.
 *
 * Fields the engine does not read are kept as sent: `docker inspect` shows what `docker create` got.
 */

/** `NetworkingConfig` (per-network endpoint settings); kept as sent. */
export interface NetworkingConfig {
  readonly EndpointsConfig?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export interface ParsedCreate {
  readonly config: ContainerConfig;
  readonly hostConfig: HostConfig;
  readonly networkingConfig: NetworkingConfig;
}

type JsonKind = "string" | "bool" | "int" | "strings" | "strslice" | "object" | "stringMap" | "array" | "uint2";

/** The Go type names of the decoder's "cannot unmarshal" error, by kind. */
const GO_TYPE: Readonly<Record<JsonKind, string>> = {
  string: "string",
  bool: "bool",
  int: "int64",
  strings: "[]string",
  strslice: "strslice.StrSlice",
  object: "struct",
  stringMap: "map[string]string",
  array: "[]interface {}",
  uint2: "[2]uint",
};

const CONFIG_FIELDS: Readonly<Record<string, JsonKind>> = {
  Hostname: "string",
  Domainname: "string",
  User: "string",
  AttachStdin: "bool",
  AttachStdout: "bool",
  AttachStderr: "bool",
  ExposedPorts: "object",
  Tty: "bool",
  OpenStdin: "bool",
  StdinOnce: "bool",
  Env: "strings",
  Cmd: "strslice",
  Healthcheck: "object",
  ArgsEscaped: "bool",
  Image: "string",
  Volumes: "object",
  WorkingDir: "string",
  Entrypoint: "strslice",
  NetworkDisabled: "bool",
  OnBuild: "strings",
  Labels: "stringMap",
  StopSignal: "string",
  StopTimeout: "int",
  Shell: "strslice",
};

const HOST_CONFIG_FIELDS: Readonly<Record<string, JsonKind>> = {
  Binds: "strings",
  ContainerIDFile: "string",
  LogConfig: "object",
  NetworkMode: "string",
  PortBindings: "object",
  RestartPolicy: "object",
  AutoRemove: "bool",
  VolumeDriver: "string",
  VolumesFrom: "strings",
  ConsoleSize: "uint2",
  Annotations: "stringMap",
  CapAdd: "strslice",
  CapDrop: "strslice",
  CgroupnsMode: "string",
  Dns: "strings",
  DnsOptions: "strings",
  DnsSearch: "strings",
  ExtraHosts: "strings",
  GroupAdd: "strings",
  IpcMode: "string",
  Cgroup: "string",
  Links: "strings",
  OomScoreAdj: "int",
  PidMode: "string",
  Privileged: "bool",
  PublishAllPorts: "bool",
  ReadonlyRootfs: "bool",
  SecurityOpt: "strings",
  StorageOpt: "stringMap",
  Tmpfs: "stringMap",
  UTSMode: "string",
  UsernsMode: "string",
  ShmSize: "int",
  Sysctls: "stringMap",
  Runtime: "string",
  Isolation: "string",
  CpuShares: "int",
  Memory: "int",
  NanoCpus: "int",
  CgroupParent: "string",
  BlkioWeight: "int",
  CpuPeriod: "int",
  CpuQuota: "int",
  CpuRealtimePeriod: "int",
  CpuRealtimeRuntime: "int",
  CpusetCpus: "string",
  CpusetMems: "string",
  Devices: "array",
  MemoryReservation: "int",
  MemorySwap: "int",
  MemorySwappiness: "int",
  OomKillDisable: "bool",
  PidsLimit: "int",
  Ulimits: "array",
  Init: "bool",
  Mounts: "array",
  MaskedPaths: "strings",
  ReadonlyPaths: "strings",
};

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

/** The Go decoder's text: `json: cannot unmarshal string into Go struct field Config.Tty of type bool`. */
function unmarshalError(got: unknown, field: string, kind: JsonKind): never {
  throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${kindOf(got)} into Go struct field ${field} of type ${GO_TYPE[kind]}` });
}

function check(value: unknown, field: string, kind: JsonKind): void {
  if (value === null || value === undefined) return;
  switch (kind) {
    case "string":
      if (typeof value !== "string") unmarshalError(value, field, kind);
      return;
    case "bool":
      if (typeof value !== "boolean") unmarshalError(value, field, kind);
      return;
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) unmarshalError(value, field, kind);
      return;
    case "strings":
      if (!Array.isArray(value) || value.some((x) => typeof x !== "string")) unmarshalError(value, field, kind);
      return;
    case "strslice":
      // Docker's StrSlice takes a string or a list of strings.
      if (typeof value === "string") return;
      if (!Array.isArray(value) || value.some((x) => typeof x !== "string")) unmarshalError(value, field, kind);
      return;
    case "object":
      if (typeof value !== "object" || Array.isArray(value)) unmarshalError(value, field, kind);
      return;
    case "stringMap":
      if (typeof value !== "object" || Array.isArray(value) || Object.values(value).some((x) => typeof x !== "string")) unmarshalError(value, field, kind);
      return;
    case "array":
      if (!Array.isArray(value)) unmarshalError(value, field, kind);
      return;
    case "uint2":
      if (!Array.isArray(value) || value.length !== 2 || value.some((x) => typeof x !== "number" || !Number.isInteger(x) || x < 0)) unmarshalError(value, field, kind);
      return;
    default: {
      const never: never = kind;
      throw new Error(String(never));
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Docker's StrSlice: a single string is a one-element list. */
export function strSlice(v: unknown): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string") return [v];
  return v as string[];
}

/**
 * Reads the create body. Throws HTK-ENGINE-0450 (Docker's "invalid JSON: …") for a body that is not a JSON object or a field of the
 * wrong type (the Go decoder's words).
 */
export function parseCreateBody(body: unknown): ParsedCreate {
  if (!isObject(body)) throw htkError("HTK-ENGINE-0450", { detail: `json: cannot unmarshal ${kindOf(body)} into Go value of type container.ContainerConfigWrapper` });
  const { HostConfig: host, NetworkingConfig: net, ...config } = body;
  for (const [field, kind] of Object.entries(CONFIG_FIELDS)) check(config[field], `ContainerConfigWrapper.Config.${field}`, kind);
  if (host !== undefined && host !== null && !isObject(host)) unmarshalError(host, "ContainerConfigWrapper.HostConfig", "object");
  const hostConfig = (host ?? {}) as Record<string, unknown>;
  for (const [field, kind] of Object.entries(HOST_CONFIG_FIELDS)) check(hostConfig[field], `ContainerConfigWrapper.HostConfig.${field}`, kind);
  const rp = hostConfig["RestartPolicy"];
  if (isObject(rp)) {
    check(rp["Name"], "ContainerConfigWrapper.HostConfig.RestartPolicy.Name", "string");
    check(rp["MaximumRetryCount"], "ContainerConfigWrapper.HostConfig.RestartPolicy.MaximumRetryCount", "int");
  }
  const lc = hostConfig["LogConfig"];
  if (isObject(lc)) {
    check(lc["Type"], "ContainerConfigWrapper.HostConfig.LogConfig.Type", "string");
    check(lc["Config"], "ContainerConfigWrapper.HostConfig.LogConfig.Config", "stringMap");
  }
  for (const [i, u] of ((hostConfig["Ulimits"] as unknown[] | null | undefined) ?? []).entries()) {
    if (!isObject(u)) unmarshalError(u, `ContainerConfigWrapper.HostConfig.Ulimits[${i}]`, "object");
    check(u["Name"], "ContainerConfigWrapper.HostConfig.Ulimits.Name", "string");
    check(u["Soft"], "ContainerConfigWrapper.HostConfig.Ulimits.Soft", "int");
    check(u["Hard"], "ContainerConfigWrapper.HostConfig.Ulimits.Hard", "int");
  }
  for (const m of (hostConfig["Mounts"] as unknown[] | null | undefined) ?? []) {
    if (!isObject(m)) unmarshalError(m, "ContainerConfigWrapper.HostConfig.Mounts", "object");
    for (const f of ["Type", "Source", "Target", "Consistency"]) check(m[f], `ContainerConfigWrapper.HostConfig.Mounts.${f}`, "string");
    check(m["ReadOnly"], "ContainerConfigWrapper.HostConfig.Mounts.ReadOnly", "bool");
    for (const f of ["BindOptions", "VolumeOptions", "TmpfsOptions"]) check(m[f], `ContainerConfigWrapper.HostConfig.Mounts.${f}`, "object");
  }
  if (net !== undefined && net !== null && !isObject(net)) unmarshalError(net, "ContainerConfigWrapper.NetworkingConfig", "object");
  return { config: config as ContainerConfig, hostConfig: hostConfig as HostConfig, networkingConfig: (net ?? {}) as NetworkingConfig };
}

// ---------------------------------------------------------------------------------------------------
// Validation (Docker 26's create-time checks, in its order).

/** `opts.ValidateEnv`: an entry needs a name (`=x` and `` are refused). */
function validateEnv(entry: string): void {
  const name = entry.split("=", 1)[0] ?? "";
  if (name === "") throw htkError("HTK-ENGINE-0374", { value: entry });
}

/** `opts.ValidateExtraHost`: `name:ip` (or `name=ip`); `host-gateway` is a valid address. */
function validateExtraHost(entry: string): void {
  const sep = entry.includes("=") ? "=" : ":";
  const at = entry.indexOf(sep);
  const name = at < 0 ? entry : entry.slice(0, at);
  let ip = at < 0 ? "" : entry.slice(at + 1);
  if (at < 0 || name === "") throw htkError("HTK-ENGINE-0375", { entry });
  if (ip.startsWith("[") && ip.endsWith("]")) ip = ip.slice(1, -1);
  if (ip !== "host-gateway" && isIP(ip) === 0) throw htkError("HTK-ENGINE-0376", { ip });
}

const MIN_HEALTH_DURATION_NS = 1_000_000;

function validateHealthcheck(h: unknown): void {
  if (!isObject(h)) return;
  const dur = (k: string): number => (typeof h[k] === "number" ? (h[k] as number) : 0);
  for (const label of ["Interval", "Timeout"] as const) {
    const k = label;
    if (dur(k) !== 0 && dur(k) < MIN_HEALTH_DURATION_NS) throw htkError("HTK-ENGINE-0377", { field: label, rule: "less than 1ms" });
  }
  if (dur("Retries") < 0) throw htkError("HTK-ENGINE-0377", { field: "Retries", rule: "negative" });
  if (dur("StartPeriod") !== 0 && dur("StartPeriod") < MIN_HEALTH_DURATION_NS) throw htkError("HTK-ENGINE-0377", { field: "StartPeriod", rule: "less than 1ms" });
  if (dur("StartInterval") !== 0 && dur("StartInterval") < MIN_HEALTH_DURATION_NS) throw htkError("HTK-ENGINE-0377", { field: "StartInterval", rule: "less than 1ms" });
}

/** `container.ValidateRestartPolicy` (API types, Docker 25+). */
export function validateRestartPolicy(policy: HostConfig["RestartPolicy"]): void {
  const name = policy?.Name ?? "";
  const max = policy?.MaximumRetryCount ?? 0;
  switch (name) {
    case "always":
    case "unless-stopped":
    case "no":
      if (max !== 0) throw htkError("HTK-ENGINE-0351", { detail: `maximum retry count can only be used with 'on-failure'${max < 0 ? " and cannot be negative" : ""}` });
      return;
    case "on-failure":
      if (max < 0) throw htkError("HTK-ENGINE-0351", { detail: "maximum retry count cannot be negative" });
      return;
    case "":
      return;
    default:
      throw htkError("HTK-ENGINE-0351", { detail: `unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'` });
  }
}

function validateCapabilities(list: readonly string[] | undefined, field: "CapAdd" | "CapDrop"): void {
  for (const c of list ?? []) {
    try {
      normalizeCapability(c);
    } catch {
      throw htkError("HTK-ENGINE-0379", { field, capability: c.toUpperCase().startsWith("CAP_") ? c.toUpperCase() : `CAP_${c.toUpperCase()}` });
    }
  }
}

function num(v: unknown): number {
  return typeof v === "number" ? v : 0;
}

/**
 * Docker's create-time validation of Config and HostConfig (the parts that are not checked again when
 * the runtime spec is built). Returns Docker's warnings; refusals carry Docker's texts (HTK-ENGINE-0351 … 0395).
 */
export function validateCreate(config: ContainerConfig, hostConfig: HostConfig): string[] {
  const warnings: string[] = [];
  const wd = config["WorkingDir"];
  if (typeof wd === "string" && wd !== "" && !wd.startsWith("/")) throw htkError("HTK-ENGINE-0373", { dir: wd });
  const stopSignal = config["StopSignal"];
  if (typeof stopSignal === "string" && stopSignal !== "") parseSignal(stopSignal);
  for (const e of (config["Env"] as string[] | null | undefined) ?? []) validateEnv(e);
  validateHealthcheck(config.Healthcheck);

  if (hostConfig.AutoRemove === true && !isNoRestart(hostConfig.RestartPolicy)) throw htkError("HTK-ENGINE-0378", {});
  for (const h of (hostConfig["ExtraHosts"] as string[] | null | undefined) ?? []) validateExtraHost(h);
  validateRestartPolicy(hostConfig.RestartPolicy);
  validateCapabilities(strSlice(hostConfig["CapAdd"]), "CapAdd");
  validateCapabilities(strSlice(hostConfig["CapDrop"]), "CapDrop");

  // daemon_unix.go verifyPlatformContainerResources, in its order.
  const memory = num(hostConfig["Memory"]);
  const swap = num(hostConfig["MemorySwap"]);
  if (memory !== 0 && memory < 6 * 1024 * 1024) throw htkError("HTK-ENGINE-0380", {});
  if (memory > 0 && swap > 0 && swap < memory) throw htkError("HTK-ENGINE-0381", {});
  if (memory === 0 && swap > 0) throw htkError("HTK-ENGINE-0382", {});
  const swappiness = hostConfig["MemorySwappiness"];
  if (typeof swappiness === "number" && swappiness !== -1 && (swappiness < 0 || swappiness > 100)) {
    throw htkError("HTK-ENGINE-0383", { value: swappiness });
  }
  const reservation = num(hostConfig["MemoryReservation"]);
  if (memory > 0 && reservation > 0 && memory < reservation) throw htkError("HTK-ENGINE-0384", {});
  if (reservation !== 0 && reservation < 6 * 1024 * 1024) throw htkError("HTK-ENGINE-0385", {});
  const nanoCpus = num(hostConfig["NanoCpus"]);
  if (nanoCpus > 0 && num(hostConfig["CpuPeriod"]) > 0) throw htkError("HTK-ENGINE-0386", { other: "Period" });
  if (nanoCpus > 0 && num(hostConfig["CpuQuota"]) > 0) throw htkError("HTK-ENGINE-0386", { other: "Quota" });
  const cpus = availableCpus();
  if (nanoCpus < 0 || nanoCpus > cpus * 1e9) throw htkError("HTK-ENGINE-0387", { max: cpus });
  const period = num(hostConfig["CpuPeriod"]);
  if (period !== 0 && (period < 1000 || period > 1_000_000)) throw htkError("HTK-ENGINE-0388", {});
  const quota = num(hostConfig["CpuQuota"]);
  if (quota > 0 && quota < 1000) throw htkError("HTK-ENGINE-0389", {});
  const oomScoreAdj = num(hostConfig["OomScoreAdj"]);
  if (oomScoreAdj < -1000 || oomScoreAdj > 1000) throw htkError("HTK-ENGINE-0390", { value: oomScoreAdj });
  const shm = num(hostConfig["ShmSize"]);
  if (shm < 0) throw htkError("HTK-ENGINE-0391", {});
  for (const u of (hostConfig["Ulimits"] as Array<{ Name?: string; Soft?: number; Hard?: number }> | null | undefined) ?? []) {
    if ((u.Soft ?? 0) > (u.Hard ?? 0)) throw htkError("HTK-ENGINE-0392", { soft: u.Soft ?? 0, hard: u.Hard ?? 0 });
  }
  if (hostConfig["OomKillDisable"] === true && memory === 0) {
    warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
  }
  const log = hostConfig["LogConfig"] as { Type?: string; Config?: Record<string, string> } | null | undefined;
  validateLogConfig(log?.Type ?? "", log?.Config ?? {});
  return warnings;
}

function isNoRestart(p: HostConfig["RestartPolicy"]): boolean {
  return p === undefined || p.Name === undefined || p.Name === "" || p.Name === "no";
}

/** Log drivers the engine has: `json-file` (the default) and `none`. */
export const LOG_DRIVERS = ["json-file", "none"] as const;
export type LogDriverName = (typeof LOG_DRIVERS)[number];

const JSON_FILE_OPTS = new Set(["max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"]);

function validateLogConfig(type: string, opts: Readonly<Record<string, string>>): void {
  const driver = type === "" ? "json-file" : type;
  if (!(LOG_DRIVERS as readonly string[]).includes(driver)) throw htkError("HTK-ENGINE-0352", { driver });
  for (const key of Object.keys(opts)) {
    if (driver === "none" || !JSON_FILE_OPTS.has(key)) throw htkError("HTK-ENGINE-0353", { option: key, driver });
  }
  if (driver === "json-file") {
    if (opts["max-size"] !== undefined) parseSize(opts["max-size"]);
    if (opts["max-file"] !== undefined) {
      const n = Number(opts["max-file"]);
      if (!Number.isInteger(n) || n < 1) throw htkError("HTK-ENGINE-0393", {});
      if (n > 1 && opts["max-size"] === undefined) throw htkError("HTK-ENGINE-0394", {});
    }
  }
}

/** go-units RAMInBytes ("10m", "1g", "512k", "100"): binary multiples, as json-file's max-size takes it. */
export function parseSize(text: string): number {
  const r = parseRamInBytes(text.trim());
  if (!r.ok) throw htkError("HTK-ENGINE-0395", { text });
  return r.value;
}

function availableCpus(): number {
  // Read lazily: os.availableParallelism is Node ≥ 18.14.
  return Math.max(1, (globalThis.process as { availableParallelism?: () => number } | undefined)?.availableParallelism?.() ?? 1);
}

/** Docker's `signal.ParseSignal`: a name (with or without SIG) or a number; `Invalid signal: X` otherwise. */
export function parseSignal(text: string): number {
  try {
    const n = Number(signalArg(/^\d+$/.test(text) ? Number(text) : text));
    if (n === 0) throw new Error("zero");
    return n;
  } catch {
    throw htkError("HTK-ENGINE-0354", { signal: text });
  }
}

// ---------------------------------------------------------------------------------------------------
// Merging with the image's config (daemon/commit.go `merge`) and the command.

/**
 * The container's Config after Docker's merge with the image's: the user's values win; Env gets the
 * image's variables the user did not set (after the user's); labels likewise; Cmd and Entrypoint come
 * from the image only when the user gave no Entrypoint; WorkingDir, User, StopSignal, Volumes,
 * ExposedPorts and Healthcheck fill in when empty. `Hostname` defaults to the short ID, `Image` is the
 * name the client used.
 */
export function mergeImageConfig(user: ContainerConfig, image: ImageContainerConfig | undefined, shortId: string): ContainerConfig {
  const img = image ?? {};
  const out: Record<string, unknown> = { ...user };
  if ((out["User"] ?? "") === "" && img.User !== undefined) out["User"] = img.User;
  const userPorts = out["ExposedPorts"];
  if (!isObject(userPorts) || Object.keys(userPorts).length === 0) {
    if (img.ExposedPorts !== undefined) out["ExposedPorts"] = img.ExposedPorts;
  } else if (img.ExposedPorts !== undefined) out["ExposedPorts"] = { ...img.ExposedPorts, ...userPorts };
  const userEnv = (out["Env"] as string[] | null | undefined) ?? [];
  if (userEnv.length === 0) out["Env"] = img.Env ?? userEnv;
  else {
    const keys = new Set(userEnv.map((e) => e.split("=", 1)[0]));
    out["Env"] = [...userEnv, ...(img.Env ?? []).filter((e) => !keys.has(e.split("=", 1)[0]))];
  }
  out["Labels"] = { ...(img.Labels ?? {}), ...((out["Labels"] as Record<string, string> | null | undefined) ?? {}) };
  const entrypoint = strSlice(out["Entrypoint"]);
  if (entrypoint === undefined || entrypoint.length === 0) {
    const cmd = strSlice(out["Cmd"]);
    if (cmd === undefined || cmd.length === 0) {
      out["Cmd"] = img.Cmd ?? null;
      if (img.ArgsEscaped !== undefined) out["ArgsEscaped"] = img.ArgsEscaped;
    }
    // An explicit empty Entrypoint ([] or "") resets the image's; only an absent one inherits it.
    if (out["Entrypoint"] === undefined || out["Entrypoint"] === null) out["Entrypoint"] = img.Entrypoint ?? null;
  }
  if (img.Healthcheck !== undefined) {
    const h = isObject(out["Healthcheck"]) ? (out["Healthcheck"] as Record<string, unknown>) : undefined;
    if (h === undefined) out["Healthcheck"] = img.Healthcheck;
    else {
      const merged: Record<string, unknown> = { ...h };
      const test = h["Test"] as unknown[] | undefined;
      if (test === undefined || test.length === 0) merged["Test"] = img.Healthcheck.Test;
      for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] as const) {
        if (num(merged[k]) === 0 && img.Healthcheck[k] !== undefined) merged[k] = img.Healthcheck[k];
      }
      out["Healthcheck"] = merged;
    }
  }
  if ((out["WorkingDir"] ?? "") === "" && img.WorkingDir !== undefined) out["WorkingDir"] = img.WorkingDir;
  const userVolumes = out["Volumes"];
  if (!isObject(userVolumes) || Object.keys(userVolumes).length === 0) out["Volumes"] = img.Volumes ?? userVolumes ?? null;
  else if (img.Volumes !== undefined) out["Volumes"] = { ...img.Volumes, ...userVolumes };
  if ((out["StopSignal"] ?? "") === "" && img.StopSignal !== undefined) out["StopSignal"] = img.StopSignal;
  if ((out["Hostname"] ?? "") === "") out["Hostname"] = shortId;
  if (out["WorkingDir"] !== undefined && typeof out["WorkingDir"] === "string" && out["WorkingDir"] !== "") out["WorkingDir"] = posix.normalize(out["WorkingDir"]);
  return out as ContainerConfig;
}

/** Docker's `getEntrypointAndArgs`: Path and Args of the container. HTK-ENGINE-0355 without a command. */
export function entrypointAndArgs(config: ContainerConfig): { path: string; args: string[] } {
  const entrypoint = strSlice(config["Entrypoint"]) ?? [];
  const cmd = strSlice(config["Cmd"]) ?? [];
  const all = entrypoint.length > 0 ? [...entrypoint, ...cmd] : cmd;
  const [path, ...args] = all;
  if (path === undefined) throw htkError("HTK-ENGINE-0355", {});
  return { path, args };
}

/**
 * HostConfig as Docker stores it after create: NetworkMode `default` (or empty) is the daemon's default
 * network, `bridge`; ShmSize 0 is the default 64 MiB; a non-positive PidsLimit is no limit.
 */
export function normaliseHostConfig(h: HostConfig): HostConfig {
  const out: Record<string, unknown> = { ...h };
  const mode = out["NetworkMode"];
  if (mode === undefined || mode === "" || mode === "default") out["NetworkMode"] = "bridge";
  if (num(out["ShmSize"]) === 0) out["ShmSize"] = 64 * 1024 * 1024;
  const pids = out["PidsLimit"];
  if (typeof pids === "number" && pids <= 0) out["PidsLimit"] = null;
  const rp = out["RestartPolicy"] as { Name?: string; MaximumRetryCount?: number } | undefined;
  if (rp === undefined || rp === null) out["RestartPolicy"] = { Name: "no", MaximumRetryCount: 0 };
  else if ((rp.Name ?? "") === "") out["RestartPolicy"] = { ...rp, Name: "no" };
  const log = out["LogConfig"] as { Type?: string; Config?: Record<string, string> } | undefined;
  if (log === undefined || log === null || (log.Type ?? "") === "") out["LogConfig"] = { Type: "json-file", Config: log?.Config ?? {} };
  return out as HostConfig;
}
