import { isPredefined } from "../networks/index.ts";
import { apiAtLeast } from "./hijack.ts";

/**
 * Docker 26 stopped listing a container's short ID among its network aliases (API 1.45 shows it in
 * `DNSNames`), but keeps older clients working: for a request below 1.45, inspect adds the short ID
 * and the hostname to `Aliases` of every user-defined network (moby's api/server/router/container
 * inspect.go). Docker Compose v1 (API 1.38) depends on it: it reconnects a container to each of its
 * networks before start unless the short ID is already an alias, and that disconnect/connect round
 * would drop the aliases given at create.
 */
export function withLegacyAliases(inspect: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  if (apiAtLeast(apiVersion, "1.45")) return inspect;
  const id = typeof inspect["Id"] === "string" ? inspect["Id"] : "";
  const config = inspect["Config"];
  const hostname = isRecord(config) && typeof config["Hostname"] === "string" ? config["Hostname"] : "";
  const settings = inspect["NetworkSettings"];
  const networks = isRecord(settings) ? settings["Networks"] : undefined;
  if (!isRecord(networks) || id === "") return inspect;
  const patched: Record<string, unknown> = {};
  for (const [name, ep] of Object.entries(networks)) {
    if (!isRecord(ep) || isPredefined(name) || name === "default" || name.startsWith("container:")) {
      patched[name] = ep;
      continue;
    }
    const aliases = Array.isArray(ep["Aliases"]) ? ep["Aliases"].filter((a): a is string => typeof a === "string") : [];
    const extra = [id.slice(0, 12), hostname].filter((a) => a !== "");
    patched[name] = { ...ep, Aliases: [...new Set([...aliases, ...extra])] };
  }
  return { ...inspect, NetworkSettings: { ...(settings as Record<string, unknown>), Networks: patched } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
