/**
 * The normaliser of golden-flow output: what differs between two runs (or two engines) but says
 * nothing about compatibility is replaced by a placeholder, so expectations can be written once and
 * outputs of two engines compared. Applied in this order, to stdout and stderr alike:
 *
 * 1. run context: the registries' addresses → `<REGISTRY>` / `<AUTH_REGISTRY>`, the flow run's token
 *    → `<RUN>`, the Docker host address of the engine → `<DOCKER_HOST>`, the flow's private
 *    DOCKER_CONFIG folder → `<DOCKER_CONFIG>`;
 * 2. HATAKE diagnostics: ` [HTK-AREA-NNNN] next step…` (to the end of the line) → ` [HTK-AREA-NNNN]`:
 *    the ID is kept, the wording of the next step is the catalogue's business, not the flow's;
 * 3. digests `sha256:<64 hex>` → `sha256:<DIGEST>`; other 64-hex IDs → `<ID>`; 12-hex short IDs →
 *    `<SHORT_ID>`;
 * 4. times: RFC 3339 (`2024-05-01T10:00:00.123Z`), Go's default (`2024-05-01 10:00:00 +0000 UTC`) and
 *    `date`-style (`Fri May 30 12:07:14 2025`) → `<TIME>`; relative times (`3 seconds ago`,
 *    `About a minute ago`) → `<AGO>`; durations after `Up ` → `Up <DURATION>`;
 * 5. sizes (`1.2MB`, `512 B`, `4.1 GiB`) → `<SIZE>`;
 * 6. trailing spaces on each line and trailing blank lines are dropped.
 *
 * For differential comparison `forComparison` also drops the diagnostic markers (Docker prints none)
 * and line-final full stops.
 */
export interface NormaliseContext {
  readonly host: string;
  readonly configDir: string;
  /** More run context, replaced first (text → placeholder): the registries' addresses, the run token. */
  readonly replace?: ReadonlyArray<readonly [string, string]>;
}

const HEX64 = /\b[0-9a-f]{64}\b/g;
const SHORT_ID = /\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{12}\b/g;
const RFC3339 = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})/g;
const GO_TIME = /\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? [+-]\d{4} [A-Z]{2,5}\b/g;
const DATE_TIME = /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2}:\d{2} \d{4}\b/g;
const AGO = /\b(?:About an?|Less than a|\d+) (?:second|minute|hour|day|week|month|year)s? ago\b/g;
const UP = /\bUp (?:About an?|Less than a|\d+) (?:second|minute|hour|day|week|month|year)s?\b/g;
const SIZE = /\b\d+(?:\.\d+)? ?(?:B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\b/g;
const DIAGNOSTIC = / \[(HTK-[A-Z]+-\d{4})\][^\n]*/g;

export function normalise(text: string, ctx: NormaliseContext): string {
  let t = text;
  for (const [from, to] of ctx.replace ?? []) if (from !== "") t = t.split(from).join(to);
  if (ctx.host !== "") t = t.split(ctx.host).join("<DOCKER_HOST>");
  if (ctx.configDir !== "") t = t.split(ctx.configDir).join("<DOCKER_CONFIG>");
  t = t.replace(DIAGNOSTIC, " [$1]");
  t = t.replace(/sha256:[0-9a-f]{64}/g, "sha256:<DIGEST>");
  t = t.replace(HEX64, "<ID>");
  t = t.replace(SHORT_ID, "<SHORT_ID>");
  t = t.replace(RFC3339, "<TIME>").replace(GO_TIME, "<TIME>").replace(DATE_TIME, "<TIME>");
  t = t.replace(AGO, "<AGO>").replace(UP, "Up <DURATION>");
  t = t.replace(SIZE, "<SIZE>");
  return t
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n")
    .replace(/\n+$/, "");
}

/**
 * A normalised output as compared with a reference engine's: without HATAKE's diagnostic markers,
 * and without a full stop ending a line (on both sides, so it is symmetric), because the catalogue
 * ends every cause with one where Docker's text sometimes has none ("This node is not part of a swarm").
 */
export function forComparison(normalised: string): string {
  return normalised
    .replace(/ \[HTK-[A-Z]+-\d{4}\]/g, "")
    .split("\n")
    .map((l) => l.replace(/\.$/, ""))
    .join("\n");
}
