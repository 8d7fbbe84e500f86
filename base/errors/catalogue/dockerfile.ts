import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** DOCKERFILE diagnostics. IDs are HTK-DOCKERFILE-NNNN, ascending; never renumber one that has shipped. */
export const dockerfileDiagnostics = {
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
