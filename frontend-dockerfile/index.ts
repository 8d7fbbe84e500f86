/**
 * The Dockerfile frontend's parser layer (BuildKit v0.13 `frontend/dockerfile/parser` semantics).
 *
 *     const { result, diagnostics } = parseDockerfile(text);
 *
 * Never throws on user input: problems come back as diagnostics (HTK-DOCKERFILE-0001…0012), and `result`
 * is absent when one of them is an error.
 */
import { toHtkError } from "../base/errors/index.ts";
import { parseSource } from "./parser.ts";
import type { ParseOptions, ParseResult } from "./types.ts";

export type * from "./types.ts";
export { dumpDockerfile, dumpInstruction, argWords } from "./dump.ts";
export { renderDiagnostic, knownInstruction, checkInstructionName, PARSER_DIAGNOSTIC_IDS } from "./diagnostics.ts";
export { chompHeredocContent } from "./heredoc.ts";
export { INSTRUCTION_NAMES } from "./arguments.ts";
export { goQuote } from "./chars.ts";

export function parseDockerfile(text: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  try {
    return parseSource(text, opts);
  } catch (err) {
    // A bug, not the user's input: still reported as data so that callers never see an exception.
    const e = toHtkError(err, { operation: "parse Dockerfile" });
    const at = { line: 1, column: 1 };
    return {
      diagnostics: [
        {
          id: e.id,
          severity: "error",
          message: e.plainCause,
          next: e.nextStep,
          range: { start: at, end: at },
          params: e.params,
          ...(opts.fileName === undefined ? {} : { file: opts.fileName }),
        },
      ],
    };
  }
}

// The compile stage (Dockerfile → LLB + image config), `compile/`.
export * from "./compile/index.ts";
