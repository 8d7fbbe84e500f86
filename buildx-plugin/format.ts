import { htkError } from "../base/errors/index.ts";
import { tabwrite } from "./tabwriter.ts";

/**
 * docker's `--format` (cli/command/formatter): `table` (a default template with a header row),
 * `table TEMPLATE`, `json` (one JSON object per row), or a Go template per row. The templates
 * supported are field references (`{{.Name}}`), `{{json .}}` and literal text; `\t` and `\n` are
 * escapes, as docker's formatter reads them. Tables go through the tabwriter docker uses (minwidth
 * 10, padding 3).
 */
export interface FormatRow {
  readonly fields: Readonly<Record<string, string>>;
  readonly json: unknown;
}

export function renderFormat(format: string, defaultTable: string, header: Readonly<Record<string, string>>, rows: readonly FormatRow[]): string {
  const table = format === "table" || format.startsWith("table ");
  let template = format === "table" ? defaultTable.slice("table ".length) : table ? format.slice("table ".length) : format === "json" ? "{{json .}}" : format;
  template = template.trim().replaceAll("\\t", "\t").replaceAll("\\n", "\n");
  const parts = parseTemplate(template);
  const exec = (fields: Readonly<Record<string, string>>, json: unknown): string =>
    parts.map((p) => (p.kind === "text" ? p.text : p.kind === "json" ? JSON.stringify(json) : (fields[p.field] ?? ""))).join("");
  let out = "";
  if (table) out += `${exec(header, header)}\n`;
  for (const r of rows) out += `${exec(r.fields, r.json)}\n`;
  return table ? tabwrite(out, { minwidth: 10, padding: 3 }) : out;
}

type Part = { readonly kind: "text"; readonly text: string } | { readonly kind: "field"; readonly field: string } | { readonly kind: "json" };

function parseTemplate(t: string): Part[] {
  const parts: Part[] = [];
  let rest = t;
  while (rest.length > 0) {
    const a = rest.indexOf("{{");
    if (a < 0) {
      parts.push({ kind: "text", text: rest });
      break;
    }
    if (a > 0) parts.push({ kind: "text", text: rest.slice(0, a) });
    const b = rest.indexOf("}}", a);
    if (b < 0) throw htkError("HTK-BUILDX-0019", { detail: `template: :1: unclosed action` });
    const action = rest.slice(a + 2, b).trim();
    const field = /^\.([A-Za-z][A-Za-z0-9]*)$/.exec(action);
    if (field !== null) parts.push({ kind: "field", field: field[1] as string });
    else if (action === "json ." || action === "json .") parts.push({ kind: "json" });
    else throw htkError("HTK-BUILDX-0019", { detail: `template: :1: function or field "${action}" is not supported here` });
    rest = rest.slice(b + 2);
  }
  return parts;
}
