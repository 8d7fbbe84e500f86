import { explainBuild } from "../../solver/index.ts";
import type { EngineServices } from "../daemon/services.ts";
import type { Route } from "./types.ts";

/**
 * The GUI's build page, as `docker buildx history open` points at it: `/ui/builds/BUILDER/NODE/REF`
 * (buildx's desktop URL path: builder, node, build ref). The React GUI (`desktop/`) does not exist
 * yet; until it does, the engine answers this one page itself, server-rendered and self-contained:
 * the build's status, times and steps (with why each that ran missed the cache). Read-only.
 */
export function guiRoutes(services: EngineServices): Route[] {
  return [
    {
      method: "GET",
      pattern: "/ui/builds/{builder}/{node}/{ref}",
      async handle(ctx) {
        const builder = decodeURIComponent(ctx.params["builder"] ?? "");
        const ref = decodeURIComponent(ctx.params["ref"] ?? "");
        const record = await services.builds.record(ref);
        const steps = [...record.vertices].filter((v) => v.index > 0).sort((a, b) => a.index - b.index);
        const rows = steps.map((v) => `<tr><td>#${v.index}</td><td>${esc(v.name)}</td><td>${esc(v.outcome.status === "executed" ? "done" : v.outcome.status)}</td></tr>`).join("\n");
        const explanation = explainBuild(record);
        const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Build ${esc(ref)} · HATAKE</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td{padding:.2em .8em}pre{background:#f4f4f4;padding:1em}</style></head>
<body>
<h1>Build <code>${esc(ref)}</code></h1>
<dl>
<dt>Builder</dt><dd>${esc(builder)}</dd>
<dt>Target</dt><dd>${esc(record.target)}</dd>
<dt>Status</dt><dd id="status">${esc(record.status)}</dd>
<dt>Started</dt><dd>${esc(record.started)}</dd>
<dt>Completed</dt><dd>${esc(record.completed ?? "")}</dd>
${record.error === undefined ? "" : `<dt>Error</dt><dd>${esc(record.error.message)}</dd>`}
</dl>
<h2>Steps</h2>
<table id="steps">
${rows}
</table>
${explanation.length === 0 ? "" : `<h2>Cache misses</h2>\n<pre>${esc(explanation.join("\n"))}</pre>`}
</body></html>
`;
        ctx.res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(html) });
        ctx.res.end(html);
      },
    },
  ];
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
