import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** SOLVER diagnostics. IDs are HTK-SOLVER-NNNN, ascending; never renumber one that has shipped. */
export const solverDiagnostics = {
  "HTK-SOLVER-0001": {
    title: "Build step failed",
    cause: "The step \"{step}\" failed: {detail}.",
    next: "Read the output of that step above (the build record keeps its full log), fix the cause and run the build again.",
    http: 500,
  },
  "HTK-SOLVER-0002": {
    title: "Build definition not valid",
    cause: "The build definition cannot be run: {detail}.",
    next: "The frontend that produced it generated an invalid graph; this is a bug in it. Please report it with the definition (\"hatake llb dump\" prints it).",
    http: 400,
  },
  "HTK-SOLVER-0003": {
    title: "Worker returned the wrong outputs",
    cause: "The worker {worker} returned {actual} outputs for the step \"{step}\", which has {expected}.",
    next: "This is a bug in the worker, not in the build. Please report it with the build record.",
    http: 500,
  },
  "HTK-SOLVER-0004": {
    title: "Build state not usable",
    cause: "HATAKE could not use the build state at {path}: {detail}.",
    next: "Check that {path} is on a mounted disk with free space and that HATAKE may read and write it, then run the build again.",
    http: 500,
  },
  "HTK-SOLVER-0005": {
    title: "Build result used after release",
    cause: "The snapshot {ref} was used after its last reference was released (during {operation}).",
    next: "This is a bug in HATAKE, not in the build. Please report it with the log around it.",
    http: 500,
  },
  "HTK-SOLVER-0006": {
    title: "Build context changed during the build",
    cause: "The files of {source} changed while the build was running: they were keyed as {before} and read as {after}.",
    next: "Run the build again once nothing is writing to the build context (an editor saving, a generator running).",
    http: 409,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
