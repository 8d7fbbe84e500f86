import { htkError } from "../../base/errors/index.ts";

/**
 * The part of Go's text/template that `imagetools inspect --format` templates use: literal text,
 * field chains (`{{.Name}}`, `{{.Manifest.Digest}}`, `{{.Image.Config.Env}}`) and `json` (Go's
 * `json.MarshalIndent(v, "", "  ")`, as buildx's template function). The data is the JSON form of
 * buildx's template input, so a Go field name is matched against the JSON keys case-insensitively
 * and without punctuation (`OSVersion` ↔ `os.version`, `DiffIDs` ↔ `diff_ids`).
 */
const EXAMPLE = "{{json .Manifest}}";

type Action = { readonly kind: "text"; readonly text: string } | { readonly kind: "value"; readonly path: readonly string[]; readonly json: boolean };

export function parseGoTemplate(template: string): Action[] {
  const out: Action[] = [];
  let rest = template;
  while (rest.length > 0) {
    const a = rest.indexOf("{{");
    if (a < 0) {
      out.push({ kind: "text", text: rest });
      break;
    }
    if (a > 0) out.push({ kind: "text", text: rest.slice(0, a) });
    const b = rest.indexOf("}}", a);
    if (b < 0) throw htkError("HTK-BUILDX-0109", { detail: "template: :1: unclosed action", example: EXAMPLE });
    const action = rest.slice(a + 2, b).trim();
    const m = /^(json\s+)?(\.|(?:\.[A-Za-z_][A-Za-z0-9_]*)+)$/.exec(action);
    if (m === null) throw htkError("HTK-BUILDX-0109", { detail: `"{{${action}}}" (field chains and json are supported)`, example: EXAMPLE });
    const path = m[2] === "." ? [] : (m[2] as string).slice(1).split(".");
    out.push({ kind: "value", path, json: m[1] !== undefined });
    rest = rest.slice(b + 2);
  }
  return out;
}

export function executeGoTemplate(actions: readonly Action[], data: unknown): string {
  return actions.map((a) => (a.kind === "text" ? a.text : a.json ? goJson(lookup(data, a.path)) : goPrint(lookup(data, a.path)))).join("");
}

const squash = (s: string): string => s.replace(/[^A-Za-z0-9]/g, "").toLowerCase();

function lookup(data: unknown, path: readonly string[]): unknown {
  let v = data;
  for (const field of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    const obj = v as Record<string, unknown>;
    const key = field in obj ? field : Object.keys(obj).find((k) => squash(k) === squash(field));
    v = key === undefined ? undefined : obj[key];
  }
  return v;
}

/** Go's json.MarshalIndent with two spaces: HTML characters escaped as Go's encoder does; nil is null. */
export function goJson(v: unknown): string {
  return (JSON.stringify(v ?? null, null, 2) ?? "null").replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** What `{{.X}}` prints: fmt's %v for the plain values a template reaches. */
function goPrint(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(goPrint).join(" ")}]`;
  const obj = v as Record<string, unknown>;
  return `map[${Object.keys(obj)
    .sort()
    .map((k) => `${k}:${goPrint(obj[k])}`)
    .join(" ")}]`;
}
