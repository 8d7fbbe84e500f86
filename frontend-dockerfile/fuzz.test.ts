import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dumpDockerfile, parseDockerfile, renderDiagnostic } from "./index.ts";
import { rng } from "./seeded-random.test-support.ts";

/**
 * Fuzzing with a fixed seed: random Dockerfiles built from the parser's interesting tokens, and
 * mutations of the shared conformance inputs. The parser must never throw, never report an internal
 * error, never take long, and its result must be self-consistent.
 */

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const shared = join(process.env["HATAKE_SHARED_DIR"] ?? join(repo, "..", "shared"), "conformance", "dockerfile-parser");


const PIECES = [
  "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
  "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "run", "Env", "COPPY",
  " ", " ", " ", "\t", "\n", "\n", "\r\n", "\\", "\\\n", "`", "`\n", "#", "# escape=`\n", "# escape=\\\n", "# syntax=x\n",
  "# check=skip=all\n", "--", "--from=a", '--x="a b"', "--y='c'", "=", "a=b", 'k="v w"', "'", '"', "[", "]", ",",
  '["a", "b"]', "[1]", '[["x"]]', "{}", "null", "\\u0041", '"\\ud800"', "<<EOF", "<<-EOF", "<<'EOF'", '<<"EOF"', "2<<X",
  "EOF", "\tEOF", "X", "$VAR", "${VAR:-x}", "${", "}", "é", "☃", "\u00a0", "\u0085", "\u2028", "\ufeff", "\x00", "\x7f",
  "AS", "alpine", "/path", "C:\\path", "&&", "echo", "value\\ value2",
];

function randomDockerfile(r: () => number): string {
  const n = 1 + Math.floor(r() * 60);
  let out = r() < 0.05 ? "\ufeff" : "";
  for (let i = 0; i < n; i++) out += PIECES[Math.floor(r() * PIECES.length)] ?? "";
  return out;
}

function mutate(base: string, r: () => number): string {
  let s = base;
  const edits = 1 + Math.floor(r() * 6);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 6)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
        break;
      case 1:
        s = s.slice(0, at) + (PIECES[Math.floor(r() * PIECES.length)] ?? "") + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(at);
        break;
      case 3: {
        const lines = s.split("\n");
        const k = Math.floor(r() * lines.length);
        lines.splice(k, 0, lines[Math.floor(r() * lines.length)] ?? "");
        s = lines.join("\n");
        break;
      }
      case 4:
        s = s.slice(0, at);
        break;
      default:
        s = s.slice(0, at) + "\\" + s.slice(at);
    }
  }
  return s;
}

function sharedInputs(): string[] {
  const out: string[] = [];
  for (const sub of ["testfiles", "testfiles-negative"]) {
    const dir = join(shared, sub);
    if (!existsSync(dir)) continue;
    for (const c of readdirSync(dir)) {
      const f = join(dir, c, "Dockerfile");
      if (existsSync(f)) out.push(readFileSync(f, "utf8"));
    }
  }
  return out.length > 0 ? out : ["FROM a\nRUN echo \\\n  b\nENV a=b c=d\nCMD [\"x\"]\n"];
}

// Generous: the machine is shared; a hang or a quadratic blow-up takes far longer.
const TIME_BOUND_MS = 1000;

function check(input: string | Uint8Array): void {
  const start = performance.now();
  let res: ReturnType<typeof parseDockerfile> | undefined;
  expect(() => {
    res = parseDockerfile(input);
  }).not.toThrow();
  const elapsed = performance.now() - start;
  if (elapsed > TIME_BOUND_MS) throw new Error(`parse took ${elapsed.toFixed(0)} ms for ${JSON.stringify(input).slice(0, 200)}`);
  if (res === undefined) throw new Error("no result");
  const { result, diagnostics } = res;
  for (const d of diagnostics) {
    if (!d.id.startsWith("HTK-DOCKERFILE-")) throw new Error(`internal error ${d.id}: ${d.message} for ${JSON.stringify(input)}`);
    if (d.range.start.line < 1 || d.range.start.column < 1) throw new Error(`bad range ${JSON.stringify(d.range)}`);
    const text = typeof input === "string" ? input : new TextDecoder().decode(input);
    expect(typeof renderDiagnostic(d, text)).toBe("string");
  }
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (result === undefined) {
    expect(errors.length).toBeGreaterThan(0);
  } else {
    expect(errors).toEqual([]);
    expect(typeof dumpDockerfile(result)).toBe("string");
    for (const ins of result.instructions) {
      expect(ins.range.start.line).toBeGreaterThanOrEqual(1);
      expect(ins.range.end.line).toBeLessThanOrEqual(result.lineCount + 1);
    }
  }
}

describe("parser fuzz (fixed seed)", () => {
  it("never throws or hangs on random Dockerfiles", () => {
    const r = rng(0x5eed);
    for (let i = 0; i < 2500; i++) check(randomDockerfile(r));
  });

  it("never throws or hangs on mutated conformance inputs", () => {
    const r = rng(0xd0c4);
    const inputs = sharedInputs();
    for (let i = 0; i < 1500; i++) check(mutate(inputs[i % inputs.length] ?? "", r));
  });

  it("never throws on random bytes", () => {
    const r = rng(42);
    for (let i = 0; i < 300; i++) {
      const bytes = new Uint8Array(Math.floor(r() * 200));
      for (let k = 0; k < bytes.length; k++) bytes[k] = r() < 0.5 ? Math.floor(r() * 256) : "RUN \\\n[\"a\"]<<EOF\n#`".charCodeAt(Math.floor(r() * 18));
      check(bytes);
    }
  });

  it("stays fast on adversarial 64 KiB lines", () => {
    const big = 65000;
    const inputs = [
      `RUN a${" ".repeat(big)}b`,
      `CMD [${'"a",'.repeat(big / 4)}"a"]`,
      `CMD [${'"a",'.repeat(big / 4)}`,
      `CMD ${"[".repeat(big)}`,
      `COPY ${"--a=b ".repeat(big / 6)}x`,
      `ENV ${"a=b ".repeat(big / 4)}`,
      `ARG ${"'a b' \"c d\" ".repeat(big / 12)}`,
      `# escape=${" ".repeat(big)}x\nFROM a`,
      `${"ONBUILD ".repeat(big / 8)}RUN x`,
      `RUN ${"<<E ".repeat(big / 4)}\n${"E\n".repeat(big / 4)}`,
      `RUN a \\\n${"  b \\\n".repeat(20000)}c`,
    ];
    for (const input of inputs) {
      const start = performance.now();
      expect(() => parseDockerfile(input)).not.toThrow();
      expect(performance.now() - start).toBeLessThan(3000);
    }
  });
});
