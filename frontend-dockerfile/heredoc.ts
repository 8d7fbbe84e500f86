import { processWords } from "./shell/index.ts";

/**
 * Heredoc detection (BuildKit `heredocsFromLine` / `ParseHeredoc`). The logical line is split into
 * words by the shell lexer with quotes and escapes kept raw and unset variables left as written;
 * every word of the form `[digits]<<[-]rest` (rest without `<`) whose rest lexes to exactly one word
 * starts a heredoc. The escape character here is always a backslash, whatever the directive says, as in
 * BuildKit.
 */

export interface HeredocMarker {
  readonly name: string;
  readonly fileDescriptor: number;
  readonly expand: boolean;
  readonly chomp: boolean;
}

export type HeredocScan = { readonly ok: true; readonly markers: readonly HeredocMarker[] } | { readonly ok: false; readonly word: string; readonly detail: string };

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

export function heredocsFromLine(line: string): HeredocScan {
  // Raw quotes, raw escapes and unexpanded variables leave a word's "<<" in the line as written.
  if (!line.includes("<<")) return { ok: true, markers: [] };
  const split = processWords(line, [], { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  // A line the shell lexer cannot read (an unclosed quote …) simply has no heredocs, as in BuildKit.
  if (!split.ok) return { ok: true, markers: [] };
  const markers: HeredocMarker[] = [];
  for (const w of split.value) {
    const m = HEREDOC_WORD.exec(w);
    if (m === null) continue;
    const rest = m[3] ?? "";
    if (rest === "") continue;
    const plain = processWords(rest, [], { skipUnsetEnv: true });
    if (!plain.ok) return { ok: false, word: w, detail: buildkitText(plain.error) };
    const name = plain.value[0];
    if (name === undefined || plain.value.length !== 1) continue;
    const raw = processWords(rest, [], { rawQuotes: true, skipUnsetEnv: true });
    if (!raw.ok) return { ok: false, word: w, detail: buildkitText(raw.error) };
    const rawName = raw.value[0];
    if (rawName === undefined || raw.value.length !== 1) {
      return { ok: false, word: w, detail: `internal lexing of heredoc produced inconsistent results: ${rest}` };
    }
    const fd = m[1] === undefined || m[1] === "" ? 0 : Number(m[1]);
    markers.push({
      name,
      fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
      // Quotes around any part of the word (the raw form has more quote characters) disable expansion.
      expand: countQuotes(name) === countQuotes(rawName),
      chomp: m[2] === "-",
    });
  }
  return { ok: true, markers };
}

function countQuotes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x27) n++;
  }
  return n;
}

function buildkitText(err: { readonly details: Readonly<Record<string, unknown>>; readonly plainCause: string }): string {
  const bk = err.details["buildkitMessage"];
  return typeof bk === "string" ? bk : err.plainCause;
}

/** BuildKit `ChompHeredocContent`: removes the leading tabs of every line (for `<<-`). */
export function chompHeredocContent(content: string): string {
  // Go's (?m)^ starts a line only after "\n" (JavaScript's would also after "\r", U+2028, U+2029).
  return content
    .split("\n")
    .map((l) => {
      let i = 0;
      while (l.charCodeAt(i) === 0x09) i++;
      return l.slice(i);
    })
    .join("\n");
}
