import type { DiagnosticId, DiagnosticSpec } from "../types.ts";

/** DOCKERFILE diagnostics. IDs are HTK-DOCKERFILE-NNNN, ascending; never renumber one that has shipped. */
export const dockerfileDiagnostics = {
  // 0100–0109: the shell-word processor (frontend-dockerfile/shell). `detail` is BuildKit's own text.
  "HTK-DOCKERFILE-0100": {
    title: "Unterminated quote or variable reference",
    cause: "Cannot expand {word}: {detail}.",
    next: "Close every quote and variable reference the word opens, or put the escape character {escape} before a quote or $ that is meant literally.",
    http: 400,
  },
  "HTK-DOCKERFILE-0101": {
    title: "Bad variable substitution",
    cause: "Cannot expand {word}: {detail}.",
    next: "Write a variable reference as $NAME, or with a name and one of the operators :- - :+ + :? ? # ## % %% / //; put the escape character {escape} before a $ that is meant literally.",
    http: 400,
  },
  "HTK-DOCKERFILE-0102": {
    title: "Required variable not set",
    cause: "Cannot expand {word}: {detail}.",
    next: "Give the variable \"{name}\" a value before this instruction (ARG, ENV or --build-arg {name}=...).",
    http: 400,
  },
  "HTK-DOCKERFILE-0103": {
    title: "Invalid pattern in variable substitution",
    cause: "Cannot expand {word}: {detail}.",
    next: "In a # % or / pattern a backslash may only escape *, ?, a backslash, } or /.",
    http: 400,
  },
} as const satisfies { readonly [K in DiagnosticId]?: DiagnosticSpec };
