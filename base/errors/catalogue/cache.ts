import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** CACHE diagnostics. IDs are HTK-CACHE-NNNN, ascending; never renumber one that has shipped. */
export const cacheDiagnostics = {
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
