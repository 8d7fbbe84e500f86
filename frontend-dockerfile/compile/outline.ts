import { parseSource as parseDockerfile } from "../parser.ts";
import type { Diagnostic, Range } from "../types.ts";
import { compileDockerfile, type CompileOptions } from "./compile.ts";
import { isError } from "./diagnostics.ts";
import { parseInstructions } from "./instructions.ts";

/**
 * `--call=outline` and `--call=targets` (BuildKit's `outline` and `targets` subrequests), with the
 * JSON shapes of `frontend/subrequests/outline` and `…/targets` (Go's encoding/json: empty fields
 * omitted, sources as base64) and buildx's text printers.
 */

/** pb.Location as encoding/json writes it: whole lines, zero fields omitted. */
export interface LocationJson {
  readonly sourceIndex?: number;
  readonly ranges: readonly { readonly start: { readonly line?: number }; readonly end: { readonly line?: number } }[];
}

export interface Outline {
  readonly name?: string;
  readonly description?: string;
  readonly args?: readonly { readonly name: string; readonly description?: string; readonly value?: string; readonly location?: LocationJson }[];
  readonly secrets?: readonly { readonly name: string; readonly required?: boolean; readonly location?: LocationJson }[];
  readonly ssh?: readonly { readonly name: string; readonly required?: boolean; readonly location?: LocationJson }[];
  readonly sources?: readonly string[];
}

export interface TargetList {
  readonly targets: readonly {
    readonly name?: string;
    readonly default?: boolean;
    readonly description?: string;
    readonly base?: string;
    readonly platform?: string;
    readonly location?: LocationJson;
  }[];
  readonly sources: readonly string[];
}

function location(r: Range): LocationJson {
  return { ranges: [{ start: r.start.line === 0 ? {} : { line: r.start.line }, end: r.end.line === 0 ? {} : { line: r.end.line } }] };
}

const base64 = (text: string | Uint8Array): string => Buffer.from(typeof text === "string" ? new TextEncoder().encode(text) : text).toString("base64");

/** The outline of the build of `opts.target` (the args, secrets and ssh it uses). */
export async function outlineDockerfile(text: string | Uint8Array, opts: CompileOptions = {}): Promise<{ readonly result?: Outline; readonly diagnostics: readonly Diagnostic[] }> {
  const { result, diagnostics } = await compileDockerfile(text, opts);
  if (result === undefined) return { diagnostics };
  const o = result.outline;
  const outline: Outline = {
    ...(o.name === "" ? {} : { name: o.name }),
    ...(o.description === "" ? {} : { description: o.description }),
    ...(o.args.length === 0
      ? {}
      : {
          args: o.args.map((a) => ({
            name: a.name,
            ...(a.description === "" ? {} : { description: a.description }),
            ...(a.value === undefined || a.value === "" ? {} : { value: a.value }),
            location: location(a.range),
          })),
        }),
    ...(o.secrets.length === 0 ? {} : { secrets: o.secrets.map((s) => ({ name: s.name, ...(s.required ? { required: true } : {}), location: location(s.range) })) }),
    ...(o.ssh.length === 0 ? {} : { ssh: o.ssh.map((s) => ({ name: s.name, ...(s.required ? { required: true } : {}), location: location(s.range) })) }),
    sources: [base64(text)],
  };
  return { result: outline, diagnostics };
}

/** The stages of the file (BuildKit `ListTargets`): no images are resolved, bases are as written. */
export function listTargets(text: string | Uint8Array, fileName?: string): { readonly result?: TargetList; readonly diagnostics: readonly Diagnostic[] } {
  const parsed = parseDockerfile(text, fileName === undefined ? {} : { fileName });
  if (parsed.result === undefined) return { diagnostics: parsed.diagnostics };
  const ins = parseInstructions(parsed.result);
  const diagnostics = [...parsed.diagnostics, ...ins.diagnostics];
  if (diagnostics.some(isError)) return { diagnostics };
  const targets = ins.stages.map((s, i) => ({
    ...(s.name === undefined ? {} : { name: s.name }),
    ...(i === ins.stages.length - 1 ? { default: true } : {}),
    ...(s.comment === "" ? {} : { description: s.comment }),
    base: s.baseName,
    ...(s.platform === undefined ? {} : { platform: s.platform }),
    location: location(s.range),
  }));
  return { result: { targets, sources: [base64(text)] }, diagnostics };
}

/** Go's text/tabwriter with minwidth 0 and the given padding: cells padded to the widest of their column, the last cell of a line as is. */
function tabwrite(rows: readonly (readonly string[])[], padding: number): string {
  const widths: number[] = [];
  for (const r of rows) r.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + padding))).join("").trimEnd()).join("\n");
}

/** buildx's text form of an outline. */
export function formatOutline(o: Outline): string {
  const blocks: string[] = [];
  const head: string[][] = [];
  if (o.name !== undefined) head.push(["TARGET:", o.name]);
  if (o.description !== undefined) head.push(["DESCRIPTION:", o.description.trim()]);
  if (head.length > 0) blocks.push(tabwrite(head, 1));
  if (o.args !== undefined) blocks.push(tabwrite([["BUILD ARG", "VALUE", "DESCRIPTION"], ...o.args.map((a) => [a.name, a.value ?? "<nil>", a.description ?? ""])], 3));
  if (o.secrets !== undefined) blocks.push(tabwrite([["SECRET", "REQUIRED"], ...o.secrets.map((s) => [s.name, s.required === true ? "true" : ""])], 3));
  if (o.ssh !== undefined) blocks.push(tabwrite([["SSH", "REQUIRED"], ...o.ssh.map((s) => [s.name, s.required === true ? "true" : ""])], 3));
  return blocks.map((b) => `${b}\n`).join("\n");
}

/** buildx's text form of a target list: named stages, the default one marked. */
export function formatTargets(l: TargetList): string {
  const hasDescription = l.targets.some((t) => t.description !== undefined);
  const rows: string[][] = [hasDescription ? ["TARGET", "DESCRIPTION"] : ["TARGET"]];
  for (const t of l.targets) {
    if (t.name === undefined && t.default !== true) continue;
    const name = `${t.name ?? "(unnamed)"}${t.default === true ? " (default)" : ""}`;
    rows.push(hasDescription ? [name, t.description ?? ""] : [name]);
  }
  return `${tabwrite(rows, 3)}\n`;
}
