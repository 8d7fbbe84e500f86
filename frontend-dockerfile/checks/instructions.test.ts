import { describe, expect, it } from "vitest";
import { compile } from "../../base/dockerignore/index.ts";
import { parseDockerfile } from "../index.ts";
import { runChecks, type CheckOptions } from "./index.ts";

function lint(text: string, opts: CheckOptions = {}): { rule: string; detail: string; line: number }[] {
  const { result } = parseDockerfile(text);
  if (result === undefined) throw new Error("test Dockerfile does not parse");
  return runChecks(result, opts).findings.map((f) => ({ rule: f.rule, detail: f.message, line: f.lines.start }));
}

describe("JSONArgsRecommended", () => {
  it("warns about shell-form CMD and ENTRYPOINT", () => {
    expect(lint("\nFROM scratch\nCMD mycommand\n")).toEqual([
      { rule: "JSONArgsRecommended", detail: "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals", line: 3 },
    ]);
    expect(lint("\nFROM scratch\nENTRYPOINT mycommand\n").map((f) => f.detail)).toEqual([
      "JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals",
    ]);
  });

  it("is silent for exec form and when a SHELL is set in the stage or a base stage", () => {
    expect(lint('FROM scratch\nCMD ["mycommand"]\nENTRYPOINT ["a", "b"]\n')).toEqual([]);
    expect(lint('FROM scratch\nSHELL ["/usr/bin/customshell"]\nCMD mycommand\n')).toEqual([]);
    expect(lint('FROM scratch\nSHELL ["/usr/bin/customshell"]\nENTRYPOINT mycommand\n')).toEqual([]);
    expect(lint('FROM scratch AS base\nSHELL ["/usr/bin/customshell"]\n\nFROM base\nCMD mycommand\n')).toEqual([]);
    expect(lint("FROM scratch\nSHELL []\nCMD mycommand\n").map((f) => f.rule)).toEqual(["JSONArgsRecommended"]);
  });

  it("does not take SHELL from an earlier stage that is not the base", () => {
    expect(lint('FROM scratch AS base\nSHELL ["/bin/sh", "-c"]\nFROM other\nCMD x\n').map((f) => f.rule)).toEqual(["JSONArgsRecommended"]);
  });
});

describe("WorkdirRelativePath", () => {
  it("warns about the first relative WORKDIR of a build chain", () => {
    expect(lint("\nFROM scratch\nWORKDIR app/\nWORKDIR more\n")).toEqual([
      {
        rule: "WorkdirRelativePath",
        detail: 'Relative workdir "app/" can have unexpected results if the base image changes',
        line: 3,
      },
    ]);
  });

  it("is silent after an absolute WORKDIR, also one inherited from a base stage", () => {
    expect(lint("\nFROM scratch AS a\nWORKDIR /app\n\nFROM a AS b\nWORKDIR subdir/\n")).toEqual([]);
  });

  it("reports the expanded path", () => {
    expect(lint("FROM scratch\nENV D=src\nWORKDIR $D\n").map((f) => f.detail)).toEqual([
      'Relative workdir "src" can have unexpected results if the base image changes',
    ]);
  });
});

describe("MultipleInstructionsDisallowed", () => {
  const warning = (name: string, line: number) => ({
    rule: "MultipleInstructionsDisallowed",
    detail: `Multiple ${name} instructions should not be used in the same stage because only the last one will be used`,
    line,
  });

  it("reports the earlier, ignored ENTRYPOINT, CMD and HEALTHCHECK", () => {
    const text =
      '\nFROM scratch\nENTRYPOINT ["/myapp"]\nENTRYPOINT ["/myotherapp"]\nCMD ["/myapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n';
    expect(lint(text)).toEqual([warning("ENTRYPOINT", 3), warning("CMD", 5), warning("HEALTHCHECK", 7)]);
  });

  it("counts across other instructions, heredocs included", () => {
    const text =
      '\nFROM scratch\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\nCOPY <<EOF /a.txt\nHello, World!\nEOF\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n';
    expect(lint(text)).toEqual([warning("ENTRYPOINT", 3), warning("CMD", 4), warning("HEALTHCHECK", 5)]);
  });

  it("starts afresh in each stage, even one based on another", () => {
    const text =
      '\nFROM scratch AS a\nENTRYPOINT ["/myapp"]\nCMD ["/myapp"]\nHEALTHCHECK CMD ["/myapp"]\n\nFROM a AS b\nENTRYPOINT ["/myotherapp"]\nCMD ["/myotherapp"]\nHEALTHCHECK CMD ["/myotherapp"]\n';
    expect(lint(text)).toEqual([]);
  });
});

describe("LegacyKeyValueFormat", () => {
  it("warns about ENV and LABEL without =", () => {
    expect(lint("\nFROM scratch\nENV testkey value\nLABEL key value\n")).toEqual([
      { rule: "LegacyKeyValueFormat", detail: '"ENV key=value" should be used instead of legacy "ENV key value" format', line: 3 },
      { rule: "LegacyKeyValueFormat", detail: '"LABEL key=value" should be used instead of legacy "LABEL key value" format', line: 4 },
    ]);
    expect(lint("\nFROM scratch\nENV testkey=value\nLABEL key=value\n")).toEqual([]);
  });

  it("checks unreachable stages when linting, and only reachable ones for a build target", () => {
    const text = "\nFROM scratch AS a\n\nFROM a AS b\nENV testkey value\nLABEL key value\n\nFROM a AS c\n";
    expect(lint(text).map((f) => f.line)).toEqual([5, 6]);
    expect(lint(text, { target: "c" })).toEqual([]);
    expect(lint(text, { target: "b" }).map((f) => f.line)).toEqual([5, 6]);
  });
});

describe("SecretsUsedInArgOrEnv", () => {
  it("warns about keys that name a secret as a whole or as an _-separated part", () => {
    const text =
      "\nFROM scratch\nARG SECRET_PASSPHRASE\nENV SUPER_Secret=foo\nENV password=bar secret=baz\nARG super_duper_secret_token=foo auth=bar\nENV apikey=bar sunflower=foo\nENV git_key=\n";
    expect(lint(text).map((f) => [f.line, f.detail])).toEqual([
      [3, 'Do not use ARG or ENV instructions for sensitive data (ARG "SECRET_PASSPHRASE")'],
      [4, 'Do not use ARG or ENV instructions for sensitive data (ENV "SUPER_Secret")'],
      [5, 'Do not use ARG or ENV instructions for sensitive data (ENV "password")'],
      [5, 'Do not use ARG or ENV instructions for sensitive data (ENV "secret")'],
      [6, 'Do not use ARG or ENV instructions for sensitive data (ARG "super_duper_secret_token")'],
      [6, 'Do not use ARG or ENV instructions for sensitive data (ARG "auth")'],
      [7, 'Do not use ARG or ENV instructions for sensitive data (ENV "apikey")'],
      [8, 'Do not use ARG or ENV instructions for sensitive data (ENV "git_key")'],
    ]);
  });

  it("allows public keys and words that only contain a secret word", () => {
    expect(lint("FROM scratch\nARG PUBLIC_KEY\nENV monkey=1 tokenizer=2 AUTHOR=me\n")).toEqual([]);
  });

  it("does not check global ARGs (BuildKit only checks them in a stage)", () => {
    expect(lint("ARG GITHUB_TOKEN\nFROM scratch\n")).toEqual([]);
  });
});

describe("CopyIgnoredFile (experimental)", () => {
  const dockerignore = ["Dockerfile"];
  const text = "\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n";

  it("is off unless enabled with experimental=", () => {
    expect(lint(text, { dockerignore })).toEqual([]);
  });

  it("warns about COPY and ADD of ignored files when enabled, even under skip=all", () => {
    const expected = [
      { rule: "CopyIgnoredFile", detail: 'Attempting to Copy file "Dockerfile" that is excluded by .dockerignore', line: 3 },
      { rule: "CopyIgnoredFile", detail: 'Attempting to Add file "Dockerfile" that is excluded by .dockerignore', line: 4 },
    ];
    expect(lint(`# check=experimental=CopyIgnoredFile${text}`, { dockerignore })).toEqual(expected.map((e) => ({ ...e, line: e.line })));
    expect(lint(`# check=skip=all;experimental=CopyIgnoredFile${text}`, { dockerignore: compile(dockerignore) })).toEqual(expected);
    expect(lint(`# check=experimental=all${text}`, { dockerignore }).map((f) => f.rule)).toEqual(["CopyIgnoredFile", "CopyIgnoredFile"]);
  });

  it("ignores COPY --from, files inside ignored folders count, URLs do not", () => {
    const df = "# check=experimental=CopyIgnoredFile\nFROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\n\nFROM base\nCOPY --from=base /foobar /Dockerfile\n";
    expect(lint(df, { dockerignore: ["foobar"] })).toEqual([]);
    const df2 = "# check=experimental=CopyIgnoredFile\nFROM scratch\nCOPY build/out.txt /\nADD https://example.com/build/x /\n";
    expect(lint(df2, { dockerignore: ["build", "https:"] }).map((f) => f.detail)).toEqual([
      'Attempting to Copy file "build/out.txt" that is excluded by .dockerignore',
    ]);
  });
});
