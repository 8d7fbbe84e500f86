import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/**
 * Builds through the engine: the daemon's `Builds` service (HTK-ENGINE-0550 …) and the classic
 * `POST /build` endpoint's context upload and parameters (HTK-BUILD-0300 …).
 */
export const buildApiDiagnostics = {
  "HTK-ENGINE-0550": {
    title: "Engine stopping",
    cause: "The engine is stopping and takes no new builds.",
    next: "Start the build again once the engine is running.",
    http: 503,
  },
  "HTK-ENGINE-0551": {
    title: "Build ID in use",
    cause: "A build with the ID \"{id}\" is already running.",
    next: "Use a different build ID, or leave it out and the engine picks one.",
    http: 409,
  },
  "HTK-ENGINE-0552": {
    title: "No such build record",
    cause: "The engine has no build record \"{id}\".",
    next: "List the recorded builds (docker buildx history ls) and use one of their IDs.",
    http: 404,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
