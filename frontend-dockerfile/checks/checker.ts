import { compile, type DockerignoreMatcher } from "../../base/dockerignore/index.ts";
import { isHtkError } from "../../base/errors/index.ts";
import { goQuote } from "../chars.ts";
import { checkInstructionName, diagnostic } from "../diagnostics.ts";
import { processWordWithMatches, type LexOptions } from "../shell/index.ts";
import type { Flag, Instruction, KnownInstruction, ParsedDockerfile, Range, Word } from "../types.ts";
import { CHECK_BUILD_ARG, DEFAULT_CONFIG, parseCheckConfig } from "./config.ts";
import { formatPlatform, hostPlatform, parsePlatform, type Platform } from "./platform.ts";
import { isValidImageReference } from "./reference.ts";
import { messages, RULES } from "./rules.ts";
import { suggest } from "./suggest.ts";
import type { CheckConfig, CheckConfigSource, CheckOptions, CheckResult, CheckStop, Finding, LineRange, RuleName } from "./types.ts";

/** BuildKit's `nonEnvArgs`: ARGs that never become environment variables and never count as undefined. */
const NON_ENV_ARGS = new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);
/** BuildKit's `reservedStageNames`, compared with the lowercased stage name. */
const RESERVED_STAGE_NAMES = new Set(["context", "scratch"]);
/** dockerfile2llb `getSecretsRegex`: a secret-looking word as the whole key or one of its `_` parts. */
const SECRET_KEY = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const PUBLIC_KEY = /(?:_|^)(?:public)(?:_|$)/i;
/** instructions `parseBuildStageName`. */
const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Thrown inside the pass to end it where BuildKit's conversion returns an error; never escapes. */
class Stop {
  constructor(readonly stop: CheckStop) {}
}

interface ArgDef {
  readonly key: string;
  /** Raw default (quotes kept), expanded when used. */
  readonly value?: string;
  readonly word: Word;
}

interface Stage {
  readonly index: number;
  readonly from: KnownInstruction;
  /** Lowercased, "" for an unnamed stage. */
  readonly name: string;
  readonly nameWord?: Word;
  readonly baseWord: Word;
  readonly platformFlag?: Flag;
  readonly commands: KnownInstruction[];
  /** Set while resolving bases. */
  resolvedBase: string;
  base?: Stage;
  state?: StageState;
}

interface Tracker {
  instruction?: KnownInstruction;
}

/** What BuildKit's dispatch state carries that the rules look at. */
interface StageState {
  readonly env: Map<string, string>;
  /** Keys of the ARGs declared in this stage and its base stages (BuildKit `d.buildArgs`). */
  readonly buildArgs: string[];
  workdirSet: boolean;
  /** The image config has a SHELL (set by this stage or a base stage). */
  shellSet: boolean;
  readonly cmd: Tracker;
  readonly entrypoint: Tracker;
  readonly healthcheck: Tracker;
}

export function runChecks(parsed: ParsedDockerfile, opts: CheckOptions = {}): CheckResult {
  const { text: configText, source } = configTextOf(parsed, opts);
  const conf = parseCheckConfig(configText);
  if (!conf.ok) {
    const at = parsed.directives.find((d) => d.name === "check")?.range ?? parsed.range;
    const range = source === "directive" ? at : { start: parsed.range.start, end: parsed.range.start };
    return {
      findings: [],
      asErrors: false,
      config: DEFAULT_CONFIG,
      configSource: source,
      configError: diagnostic(
        "HTK-DOCKERFILE-0302",
        { value: configText, detail: conf.message, source: sourceLabel(source) },
        "error",
        range,
        { buildkitMessage: `failed to parse check options: ${conf.message}` },
      ),
    };
  }
  const checker = new Checker(parsed, opts, conf.config);
  const stopped = checker.run();
  const findings = [...checker.findings].sort((a, b) => a.lines.start - b.lines.start);
  return {
    findings,
    asErrors: conf.config.error && findings.length > 0,
    config: conf.config,
    configSource: source,
    ...(stopped === undefined ? {} : { stopped }),
  };
}

/** BuildKit: a client's linter config, else the BUILDKIT_DOCKERFILE_CHECK build-arg, else the directive; never merged. */
function configTextOf(parsed: ParsedDockerfile, opts: CheckOptions): { text: string; source: CheckConfigSource } {
  if (opts.checkConfig !== undefined) return { text: opts.checkConfig, source: "option" };
  const arg = opts.buildArgs?.[CHECK_BUILD_ARG];
  if (arg !== undefined) return { text: arg, source: "build-arg" };
  const directive = parsed.directives.find((d) => d.name === "check");
  if (directive !== undefined) return { text: directive.value, source: "directive" };
  return { text: "", source: "default" };
}

function sourceLabel(source: CheckConfigSource): string {
  switch (source) {
    case "build-arg":
      return `the build-arg ${CHECK_BUILD_ARG}`;
    case "directive":
      return "the # check= directive";
    case "option":
      return "the check configuration";
    case "default":
      return "the default configuration";
  }
}

class Checker {
  readonly findings: Finding[] = [];
  private readonly lex: LexOptions;
  private readonly buildArgs: ReadonlyMap<string, string>;
  private readonly stages: Stage[] = [];
  private readonly metaArgs: { readonly instruction: KnownInstruction; readonly args: readonly ArgDef[] }[] = [];

  constructor(
    private readonly file: ParsedDockerfile,
    private readonly opts: CheckOptions,
    private readonly config: CheckConfig,
  ) {
    this.lex = { escapeToken: file.escapeToken };
    this.buildArgs = new Map(Object.entries(opts.buildArgs ?? {}));
  }

  run(): CheckStop | undefined {
    try {
      this.emptyContinuations();
      this.parseStages();
      this.stageNames();
      this.commandCasing();
      this.dispatchAll();
      return undefined;
    } catch (e) {
      if (e instanceof Stop) return e.stop;
      throw e;
    }
  }

  // ---- reporting -------------------------------------------------------------------------------

  /** BuildKit `Linter.Run`: experimental rules only when opted in (skip does not apply), others unless skipped. */
  private enabled(name: RuleName): boolean {
    const rule = RULES[name];
    if (rule.experimental) return this.config.experimentalAll || this.config.experimental.includes(name);
    return !this.config.skipAll && !this.config.skip.includes(name);
  }

  /** Set while an inherited ONBUILD trigger runs: its findings are reported at the child's FROM. */
  private locatedAt: KnownInstruction | undefined;

  private report(name: RuleName, message: string, range: Range, lines: LineRange): void {
    if (!this.enabled(name)) return;
    const rule = RULES[name];
    const at = this.locatedAt;
    this.findings.push({
      rule: name,
      description: rule.description,
      url: rule.url,
      message,
      range: at === undefined ? range : at.range,
      lines: at === undefined ? lines : linesOf(at),
      severity: this.config.error ? "error" : "warning",
    });
  }

  private stop(message: string, range: Range): never {
    throw new Stop({ message, range });
  }

  // ---- parse-time rules (BuildKit: parser warnings and instructions.Parse) ------------------------

  /**
   * NoEmptyContinuation: BuildKit's parser records one warning per instruction that continues across
   * an empty (or blank) line, located at the instruction's last line; the linter replays it.
   */
  private emptyContinuations(): void {
    for (const inst of this.file.instructions) {
      const lines = inst.text.split("\n");
      const blank = lines.findIndex((l, i) => i > 0 && /^[\s\u0085]*$/u.test(l));
      if (blank < 0) continue;
      const start = inst.range.start.line;
      const at = { line: start + blank, column: 1 };
      const last = start + lines.length - 1;
      this.report("NoEmptyContinuation", messages.noEmptyContinuation(), { start: at, end: at }, { start: last, end: last });
    }
  }

  private parseStages(): void {
    for (const inst of this.file.instructions) {
      if (inst.kind === "unknown-instruction") {
        const diag = checkInstructionName(inst.keywordText, inst.keywordRange);
        this.parseError(inst, diag?.buildkitMessage ?? `unknown instruction: ${inst.keywordText}`);
      }
      switch (inst.keyword) {
        case "maintainer":
          this.report("MaintainerDeprecated", messages.maintainerDeprecated(), inst.keywordRange, linesOf(inst));
          break;
        case "onbuild": {
          // instructions parseOnBuild refuses these triggers.
          const trigger = inst.args.kind === "onbuild" ? inst.args.trigger.keyword : "";
          if (trigger === "onbuild") this.parseError(inst, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
          if (trigger === "maintainer" || trigger === "from") this.parseError(inst, `${trigger.toUpperCase()} isn't allowed as an ONBUILD trigger`);
          break;
        }
        case "from":
          this.fromInstruction(inst);
          continue;
        case "arg": {
          const args = this.argDefs(inst);
          const current = this.stages.at(-1);
          if (current === undefined) this.metaArgs.push({ instruction: inst, args });
          else current.commands.push(inst);
          continue;
        }
        default:
          break;
      }
      const current = this.stages.at(-1);
      // instructions.Parse reports this one with a location only, not as a "parse error on line N".
      if (current === undefined) this.stop("no build stage in current context", inst.range);
      current.commands.push(inst);
    }
    if (this.stages.length === 0) this.stop("dockerfile contains no stages to build", this.file.range);
  }

  /** instructions.Parse wraps its errors like this. */
  private parseError(inst: Instruction, message: string): never {
    this.stop(`dockerfile parse error on line ${inst.range.start.line}: ${message}`, inst.range);
  }

  private fromInstruction(inst: KnownInstruction): void {
    const words = wordsOf(inst);
    const lines = linesOf(inst);
    const [baseWord, asWord, nameWord] = words;
    // StageNameCasing and FromAsCasing run before the FROM is validated, so they fire even when it is not.
    if (words.length === 3 && nameWord !== undefined && nameWord.value !== nameWord.value.toLowerCase()) {
      this.report("StageNameCasing", messages.stageNameCasing(nameWord.value), nameWord.range, lines);
    }
    if (words.length >= 3 && asWord !== undefined) {
      const kw = inst.keywordText;
      const lower = kw === kw.toLowerCase();
      const upper = kw === kw.toUpperCase();
      // A FROM keyword of mixed case is ConsistentInstructionCasing's business, not this rule's.
      if ((lower && asWord.value !== asWord.value.toLowerCase()) || (!lower && upper && asWord.value !== asWord.value.toUpperCase())) {
        this.report("FromAsCasing", messages.fromAsCasing(kw, asWord.value), asWord.range, lines);
      }
    }
    for (const f of inst.flags) if (f.name !== "platform") this.parseError(inst, `unknown flag: ${f.name}`);
    if (baseWord === undefined || !(words.length === 1 || (words.length === 3 && asWord?.value.toLowerCase() === "as"))) {
      this.parseError(inst, "FROM requires either one or three arguments");
    }
    let name = "";
    if (nameWord !== undefined) {
      name = nameWord.value.toLowerCase();
      if (!STAGE_NAME.test(name)) {
        this.parseError(inst, `invalid name for build stage: ${goQuote(nameWord.value)}, name can't start with a number or contain symbols`);
      }
    }
    const platformFlag = inst.flags.filter((f) => f.name === "platform").at(-1);
    this.stages.push({
      index: this.stages.length,
      from: inst,
      name,
      ...(nameWord === undefined ? {} : { nameWord }),
      baseWord,
      ...(platformFlag === undefined ? {} : { platformFlag }),
      commands: [],
      resolvedBase: baseWord.value,
    });
  }

  /** instructions `parseArg`: `NAME` or `NAME=raw default`; the default keeps its quotes until expanded. */
  private argDefs(inst: KnownInstruction): ArgDef[] {
    const out: ArgDef[] = [];
    for (const word of wordsOf(inst)) {
      const eq = word.value.indexOf("=");
      if (eq === 0) this.parseError(inst, "ARG names can not be blank");
      out.push(eq < 0 ? { key: word.value, word } : { key: word.value.slice(0, eq), value: word.value.slice(eq + 1), word });
    }
    return out;
  }

  // ---- after parsing (dockerfile2llb validateStageNames / validateCommandCasing) -------------------

  private stageNames(): void {
    const seen = new Set<string>();
    for (const st of this.stages) {
      if (st.name === "" || st.nameWord === undefined) continue;
      if (RESERVED_STAGE_NAMES.has(st.name)) this.report("ReservedStageName", messages.reservedStageName(st.name), st.nameWord.range, linesOf(st.from));
      if (seen.has(st.name)) this.report("DuplicateStageName", messages.duplicateStageName(st.name), st.nameWord.range, linesOf(st.from));
      seen.add(st.name);
    }
  }

  /** Global ARGs before the first FROM are not stage commands, so BuildKit neither counts nor checks them. */
  private commandCasing(): void {
    const all = this.stages.flatMap((st) => [st.from, ...st.commands]);
    let lowerCount = 0;
    let upperCount = 0;
    for (const inst of all) {
      const kw = inst.keywordText;
      if (kw === kw.toLowerCase()) lowerCount++;
      else if (kw === kw.toUpperCase()) upperCount++;
    }
    const majorityLower = lowerCount > upperCount;
    for (const inst of all) {
      const kw = inst.keywordText;
      if (majorityLower && kw !== kw.toLowerCase()) {
        this.report("ConsistentInstructionCasing", messages.consistentInstructionCasing(kw, "lowercase"), inst.keywordRange, linesOf(inst));
      } else if (!majorityLower && kw !== kw.toUpperCase()) {
        this.report("ConsistentInstructionCasing", messages.consistentInstructionCasing(kw, "uppercase"), inst.keywordRange, linesOf(inst));
      }
    }
  }

  // ---- the conversion (dockerfile2llb toDispatchState) ------------------------------------------

  private dispatchAll(): void {
    const target = parsePlatformOr(this.opts.targetPlatform);
    const build = parsePlatformOr(this.opts.buildPlatform);
    const lastStage = this.stages.at(-1);
    const targetName = this.opts.target ?? lastStage?.name ?? "";
    const defaults = defaultArgs(build, target, targetName, this.buildArgs);

    this.invalidDefaultArgsInFrom(defaults);
    const { env: globalArgs, declared } = this.metaArgEnv(defaults, this.buildArgs);
    const argKeys = [...new Set([...declared, ...globalArgs.keys()])];

    const byName = new Map<string, Stage>();
    for (const st of this.stages) {
      this.resolveFrom(st, globalArgs, argKeys);
      const base = byName.get(st.resolvedBase);
      if (base !== undefined) st.base = base;
      if (st.name !== "") byName.set(st.name, st);
    }

    const reachable = this.reachableStages(byName);
    for (const st of this.stages) {
      if (reachable !== undefined && !reachable.has(st)) continue;
      this.dispatchStage(st, globalArgs, target);
    }
  }

  /**
   * InvalidDefaultArgInFrom (validateBaseImagesWithDefaultArgs): every base name, expanded with the
   * global ARGs' defaults only (no --build-arg), must be a valid image reference. A lexer error abandons
   * the rule, since the conversion reports it.
   */
  private invalidDefaultArgsInFrom(defaults: ReadonlyMap<string, string>): void {
    let env: Map<string, string>;
    try {
      env = this.metaArgEnv(defaults, new Map()).env;
    } catch (e) {
      if (e instanceof Stop) return;
      throw e;
    }
    for (const st of this.stages) {
      const r = processWordWithMatches(st.baseWord.value, env, this.lex);
      if (!r.ok) return;
      if (!isValidImageReference(r.value.result)) {
        this.report("InvalidDefaultArgInFrom", messages.invalidDefaultArgInFrom(st.baseWord.value), st.baseWord.range, linesOf(st.from));
      }
    }
  }

  /** BuildKit `buildMetaArgs`: global ARGs in order, each default expanded with what came before. */
  private metaArgEnv(defaults: ReadonlyMap<string, string>, buildArgs: ReadonlyMap<string, string>): { env: Map<string, string>; declared: string[] } {
    const env = new Map(defaults);
    const declared: string[] = [];
    for (const { instruction, args } of this.metaArgs) {
      for (const a of args) {
        let value = buildArgs.get(a.key);
        if (value === undefined && a.value !== undefined) {
          const r = processWordWithMatches(a.value, env, this.lex);
          if (!r.ok) this.stop(shellErrorText(r.error), instruction.range);
          value = r.value.result;
        }
        if (value !== undefined) setEnv(env, a.key, value);
        declared.push(a.key);
      }
    }
    return { env, declared };
  }

  /** The per-stage FROM checks: UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed. */
  private resolveFrom(st: Stage, globalArgs: ReadonlyMap<string, string>, argKeys: readonly string[]): void {
    const lines = linesOf(st.from);
    const name = processWordWithMatches(st.baseWord.value, globalArgs, this.lex);
    if (name.ok) this.undefinedArgsInFrom(name.value.unmatched, argKeys, st.baseWord.range, lines);
    else this.stop(shellErrorText(name.error), st.from.range);
    if (name.value.result === "") this.stop(`base name (${st.baseWord.value}) should not be blank`, st.from.range);
    st.resolvedBase = name.value.result;

    const flag = st.platformFlag;
    if (flag === undefined) return;
    const raw = flag.argument ?? "";
    const plat = processWordWithMatches(raw, globalArgs, this.lex);
    if (!plat.ok) this.stop(`failed to process arguments for platform ${raw}: ${shellErrorText(plat.error)}`, st.from.range);
    const { matched, unmatched, result } = plat.value;
    this.undefinedArgsInFrom(unmatched, argKeys, flag.range, lines);
    // RedundantTargetPlatform: exactly $TARGETPLATFORM was used and nothing else changed the value.
    if (matched.size === 1 && unmatched.size === 0 && matched.has("TARGETPLATFORM") && globalArgs.get("TARGETPLATFORM") === result) {
      this.report("RedundantTargetPlatform", messages.redundantTargetPlatform(raw), flag.range, lines);
    }
    // FromPlatformFlagConstDisallowed: a constant platform, unless the stage name mentions its OS or arch.
    if (matched.size === 0 && unmatched.size === 0) {
      const p = parsePlatform(result);
      if (p !== undefined && !st.name.includes(p.os) && !st.name.includes(p.architecture)) {
        this.report("FromPlatformFlagConstDisallowed", messages.fromPlatformFlagConstDisallowed(result), flag.range, lines);
      }
    }
    if (result === "") this.stop(`empty platform value from expression ${raw}`, st.from.range);
    if (parsePlatform(result) === undefined) this.stop(`failed to parse platform ${raw}`, st.from.range);
  }

  private undefinedArgsInFrom(unmatched: ReadonlySet<string>, argKeys: readonly string[], range: Range, lines: LineRange): void {
    for (const arg of unmatched) {
      if (argKeys.includes(arg)) continue;
      this.report("UndefinedArgInFrom", messages.undefinedArgInFrom(arg, suggest(arg, argKeys, true)), range, lines);
    }
  }

  /**
   * With a target, only the stages it needs are dispatched (the base chain, COPY --from and
   * RUN --mount from= stages), so dispatch-time rules stay silent elsewhere, as in a BuildKit build.
   */
  private reachableStages(byName: ReadonlyMap<string, Stage>): Set<Stage> | undefined {
    if (this.opts.target === undefined) return undefined;
    const target = byName.get(this.opts.target.toLowerCase());
    if (target === undefined) this.stop(`target stage ${goQuote(this.opts.target)} could not be found`, this.file.range);
    const lookup = (ref: string): Stage | undefined => (/^\d+$/.test(ref) ? this.stages[Number(ref)] : byName.get(ref.toLowerCase()));
    const seen = new Set<Stage>();
    const visit = (st: Stage): void => {
      if (seen.has(st)) return;
      seen.add(st);
      if (st.base !== undefined) visit(st.base);
      for (const cmd of st.commands) {
        for (const f of cmd.flags) {
          let ref: string | undefined;
          if (f.name === "from" && (cmd.keyword === "copy" || cmd.keyword === "add")) ref = f.argument;
          if (f.name === "mount" && cmd.keyword === "run") ref = mountFields(f.argument ?? "").get("from");
          const dep = ref === undefined ? undefined : lookup(ref);
          if (dep !== undefined) visit(dep);
        }
      }
    };
    visit(target);
    return seen;
  }

  private dispatchStage(st: Stage, globalArgs: ReadonlyMap<string, string>, target: Platform): void {
    const state = this.initialState(st);
    st.state = state;
    // BuildKit runs the ONBUILD triggers of a base stage first, each located at this stage's FROM.
    for (const cmd of st.base?.commands ?? []) {
      if (cmd.args.kind !== "onbuild" || cmd.args.trigger.kind !== "instruction") continue;
      this.locatedAt = st.from;
      try {
        this.dispatch(state, cmd.args.trigger, globalArgs, target);
      } finally {
        this.locatedAt = undefined;
      }
    }
    for (const cmd of st.commands) this.dispatch(state, cmd, globalArgs, target);
  }

  /** dispatchState.init: a stage based on a stage starts from its state; else from the image config. */
  private initialState(st: Stage): StageState {
    const fresh = { cmd: {}, entrypoint: {}, healthcheck: {} };
    const baseState = st.base?.state;
    if (baseState !== undefined) {
      return { ...fresh, env: new Map(baseState.env), buildArgs: [...baseState.buildArgs], workdirSet: baseState.workdirSet, shellSet: baseState.shellSet };
    }
    const env = new Map<string, string>();
    const imageEnv = st.resolvedBase === "scratch" ? [] : (this.opts.baseImageEnv?.(st.resolvedBase) ?? []);
    for (const kv of imageEnv) {
      const eq = kv.indexOf("=");
      env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? "" : kv.slice(eq + 1));
    }
    // BuildKit makes sure PATH is always set.
    if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
    return { ...fresh, env, buildArgs: [], workdirSet: false, shellSet: false };
  }

  private dispatch(state: StageState, cmd: KnownInstruction, globalArgs: ReadonlyMap<string, string>, target: Platform): void {
    const lines = linesOf(cmd);
    const expanded = cmd.keyword === "arg" ? [] : this.expandCommand(state, cmd);
    const value = (w: Word | undefined): string => (w === undefined ? "" : (expanded.find((e) => e.word === w)?.value ?? w.value));
    switch (cmd.keyword) {
      case "env":
      case "label": {
        if (cmd.args.kind !== "key-value") break;
        const updates: [string, string][] = [];
        for (const pair of cmd.args.pairs) {
          if (cmd.args.form === "legacy") this.report("LegacyKeyValueFormat", messages.legacyKeyValueFormat(cmd.keywordText), pair.range, lines);
          if (cmd.keyword === "env") {
            const key = value(pair.key);
            this.secretKey("ENV", key, pair.key.range, lines);
            updates.push([key, value(pair.value)]);
          }
        }
        // The whole ENV is expanded against the environment before it, then applied.
        for (const [k, v] of updates) setEnv(state.env, k, v);
        break;
      }
      case "cmd":
      case "entrypoint":
        this.usedOnce(cmd, cmd.keyword === "cmd" ? state.cmd : state.entrypoint);
        if (cmd.args.kind === "shell" && !state.shellSet) {
          this.report("JSONArgsRecommended", messages.jsonArgsRecommended(cmd.keywordText), cmd.args.range, lines);
        }
        break;
      case "healthcheck":
        this.usedOnce(cmd, state.healthcheck);
        break;
      case "shell":
        // The image config's Shell: `SHELL []` leaves it empty, so shell-form CMD still warns.
        state.shellSet = cmd.args.kind === "exec" ? cmd.args.words.length > 0 : cmd.args.kind !== "none";
        break;
      case "workdir": {
        const text = cmd.args.kind === "string" ? cmd.args.text : undefined;
        const path = value(text);
        // Only the first WORKDIR of the build chain is checked: fixing it fixes the later relative ones.
        if (!state.workdirSet && !isAbsolute(path, target)) {
          this.report("WorkdirRelativePath", messages.workdirRelativePath(path), text?.range ?? cmd.range, lines);
        }
        state.workdirSet = true;
        break;
      }
      case "arg":
        this.dispatchArg(state, cmd, globalArgs);
        break;
      case "copy":
      case "add":
        this.copyIgnoredFiles(cmd, value);
        break;
      case "from":
      case "run":
      case "expose":
      case "maintainer":
      case "onbuild":
      case "stopsignal":
      case "user":
      case "volume":
        break;
    }
  }

  /** validateUsedOnce: the earlier CMD/ENTRYPOINT/HEALTHCHECK is the one that is ignored, so it is reported. */
  private usedOnce(cmd: KnownInstruction, tracker: Tracker): void {
    const previous = tracker.instruction;
    if (previous !== undefined) {
      this.report("MultipleInstructionsDisallowed", messages.multipleInstructionsDisallowed(cmd.keywordText), previous.keywordRange, linesOf(previous));
    }
    tracker.instruction = cmd;
  }

  private secretKey(instruction: "ARG" | "ENV", key: string, range: Range, lines: LineRange): void {
    if (SECRET_KEY.test(key) && !PUBLIC_KEY.test(key)) this.report("SecretsUsedInArgOrEnv", messages.secretsUsedInArgOrEnv(instruction, key), range, lines);
  }

  /** dispatchArg. */
  private dispatchArg(state: StageState, cmd: KnownInstruction, globalArgs: ReadonlyMap<string, string>): void {
    const lines = linesOf(cmd);
    for (const a of this.argDefs(cmd)) {
      this.secretKey("ARG", a.key, a.word.range, lines);
      let value: string | undefined = this.buildArgs.get(a.key);
      if (value === undefined) {
        if (a.value === undefined) value = globalArgs.get(a.key);
        else value = this.expandWord(state, cmd, a.value, a.word);
      }
      if (value !== undefined && !NON_ENV_ARGS.has(a.key)) setEnv(state.env, a.key, value);
      state.buildArgs.push(a.key);
    }
  }

  /** CopyIgnoredFile (validateCopySourcePath): local sources only — not COPY --from, URLs or git. */
  private copyIgnoredFiles(cmd: KnownInstruction, value: (w: Word | undefined) => string): void {
    if (!this.enabled("CopyIgnoredFile")) return;
    if (cmd.keyword === "copy" && cmd.flags.some((f) => f.name === "from")) return;
    const matcher = this.matcher();
    if (matcher === undefined) return;
    const { sources } = copyWords(cmd);
    const command = cmd.keyword === "add" ? "Add" : "Copy";
    for (const w of sources) {
      const src = value(w);
      if (cmd.keyword === "add" && (isHttpSource(src) || isGitSource(src))) continue;
      if (matcher.matchesOrParentMatches(src)) this.report("CopyIgnoredFile", messages.copyIgnoredFile(command, src), w.range, linesOf(cmd));
    }
  }

  private cachedMatcher: DockerignoreMatcher | null | undefined;

  private matcher(): DockerignoreMatcher | undefined {
    if (this.cachedMatcher !== undefined) return this.cachedMatcher ?? undefined;
    const d = this.opts.dockerignore;
    let m: DockerignoreMatcher | null = null;
    if (d !== undefined && isMatcher(d)) m = d;
    else if (d !== undefined && d.length > 0) {
      try {
        m = compile(d);
      } catch (e) {
        // A bad pattern is reported where the context is loaded (HTK-DOCKERFILE-0110); no check here.
        if (!isHtkError(e)) throw e;
      }
    }
    this.cachedMatcher = m;
    return m ?? undefined;
  }

  // ---- variable expansion (UndefinedVar) -------------------------------------------------------

  /**
   * The words BuildKit expands before dispatching a command (`SupportsSingleWordExpansion`), each
   * expanded against the stage's environment, reporting variables that are neither set nor declared
   * ARGs of the stage. RUN/CMD/ENTRYPOINT/HEALTHCHECK/SHELL text is the container shell's business.
   */
  private expandCommand(state: StageState, cmd: KnownInstruction): Expanded[] {
    const out: Expanded[] = [];
    const expand = (word: Word, text: string = word.value, opts?: LexOptions): void => {
      const v = this.expandWord(state, cmd, text, word, opts);
      out.push({ word, value: v });
    };
    switch (cmd.keyword) {
      case "env":
      case "label":
        if (cmd.args.kind === "key-value") {
          for (const p of cmd.args.pairs) {
            expand(p.key);
            expand(p.value);
          }
        }
        break;
      case "add":
      case "copy": {
        for (const f of cmd.flags) {
          if (f.name === "chown" || f.name === "chmod" || (cmd.keyword === "add" && f.name === "checksum")) {
            this.expandWord(state, cmd, f.argument ?? "", undefined);
          }
        }
        const { sources, dest } = copyWords(cmd);
        for (const w of sources) expand(w);
        if (dest !== undefined) expand(dest);
        // Heredoc sources that expand go through BuildKit's raw expansion (quotes are plain text).
        for (const h of cmd.heredocs) {
          if (h.expand) this.expandWord(state, cmd, h.content, undefined, { escapeToken: "\\", skipProcessQuotes: true });
        }
        break;
      }
      case "workdir":
      case "user":
      case "stopsignal":
        if (cmd.args.kind === "string") expand(cmd.args.text);
        break;
      case "volume":
        if (cmd.args.kind === "list" || cmd.args.kind === "exec") for (const w of cmd.args.words) expand(w);
        break;
      case "run":
        for (const f of cmd.flags) {
          if (f.name !== "mount") continue;
          for (const v of mountFields(f.argument ?? "").values()) this.expandWord(state, cmd, v, undefined);
        }
        break;
      case "arg":
      case "cmd":
      case "entrypoint":
      case "expose":
      case "from":
      case "healthcheck":
      case "maintainer":
      case "onbuild":
      case "shell":
        break;
    }
    return out;
  }

  /** One BuildKit ProcessWord plus `reportUnmatchedVariables`; a lexer error ends the checks. */
  private expandWord(state: StageState, cmd: KnownInstruction, text: string, word: Word | undefined, opts: LexOptions = this.lex): string {
    const r = processWordWithMatches(text, state.env, opts);
    if (!r.ok) this.stop(shellErrorText(r.error), cmd.range);
    for (const name of r.value.unmatched) {
      if (state.buildArgs.includes(name) || NON_ENV_ARGS.has(name)) continue;
      const hint = suggest(name, state.env.keys(), true);
      this.report("UndefinedVar", messages.undefinedVar(name, hint), word?.range ?? cmd.range, linesOf(cmd));
    }
    return r.value.result;
  }
}

interface Expanded {
  readonly word: Word;
  readonly value: string;
}

function isMatcher(d: readonly string[] | DockerignoreMatcher): d is DockerignoreMatcher {
  return "matchesOrParentMatches" in d;
}

function linesOf(inst: Instruction): LineRange {
  return { start: inst.range.start.line, end: inst.range.end.line };
}

function wordsOf(inst: Instruction): readonly Word[] {
  switch (inst.args.kind) {
    case "list":
    case "exec":
      return inst.args.words;
    case "string":
    case "shell":
      return [inst.args.text];
    case "key-value":
    case "healthcheck":
    case "onbuild":
    case "none":
      return [];
  }
}

/** COPY/ADD words: the last is the destination; `<<EOF` words name heredocs, which are not paths. */
function copyWords(cmd: KnownInstruction): { sources: readonly Word[]; dest: Word | undefined } {
  const words = wordsOf(cmd);
  const isHeredoc = (w: Word): boolean => cmd.heredocs.length > 0 && /^[0-9]*<<-?/.test(w.value);
  return { sources: words.slice(0, -1).filter((w) => !isHeredoc(w)), dest: words.at(-1) };
}

/** The `key=value` fields of a `--mount` value (csv). */
function mountFields(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const field of spec.split(",")) {
    const eq = field.indexOf("=");
    if (eq > 0) out.set(field.slice(0, eq).trim().toLowerCase(), field.slice(eq + 1));
  }
  return out;
}

/** llb EnvList.AddOrReplace. */
function setEnv(env: Map<string, string>, key: string, value: string): void {
  env.delete(key);
  env.set(key, value);
}

/**
 * dockerfile2llb `defaultArgs`: the automatic platform ARGs (overridable by --build-arg) plus
 * TARGETSTAGE, the stage being built.
 */
function defaultArgs(build: Platform, target: Platform, targetStage: string, overrides: ReadonlyMap<string, string>): Map<string, string> {
  const pairs: [string, string][] = [
    ["BUILDPLATFORM", formatPlatform(build)],
    ["BUILDOS", build.os],
    ["BUILDARCH", build.architecture],
    ["BUILDVARIANT", build.variant],
    ["TARGETPLATFORM", formatPlatform(target)],
    ["TARGETOS", target.os],
    ["TARGETARCH", target.architecture],
    ["TARGETVARIANT", target.variant],
    ["TARGETSTAGE", targetStage],
  ];
  return new Map(pairs.map(([k, v]) => [k, overrides.get(k) ?? v]));
}

function parsePlatformOr(spec: string | undefined): Platform {
  return (spec === undefined ? undefined : parsePlatform(spec)) ?? hostPlatform();
}

function isAbsolute(path: string, platform: Platform): boolean {
  if (platform.os === "windows") return /^([a-zA-Z]:)?[\\/]/.test(path);
  return path.startsWith("/");
}

function isHttpSource(src: string): boolean {
  return (src.startsWith("http://") || src.startsWith("https://")) && !isGitSource(src);
}

/** An approximation of gitutil.ParseGitRef for sources that are unmistakably git remotes. */
function isGitSource(src: string): boolean {
  if (src.startsWith("git://") || src.startsWith("git@") || src.startsWith("ssh://")) return true;
  return /^https?:\/\/.*\.git(#.*)?$/.test(src);
}

function shellErrorText(e: { readonly params: Readonly<Record<string, string | number>>; readonly plainCause: string }): string {
  const detail = e.params.detail;
  return detail === undefined ? e.plainCause : String(detail);
}
