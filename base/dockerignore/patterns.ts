/**
 * `.dockerignore` with Docker's exact semantics: moby/patternmatcher (Go filepath.Match syntax plus `**`,
 * `!` exceptions, the last matching line wins) and ignorefile.ReadAll (BOM, `#` comments, trimming, Clean,
 * leading `/` dropped). Unlike gitignore, patterns are anchored at the context root: `*.go` does not match
 * `a/b.go` (a `**` directory prefix does), and a pattern that matches a directory covers all below it.
 * Paths are slash paths relative to the context root, such as `src/main.go`.
 */
import { htkError } from "../errors/index.ts";
import { GoRegexpError, compileGoRegexp } from "./go-regexp.ts";

// ---------------------------------------------------------------------------------------------------
// The file reader (moby/patternmatcher ignorefile.ReadAll)

/** The patterns of an ignore file, in order, `!` kept as a prefix of exceptions. */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  // bufio.ScanLines: a final newline does not start another line, and one \r before \n is dropped.
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, index) => {
    let line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (index === 0 && line.startsWith("\uFEFF")) line = line.slice(1);
    // Comments are recognised before trimming: " # x" is a pattern, not a comment.
    if (line.startsWith("#")) return;
    let pattern = goTrimSpace(line);
    if (pattern === "") return;
    const invert = pattern.startsWith("!");
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  });
  return out;
}

/** Go's unicode.IsSpace, for strings.TrimSpace parity. */
function isGoSpace(ch: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(ch);
}

function goTrimSpace(s: string): string {
  const chars = Array.from(s);
  let a = 0;
  let b = chars.length;
  while (a < b && isGoSpace(chars[a] ?? "")) a++;
  while (b > a && isGoSpace(chars[b - 1] ?? "")) b--;
  return chars.slice(a, b).join("");
}

/** Go's path/filepath.Clean with `/` as the separator. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      const last = parts.at(-1);
      if (last !== undefined && last !== "..") parts.pop();
      else if (!rooted) parts.push("..");
      continue;
    }
    parts.push(seg);
  }
  const body = parts.join("/");
  if (rooted) return `/${body}`;
  return body === "" ? "." : body;
}

// ---------------------------------------------------------------------------------------------------
// Patterns (moby/patternmatcher Pattern)

type MatchType = "exact" | "prefix" | "suffix" | "regexp";

/** One compiled line. `text` is the cleaned pattern without its `!`. */
export class Pattern {
  readonly matchType: MatchType;
  private readonly regexp: RegExp | undefined;
  /** The pattern split at `/` (patternmatcher `dirs`; the deprecated `matches` uses its length). */
  readonly dirs: readonly string[];

  constructor(
    readonly text: string,
    readonly exclusion: boolean,
  ) {
    this.dirs = text.split("/");
    const { type, regexp } = compilePattern(text);
    this.matchType = type;
    this.regexp = regexp;
  }

  /** The line as written in canonical form (`!` restored for exceptions). */
  toString(): string {
    return this.exclusion ? `!${this.text}` : this.text;
  }

  match(path: string): boolean {
    switch (this.matchType) {
      case "exact":
        return path === this.text;
      case "prefix":
        return path.startsWith(this.text.slice(0, -2));
      case "suffix": {
        const suffix = this.text.slice(2);
        if (path.endsWith(suffix)) return true;
        // **/foo also matches foo itself.
        return suffix.startsWith("/") && path === suffix.slice(1);
      }
      case "regexp":
        return this.regexp?.test(path) ?? false;
      default:
        return assertNever(this.matchType);
    }
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

/**
 * patternmatcher's `compile`: literal patterns compare as strings, a trailing `**` as a prefix, a leading
 * `**` as a suffix; anything with `*`, `?`, `[`, `]` or an escape becomes a Go regexp, which we then translate.
 */
function compilePattern(pattern: string): { type: MatchType; regexp: RegExp | undefined } {
  let re = "^";
  let type: MatchType = "exact";
  const chars = Array.from(pattern);
  for (let i = 0, k = 0; k < chars.length; i++) {
    const ch = chars[k++] ?? "";
    if (ch === "*") {
      if (chars[k] === "*") {
        k++;
        // **/ is the same as **.
        if (chars[k] === "/") k++;
        if (k >= chars.length) {
          // Trailing ** accepts everything, as in .gitignore.
          if (type === "exact") type = "prefix";
          else {
            re += ".*";
            type = "regexp";
          }
        } else {
          // Any number of directories, including none.
          re += "(.*/)?";
          type = "regexp";
        }
        if (i === 0) type = "suffix";
      } else {
        re += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      type = "regexp";
    } else if (".+()|{}$".includes(ch)) {
      re += `\\${ch}`;
    } else if (ch === "\\") {
      // On Linux a backslash escapes the next character; a trailing one stays (and fails to compile).
      if (k < chars.length) {
        re += `\\${chars[k++] ?? ""}`;
        type = "regexp";
      } else {
        re += "\\";
      }
    } else if (ch === "[" || ch === "]") {
      re += ch;
      type = "regexp";
    } else {
      re += ch;
    }
  }
  if (type !== "regexp") return { type, regexp: undefined };
  re += "$";
  return { type, regexp: compileGoRegexp(re) };
}

/**
 * Go's `filepath.Match(pattern, ".")` error check, which patternmatcher runs on every line: a bad
 * `[...]` class or a trailing backslash is an error even though the walk would never reach it.
 */
export function globSyntaxError(pattern: string): string | undefined {
  const s = Array.from(pattern);
  let i = 0;
  const esc = (): string | undefined => {
    // getEsc: a class member may not be empty, '-' or ']'; \x escapes; something must follow.
    const c = s[i];
    if (c === undefined || c === "-" || c === "]") return "bad";
    if (c === "\\") {
      i++;
      if (s[i] === undefined) return "bad";
    }
    i++;
    if (s[i] === undefined) return "bad";
    return undefined;
  };
  while (i < s.length) {
    const c = s[i];
    if (c === "\\") {
      i++;
      if (s[i] === undefined) return "trailing backslash";
      i++;
    } else if (c === "[") {
      i++;
      if (s[i] === "^") i++;
      let n = 0;
      for (;;) {
        if (s[i] === "]" && n > 0) {
          i++;
          break;
        }
        if (esc() !== undefined) return "bad character class";
        if (s[i] === "-") {
          i++;
          if (esc() !== undefined) return "bad character class";
        }
        n++;
      }
    } else {
      i++;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// The matcher (moby/patternmatcher PatternMatcher) and the walker's skip rule (tonistiigi/fsutil)

/** Per-pattern "matched this directory or one of its parents", carried from a directory to its entries. */
export type MatchInfo = readonly boolean[];

export interface DockerignoreMatcher {
  readonly patterns: readonly Pattern[];
  /** True if any line is a `!` exception. */
  readonly hasExceptions: boolean;
  /**
   * patternmatcher's `Matches`: tests only the one parent as deep as the pattern has segments, so a
   * pattern with a leading `**` misses shallower parents. Kept for parity with code that still calls it.
   * @deprecated Upstream deprecated it as buggy; use matchesOrParentMatches (or walkContext).
   */
  matches(path: string): boolean;
  /** No parent matching at all. */
  matchesExact(path: string): boolean;
  /** Excluded if the path or any parent directory matches (last matching line wins). */
  matchesOrParentMatches(path: string): boolean;
  /** The incremental form the walker uses: pass the directory's info to its entries. */
  matchesUsingParentResults(path: string, parent: MatchInfo | undefined): { excluded: boolean; info: MatchInfo };
  /**
   * For an excluded directory: true when no exception can re-include anything inside it, so the walker
   * may skip it without reading it (fsutil's rule; when an exception contains a glob it always descends).
   */
  canSkipExcludedDir(dir: string): boolean;
}

/** Compiles ignore patterns (as `readDockerignore` returns them). Throws HTK-DOCKERFILE-0110 on a bad line. */
export function compile(patterns: readonly string[], source = ".dockerignore"): DockerignoreMatcher {
  const compiled: Pattern[] = [];
  let hasExceptions = false;
  for (const line of patterns) {
    let p = goTrimSpace(line);
    if (p === "") continue;
    p = cleanPath(p);
    let exclusion = false;
    if (p.startsWith("!")) {
      if (p.length === 1) {
        throw htkError("HTK-DOCKERFILE-0110", { pattern: JSON.stringify(line), file: source, detail: 'illegal exclusion pattern: "!"' });
      }
      exclusion = true;
      hasExceptions = true;
      p = p.slice(1);
    }
    const bad = globSyntaxError(p);
    if (bad !== undefined) {
      throw htkError("HTK-DOCKERFILE-0110", { pattern: JSON.stringify(line), file: source, detail: `syntax error in pattern (${bad})` });
    }
    try {
      compiled.push(new Pattern(p, exclusion));
    } catch (err) {
      // Docker only notices these when a path is first tested; failing early is kinder and safe.
      if (!(err instanceof GoRegexpError)) throw err;
      throw htkError("HTK-DOCKERFILE-0110", { pattern: JSON.stringify(line), file: source, detail: `syntax error in pattern (${err.message})` });
    }
  }
  return new Matcher(compiled, hasExceptions);
}

const PATTERN_CHARS = /[*[\]?^\\]/;

function withoutTrailingGlob(p: Pattern): string {
  let s = p.text;
  if (s.endsWith("/**")) s = s.slice(0, -3);
  if (s.endsWith("/*")) s = s.slice(0, -2);
  return s;
}

class Matcher implements DockerignoreMatcher {
  private readonly onlyPrefixExceptions: boolean;
  private readonly exceptionPrefixes: readonly string[];

  constructor(
    readonly patterns: readonly Pattern[],
    readonly hasExceptions: boolean,
  ) {
    const exceptions = patterns.filter((p) => p.exclusion);
    this.onlyPrefixExceptions = exceptions.every((p) => !PATTERN_CHARS.test(withoutTrailingGlob(p)));
    this.exceptionPrefixes = exceptions.map((p) => `${withoutTrailingGlob(p)}/`);
  }

  matches(path: string): boolean {
    const parentDirs = parentOf(path).split("/");
    let matched = false;
    for (const p of this.patterns) {
      // An include cannot change an already excluded path, nor an exception an included one.
      if (p.exclusion !== matched) continue;
      let m = p.match(path);
      if (!m && parentOf(path) !== "." && p.dirs.length <= parentDirs.length) {
        m = p.match(parentDirs.slice(0, p.dirs.length).join("/"));
      }
      if (m) matched = !p.exclusion;
    }
    return matched;
  }

  matchesExact(path: string): boolean {
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      if (p.match(path)) matched = !p.exclusion;
    }
    return matched;
  }

  matchesOrParentMatches(path: string): boolean {
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      if (p.match(path) || this.parentMatches(p, path)) matched = !p.exclusion;
    }
    return matched;
  }

  private parentMatches(p: Pattern, path: string): boolean {
    const parent = parentOf(path);
    if (parent === ".") return false;
    const dirs = parent.split("/");
    for (let i = 1; i <= dirs.length; i++) if (p.match(dirs.slice(0, i).join("/"))) return true;
    return false;
  }

  matchesUsingParentResults(path: string, parent: MatchInfo | undefined): { excluded: boolean; info: MatchInfo } {
    const known = parent !== undefined && parent.length > 0 ? parent : undefined;
    if (known !== undefined && known.length !== this.patterns.length) {
      throw new Error("matchesUsingParentResults: wrong number of values in the parent's match info");
    }
    let matched = false;
    const patterns = this.patterns;
    const info: boolean[] = new Array<boolean>(patterns.length);
    for (let i = 0; i < patterns.length; i++) {
      const p = patterns[i] as Pattern;
      let m = known?.[i] ?? false;
      if (!m) {
        if (p.exclusion !== matched) {
          info[i] = false;
          continue;
        }
        m = p.match(path);
        // Without the parent's info, fall back to testing every parent (MatchesOrParentMatches).
        if (!m && known === undefined) m = this.parentMatches(p, path);
      }
      info[i] = m;
      if (m) matched = !p.exclusion;
    }
    return { excluded: matched, info };
  }

  canSkipExcludedDir(dir: string): boolean {
    if (!this.onlyPrefixExceptions) return false;
    if (!this.hasExceptions) return true;
    const dirSlash = `${dir}/`;
    return !this.exceptionPrefixes.some((p) => p.startsWith(dirSlash));
  }
}

/** Go's filepath.Dir for clean relative slash paths: `a/b` → `a`, `a` → `.`. */
function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  if (i < 0) return ".";
  return i === 0 ? "/" : path.slice(0, i);
}
