import { assertNever } from "./assert-never.ts";
import { ARGUMENT_RULES, isInstructionName, type ArgContext, type ArgRejection } from "./arguments.ts";
import { skipGoSpace, trimSpaceBounds } from "./chars.ts";
import { diagnostic } from "./diagnostics.ts";
import { DIRECTIVE_NAMES, matchDirective } from "./directives.ts";
import { heredocsFromLine } from "./heredoc.ts";
import { splitInstructionLine, type SplitLine } from "./instruction-line.ts";
import { LogicalLine, MAX_LINE_BUFFER, SourceFile, decodeSource, type PhysicalLine } from "./source.ts";
import type {
  Comment,
  Diagnostic,
  Directive,
  DirectiveName,
  EscapeToken,
  Flag,
  Heredoc,
  Instruction,
  InstructionArguments,
  ParseOptions,
  ParseResult,
  Range,
} from "./types.ts";

/**
 * The line layer: BuildKit's `Parse` loop. Physical lines are read one by one; the first lines may be
 * parser directives; comment and blank lines are skipped; a line ending in the escape character
 * continues onto the next lines (comment lines and empty lines in between are dropped, the latter with a
 * warning); the joined logical line goes to the instruction layer (`instruction-line.ts`, then the
 * argument rule of the instruction in `arguments.ts`); RUN/COPY/ADD lines may then consume heredoc
 * bodies. The first error ends the parse, as in BuildKit.
 */
export function parseSource(input: string | Uint8Array, opts: ParseOptions = {}): ParseResult {
  return new DockerfileParser(input, opts).run();
}

class Stop extends Error {}

const HEREDOC_INSTRUCTIONS = new Set(["run", "copy", "add"]);

class DockerfileParser {
  private readonly source: SourceFile;
  private readonly file: string | undefined;
  private readonly diagnostics: Diagnostic[] = [];
  private readonly instructions: Instruction[] = [];
  private readonly directives: Directive[] = [];
  private readonly comments: Comment[] = [];
  private pendingComments: string[] = [];
  private escape: EscapeToken = "\\";
  private directivesDone = false;
  private readonly seenDirectives = new Set<string>();
  private readonly invalidSequences: number;

  constructor(input: string | Uint8Array, opts: ParseOptions) {
    const decoded = decodeSource(input);
    this.source = new SourceFile(decoded.text);
    this.invalidSequences = decoded.invalidSequences;
    this.file = opts.fileName;
  }

  run(): ParseResult {
    const lines = this.source.lines;
    if (this.invalidSequences > 0) {
      this.report(diagnostic("HTK-DOCKERFILE-0012", { count: this.invalidSequences }, "warning", this.point(1, 1)));
    }
    // BuildKit's scanner stops at the first line that does not fit its 64 KiB buffer.
    const tooLong = lines.find((l) => l.byteLength > (l.hasNewline ? MAX_LINE_BUFFER : MAX_LINE_BUFFER - 1));
    const limit = tooLong === undefined ? lines.length : tooLong.index;
    let stopped = false;
    try {
      this.readLines(limit);
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
      stopped = true;
    }
    if (tooLong !== undefined) {
      const error = this.diagnostics.find((d) => d.severity === "error");
      // An unterminated heredoc or an empty file are artefacts of the scanner stopping early.
      if (error === undefined || error.id === "HTK-DOCKERFILE-0008" || error.id === "HTK-DOCKERFILE-0001") {
        const keep = this.diagnostics.filter((d) => d.severity !== "error");
        this.diagnostics.length = 0;
        this.diagnostics.push(...keep);
        const bytes = tooLong.byteLength - (tooLong.hasNewline ? 1 : 0);
        this.report(
          diagnostic(
            "HTK-DOCKERFILE-0002",
            { line: tooLong.index + 1, bytes, max: MAX_LINE_BUFFER - 1, escape: this.escape },
            "error",
            this.source.lineRange(tooLong),
            { buildkitMessage: `dockerfile line greater than max allowed size of ${MAX_LINE_BUFFER - 1}` },
          ),
        );
      }
      return { diagnostics: this.diagnostics };
    }
    if (stopped) return { diagnostics: this.diagnostics };
    if (this.instructions.length === 0) {
      const last = Math.max(1, lines.length);
      this.report(diagnostic("HTK-DOCKERFILE-0001", {}, "error", this.point(last, 1), { buildkitMessage: "file with no instructions" }));
      return { diagnostics: this.diagnostics };
    }
    return {
      result: {
        kind: "dockerfile",
        range: this.source.rangeOf(0, this.source.text.length),
        instructions: this.instructions,
        directives: this.directives,
        comments: this.comments,
        escapeToken: this.escape,
        lineCount: lines.length,
      },
      diagnostics: this.diagnostics,
    };
  }

  /** The next physical line to read, and the first line the scanner cannot deliver. */
  private cursor = 0;
  private limit = 0;

  /** BuildKit's `scanner.Scan()`: the next physical line, or undefined at the (possibly early) end. */
  private scan(): PhysicalLine | undefined {
    if (this.cursor >= this.limit) return undefined;
    return this.source.lines[this.cursor++];
  }

  private readLines(limit: number): void {
    this.limit = limit;
    for (let pl = this.scan(); pl !== undefined; pl = this.scan()) {
      const content = this.source.content(pl);
      const lead = skipGoSpace(content);
      const isComment = content.charCodeAt(lead) === 0x23;
      if (isComment) this.recordComment(pl, lead, content);
      // A directive is not a comment of the instruction that follows (BuildKit strips it from PrevComment).
      if (!this.directivesDone && this.directive(pl, content.slice(lead), pl.start + lead)) this.pendingComments.pop();
      const bodyStart = pl.start + lead;
      // A comment line contributes nothing (BuildKit trimComments), even if it ends in the escape character.
      const first = this.continuation(bodyStart, isComment ? bodyStart : pl.contentEnd);
      if (!first.continues && first.end === bodyStart) continue;

      const logical = new LogicalLine(this.source, bodyStart);
      logical.append(bodyStart, first.end);
      let continues = first.continues;
      let last = pl;
      let emptyLine: number | undefined;
      for (let cl = continues ? this.scan() : undefined; cl !== undefined; cl = continues ? this.scan() : undefined) {
        last = cl;
        const c = this.source.content(cl);
        const l = skipGoSpace(c);
        if (c.charCodeAt(l) === 0x23) continue;
        if (l === c.length) {
          emptyLine ??= cl.index + 1;
          continue;
        }
        const piece = this.continuation(cl.start, cl.contentEnd);
        logical.append(cl.start, piece.end);
        continues = piece.continues;
      }
      const startLine = pl.index + 1;
      if (emptyLine !== undefined) {
        this.report(
          diagnostic("HTK-DOCKERFILE-0010", { line: startLine, emptyLine }, "warning", this.point(emptyLine, 1), {
            buildkitMessage: `Empty continuation line found in: ${logical.text}`,
          }),
        );
      }
      const instruction = this.instruction(logical, last.contentEnd, this.source.text.slice(bodyStart, last.contentEnd));
      const heredocs = this.heredocs(instruction, logical, startLine);
      const end = heredocs.at(-1)?.range.end ?? this.source.positionAt(last.contentEnd);
      this.instructions.push({ ...instruction, heredocs, range: { start: instruction.range.start, end }, comments: this.pendingComments });
      this.pendingComments = [];
    }
  }

  private recordComment(pl: PhysicalLine, lead: number, content: string): void {
    const [a, b] = trimSpaceBounds(content, lead + 1);
    this.comments.push({ kind: "comment", text: content.slice(a, b), range: this.source.rangeOf(pl.start + lead, pl.contentEnd) });
    // PrevComment as BuildKit builds it: the line minus its first character, trimmed (so an indented
    // comment keeps its "#"); a bare "#" line starts the list afresh.
    const [pa, pb] = trimSpaceBounds(content, Math.min(1, content.length));
    if (pa === pb) this.pendingComments = [];
    else this.pendingComments.push(content.slice(pa, pb));
  }

  /** True when the line is a parser directive. */
  private directive(pl: PhysicalLine, token: string, tokenStart: number): boolean {
    const m = matchDirective(token);
    if (m === undefined || !(DIRECTIVE_NAMES as readonly string[]).includes(m.name)) {
      this.directivesDone = true;
      return false;
    }
    const range = this.source.rangeOf(tokenStart, pl.contentEnd);
    if (this.seenDirectives.has(m.name)) {
      this.fail(
        diagnostic("HTK-DOCKERFILE-0003", { name: m.name, line: pl.index + 1 }, "error", range, {
          buildkitMessage: `only one ${m.name} parser directive can be used`,
        }),
      );
    }
    this.seenDirectives.add(m.name);
    if (m.name === "escape") {
      if (m.value !== "\\" && m.value !== "`") {
        this.fail(
          diagnostic("HTK-DOCKERFILE-0004", { value: m.value }, "error", this.source.rangeOf(tokenStart + m.valueStart, tokenStart + m.valueEnd), {
            buildkitMessage: `invalid escape token '${m.value}' does not match \` or \\`,
          }),
        );
      }
      this.escape = m.value;
    }
    this.directives.push({ kind: "directive", name: m.name as DirectiveName, value: m.value, range });
    return true;
  }

  /**
   * BuildKit's continuation regexp `([^E])E[ \t]*$|^E[ \t]*$` for escape character E: the last character
   * before trailing blanks is E and it is not itself escaped by another E. Returns where the kept text
   * ends (the escape and what follows it are dropped) — scanned from the end, so linear.
   */
  private continuation(start: number, end: number): { end: number; continues: boolean } {
    const text = this.source.text;
    let j = end;
    while (j > start && (text.charCodeAt(j - 1) === 0x20 || text.charCodeAt(j - 1) === 0x09)) j--;
    if (j === start || text[j - 1] !== this.escape) return { end, continues: false };
    const esc = j - 1;
    if (esc === start) return { end: start, continues: true };
    if (text[esc - 1] === this.escape) return { end, continues: false };
    return { end: esc, continues: true };
  }

  /** BuildKit `newNodeFromLine`, with ONBUILD chains unrolled so that deep nesting cannot overflow the stack. */
  private instruction(logical: LogicalLine, sourceEnd: number, sourceText: string): Instruction {
    const text = logical.text;
    const chain: { split: SplitLine; from: number; to: number }[] = [];
    let from = 0;
    let to = text.length;
    for (;;) {
      const split = shift(splitInstructionLine(text.slice(from, to)), from);
      chain.push({ split, from, to });
      if (split.keyword.toLowerCase() === "onbuild" && split.rest !== "") {
        from = split.restStart;
        to = split.restStart + split.rest.length;
        continue;
      }
      break;
    }
    let inner: Instruction | undefined;
    for (let k = chain.length - 1; k >= 0; k--) {
      const { split, from: f, to: t } = chain[k] as { split: SplitLine; from: number; to: number };
      const keyword = split.keyword.toLowerCase();
      let args: InstructionArguments;
      if (keyword === "onbuild") {
        args = inner === undefined ? { kind: "none" } : { kind: "onbuild", trigger: inner, range: inner.range };
      } else if (isInstructionName(keyword) && keyword !== "onbuild") {
        const ctx: ArgContext = { line: logical, escape: this.escape, keywordText: split.keyword };
        const outcome = ARGUMENT_RULES[keyword](split.rest, split.restStart, ctx);
        if (!outcome.ok) this.reject(outcome.rejection, logical, keyword);
        else args = outcome.args;
        args ??= { kind: "none" };
      } else {
        args = { kind: "none" };
      }
      const flags: Flag[] = split.flags.map((fl) => {
        const body = fl.value.startsWith("--") ? fl.value.slice(2) : fl.value;
        const eq = body.indexOf("=");
        return {
          kind: "flag",
          value: fl.value,
          name: eq < 0 ? body : body.slice(0, eq),
          ...(eq < 0 ? {} : { argument: body.slice(eq + 1) }),
          raw: text.slice(fl.start, fl.end),
          range: logical.rangeOf(fl.start, fl.end),
        };
      });
      const common = {
        keywordText: split.keyword,
        keywordRange: logical.rangeOf(split.keywordStart, split.keywordEnd),
        flags,
        args,
        heredocs: [],
        original: k === 0 ? text : text.slice(f, t),
        text: k === 0 ? sourceText : text.slice(f, t),
        comments: [],
        range: k === 0 ? this.source.rangeOf(logical.sourceOffset(split.keywordStart), sourceEnd) : logical.rangeOf(split.keywordStart, t),
      };
      inner = isInstructionName(keyword) ? { kind: "instruction", keyword, ...common } : { kind: "unknown-instruction", keyword, ...common };
    }
    if (inner === undefined) throw new Error("BUG: empty instruction chain");
    return inner;
  }

  private reject(r: ArgRejection, logical: LogicalLine, keyword: string): never {
    const range = logical.rangeOf(r.start, r.end);
    switch (r.kind) {
      case "env-missing-value":
        return this.fail(
          diagnostic("HTK-DOCKERFILE-0005", { instruction: r.instruction, name: r.name }, "error", range, {
            buildkitMessage: `${r.instruction} must have two arguments`,
          }),
        );
      case "env-missing-equals":
        return this.fail(
          diagnostic("HTK-DOCKERFILE-0006", { instruction: r.instruction, word: JSON.stringify(r.word) }, "error", range, {
            buildkitMessage: `Syntax error - can't find = in ${JSON.stringify(r.word)}. Must be of the form: name=value`,
          }),
        );
      case "json-not-strings":
        return this.fail(
          diagnostic("HTK-DOCKERFILE-0007", { instruction: keyword.toUpperCase(), element: describeJsonType(r.elementType) }, "error", range, {
            buildkitMessage: "when using JSON array syntax, arrays must be comprised of strings only",
          }),
        );
      default:
        return assertNever(r);
    }
  }

  /** Heredoc bodies follow the instruction's last line; each ends at a line equal to its name. */
  private heredocs(ins: Instruction, logical: LogicalLine, startLine: number): Heredoc[] {
    let target: Instruction = ins;
    if (ins.keyword === "onbuild" && ins.args.kind === "onbuild") target = ins.args.trigger;
    if (!HEREDOC_INSTRUCTIONS.has(target.keyword) || target.args.kind === "exec") return [];
    const scan = heredocsFromLine(logical.text);
    if (!scan.ok) {
      this.fail(
        diagnostic("HTK-DOCKERFILE-0009", { word: scan.word, detail: scan.detail }, "error", ins.range, { buildkitMessage: scan.detail }),
      );
    }
    const text = this.source.text;
    const out: Heredoc[] = [];
    for (const marker of scan.markers) {
      let first: PhysicalLine | undefined;
      let last: PhysicalLine | undefined;
      let content = "";
      let terminated = false;
      for (let hl = this.scan(); hl !== undefined; hl = this.scan()) {
        first ??= hl;
        last = hl;
        let candidate = text.slice(hl.start, hl.contentEnd);
        if (marker.chomp) candidate = candidate.replace(/^\t+/, "");
        if (candidate === marker.name) {
          terminated = true;
          break;
        }
        content += text.slice(hl.start, hl.end);
      }
      if (!terminated || first === undefined || last === undefined) {
        return this.fail(
          diagnostic("HTK-DOCKERFILE-0008", { name: marker.name, line: startLine }, "error", ins.keywordRange, {
            buildkitMessage: "unterminated heredoc",
          }),
        );
      }
      out.push({
        kind: "heredoc",
        name: marker.name,
        fileDescriptor: marker.fileDescriptor,
        expand: marker.expand,
        chomp: marker.chomp,
        content,
        range: this.source.rangeOf(first.start, Math.max(first.start, last.contentEnd)),
      });
    }
    return out;
  }

  private report(d: Diagnostic): void {
    this.diagnostics.push(this.file === undefined ? d : { ...d, file: this.file });
  }

  private fail(d: Diagnostic): never {
    this.report(d);
    throw new Stop();
  }

  private point(line: number, column: number): Range {
    return { start: { line, column }, end: { line, column } };
  }
}

function shift(s: SplitLine, by: number): SplitLine {
  if (by === 0) return s;
  return {
    keyword: s.keyword,
    keywordStart: s.keywordStart + by,
    keywordEnd: s.keywordEnd + by,
    flags: s.flags.map((f) => ({ value: f.value, start: f.start + by, end: f.end + by })),
    rest: s.rest,
    restStart: s.restStart + by,
  };
}

function describeJsonType(t: string): string {
  switch (t) {
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "null":
      return "null";
    case "array":
      return "a nested array";
    case "object":
      return "an object";
    default:
      return `a ${t}`;
  }
}
