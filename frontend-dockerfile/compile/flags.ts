import { didYouMean } from "../../base/errors/index.ts";
import type { Diagnostic, Flag, Instruction } from "../types.ts";
import { flagDiagnostic } from "./diagnostics.ts";

/**
 * Instruction flags, as BuildKit's `BFlags` reads them: a flag is declared with a type before parsing;
 * a word naming no declared flag is "unknown flag: NAME" (with a suggestion), a repeated flag is an
 * error except for list flags (`--mount`, `--exclude`), a string flag needs `=value`, and a boolean
 * flag takes no value or `=true` / `=false` (any case).
 */
export type FlagType = "string" | "bool" | "strings";

export type FlagTable = Readonly<Record<string, FlagType>>;

type ValueOf<T extends FlagType> = T extends "string" ? string : T extends "bool" ? boolean : readonly string[];

/** The parsed flags: a string flag is absent when not given, a bool defaults to false, a list to []. */
export type FlagValues<T extends FlagTable> = {
  readonly [K in keyof T as T[K] extends "string" ? K : never]?: ValueOf<T[K]>;
} & {
  readonly [K in keyof T as T[K] extends "string" ? never : K]: ValueOf<T[K]>;
};

export type FlagParse<T extends FlagTable> = { readonly ok: true; readonly values: FlagValues<T>; readonly flags: ReadonlyMap<string, Flag> } | { readonly ok: false; readonly diagnostic: Diagnostic };

/** Parses the flags of `instr` against `table`. */
export function parseFlags<T extends FlagTable>(instr: Instruction, table: T): FlagParse<T> {
  const out: Record<string, string | boolean | string[]> = {};
  for (const [name, type] of Object.entries(table)) {
    if (type === "bool") out[name] = false;
    if (type === "strings") out[name] = [];
  }
  const seen = new Map<string, Flag>();
  const instruction = instr.keyword.toUpperCase();
  for (const f of instr.flags) {
    const type = Object.hasOwn(table, f.name) ? table[f.name] : undefined;
    if (type === undefined) {
      const known = Object.keys(table);
      const guess = didYouMean(f.name, known);
      return {
        ok: false,
        diagnostic: flagDiagnostic(
          "HTK-DOCKERFILE-0200",
          { flag: f.name, suggestion: guess === undefined ? "" : ` (did you mean ${guess}?)`, instruction, known: known.length === 0 ? "none" : known.map((k) => `--${k}`).join(", ") },
          f.range,
          guess === undefined ? `unknown flag: ${f.name}` : `unknown flag: ${f.name} (did you mean ${guess}?)`,
          guess,
        ),
      };
    }
    if (seen.has(f.name) && type !== "strings") {
      return { ok: false, diagnostic: invalid(f, instruction, `duplicate flag specified: ${f.name}`, "each flag can be given once") };
    }
    seen.set(f.name, f);
    switch (type) {
      case "bool": {
        if (f.argument === undefined) out[f.name] = true;
        else if (f.argument === "") return { ok: false, diagnostic: invalid(f, instruction, `missing a value on flag: ${f.name}`, "write --NAME, --NAME=true or --NAME=false") };
        else if (f.argument.toLowerCase() === "true") out[f.name] = true;
        else if (f.argument.toLowerCase() === "false") out[f.name] = false;
        else return { ok: false, diagnostic: invalid(f, instruction, `expecting boolean value for flag ${f.name}, not: ${f.argument}`, "write --NAME, --NAME=true or --NAME=false") };
        break;
      }
      case "string":
        if (f.argument === undefined) return { ok: false, diagnostic: invalid(f, instruction, `missing a value on flag: ${f.name}`, "write --NAME=VALUE") };
        out[f.name] = f.argument;
        break;
      case "strings": {
        if (f.argument === undefined) return { ok: false, diagnostic: invalid(f, instruction, `missing a value on flag: ${f.name}`, "write --NAME=VALUE") };
        const list = out[f.name];
        if (Array.isArray(list)) list.push(f.argument);
        break;
      }
      default:
        return assertFlagType(type);
    }
  }
  return { ok: true, values: out as FlagValues<T>, flags: seen };
}

function invalid(f: Flag, instruction: string, buildkitMessage: string, rule: string): Diagnostic {
  return flagDiagnostic("HTK-DOCKERFILE-0201", { flag: f.name, instruction, detail: buildkitMessage, rule }, f.range, buildkitMessage);
}

function assertFlagType(x: never): never {
  throw new Error(`unexpected flag type ${String(x)}`);
}
