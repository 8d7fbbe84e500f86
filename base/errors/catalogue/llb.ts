import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** LLB diagnostics. IDs are HTK-LLB-NNNN, ascending; never renumber one that has shipped. */
export const llbDiagnostics = {
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
