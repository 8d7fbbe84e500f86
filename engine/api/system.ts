import { arch, release } from "node:os";
import { renderMetrics } from "../../base/observability/index.ts";
import { sendJson } from "./respond.ts";
import type { RequestContext, Route } from "./types.ts";
import { API_VERSION, MIN_API_VERSION } from "./version.ts";

export interface SystemInfo {
  readonly version: string;
  readonly gitCommit: string;
}

/** Docker's names for Node's architectures (GOARCH), as /version and /info report them. */
export function goArch(nodeArch: string = arch()): string {
  const map: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
  return map[nodeArch] ?? nodeArch;
}

function pingHeaders(ctx: RequestContext): void {
  ctx.res.setHeader("Builder-Version", "2");
  // Docker 26 tells clients the node's swarm state on every ping; a desktop engine is never in one.
  ctx.res.setHeader("Swarm", "inactive");
  ctx.res.setHeader("Cache-Control", "no-cache, no-store, must-revalidate");
  ctx.res.setHeader("Pragma", "no-cache");
}

/** The system routes of the daemon skeleton: ping, version and the Prometheus metrics. */
export function systemRoutes(info: SystemInfo): Route[] {
  const ping = (ctx: RequestContext): void => {
    pingHeaders(ctx);
    if (ctx.method === "HEAD") {
      ctx.res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": "0" }).end();
      return;
    }
    ctx.res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": "2" }).end("OK");
  };
  return [
    { method: "GET", pattern: "/_ping", query: [], handle: ping },
    { method: "HEAD", pattern: "/_ping", query: [], handle: ping },
    {
      method: "GET",
      pattern: "/version",
      query: [],
      handle(ctx) {
        const details = {
          ApiVersion: API_VERSION,
          Arch: goArch(),
          BuildTime: "",
          Experimental: "false",
          GitCommit: info.gitCommit,
          GoVersion: `node${process.versions.node}`,
          KernelVersion: release(),
          MinAPIVersion: MIN_API_VERSION,
          Os: "linux",
        };
        sendJson(ctx.res, 200, {
          Platform: { Name: "HATAKE Engine" },
          Components: [{ Name: "Engine", Version: info.version, Details: details }],
          Version: info.version,
          ApiVersion: API_VERSION,
          MinAPIVersion: MIN_API_VERSION,
          GitCommit: info.gitCommit,
          GoVersion: details.GoVersion,
          Os: "linux",
          Arch: details.Arch,
          KernelVersion: details.KernelVersion,
          BuildTime: "",
        });
      },
    },
    {
      method: "GET",
      pattern: "/metrics",
      async handle(ctx) {
        const { contentType, body } = await renderMetrics();
        ctx.res.writeHead(200, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) }).end(body);
      },
    },
  ];
}
