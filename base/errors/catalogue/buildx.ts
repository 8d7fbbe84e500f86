import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * BUILDX: the `docker buildx` plugin (buildx-plugin/). Where buildx itself prints a fixed text
 * (builder store, context and flag errors), the cause keeps buildx's exact wording (`dockerText`).
 */
export const buildxDiagnostics = {
  "HTK-BUILDX-0001": {
    title: "Plugin bundle not built",
    cause: "The compiled docker-buildx plugin was not found at {path}.",
    next: "Run \"npm run build\" in the HATAKE folder (the set-up command tools/up.sh does this and installs the plugin).",
  },
  "HTK-BUILDX-0002": {
    title: "Docker context not found",
    cause: "context \"{name}\": context not found: {detail}",
    dockerText: true,
    next: "List the contexts with \"docker context ls\", or create this one with \"docker context create {name} --docker host=…\".",
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
