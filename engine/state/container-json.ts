import { parseRfc3339Nano } from "./clock.ts";
import { humanDuration } from "../../base/units.ts";
import { isRunningFlag } from "./container-filters.ts";
import { ZERO_TIME, type Container, type ContainerStateJson } from "./types.ts";

/**
 * A container record as the Engine API shows it: inspect's JSON, the list's summary and Docker's
 * human status line ("Up 5 minutes (healthy)", "Exited (0) 2 hours ago").
 */

/** Inspect's `State`: the flags follow from the status (Docker's State struct keeps them in step). */
export function stateJson(c: Container): ContainerStateJson {
  const { ManuallyStopped: _m, Health: health, ...rest } = c.state;
  return {
    Status: c.status,
    Running: isRunningFlag(c),
    Paused: c.status === "paused",
    Restarting: c.status === "restarting",
    OOMKilled: rest.OOMKilled,
    Dead: c.status === "dead",
    Pid: rest.Pid,
    ExitCode: rest.ExitCode,
    Error: rest.Error,
    StartedAt: rest.StartedAt,
    FinishedAt: rest.FinishedAt,
    ...(health === undefined ? {} : { Health: health }),
  };
}

/** The body of GET /containers/{id}/json (ContainerInspectResponse) from a record. */
export function inspectJson(c: Container, execIds: readonly string[]): Record<string, unknown> {
  return {
    Id: c.id,
    Created: c.created,
    Path: c.path,
    Args: c.args,
    State: stateJson(c),
    Image: c.imageId,
    ResolvConfPath: c.paths.ResolvConfPath ?? "",
    HostnamePath: c.paths.HostnamePath ?? "",
    HostsPath: c.paths.HostsPath ?? "",
    LogPath: c.paths.LogPath ?? "",
    Name: c.name,
    RestartCount: c.restartCount,
    Driver: c.driver,
    Platform: c.platform,
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    // Docker shows null, not [], when there are none.
    ExecIDs: execIds.length === 0 ? null : execIds,
    HostConfig: c.hostConfig,
    GraphDriver: { Name: c.driver, Data: null },
    Mounts: c.mounts,
    Config: c.config,
    NetworkSettings: c.networkSettings,
  };
}


/** One entry of GET /containers/json (ContainerSummary). */
export function summaryJson(c: Container, nowMs: number = Date.now()): Record<string, unknown> {
  const networks = c.networkSettings.Networks ?? {};
  return {
    Id: c.id,
    Names: [c.name],
    Image: c.image,
    ImageID: c.imageId,
    Command: commandLine(c),
    Created: Number(c.createdNs / 1_000_000_000n),
    Ports: portsOf(c),
    Labels: c.config.Labels ?? {},
    State: c.status,
    Status: statusText(c, nowMs),
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode ?? "default" },
    NetworkSettings: { Networks: networks },
    Mounts: c.mounts,
  };
}

/** Docker's State.String(), with go-units' HumanDuration. */
export function statusText(c: Container, nowMs: number = Date.now()): string {
  const since = (t: string): string => humanDuration(nowMs - Number((parseRfc3339Nano(t) ?? 0n) / 1_000_000n));
  switch (c.status) {
    case "paused":
      return `Up ${since(c.state.StartedAt)} (Paused)`;
    case "restarting":
      return `Restarting (${c.state.ExitCode}) ${since(c.state.FinishedAt)} ago`;
    case "running": {
      const health = c.state.Health;
      if (health === undefined) return `Up ${since(c.state.StartedAt)}`;
      return `Up ${since(c.state.StartedAt)} (${health.Status === "starting" ? "health: starting" : health.Status})`;
    }
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "created":
    case "exited":
      if (c.state.StartedAt === ZERO_TIME) return "Created";
      if (c.state.FinishedAt === ZERO_TIME) return "";
      return `Exited (${c.state.ExitCode}) ${since(c.state.FinishedAt)} ago`;
    default: {
      const never: never = c;
      return String(never);
    }
  }
}

export { humanDuration };

/** Docker quotes arguments that contain a space. */
function commandLine(c: Container): string {
  if (c.args.length === 0) return c.path;
  return `${c.path} ${c.args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}`;
}

/** The summary's Ports from NetworkSettings.Ports ({"80/tcp": [{HostIp, HostPort}] | null}). */
function portsOf(c: Container): Array<Record<string, unknown>> {
  const ports = c.networkSettings["Ports"];
  if (ports === null || typeof ports !== "object") return [];
  const out: Array<Record<string, unknown>> = [];
  for (const [key, bindings] of Object.entries(ports as Record<string, unknown>)) {
    const [port = "", type = "tcp"] = key.split("/");
    const privatePort = Number.parseInt(port, 10);
    if (!Array.isArray(bindings) || bindings.length === 0) {
      out.push({ PrivatePort: privatePort, Type: type });
      continue;
    }
    for (const b of bindings as Array<{ HostIp?: string; HostPort?: string }>) {
      out.push({ IP: b.HostIp ?? "", PrivatePort: privatePort, PublicPort: Number.parseInt(b.HostPort ?? "0", 10), Type: type });
    }
  }
  return out;
}
