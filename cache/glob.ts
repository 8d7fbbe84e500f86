/**
 * Go `path.Match` patterns, one path component at a time: the wildcard rules of COPY sources. The
 * context hasher (which computes a COPY's cache key) and the worker (which performs the copy) both use
 * these, so a key always covers exactly the files the copy takes.
 */

/** Go's `path.Match` meta characters (`\` escapes on Unix). */
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
