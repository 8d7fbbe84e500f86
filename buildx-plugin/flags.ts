/**
 * Command-line flags with the semantics of spf13/pflag, which the docker CLI and buildx parse with, so
 * the plugin accepts (and refuses) exactly the same words:
 *
 * - `--name value`, `--name=value`, `-n value`, `-nvalue`, `-n=value`; booleans as `--flag`,
 *   `--flag=false`, and combined short booleans (`-qD`);
 * - flags may follow positional arguments (cobra's interspersed parsing); `--` ends flag parsing;
 * - kinds: `string`, `bool`, `stringArray` (repeatable, taken whole) and `stringSlice` (repeatable and
 *   split on commas as CSV, like `--add-host a:1,b:2`); `value` is a string flag whose help names its
 *   type (`bytes`, `ulimit`, `list`);
 * - errors carry pflag's exact texts (`unknown flag: --foo`, `flag needs an argument: --tag`, …).
 */
export type FlagKind = "string" | "bool" | "stringArray" | "stringSlice" | "value";

export interface FlagSpec {
  readonly name: string;
  readonly short?: string;
  readonly kind: FlagKind;
  readonly usage: string;
  /** The default shown in help (`(default "auto")`) and used when the flag is absent. */
  readonly default?: string;
  /** The type name help shows for a `value` flag (`bytes`, `ulimit`, `list`). */
  readonly typeName?: string;
  /**
   * A `value` flag's Set: the reason a value is refused (pflag then says `invalid argument "V" for
   * "--name" flag: REASON`), or undefined when it is taken.
   */
  readonly check?: (value: string) => string | undefined;
  /** pflag's NoOptDefVal: a string flag that may be given without a value (`--check`). */
  readonly noOptDefault?: string;
  readonly hidden?: boolean;
}

/** Parsed flags: the last value of single flags, every value (in order) of repeatable ones. */
export class ParsedFlags {
  readonly #values = new Map<string, string[]>();
  readonly #specs: ReadonlyMap<string, FlagSpec>;

  constructor(specs: readonly FlagSpec[]) {
    this.#specs = new Map(specs.map((s) => [s.name, s]));
  }

  /** @internal */
  add(name: string, value: string): void {
    const list = this.#values.get(name) ?? [];
    list.push(value);
    this.#values.set(name, list);
  }

  /** Whether the flag was given on the command line (pflag's `Changed`). */
  changed(name: string): boolean {
    return this.#values.has(name);
  }

  string(name: string): string | undefined {
    return this.#values.get(name)?.at(-1) ?? this.#specs.get(name)?.default;
  }

  bool(name: string): boolean {
    const v = this.#values.get(name)?.at(-1);
    return v === undefined ? this.#specs.get(name)?.default === "true" : v === "true";
  }

  /** Every value of a repeatable flag; a stringSlice flag's values are split as CSV. */
  list(name: string): string[] {
    const spec = this.#specs.get(name);
    const raw = this.#values.get(name) ?? [];
    if (spec?.kind === "stringSlice") return raw.flatMap(splitCsv);
    return [...raw];
  }
}

export class FlagError extends Error {
  override readonly name = "FlagError";
}

export interface ParseResult {
  readonly flags: ParsedFlags;
  readonly args: string[];
  /** `--help`/`-h` was given (cobra answers with the command's help whatever else is there). */
  readonly help: boolean;
}

/** Parses `argv` against `specs` (help flags are always known). Throws FlagError with pflag's text. */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], opts: { interspersed?: boolean } = {}): ParseResult {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short as string, s]));
  const flags = new ParsedFlags(specs);
  const args: string[] = [];
  let help = false;
  const interspersed = opts.interspersed ?? true;
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      args.push(word);
      if (!interspersed) {
        args.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    if (word.startsWith("--")) {
      const body = word.slice(2);
      const eq = body.indexOf("=");
      const name = eq < 0 ? body : body.slice(0, eq);
      const spec = byName.get(name);
      if (spec === undefined) {
        if (name === "help") {
          help = true;
          continue;
        }
        throw new FlagError(`unknown flag: --${name}`);
      }
      if (eq >= 0) {
        flags.add(spec.name, checkValue(spec, body.slice(eq + 1), `--${spec.name}`));
      } else if (spec.kind === "bool") {
        flags.add(spec.name, "true");
      } else if (spec.noOptDefault !== undefined) {
        flags.add(spec.name, spec.noOptDefault);
      } else {
        const next = argv[i + 1];
        if (next === undefined) throw new FlagError(`flag needs an argument: --${spec.name}`);
        i++;
        flags.add(spec.name, checkValue(spec, next, `--${spec.name}`));
      }
      continue;
    }
    // Shorthands: a run of booleans, ending with at most one flag that takes a value.
    let rest = word.slice(1);
    while (rest.length > 0) {
      const c = rest[0] as string;
      const spec = byShort.get(c);
      if (spec === undefined) {
        if (c === "h") {
          help = true;
          rest = rest.slice(1);
          continue;
        }
        throw new FlagError(`unknown shorthand flag: '${c}' in -${word.slice(1)}`);
      }
      const after = rest.slice(1);
      if (after.startsWith("=")) {
        flags.add(spec.name, checkValue(spec, after.slice(1), `-${c}`));
        break;
      }
      if (spec.kind === "bool" || spec.noOptDefault !== undefined) {
        flags.add(spec.name, spec.kind === "bool" ? "true" : (spec.noOptDefault as string));
        rest = after;
        continue;
      }
      if (after.length > 0) {
        flags.add(spec.name, after);
        break;
      }
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
      i++;
      flags.add(spec.name, next);
      break;
    }
  }
  return { flags, args, help };
}

function checkValue(spec: FlagSpec, value: string, shown: string): string {
  const problem = spec.check?.(value);
  if (problem !== undefined) throw new FlagError(`invalid argument "${value}" for "${shown}" flag: ${problem}`);
  if (spec.kind !== "bool") return value;
  const v = parseBool(value);
  if (v === undefined) throw new FlagError(`invalid argument "${value}" for "${shown}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`);
  return v ? "true" : "false";
}

/** Go's strconv.ParseBool. */
export function parseBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

/** One CSV record (encoding/csv): commas split fields, double quotes group them. */
export function splitCsv(value: string): string[] {
  if (value === "") return [];
  const out: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (quoted) {
      if (ch === '"' && value[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === ",") {
      out.push(field);
      field = "";
    } else field += ch;
  }
  out.push(field);
  return out;
}

/**
 * The flag table of a help text, as pflag's FlagUsagesWrapped prints it: sorted by name, `-x, --name
 * type` padded to one column, usage wrapped to the terminal width (docker's help passes width - 1).
 */
export function flagUsages(specs: readonly FlagSpec[], cols = 79): string {
  const visible = specs.filter((s) => s.hidden !== true).sort((a, b) => a.name.localeCompare(b.name));
  const rows: Array<[string, string]> = [];
  let maxlen = 0;
  for (const s of visible) {
    let line = s.short === undefined ? `      --${s.name}` : `  -${s.short}, --${s.name}`;
    const { varname, usage } = unquoteUsage(s);
    if (varname !== "") line += ` ${varname}`;
    if (s.noOptDefault !== undefined && s.kind !== "bool") line += s.kind === "string" ? `[="${s.noOptDefault}"]` : `[=${s.noOptDefault}]`;
    // pflag measures the line with the NUL it later replaces by the padding.
    if (line.length + 1 > maxlen) maxlen = line.length + 1;
    let text = usage;
    if (s.default !== undefined && s.default !== "" && !(s.kind === "bool" && s.default === "false")) {
      text += s.kind === "string" ? ` (default ${JSON.stringify(s.default)})` : ` (default ${s.default})`;
    }
    rows.push([line, text]);
  }
  return rows.map(([line, text]) => `${line} ${" ".repeat(maxlen - line.length)} ${wrap(maxlen + 2, cols, text)}\n`).join("");
}

/** pflag's UnquoteUsage: a `backquoted` word in the usage names the value; else the type does. */
function unquoteUsage(s: FlagSpec): { varname: string; usage: string } {
  const a = s.usage.indexOf("`");
  if (a >= 0) {
    const b = s.usage.indexOf("`", a + 1);
    if (b > a) return { varname: s.usage.slice(a + 1, b), usage: s.usage.slice(0, a) + s.usage.slice(a + 1, b) + s.usage.slice(b + 1) };
  }
  const varname = s.kind === "bool" ? "" : s.kind === "stringSlice" ? "strings" : s.kind === "value" ? (s.typeName ?? "string") : s.kind;
  return { varname, usage: s.usage };
}

/** pflag's wrap: text wrapped at `cols`, continuation lines indented by `indent`, orphan words avoided. */
function wrap(indent: number, cols: number, text: string): string {
  if (cols === 0) return text.replaceAll("\n", `\n${" ".repeat(indent)}`);
  let i = indent;
  let width = cols - i;
  let out = "";
  if (width < 24) {
    i = 16;
    width = cols - i;
    out += `\n${" ".repeat(i)}`;
  }
  if (width < 24) return text.replaceAll("\n", out);
  const slop = 5;
  width -= slop;
  const pad = " ".repeat(i);
  let [line, rest] = wrapN(width, slop, text);
  out += line.replaceAll("\n", `\n${pad}`);
  while (rest !== "") {
    [line, rest] = wrapN(width, slop, rest);
    out += `\n${pad}${line.replaceAll("\n", `\n${pad}`)}`;
  }
  return out;
}

function wrapN(i: number, slop: number, s: string): [string, string] {
  if (i + slop > s.length) return [s, ""];
  const head = s.slice(0, i);
  const w = Math.max(head.lastIndexOf(" "), head.lastIndexOf("\t"), head.lastIndexOf("\n"));
  if (w <= 0) return [s, ""];
  const nl = head.lastIndexOf("\n");
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)];
  return [s.slice(0, w), s.slice(w + 1)];
}
