import { htkError } from "../../base/errors/index.ts";
import type { LinuxSeccomp, MountRequest, NetworkNamespace, SeccompMode, SpecOptions, Ulimit, UserDatabase } from "../runtime/index.ts";
import type { Container, HostConfig } from "../state/index.ts";
import { strSlice } from "./create-config.ts";

/**
 * A container record → the options of the runtime's `buildSpec` (which holds Docker's defaults): the
 * `docker run` flags as Config and HostConfig carry them. Pure: the caller mounted the root
 * filesystem, read its user database, prepared mounts, network namespace and network files.
 */
export interface SpecInputs {
  readonly rootfs: string;
  readonly userDb: UserDatabase;
  readonly mounts: readonly MountRequest[];
  readonly network: NetworkNamespace;
  readonly networkFiles: { readonly hosts: string; readonly resolvConf: string; readonly hostname: string };
  /** The host path of the static init (`--init`), when the container asks for one. */
  readonly initPath?: string;
}

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}

/** `--security-opt`: seccomp=unconfined|<profile JSON>, no-new-privileges[:true|false]; others (apparmor, label) have no effect here. */
export function securityOptions(hostConfig: HostConfig): { seccomp?: SeccompMode; noNewPrivileges: boolean } {
  let seccomp: SeccompMode | undefined;
  let noNewPrivileges = false;
  for (const opt of strings(hostConfig["SecurityOpt"])) {
    if (opt === "no-new-privileges" || opt === "no-new-privileges:true" || opt === "no-new-privileges=true") {
      noNewPrivileges = true;
      continue;
    }
    if (opt === "no-new-privileges:false" || opt === "no-new-privileges=false") {
      noNewPrivileges = false;
      continue;
    }
    const eq = opt.search(/[=:]/);
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? "" : opt.slice(eq + 1);
    switch (key) {
      case "seccomp":
        if (value === "unconfined") seccomp = { kind: "unconfined" };
        else if (value === "builtin" || value === "") seccomp = { kind: "default" };
        else {
          let profile: unknown;
          try {
            profile = JSON.parse(value);
          } catch {
            throw htkError("HTK-ENGINE-0398", { detail: `the profile is not JSON (it starts ${JSON.stringify(value.slice(0, 40))})` });
          }
          seccomp = { kind: "custom", profile: profile as LinuxSeccomp };
        }
        break;
      case "apparmor":
      case "label":
      case "systempaths":
      case "proc-opts":
      case "mask":
      case "unmask":
        break;
      default:
        throw htkError("HTK-ENGINE-0397", { option: opt });
    }
  }
  return { ...(seccomp === undefined ? {} : { seccomp }), noNewPrivileges };
}

export function specOptions(c: Container, inputs: SpecInputs): SpecOptions {
  const config = c.config;
  const h = c.hostConfig;
  const hostNamespaces: Array<"pid" | "ipc" | "uts"> = [];
  if (h["PidMode"] === "host") hostNamespaces.push("pid");
  if (h["IpcMode"] === "host") hostNamespaces.push("ipc");
  if (h["UTSMode"] === "host") hostNamespaces.push("uts");
  const ulimits: Ulimit[] = ((h["Ulimits"] as Array<{ Name?: string; Soft?: number; Hard?: number }> | null | undefined) ?? []).map((u) => ({
    name: u.Name ?? "",
    soft: u.Soft ?? 0,
    hard: u.Hard ?? 0,
  }));
  const security = securityOptions(h);
  const swappiness = num(h["MemorySwappiness"]);
  const resources = {
    ...(num(h["Memory"]) !== undefined ? { memory: num(h["Memory"]) as number } : {}),
    ...(num(h["MemorySwap"]) !== undefined ? { memorySwap: num(h["MemorySwap"]) as number } : {}),
    ...(num(h["MemoryReservation"]) !== undefined ? { memoryReservation: num(h["MemoryReservation"]) as number } : {}),
    ...(swappiness !== undefined && swappiness >= 0 ? { memorySwappiness: swappiness } : {}),
    ...(h["OomKillDisable"] === true ? { oomKillDisable: true } : {}),
    ...(num(h["NanoCpus"]) !== undefined ? { nanoCpus: num(h["NanoCpus"]) as number } : {}),
    ...(num(h["CpuShares"]) !== undefined ? { cpuShares: num(h["CpuShares"]) as number } : {}),
    ...(num(h["CpuPeriod"]) !== undefined ? { cpuPeriod: num(h["CpuPeriod"]) as number } : {}),
    ...(num(h["CpuQuota"]) !== undefined ? { cpuQuota: num(h["CpuQuota"]) as number } : {}),
    ...(typeof h["CpusetCpus"] === "string" ? { cpusetCpus: h["CpusetCpus"] } : {}),
    ...(typeof h["CpusetMems"] === "string" ? { cpusetMems: h["CpusetMems"] } : {}),
    ...(num(h["PidsLimit"]) !== undefined ? { pidsLimit: num(h["PidsLimit"]) as number } : {}),
  };
  const workdir = typeof config["WorkingDir"] === "string" ? config["WorkingDir"] : "";
  const annotations = h["Annotations"] as Record<string, string> | null | undefined;
  return {
    rootfs: inputs.rootfs,
    args: [c.path, ...c.args],
    env: strings(config["Env"]),
    ...(workdir !== "" ? { cwd: workdir } : {}),
    ...(typeof config["User"] === "string" && config["User"] !== "" ? { user: config["User"] } : {}),
    groupAdd: strings(h["GroupAdd"]),
    userDb: inputs.userDb,
    hostname: typeof config["Hostname"] === "string" ? config["Hostname"] : c.id.slice(0, 12),
    tty: config["Tty"] === true,
    readonlyRootfs: h["ReadonlyRootfs"] === true,
    network: inputs.network,
    hostNamespaces,
    networkFiles: inputs.networkFiles,
    privileged: h["Privileged"] === true,
    capAdd: strSlice(h["CapAdd"]) ?? [],
    capDrop: strSlice(h["CapDrop"]) ?? [],
    ...(security.seccomp === undefined ? {} : { seccomp: security.seccomp }),
    noNewPrivileges: security.noNewPrivileges,
    mounts: inputs.mounts,
    resources,
    ulimits,
    sysctls: (h["Sysctls"] as Record<string, string> | null | undefined) ?? {},
    ...(inputs.initPath !== undefined ? { init: { hostPath: inputs.initPath } } : {}),
    ...(num(h["OomScoreAdj"]) !== undefined ? { oomScoreAdj: num(h["OomScoreAdj"]) as number } : {}),
    ...(num(h["ShmSize"]) !== undefined && (num(h["ShmSize"]) as number) > 0 ? { shmSize: num(h["ShmSize"]) as number } : {}),
    ...(annotations !== undefined && annotations !== null ? { annotations } : {}),
  };
}
