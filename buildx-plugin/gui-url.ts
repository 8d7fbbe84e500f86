import { spawn } from "node:child_process";
import { parseHost } from "./client.ts";
import type { DockerEndpoint } from "./docker-cli.ts";

/**
 * Where the GUI shows a build (buildx's desktop.BuildURL, for HATAKE): the page the engine serves at
 * `/ui/builds/BUILDER/NODE/REF`. A browser reaches the engine only over TCP, so the base is
 * `HATAKE_GUI_URL` when set (an engine also listening on TCP, or a proxy), else the node's own
 * tcp:// address (https with TLS); undefined for an engine reached over a unix socket alone.
 */
export function guiUrl(endpoint: DockerEndpoint, fullRef: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = `/ui/builds/${fullRef.split("/").map(encodeURIComponent).join("/")}`;
  const base = env["HATAKE_GUI_URL"];
  if (base !== undefined && base !== "") return `${base.replace(/\/+$/, "")}${path}`;
  const url = parseHost(endpoint.host);
  if (url.kind === "unix") return undefined;
  return `${endpoint.tls === undefined ? "http" : "https"}://${url.hostPort}${path}`;
}

/** Hands the URL to $BROWSER, or xdg-open when there is a display; never waits for it, never fails the command. */
export function openUrl(url: string, env: NodeJS.ProcessEnv): void {
  const browser = env["BROWSER"];
  const command = browser !== undefined && browser !== "" ? browser : env["DISPLAY"] || env["WAYLAND_DISPLAY"] ? "xdg-open" : undefined;
  if (command === undefined) return;
  try {
    const child = spawn(command, [url], { detached: true, stdio: "ignore", env });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No browser to hand it to: the URL is printed already.
  }
}
