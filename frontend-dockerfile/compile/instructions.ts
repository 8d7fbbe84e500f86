import type { NetworkMode, SecurityMode } from "../../llb/index.ts";
import { checkInstructionName } from "../diagnostics.ts";
import { chompHeredocContent, heredocsFromLine } from "../heredoc.ts";
import type { Diagnostic, Instruction, InstructionName, KnownInstruction, ParsedDockerfile, Range } from "../types.ts";
import { flagDiagnostic } from "./diagnostics.ts";
import { parseFlags, type FlagTable, type FlagValues } from "./flags.ts";
import { parseGoDuration } from "../../base/go-duration.ts";
import { MOUNT_KEYS, parseRunMount } from "./run-mount.ts";

/**
 * The instruction layer (BuildKit's `instructions.Parse`): the parser's raw instructions become typed
 * commands grouped into stages. Flags are validated here, per instruction, with BuildKit's flag sets;
 * arguments are kept as written (variables are expanded at compile time, when the environment of the
 * stage is known). Every problem is a located diagnostic; an instruction with an error is left out.
 */

interface CommandCommon {
  /** The instruction in the source (for its range, keyword and flags). */
  readonly node: Instruction;
  readonly range: Range;
  /** BuildKit's `String()` of the command: the instruction text as written, trimmed. */
  readonly original: string;
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** An ARG entry: a default is absent when the ARG has no `=`. */
export interface ArgEntry {
  readonly key: string;
  readonly value?: string;
  /** From a comment line `# KEY description` right above the ARG (outline descriptions). */
  readonly comment: string;
}

/** RUN, CMD, ENTRYPOINT: BuildKit's `ShellDependantCmdLine`. */
export interface CmdLine {
  /** Exec form: the argv; shell form: one element, the text. */
  readonly args: readonly string[];
  /** Shell form: run with the image's SHELL (or /bin/sh -c). */
  readonly prependShell: boolean;
  /** Heredocs after the instruction (RUN only). */
  readonly files: readonly InlineFile[];
}

export interface InlineFile {
  readonly name: string;
  /** The body as written (tabs not yet stripped). */
  readonly data: string;
  readonly chomp: boolean;
  readonly expand: boolean;
}

export interface SourcesAndDest {
  /** Paths, URLs and git refs as written (expanded at compile time). */
  readonly sourcePaths: readonly string[];
  /** COPY/ADD heredocs: files with inline content. */
  readonly sourceContents: readonly { readonly path: string; readonly data: string; readonly expand: boolean }[];
  readonly dest: string;
}

/** HEALTHCHECK; durations in nanoseconds (0 = unset, the engine's default). */
export interface Healthcheck {
  readonly test: readonly string[];
  readonly interval: number;
  readonly timeout: number;
  readonly startPeriod: number;
  readonly startInterval: number;
  readonly retries: number;
}

export type Command =
  | (CommandCommon & { readonly kind: "env"; readonly pairs: readonly KeyValue[] })
  | (CommandCommon & { readonly kind: "label"; readonly pairs: readonly KeyValue[] })
  | (CommandCommon & { readonly kind: "maintainer"; readonly maintainer: string })
  | (CommandCommon & {
      readonly kind: "add";
      readonly files: SourcesAndDest;
      readonly chown?: string;
      readonly chmod?: string;
      readonly link: boolean;
      readonly keepGitDir: boolean;
      readonly checksum?: string;
      readonly exclude: readonly string[];
    })
  | (CommandCommon & {
      readonly kind: "copy";
      readonly files: SourcesAndDest;
      readonly from?: string;
      readonly chown?: string;
      readonly chmod?: string;
      readonly link: boolean;
      readonly parents: boolean;
      readonly exclude: readonly string[];
    })
  | (CommandCommon & { readonly kind: "onbuild"; readonly expression: string })
  | (CommandCommon & { readonly kind: "workdir"; readonly path: string })
  | (CommandCommon & {
      readonly kind: "run";
      readonly cmd: CmdLine;
      /** Raw `--mount` values; parsed (with variables expanded) at compile time. */
      readonly mounts: readonly string[];
      readonly network?: NetworkMode;
      readonly security?: SecurityMode;
    })
  | (CommandCommon & { readonly kind: "cmd"; readonly cmd: CmdLine })
  | (CommandCommon & { readonly kind: "entrypoint"; readonly cmd: CmdLine })
  | (CommandCommon & { readonly kind: "healthcheck"; readonly health: Healthcheck })
  | (CommandCommon & { readonly kind: "expose"; readonly ports: readonly string[] })
  | (CommandCommon & { readonly kind: "user"; readonly user: string })
  | (CommandCommon & { readonly kind: "volume"; readonly volumes: readonly string[] })
  | (CommandCommon & { readonly kind: "stopsignal"; readonly signal: string })
  | (CommandCommon & { readonly kind: "arg"; readonly args: readonly ArgEntry[] })
  | (CommandCommon & { readonly kind: "shell"; readonly shell: readonly string[] });

export type CommandKind = Command["kind"];
export type CommandOf<K extends CommandKind> = Extract<Command, { kind: K }>;

/** A build stage: a FROM and the commands up to the next FROM. */
export interface Stage {
  /** Position among the stages (COPY --from=0). */
  readonly index: number;
  /** `FROM … AS name`, lowercased (names are case-insensitive); absent for an unnamed stage. */
  readonly name?: string;
  /** The base as written (variables expanded at compile time with the global ARGs). */
  readonly baseName: string;
  /** `--platform` as written. */
  readonly platform?: string;
  /** The doc comment: the text after `# <name> ` in the comments right above the FROM. */
  readonly comment: string;
  /** The FROM instruction. */
  readonly node: KnownInstruction;
  readonly range: Range;
  /** The FROM line as written, trimmed (`com.docker.dockerfile.v1.command` of the base image op). */
  readonly sourceCode: string;
  readonly commands: readonly Command[];
}

export interface InstructionsResult {
  readonly stages: readonly Stage[];
  /** ARG instructions before the first FROM. */
  readonly metaArgs: readonly CommandOf<"arg">[];
  readonly diagnostics: readonly Diagnostic[];
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** Groups the instructions of a parsed Dockerfile into stages of typed commands. */
export function parseInstructions(file: ParsedDockerfile): InstructionsResult {
  const diagnostics: Diagnostic[] = [];
  const stages: { stage: Omit<Stage, "commands">; commands: Command[] }[] = [];
  const metaArgs: CommandOf<"arg">[] = [];
  for (const node of file.instructions) {
    const parsed = parseInstruction(node);
    if (!parsed.ok) {
      diagnostics.push(parsed.diagnostic);
      // A FROM that failed still opens a stage, so that its instructions are not also reported as
      // coming before the first FROM.
      if (node.kind === "instruction" && node.keyword === "from") {
        stages.push({ stage: { index: stages.length, baseName: "scratch", comment: "", node, range: node.range, sourceCode: node.original.trim() }, commands: [] });
      }
      continue;
    }
    const v = parsed.value;
    if (v.kind === "stage") {
      stages.push({ stage: { ...v.stage, index: stages.length }, commands: [] });
      continue;
    }
    const current = stages.at(-1);
    if (current === undefined) {
      if (v.command.kind === "arg") {
        metaArgs.push(v.command);
        continue;
      }
      diagnostics.push(
        flagDiagnostic("HTK-DOCKERFILE-0205", { instruction: node.keyword.toUpperCase() }, node.range, "no build stage in current context"),
      );
      continue;
    }
    current.commands.push(v.command);
  }
  return { stages: stages.map((s) => ({ ...s.stage, commands: s.commands })), metaArgs, diagnostics };
}

export type ParsedInstruction =
  | { readonly kind: "stage"; readonly stage: Omit<Stage, "commands" | "index"> }
  | { readonly kind: "command"; readonly command: Command };

export type InstructionParse = { readonly ok: true; readonly value: ParsedInstruction } | { readonly ok: false; readonly diagnostic: Diagnostic };

/** One instruction (BuildKit `ParseInstruction`); ONBUILD triggers are parsed with it when they run. */
export function parseInstruction(node: Instruction): InstructionParse {
  if (node.kind === "unknown-instruction") {
    const d = checkInstructionName(node.keywordText, node.keywordRange);
    if (d !== undefined) return { ok: false, diagnostic: d };
    return internalUnknown(node);
  }
  return parseKnown(node, node.keyword);
}

function internalUnknown(node: Instruction): InstructionParse {
  return { ok: false, diagnostic: bad(node, `unknown instruction: ${node.keywordText}`, "use a Dockerfile instruction") };
}

const FLAGS = {
  from: { platform: "string" },
  run: { mount: "strings", network: "string", security: "string" },
  add: { chown: "string", chmod: "string", link: "bool", "keep-git-dir": "bool", checksum: "string", exclude: "strings" },
  copy: { chown: "string", from: "string", chmod: "string", link: "bool", parents: "bool", exclude: "strings" },
  healthcheck: { interval: "string", timeout: "string", "start-period": "string", "start-interval": "string", retries: "string" },
  none: {},
} as const satisfies Record<string, FlagTable>;

/** A 0204 diagnostic ("{instruction} cannot be used as written: {detail}") with BuildKit's text. */
function bad(node: Instruction, buildkitMessage: string, hint: string, range: Range = node.range): Diagnostic {
  return flagDiagnostic("HTK-DOCKERFILE-0204", { instruction: node.keyword.toUpperCase(), detail: buildkitMessage, hint }, range, buildkitMessage);
}

/** BuildKit's node args: the argument strings of the instruction. */
function argStrings(node: Instruction): string[] {
  const a = node.args;
  switch (a.kind) {
    case "none":
      return [];
    case "exec":
    case "list":
      return a.words.map((w) => w.value);
    case "shell":
    case "string":
      return [a.text.value];
    case "key-value":
      return a.pairs.flatMap((p) => [p.key.value, p.value.value]);
    case "healthcheck":
      return [a.type.value, ...(a.command.kind === "none" ? [] : a.command.kind === "exec" ? a.command.words.map((w) => w.value) : [a.command.text.value])];
    case "onbuild":
      return [a.trigger.keywordText];
    default:
      return assertArgs(a);
  }
}

function assertArgs(x: never): never {
  throw new Error(`unexpected arguments ${JSON.stringify(x)}`);
}

const isJson = (node: Instruction): boolean => node.args.kind === "exec" || (node.args.kind === "healthcheck" && node.args.command.kind === "exec");

function common(node: Instruction): CommandCommon {
  return { node, range: node.range, original: node.original.trim() };
}

function withFlags<T extends FlagTable>(node: Instruction, table: T, then: (v: FlagValues<T>) => InstructionParse): InstructionParse {
  const f = parseFlags(node, table);
  return f.ok ? then(f.values) : { ok: false, diagnostic: f.diagnostic };
}

const command = (c: Command): InstructionParse => ({ ok: true, value: { kind: "command", command: c } });

function parseKnown(node: KnownInstruction, keyword: InstructionName): InstructionParse {
  const args = argStrings(node);
  const upper = keyword.toUpperCase();
  switch (keyword) {
    case "env":
    case "label": {
      if (node.args.kind !== "key-value" || node.args.pairs.length === 0) return { ok: false, diagnostic: bad(node, `${upper} requires at least one argument`, `write ${upper} name=value`) };
      const pairs = node.args.pairs.map((p) => ({ key: p.key.value, value: p.value.value }));
      if (pairs.some((p) => p.key === "")) return { ok: false, diagnostic: bad(node, `${upper} names can not be blank`, `give every ${upper} entry a name: name=value`) };
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: keyword, pairs }));
    }
    case "maintainer": {
      if (args.length !== 1 || args[0] === undefined) return { ok: false, diagnostic: bad(node, "MAINTAINER requires exactly one argument", "write MAINTAINER name, or better LABEL org.opencontainers.image.authors=name") };
      const maintainer = args[0];
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "maintainer", maintainer }));
    }
    case "add":
    case "copy": {
      if (args.length < 2) {
        return { ok: false, diagnostic: bad(node, `${upper} requires at least two arguments, but only one was provided. Destination could not be determined`, `write ${upper} SOURCE... DESTINATION`) };
      }
      const files = sourcesAndDest(node, args, upper);
      if (!files.ok) return files;
      if (keyword === "add") {
        return withFlags(node, FLAGS.add, (f) =>
          command({
            ...common(node),
            kind: "add",
            files: files.value,
            ...(f.chown === undefined || f.chown === "" ? {} : { chown: f.chown }),
            ...(f.chmod === undefined || f.chmod === "" ? {} : { chmod: f.chmod }),
            link: f.link,
            keepGitDir: f["keep-git-dir"],
            ...(f.checksum === undefined || f.checksum === "" ? {} : { checksum: f.checksum }),
            exclude: f.exclude,
          }),
        );
      }
      return withFlags(node, FLAGS.copy, (f) =>
        command({
          ...common(node),
          kind: "copy",
          files: files.value,
          ...(f.from === undefined || f.from === "" ? {} : { from: f.from }),
          ...(f.chown === undefined || f.chown === "" ? {} : { chown: f.chown }),
          ...(f.chmod === undefined || f.chmod === "" ? {} : { chmod: f.chmod }),
          link: f.link,
          parents: f.parents,
          exclude: f.exclude,
        }),
      );
    }
    case "from":
      return parseFrom(node, args);
    case "onbuild": {
      if (node.args.kind !== "onbuild") return { ok: false, diagnostic: bad(node, "ONBUILD requires at least one argument", "write ONBUILD INSTRUCTION ...") };
      const trigger = node.args.trigger.keywordText.toUpperCase();
      if (trigger === "ONBUILD" || trigger === "MAINTAINER" || trigger === "FROM") {
        const message = trigger === "ONBUILD" ? "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed" : `${trigger} isn't allowed as an ONBUILD trigger`;
        const detail = trigger === "ONBUILD" ? "ONBUILD triggers cannot be chained" : "it would change the stage the trigger runs in";
        return { ok: false, diagnostic: flagDiagnostic("HTK-DOCKERFILE-0209", { trigger, detail }, node.range, message) };
      }
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, "");
      for (const h of node.heredocs) expression += `\n${h.content}${h.name}`;
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "onbuild", expression }));
    }
    case "workdir": {
      if (args.length !== 1 || args[0] === undefined) return { ok: false, diagnostic: bad(node, "WORKDIR requires exactly one argument", "write WORKDIR /path") };
      const path = args[0];
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "workdir", path }));
    }
    case "run":
      return withFlags(node, FLAGS.run, (f) => {
        const network = f.network === undefined ? undefined : (["default", "none", "host"] as const).find((n) => n === f.network);
        if (f.network !== undefined && network === undefined) {
          return { ok: false, diagnostic: badValue(node, "network", f.network, `unsupported network mode "${f.network}"`, "Use --network=default, --network=none or --network=host") };
        }
        const security = f.security === undefined ? undefined : (["sandbox", "insecure"] as const).find((n) => n === f.security);
        if (f.security !== undefined && security === undefined) {
          return { ok: false, diagnostic: badValue(node, "security", f.security, `unsupported security mode "${f.security}"`, "Use --security=sandbox or --security=insecure") };
        }
        for (const m of f.mount) {
          // Mounts with variables are checked when they are expanded; literal ones now.
          if (m.includes("$")) continue;
          const r = parseRunMount(m, (value) => ({ ok: true, value }));
          if (!r.ok) return { ok: false, diagnostic: mountDiagnostic(node, m, r.problem.message, r.problem.suggestion) };
        }
        return command({
          ...common(node),
          kind: "run",
          cmd: cmdLine(node, args, true),
          mounts: f.mount,
          ...(network === undefined ? {} : { network }),
          ...(security === undefined ? {} : { security }),
        });
      });
    case "cmd":
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "cmd", cmd: cmdLine(node, args, false) }));
    case "entrypoint":
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "entrypoint", cmd: cmdLine(node, args, false) }));
    case "healthcheck":
      return parseHealthcheck(node, args);
    case "expose": {
      if (args.length === 0) return { ok: false, diagnostic: bad(node, "EXPOSE requires at least one argument", "write EXPOSE PORT[/PROTOCOL]...") };
      // BuildKit sorts the ports as strings at parse time (the history entry shows them sorted).
      const ports = [...args].sort();
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "expose", ports }));
    }
    case "user": {
      if (args.length !== 1 || args[0] === undefined) return { ok: false, diagnostic: bad(node, "USER requires exactly one argument", "write USER name[:group] or USER uid[:gid]") };
      const user = args[0];
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "user", user }));
    }
    case "volume": {
      if (args.length === 0) return { ok: false, diagnostic: bad(node, "VOLUME requires at least one argument", "write VOLUME /path") };
      const volumes = args.map((v) => v.trim());
      if (volumes.some((v) => v === "")) return { ok: false, diagnostic: bad(node, "VOLUME specified can not be an empty string", "write a path, e.g. VOLUME /data") };
      return withFlags(node, FLAGS.none, () => command({ ...common(node), kind: "volume", volumes }));
    }
    case "stopsignal": {
      if (args.length !== 1 || args[0] === undefined) return { ok: false, diagnostic: bad(node, "STOPSIGNAL requires exactly one argument", "write STOPSIGNAL SIGTERM") };
      // BuildKit never parses STOPSIGNAL's flags: they are ignored, not rejected.
      return command({ ...common(node), kind: "stopsignal", signal: args[0] });
    }
    case "arg": {
      if (args.length === 0) return { ok: false, diagnostic: bad(node, "ARG requires at least one argument", "write ARG NAME or ARG NAME=default") };
      const entries: ArgEntry[] = [];
      for (const a of args) {
        const eq = a.indexOf("=");
        const key = eq === -1 ? a : a.slice(0, eq);
        if (key === "") return { ok: false, diagnostic: bad(node, "ARG names can not be blank", "write ARG NAME=default") };
        entries.push({ key, ...(eq === -1 ? {} : { value: a.slice(eq + 1) }), comment: docComment(node.comments, key) });
      }
      // BuildKit never parses ARG's flags: they are ignored, not rejected.
      return command({ ...common(node), kind: "arg", args: entries });
    }
    case "shell":
      return withFlags(node, FLAGS.none, () => {
        if (args.length === 0) return { ok: false, diagnostic: bad(node, "SHELL requires at least one argument", 'write SHELL ["executable", "parameters"]') };
        if (!isJson(node)) return { ok: false, diagnostic: bad(node, `SHELL requires the arguments to be in JSON form`, 'write SHELL ["executable", "parameters"] (a JSON array)') };
        return command({ ...common(node), kind: "shell", shell: args });
      });
    default:
      return assertKeyword(keyword);
  }
}

function assertKeyword(x: never): never {
  throw new Error(`unexpected instruction ${String(x)}`);
}

function badValue(node: Instruction, flag: string, value: string, buildkitMessage: string, expected: string): Diagnostic {
  const f = node.flags.find((x) => x.name === flag);
  return flagDiagnostic("HTK-DOCKERFILE-0202", { value: JSON.stringify(value), flag, detail: buildkitMessage, expected }, f?.range ?? node.range, buildkitMessage);
}

export function mountDiagnostic(node: Instruction, mount: string, message: string, suggestion?: string): Diagnostic {
  const f = node.flags.find((x) => x.name === "mount" && x.argument === mount);
  return flagDiagnostic("HTK-DOCKERFILE-0203", { mount: JSON.stringify(mount), detail: message, keys: MOUNT_KEYS.join(", ") }, f?.range ?? node.range, message, suggestion);
}

function parseFrom(node: KnownInstruction, args: readonly string[]): InstructionParse {
  let name: string | undefined;
  const [base, as, stageName] = args;
  if (args.length === 3 && as !== undefined && as.toLowerCase() === "as" && stageName !== undefined) {
    name = stageName.toLowerCase();
    if (!STAGE_NAME.test(name)) {
      return {
        ok: false,
        diagnostic: flagDiagnostic(
          "HTK-DOCKERFILE-0206",
          { name: JSON.stringify(stageName) },
          node.args.kind === "list" ? (node.args.words[2]?.range ?? node.range) : node.range,
          `invalid name for build stage: "${stageName}", name can't start with a number or contain symbols`,
        ),
      };
    }
  } else if (args.length !== 1 || base === undefined) {
    return { ok: false, diagnostic: bad(node, "FROM requires either one or three arguments", "write FROM IMAGE or FROM IMAGE AS NAME") };
  }
  if (base === undefined) return { ok: false, diagnostic: bad(node, "FROM requires either one or three arguments", "write FROM IMAGE or FROM IMAGE AS NAME") };
  return withFlags(node, FLAGS.from, (f) => ({
    ok: true,
    value: {
      kind: "stage",
      stage: {
        ...(name === undefined ? {} : { name }),
        baseName: base,
        ...(f.platform === undefined || f.platform === "" ? {} : { platform: f.platform }),
        comment: docComment(node.comments, name ?? ""),
        node,
        range: node.range,
        sourceCode: node.original.trim(),
      },
    },
  }));
}

/** BuildKit `getComment`: the comment line starting with `NAME ` gives NAME's description. */
export function docComment(comments: readonly string[], name: string): string {
  if (name === "") return "";
  for (const line of comments) if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return "";
}

/** RUN/CMD/ENTRYPOINT arguments (`parseShellDependentCommand`). */
function cmdLine(node: Instruction, args: readonly string[], withFiles: boolean): CmdLine {
  return {
    args,
    prependShell: !isJson(node),
    files: withFiles ? node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp, expand: h.expand })) : [],
  };
}

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/** `parser.MustParseHeredoc`: the whole word is one heredoc marker (`<<EOF`, `<<-"EOF"` …). */
export function heredocName(word: string): string | undefined {
  if (!HEREDOC_WORD.test(word)) return undefined;
  const scan = heredocsFromLine(word);
  if (!scan.ok || scan.markers.length !== 1) return undefined;
  return scan.markers[0]?.name;
}

function sourcesAndDest(node: Instruction, args: readonly string[], upper: string): { ok: true; value: SourcesAndDest } | { ok: false; diagnostic: Diagnostic } {
  const dest = args[args.length - 1] ?? "";
  if (heredocName(dest) !== undefined) return { ok: false, diagnostic: bad(node, `${upper} cannot accept a heredoc as a destination`, "write the destination as a path after the heredoc marker") };
  const sourcePaths: string[] = [];
  const sourceContents: { path: string; data: string; expand: boolean }[] = [];
  for (const src of args.slice(0, -1)) {
    const name = heredocName(src);
    const doc = name === undefined ? undefined : node.heredocs.find((h) => h.name === name);
    if (name !== undefined) {
      const content = doc?.content ?? "";
      sourceContents.push({ path: name, data: doc?.chomp === true ? chompHeredocContent(content) : content, expand: doc?.expand ?? true });
    } else sourcePaths.push(src);
  }
  return { ok: true, value: { sourcePaths, sourceContents, dest } };
}

const MIN_DURATION = 1_000_000; // 1ms: Docker's container.MinimumDuration

function parseHealthcheck(node: KnownInstruction, args: readonly string[]): InstructionParse {
  if (args.length === 0) return { ok: false, diagnostic: bad(node, "HEALTHCHECK requires at least one argument", "write HEALTHCHECK CMD command, or HEALTHCHECK NONE") };
  const typ = (args[0] ?? "").toUpperCase();
  const rest = args.slice(1);
  if (typ === "NONE") {
    if (rest.length !== 0) return { ok: false, diagnostic: bad(node, "HEALTHCHECK NONE takes no arguments", "write HEALTHCHECK NONE on its own") };
    // BuildKit does not parse flags for HEALTHCHECK NONE: they are ignored.
    return command({ ...common(node), kind: "healthcheck", health: { test: ["NONE"], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 } });
  }
  return withFlags(node, FLAGS.healthcheck, (f) => {
    if (typ !== "CMD") return { ok: false, diagnostic: bad(node, `Unknown type "${typ}" in HEALTHCHECK (try CMD)`, "write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE") };
    if (rest.length === 0) return { ok: false, diagnostic: bad(node, "Missing command after HEALTHCHECK CMD", "write the command to run after CMD") };
    const test = isJson(node) ? ["CMD", ...rest] : ["CMD-SHELL", ...rest];
    const durations: Record<string, number> = {};
    for (const name of ["interval", "timeout", "start-period", "start-interval"] as const) {
      const v = f[name];
      if (v === undefined || v === "") {
        durations[name] = 0;
        continue;
      }
      const d = parseGoDuration(v);
      if (d === undefined) return { ok: false, diagnostic: badValue(node, name, v, `time: invalid duration "${v}"`, "Write a duration such as 30s, 1m30s or 500ms") };
      if (d !== 0 && d < MIN_DURATION) return { ok: false, diagnostic: badValue(node, name, v, `Interval "${name}" cannot be less than 1ms`, "Use a duration of at least 1ms (or 0 for the default)") };
      durations[name] = d;
    }
    let retries = 0;
    if (f.retries !== undefined && f.retries !== "") {
      if (!/^[+-]?\d+$/.test(f.retries) || Math.abs(Number(f.retries)) > 2 ** 31 - 1) {
        return { ok: false, diagnostic: badValue(node, "retries", f.retries, `strconv.ParseInt: parsing "${f.retries}": invalid syntax`, "Write a whole number, e.g. --retries=3") };
      }
      retries = Number(f.retries);
      if (retries < 0) return { ok: false, diagnostic: badValue(node, "retries", f.retries, `--retries cannot be negative (${retries})`, "Write zero or a positive number") };
    }
    return command({
      ...common(node),
      kind: "healthcheck",
      health: {
        test,
        interval: durations["interval"] ?? 0,
        timeout: durations["timeout"] ?? 0,
        startPeriod: durations["start-period"] ?? 0,
        startInterval: durations["start-interval"] ?? 0,
        retries,
      },
    });
  });
}
