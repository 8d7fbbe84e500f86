/**
 * Go `path.Match` patterns, one path component at a time: the wildcard rules of COPY sources. The
 * context hasher (which computes a COPY's cache key) and the worker (which performs the copy) both use
 * these, so a key always covers exactly the files the copy takes.
 */

import { posix } from "node:path";

/** Go's `path.Match` meta characters (`\` escapes on Unix). */
/**
 * The candidate paths of a pattern, expanded component by component (literal components are joined,
 * wildcard components matched against the names `listDir` gives, sorted). `listDir` returns undefined
 * for a path that is not a readable directory. Whether each candidate exists is the caller's check, with
 * its own rule for a final symbolic link.
 */
export async function expandPattern(pattern: string, listDir: (dir: string) => Promise<readonly string[] | undefined>): Promise<string[]> {
  let candidates = ["/"];
  for (const component of pattern.split("/").filter((c) => c !== "" && c !== ".")) {
    if (!hasMeta(component)) {
      candidates = candidates.map((base) => posix.join(base, unescapeLiteral(component)));
      continue;
    }
    const re = componentRegExp(component);
    const next: string[] = [];
    for (const base of candidates) {
      const names = await listDir(base);
      if (names === undefined) continue;
      for (const name of [...names].sort()) if (re.test(name)) next.push(posix.join(base, name));
    }
    candidates = next;
  }
  return candidates;
}

export function hasMeta(s: string): boolean {
  return /[*?[\\]/.test(s);
}

export function unescapeLiteral(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

/**
 * One path component of a Go `path.Match` pattern as a RegExp: `*` and `?` never match `/` (there is
 * none inside a component anyway), `[^a-z]` negates, `\x` is a literal x. An unterminated `[` is taken
 * literally rather than rejected.
 */
export function componentRegExp(component: string): RegExp {
  let out = "^";
  for (let i = 0; i < component.length; i++) {
    const c = component[i] as string;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "\\" && i + 1 < component.length) out += escapeRe(component[++i] as string);
    else if (c === "[") {
      const end = component.indexOf("]", i + 2);
      if (end === -1) {
        out += "\\[";
        continue;
      }
      let body = component.slice(i + 1, end);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      const cls = body.replace(/\\(.)/g, "$1").replace(/[\\\]^[]/g, "\\$&");
      out += negate ? `[^/${cls}]` : `[${cls}]`;
      i = end;
    } else out += escapeRe(c);
  }
  return new RegExp(`${out}$`, "u");
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
