import { goQuote } from "../chars.ts";
import type { CheckConfig } from "./types.ts";

/** The build-arg BuildKit reads the check options from (`--build-arg BUILDKIT_DOCKERFILE_CHECK=…`). */
export const CHECK_BUILD_ARG = "BUILDKIT_DOCKERFILE_CHECK";

export const DEFAULT_CONFIG: CheckConfig = { skipAll: false, skip: [], experimentalAll: false, experimental: [], error: false };

export type ConfigParse = { readonly ok: true; readonly config: CheckConfig } | { readonly ok: false; readonly message: string };

/**
 * BuildKit's `linter.ParseLintOptions`: `skip=A,B|all;experimental=C|all;error=<bool>`. Quirks kept on
 * purpose, since a Dockerfile that builds with BuildKit must configure the same checks here:
 * - the string is split on `;` into at most three parts, so a fourth option stays glued to the third
 *   (`error=true;skip=x` then fails to parse as a boolean);
 * - keys are trimmed, values are trimmed, rule names are trimmed but not validated (an unknown name is
 *   simply never matched);
 * - `error` takes Go's strconv.ParseBool values (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False);
 * - an option given twice: the last one wins.
 * The message is BuildKit's, without its "failed to parse check options: " prefix.
 */
export function parseCheckConfig(text: string): ConfigParse {
  const s = goTrimSpace(text);
  if (s === "") return { ok: true, config: DEFAULT_CONFIG };
  let skipAll = false;
  let skip: string[] = [];
  let experimentalAll = false;
  let experimental: string[] = [];
  let error = false;
  for (const part of splitN(s, ";", 3)) {
    const eq = part.indexOf("=");
    if (eq < 0) return { ok: false, message: `invalid check option ${goQuote(part)}` };
    const key = goTrimSpace(part.slice(0, eq));
    const value = goTrimSpace(part.slice(eq + 1));
    switch (key) {
      case "skip":
        if (value === "all") skipAll = true;
        else skip = value.split(",").map(goTrimSpace);
        break;
      case "experimental":
        if (value === "all") experimentalAll = true;
        else experimental = value.split(",").map(goTrimSpace);
        break;
      case "error": {
        const b = parseGoBool(value);
        if (b === undefined) {
          return { ok: false, message: `failed to parse check option ${goQuote(part)}: strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax` };
        }
        error = b;
        break;
      }
      default:
        return { ok: false, message: `invalid check option ${goQuote(key)}` };
    }
  }
  return { ok: true, config: { skipAll, skip, experimentalAll, experimental, error } };
}

/** Go's strings.SplitN: at most n pieces, the last holds the rest. */
function splitN(s: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const i = rest.indexOf(sep);
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + sep.length);
  }
  out.push(rest);
  return out;
}

function parseGoBool(v: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  return undefined;
}

/** Go's strings.TrimSpace (Unicode White_Space). */
function goTrimSpace(s: string): string {
  return s.replace(/^[\s\u0085]+|[\s\u0085]+$/gu, "");
}
