import { describe, expect, it } from "vitest";
import {
  checkInstructionName,
  chompHeredocContent,
  dumpDockerfile,
  knownInstruction,
  parseDockerfile,
  renderDiagnostic,
  type Diagnostic,
  type Instruction,
  type ParsedDockerfile,
} from "./index.ts";

/** The dump, or "error <ID>" for a rejected file. */
function dump(text: string | Uint8Array): string {
  const { result, diagnostics } = parseDockerfile(text);
  if (result === undefined) return `error ${diagnostics.find((d) => d.severity === "error")?.id ?? "?"}`;
  return dumpDockerfile(result);
}

function parsed(text: string): ParsedDockerfile {
  const { result, diagnostics } = parseDockerfile(text);
  if (result === undefined) throw new Error(`rejected: ${JSON.stringify(diagnostics)}`);
  return result;
}

function only(text: string, n = 0): Instruction {
  const ins = parsed(text).instructions[n];
  if (ins === undefined) throw new Error("no such instruction");
  return ins;
}

function errorOf(text: string): Diagnostic {
  const { result, diagnostics } = parseDockerfile(text);
  expect(result).toBeUndefined();
  const d = diagnostics.find((x) => x.severity === "error");
  if (d === undefined) throw new Error("no error");
  return d;
}

describe("instruction keywords", () => {
  it("are case-insensitive and dump lowercased", () => {
    expect(dump("FROM a\nrun echo\nRuN echo\nCopy a b")).toBe('(from "a")\n(run "echo")\n(run "echo")\n(copy "a" "b")');
  });

  it("keeps the keyword as written and lowercases `keyword`", () => {
    const ins = only("FrOm alpine");
    expect(ins.kind).toBe("instruction");
    expect(ins.keyword).toBe("from");
    expect(ins.keywordText).toBe("FrOm");
  });

  it("parses an unknown instruction with no arguments (not an error at this layer)", () => {
    const ins = only("FROM a\nCOPPY a b", 1);
    expect(ins.kind).toBe("unknown-instruction");
    expect(dump("FROM a\nCOPPY a b")).toBe('(from "a")\n(coppy)');
  });
});

describe("parser directives", () => {
  it("sets the escape character to a backtick (Windows paths keep their backslashes)", () => {
    const text = "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nWORKDIR C:\\Users\\app\nRUN dir C:\\ `\n    && echo done\n";
    expect(dump(text)).toBe('(from "mcr.microsoft.com/windows/servercore")\n(workdir "C:\\\\Users\\\\app")\n(run "dir C:\\\\     && echo done")');
    expect(parsed(text).escapeToken).toBe("`");
  });

  it("accepts spaces, any case and a backslash value", () => {
    const r = parsed("#  ESCAPE  =  \\  \n# Syntax = docker/dockerfile:1\nFROM a");
    expect(r.directives.map((d) => [d.name, d.value])).toEqual([
      ["escape", "\\"],
      ["syntax", "docker/dockerfile:1"],
    ]);
  });

  it("recognises check", () => {
    expect(parsed("# check=skip=all\n# escape=`\nFROM a `\n  AS b").directives.map((d) => d.name)).toEqual(["check", "escape"]);
    expect(dump("# check=skip=all\n# escape=`\nFROM a `\n  AS b")).toBe('(from "a" "AS" "b")');
  });

  it("end at the first line that is not a known directive", () => {
    expect(dump("# hello\n# escape=`\nRUN a \\\n b")).toBe('(run "a  b")');
    expect(dump("\n# escape=`\nRUN a \\\n b")).toBe('(run "a  b")');
    expect(dump("# unknown=x\n# escape=`\nRUN a \\\n b")).toBe('(run "a  b")');
    expect(dump("FROM a\n# escape=`\nRUN a \\\n b")).toBe('(from "a")\n(run "a  b")');
  });

  it("rejects a repeated directive (HTK-DOCKERFILE-0003)", () => {
    const d = errorOf("# escape=\\\n# ESCAPE=`\nFROM a");
    expect(d.id).toBe("HTK-DOCKERFILE-0003");
    expect(d.buildkitMessage).toBe("only one escape parser directive can be used");
    expect(d.range.start.line).toBe(2);
  });

  it("rejects an escape character other than \\ or ` (HTK-DOCKERFILE-0004)", () => {
    const d = errorOf("# escape=x\nFROM a");
    expect(d.id).toBe("HTK-DOCKERFILE-0004");
    expect(d.buildkitMessage).toBe("invalid escape token 'x' does not match ` or \\");
    expect(d.range.start).toEqual({ line: 1, column: 10 });
  });
});

describe("comments and blank lines", () => {
  it("drops comment lines, including inside continuations, and keeps # mid-line", () => {
    expect(dump("# c\nRUN a # not a comment\n\n  # indented comment\nRUN a \\\n# c1\n  # c2 \\\n b")).toBe('(run "a # not a comment")\n(run "a  b")');
  });

  it("records comments before an instruction (BuildKit PrevComment)", () => {
    const r = parsed("# syntax=x\n# build stage\nFROM a\nRUN b\n# dropped\n#\n# kept\n  # indented\nRUN c");
    expect(r.instructions[0]?.comments).toEqual(["build stage"]);
    expect(r.instructions[1]?.comments).toEqual([]);
    expect(r.instructions[2]?.comments).toEqual(["kept", "# indented"]);
    expect(r.comments.map((c) => c.text)).toEqual(["syntax=x", "build stage", "dropped", "", "kept", "indented"]);
  });

  it("rejects a file without instructions (HTK-DOCKERFILE-0001)", () => {
    expect(errorOf("").id).toBe("HTK-DOCKERFILE-0001");
    expect(errorOf("# only\n\n   \n# comments\n").buildkitMessage).toBe("file with no instructions");
  });
});

describe("continuation lines", () => {
  it("joins lines ending in the escape character, keeping the next line's indentation", () => {
    expect(dump("RUN echo hello\\\n  world")).toBe('(run "echo hello  world")');
    expect(dump("RUN a \\  \t\n\tb")).toBe('(run "a \\tb")');
  });

  it("treats an escaped escape at the end as no continuation", () => {
    expect(dump("ENV C trailing\\\\\nENV D x")).toBe('(env "C" "trailing\\\\\\\\")\n(env "D" "x")');
  });

  it("lets a line of only the escape character contribute nothing", () => {
    expect(dump("ENV E hello\\\n\\\nworld")).toBe('(env "E" "helloworld")');
    expect(dump("ENV F hello\\\n \\\nworld")).toBe('(env "F" "hello world")');
  });

  it("parses a lone escape character at the end as an empty instruction, as BuildKit does", () => {
    const r = parsed("FROM a\n  \\");
    expect(r.instructions[1]?.keyword).toBe("");
    expect(r.instructions[1]?.range.start).toEqual({ line: 2, column: 3 });
    expect(dumpDockerfile(r)).toBe('(from "a")\n()');
  });

  it("ends the instruction at the end of the file", () => {
    expect(dump("FROM a\nRUN something \\")).toBe('(from "a")\n(run "something")');
  });

  it("warns about empty continuation lines (HTK-DOCKERFILE-0010) and skips them", () => {
    const { result, diagnostics } = parseDockerfile("FROM a\nRUN a \\\n\n   \n  b");
    expect(result === undefined ? "" : dumpDockerfile(result)).toBe('(from "a")\n(run "a   b")');
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]?.id).toBe("HTK-DOCKERFILE-0010");
    expect(diagnostics[0]?.severity).toBe("warning");
    expect(diagnostics[0]?.buildkitMessage).toBe("Empty continuation line found in: RUN a   b");
    expect(diagnostics[0]?.range.start.line).toBe(3);
  });

  it("handles CRLF line endings", () => {
    expect(dump("FROM a\r\nRUN a \\\r\n  b\r\n")).toBe('(from "a")\n(run "a   b")');
  });
});

describe("exec (JSON) and shell form", () => {
  it("splits a JSON array of strings and decodes escapes", () => {
    expect(dump('CMD ["a", "b"]')).toBe('(cmd "a" "b")');
    expect(dump("CMD []")).toBe("(cmd)");
    expect(dump('CMD ["\\u00e9\\ud83d\\ude00", "\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000"]')).toBe('(cmd "é😀" "\\" \\\\ / \\b \\f \\n \\r \\t \\x00")');
    expect(dump('CMD ["\\ud800x"]')).toBe('(cmd "\\ufffdx")'.replace("\\ufffd", "\ufffd"));
  });

  it("falls back to one shell-form argument for invalid JSON", () => {
    expect(dump(`CMD ["echo", "unterminated"`)).toBe('(cmd "[\\"echo\\", \\"unterminated\\"")');
    expect(dump(`CMD ['single']`)).toBe(`(cmd "['single']")`);
    expect(dump(`CMD ["a" "b"]`)).toBe('(cmd "[\\"a\\" \\"b\\"]")');
    expect(dump(`RUN [01]`)).toBe('(run "[01]")');
  });

  it("falls back to shell form when a number overflows float64 (Go's decoder fails to unmarshal it)", () => {
    expect(dump("CMD [1e999]")).toBe('(cmd "[1e999]")');
    expect(dump('CMD ["a", [1e400]]')).toBe('(cmd "[\\"a\\", [1e400]]")');
    expect(errorOf("CMD [1e300]").id).toBe("HTK-DOCKERFILE-0007");
  });

  it("reads only the first JSON value", () => {
    expect(dump('ENTRYPOINT ["a"] trailing text')).toBe('(entrypoint "a")');
  });

  it("rejects a JSON array with a non-string element (HTK-DOCKERFILE-0007)", () => {
    const d = errorOf('FROM a\nCMD [["nested"]]');
    expect(d.id).toBe("HTK-DOCKERFILE-0007");
    expect(d.message).toContain("a nested array");
    expect(d.buildkitMessage).toBe("when using JSON array syntax, arrays must be comprised of strings only");
    expect(errorOf("RUN [1]").message).toContain("a number");
    expect(errorOf('COPY ["a", null]').message).toContain("null");
  });

  it("treats nesting deeper than Go's limit as invalid JSON, not as an error", () => {
    expect(dump(`CMD ${"[".repeat(10001)}${"]".repeat(10001)}`)).toMatch(/^\(cmd "\[\[\[/);
    expect(errorOf(`CMD ${"[".repeat(10000)}${"]".repeat(10000)}`).id).toBe("HTK-DOCKERFILE-0007");
  });

  it("marks the form in the tree", () => {
    expect(only('RUN ["a"]').args.kind).toBe("exec");
    expect(only("RUN a").args.kind).toBe("shell");
  });
});

describe("flags", () => {
  it("collects --flag words up to the first other word", () => {
    expect(dump("COPY --from=build --chmod=755 a b")).toBe('(copy ["--from=build" "--chmod=755"] "a" "b")');
    expect(dump("COPY --link a --not-a-flag")).toBe('(copy ["--link"] "a" "--not-a-flag")');
  });

  it("drops a bare -- that ends the flags", () => {
    expect(dump("COPY -- foo /tmp/")).toBe('(copy "foo" "/tmp/")');
    expect(dump("COPY --x -- --y a")).toBe('(copy ["--x"] "--y" "a")');
    expect(dump('CMD --doit -- [ ]')).toBe('(cmd ["--doit"])');
  });

  it("removes quotes and applies backslash escapes inside flag words", () => {
    expect(dump(`RUN --mount="type=cache,target=/a b" --x='y z' --e=\\"q echo`)).toBe('(run ["--mount=type=cache,target=/a b" "--x=y z" "--e=\\"q"] "echo")');
  });

  it("are separated by ASCII spaces only, as BuildKit scans them byte by byte", () => {
    expect(dump("RUN \u00a0--flag x")).toBe('(run "--flag x")');
  });

  it("gives name and argument", () => {
    const ins = only("COPY --from=build --link a b");
    expect(ins.flags.map((f) => [f.name, f.argument])).toEqual([
      ["from", "build"],
      ["link", undefined],
    ]);
    expect(ins.flags[0]?.range).toEqual({ start: { line: 1, column: 6 }, end: { line: 1, column: 18 } });
  });
});

describe("argument rules", () => {
  it("FROM and EXPOSE split on blanks", () => {
    expect(dump("FROM golang:1.22 AS build")).toBe('(from "golang:1.22" "AS" "build")');
    expect(dump("EXPOSE 80/tcp\t 443")).toBe('(expose "80/tcp" "443")');
  });

  it("ADD, COPY and VOLUME take JSON or blank-separated words", () => {
    expect(dump('COPY ["a b", "/c"]\nADD\t\ta  /b\nVOLUME /a /b')).toBe('(copy "a b" "/c")\n(add "a" "/b")\n(volume "/a" "/b")');
  });

  it("USER, WORKDIR, MAINTAINER, STOPSIGNAL keep the whole rest", () => {
    expect(dump("USER a b\nWORKDIR /a  b\nMAINTAINER Me <me@x>\nSTOPSIGNAL SIGKILL")).toBe(
      '(user "a b")\n(workdir "/a  b")\n(maintainer "Me <me@x>")\n(stopsignal "SIGKILL")',
    );
  });

  it("ARG splits quote-aware words and keeps quotes", () => {
    expect(dump('ARG abc="123 456" def')).toBe('(arg "abc=\\"123 456\\"" "def")');
    expect(dump("ARG a=b\\ c d")).toBe('(arg "a=b\\\\ c" "d")');
  });

  it("ENV and LABEL: legacy form", () => {
    expect(dump("ENV SCUBA 1 DUBA 3\nLABEL maintainer Some One <a@b>")).toBe('(env "SCUBA" "1 DUBA 3")\n(label "maintainer" "Some One <a@b>")');
    const args = only("ENV a  b\tc").args;
    expect(args.kind === "key-value" ? args.form : "").toBe("legacy");
  });

  it("ENV and LABEL: name=value form keeps quotes and escapes raw", () => {
    expect(dump('ENV a=1 b="x y" c=x\\ y d=\'q"\'')).toBe('(env "a" "1" "b" "\\"x y\\"" "c" "x\\\\ y" "d" "\'q\\"\'")');
    expect(dump('LABEL "com.example.a"="b c"')).toBe('(label "\\"com.example.a\\"" "\\"b c\\"")');
    expect(dump("ENV a=")).toBe('(env "a" "")');
  });

  it("ENV with backtick escape", () => {
    expect(dump("# escape=`\nENV p=C:\\a` b q=`\"x`\"")).toBe('(env "p" "C:\\\\a` b" "q" "`\\"x`\\"")');
  });

  it("rejects ENV/LABEL name without value (HTK-DOCKERFILE-0005)", () => {
    const d = errorOf("FROM a\nENV NAME");
    expect(d.id).toBe("HTK-DOCKERFILE-0005");
    expect(d.buildkitMessage).toBe("ENV must have two arguments");
    expect(d.range).toEqual({ start: { line: 2, column: 5 }, end: { line: 2, column: 9 } });
    expect(errorOf("label x").buildkitMessage).toBe("LABEL must have two arguments");
  });

  it("rejects a word without = in the name=value form (HTK-DOCKERFILE-0006)", () => {
    const d = errorOf("ENV a=b c");
    expect(d.id).toBe("HTK-DOCKERFILE-0006");
    expect(d.buildkitMessage).toBe(`Syntax error - can't find = in "c". Must be of the form: name=value`);
  });

  it("HEALTHCHECK: type word, then maybe-JSON", () => {
    expect(dump('HEALTHCHECK --interval=5s CMD ["curl", "-f", "x"]\nHEALTHCHECK CMD curl -f x\nHEALTHCHECK NONE\nHEALTHCHECK')).toBe(
      '(healthcheck ["--interval=5s"] "CMD" "curl" "-f" "x")\n(healthcheck "CMD" "curl -f x")\n(healthcheck "NONE")\n(healthcheck)',
    );
  });

  it("SHELL and ENTRYPOINT are maybe-JSON", () => {
    expect(dump('SHELL ["powershell", "-Command"]\nENTRYPOINT exec a')).toBe('(shell "powershell" "-Command")\n(entrypoint "exec a")');
  });

  it("ONBUILD nests the trigger instruction", () => {
    expect(dump('ONBUILD RUN ["echo", "test"]\nonbuild copy --from=a . /\nONBUILD ONBUILD RUN x\nONBUILD')).toBe(
      '(onbuild (run "echo" "test"))\n(onbuild (copy ["--from=a"] "." "/"))\n(onbuild (onbuild (run "x")))\n(onbuild)',
    );
    const ins = only("ONBUILD RUN echo");
    expect(ins.args.kind === "onbuild" ? ins.args.trigger.keyword : "").toBe("run");
  });

  it("ONBUILD chains of any depth do not overflow the stack", () => {
    const text = `${"ONBUILD ".repeat(8000)}RUN x`;
    expect(dump(text)).toBe(`(${"onbuild (".repeat(8000)}run "x"${")".repeat(8000)})`);
  });
});

describe("heredocs", () => {
  it("consumes heredoc bodies of RUN and keeps them out of the dump", () => {
    const text = "FROM a\nRUN <<EOF\necho hi\nEOF\nRUN done";
    expect(dump(text)).toBe('(from "a")\n(run "<<EOF")\n(run "done")');
    const h = only(text, 1).heredocs;
    expect(h).toHaveLength(1);
    expect(h[0]).toMatchObject({ kind: "heredoc", name: "EOF", content: "echo hi\n", expand: true, chomp: false, fileDescriptor: 0 });
    expect(h[0]?.range).toEqual({ start: { line: 3, column: 1 }, end: { line: 4, column: 4 } });
  });

  it("supports <<-, quoted names, several heredocs on one line and file descriptors", () => {
    const text = "COPY <<-\"A\" 3<<'B' /dst\n\tone\n\tA\ntwo\nB\n";
    const h = only(text).heredocs;
    expect(h.map((x) => [x.name, x.chomp, x.expand, x.fileDescriptor, x.content])).toEqual([
      ["A", true, false, 0, "\tone\n"],
      ["B", false, false, 3, "two\n"],
    ]);
    expect(chompHeredocContent(h[0]?.content ?? "")).toBe("one\n");
  });

  it("only for RUN, COPY and ADD (and ONBUILD of those), never in exec form", () => {
    expect(only("CMD <<EOF\nx\nEOF").heredocs).toHaveLength(0);
    expect(dump("CMD <<EOF\nx\nEOF")).toBe('(cmd "<<EOF")\n(x)\n(eof)');
    expect(only('RUN ["cat", "<<EOF"]\nRUN x').heredocs).toHaveLength(0);
    expect(only("ONBUILD ADD <<EOF /x\nbody\nEOF").heredocs.map((x) => x.content)).toEqual(["body\n"]);
  });

  it("ignores << inside quotes", () => {
    expect(dump('RUN echo "<<EOF"\nRUN x')).toBe('(run "echo \\"<<EOF\\"")\n(run "x")');
  });

  it("rejects an unterminated heredoc (HTK-DOCKERFILE-0008)", () => {
    const d = errorOf("FROM a\nRUN cat <<EOF\nno end\n");
    expect(d.id).toBe("HTK-DOCKERFILE-0008");
    expect(d.buildkitMessage).toBe("unterminated heredoc");
    expect(d.range.start.line).toBe(2);
  });

  it("rejects a heredoc word the shell lexer cannot read (HTK-DOCKERFILE-0009)", () => {
    // The line lexes (the expansion is split into two words), the heredoc word alone does not.
    const d = errorOf("RUN cat <<${x:-a b}\nb}\n");
    expect(d.id).toBe("HTK-DOCKERFILE-0009");
  });
});

describe("input handling", () => {
  it("ignores a UTF-8 byte-order mark, as text or bytes", () => {
    expect(dump("\ufeff# escape=`\nRUN a `\n b")).toBe('(run "a  b")');
    expect(dump(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("FROM a")]))).toBe('(from "a")');
    expect(only("\ufeffFROM a").range.start).toEqual({ line: 1, column: 1 });
  });

  it("warns about invalid UTF-8 (HTK-DOCKERFILE-0012) and parses the rest", () => {
    const { result, diagnostics } = parseDockerfile(new Uint8Array([...new TextEncoder().encode("FROM a\nRUN x"), 0xff]));
    expect(result === undefined ? "" : dumpDockerfile(result)).toBe('(from "a")\n(run "x\ufffd")');
    expect(diagnostics.map((d) => [d.id, d.severity])).toEqual([["HTK-DOCKERFILE-0012", "warning"]]);
  });

  it("rejects a line over BuildKit's 64 KiB scanner buffer (HTK-DOCKERFILE-0002)", () => {
    const ok = `RUN ${"a".repeat(65536 - 5)}\n`;
    expect(parseDockerfile(ok).result).toBeDefined();
    const d = errorOf(`FROM a\nRUN ${"a".repeat(65536 - 4)}\n`);
    expect(d.id).toBe("HTK-DOCKERFILE-0002");
    expect(d.buildkitMessage).toBe("dockerfile line greater than max allowed size of 65535");
    expect(d.range.start.line).toBe(2);
    expect(errorOf(`RUN ${"a".repeat(65536 - 4)}`).id).toBe("HTK-DOCKERFILE-0002");
    expect(parseDockerfile(`RUN ${"a".repeat(65535 - 4)}`).result).toBeDefined();
  });

  it("keeps the original text and positions of each instruction", () => {
    const text = "FROM a\n  RUN echo \\\n  # c\n    b\nENV x=1 y=2";
    const r = parsed(text);
    const run = r.instructions[1];
    expect(run?.original).toBe("RUN echo     b");
    expect(run?.text).toBe("RUN echo \\\n  # c\n    b");
    expect(run?.range).toEqual({ start: { line: 2, column: 3 }, end: { line: 4, column: 6 } });
    expect(run?.keywordRange).toEqual({ start: { line: 2, column: 3 }, end: { line: 2, column: 6 } });
    const shell = run?.args.kind === "shell" ? run.args.text : undefined;
    expect(shell?.range).toEqual({ start: { line: 2, column: 7 }, end: { line: 4, column: 6 } });
    const env = r.instructions[2]?.args;
    const pair = env?.kind === "key-value" ? env.pairs[1] : undefined;
    expect(pair?.key.range).toEqual({ start: { line: 5, column: 9 }, end: { line: 5, column: 10 } });
    expect(pair?.value.range).toEqual({ start: { line: 5, column: 11 }, end: { line: 5, column: 12 } });
  });

  it("positions the argument block and the whole file", () => {
    const r = parsed("FROM a\nCOPY --from=b  x \\\n  y\n");
    expect(r.range).toEqual({ start: { line: 1, column: 1 }, end: { line: 3, column: 5 } });
    const args = r.instructions[1]?.args;
    expect(args?.kind === "list" ? args.range : undefined).toEqual({ start: { line: 2, column: 16 }, end: { line: 3, column: 4 } });
  });

  it("positions JSON elements on their string literals", () => {
    const args = only('CMD ["a", "bc"]').args;
    const w = args.kind === "exec" ? args.words[1] : undefined;
    expect(w?.raw).toBe('"bc"');
    expect(w?.range).toEqual({ start: { line: 1, column: 11 }, end: { line: 1, column: 15 } });
  });
});

describe("diagnostics for the compile stage", () => {
  it("knows the instructions", () => {
    expect(knownInstruction("copy")).toBe(true);
    expect(knownInstruction("HEALTHCHECK")).toBe(true);
    expect(knownInstruction("COPPY")).toBe(false);
  });

  it("suggests the closest instruction (HTK-DOCKERFILE-0011)", () => {
    const ins = only("COPPY a b");
    const d = checkInstructionName(ins.keywordText, ins.keywordRange);
    expect(d?.id).toBe("HTK-DOCKERFILE-0011");
    expect(d?.message).toBe("unknown instruction: COPPY (did you mean COPY?)");
    expect(d?.suggestion).toBe("COPY");
    expect(checkInstructionName("BLAHBLAH", ins.keywordRange)?.message).toBe("unknown instruction: BLAHBLAH");
    expect(checkInstructionName("run", ins.keywordRange)).toBeUndefined();
  });

  it("renders a code frame with file, line, column, caret and ID", () => {
    const text = "FROM a\nENV NAME\n";
    const d = errorOf(text);
    expect(renderDiagnostic(d, text, "app/Dockerfile")).toBe(
      [
        "ERROR HTK-DOCKERFILE-0005: ENV NAME gives a name but no value; in this form ENV needs two arguments.",
        " --> app/Dockerfile:2:5",
        "  |",
        "2 | ENV NAME",
        "  |     ^^^^",
        '  = next step: Write ENV NAME=value (or ENV NAME value); for an empty value write ENV NAME="".',
      ].join("\n"),
    );
  });

  it("shows a window of a long line", () => {
    const text = `FROM a\nRUN ${"a".repeat(70000)}\n`;
    const frame = renderDiagnostic(errorOf(text), text);
    expect(frame).toContain("HTK-DOCKERFILE-0002");
    expect(frame.length).toBeLessThan(1200);
    expect(frame).toContain(`2 | RUN ${"a".repeat(116)}…`);
    const pairs = "a=b ".repeat(50);
    const far = `FROM a\nLABEL ${pairs}bad`;
    const lines = renderDiagnostic(errorOf(far), far).split("\n");
    expect(lines[3]).toBe(`2 | …${`LABEL ${pairs}bad`.slice(89)}`);
    expect(lines[4]).toBe(`  |  ${" ".repeat(117)}^^^`);
  });

  it("carries the file name given in the options", () => {
    const { diagnostics } = parseDockerfile("", { fileName: "x/Dockerfile" });
    expect(diagnostics[0]?.file).toBe("x/Dockerfile");
  });
});

describe("BuildKit's own parser unit cases", () => {
  it("parseWords keeps quoted groups and non-ASCII letters", () => {
    expect(dump("ARG foo bar 'abc xyz'")).toBe(`(arg "foo" "bar" "'abc xyz'")`);
    expect(dump('ARG föo bàr "âbc xÿz"')).toBe('(arg "föo" "bàr" "\\"âbc xÿz\\"")');
    expect(dump("ARG foo\\ bar")).toBe('(arg "foo\\\\ bar")');
  });

  it("warns once per instruction with empty continuation lines", () => {
    const text = [
      "",
      "FROM alpine:3.6",
      "",
      "RUN valid \\",
      "    continuation",
      "",
      "RUN something \\",
      "",
      "    following \\",
      "",
      "    more",
      "",
      "RUN another \\",
      "",
      "    thing",
      "",
      "RUN non-indented \\",
      "# this is a comment",
      "   after-comment",
      "",
      "RUN indented \\",
      "    # this is an indented comment",
      "    comment",
      "\t",
    ].join("\n");
    const { result, diagnostics } = parseDockerfile(text);
    expect(result).toBeDefined();
    expect(diagnostics.map((d) => d.buildkitMessage)).toEqual([
      "Empty continuation line found in: RUN something     following     more",
      "Empty continuation line found in: RUN another     thing",
    ]);
  });

  it("reports the scanner's line limit", () => {
    const d = errorOf(`\n\t\tFROM image\n\t\tLABEL test=${"a".repeat(65536)}\n`);
    expect(d.buildkitMessage).toBe("dockerfile line greater than max allowed size of 65535");
    expect(d.range.start.line).toBe(3);
  });

  it("gives each instruction its start and end lines", () => {
    const text = "# c\n\n\n\nFROM a\n\n\n\n\n\nRUN a \\\n  b\n\n# x\n\n\nRUN c \\\n\n # d\n e";
    expect(parsed(text).instructions.map((i) => [i.range.start.line, i.range.end.line])).toEqual([
      [5, 5],
      [11, 12],
      [17, 20],
    ]);
  });
});
