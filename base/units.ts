/**
 * docker/go-units' human-readable sizes and durations, as the docker CLI, buildx and the engine print
 * them ("1.98MB", "About a minute"). One copy for the engine (status lines) and the buildx plugin.
 */

/** HumanSize: decimal units, four significant digits ("0B", "1.234MB"). */
export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]);
}

/** BytesSize: binary units, four significant digits ("1KiB", "1.5MiB"). */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]);
}

/** go-units' CustomSize("%.4g%s"). */
function scaled(bytes: number, base: number, units: readonly string[]): string {
  let n = bytes;
  let i = 0;
  while (n >= base && i < units.length - 1) {
    n /= base;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

/** HumanDuration: "Less than a second", "1 second", "About a minute", "3 hours", "2 weeks" … */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** A parse that fails with the text Go's parser gives (the docker CLI and BuildKit show it as is). */
export type UnitParse<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** Go's %q of a string (strconv.Quote), close enough for the ASCII the flags take. */
const goQuote = (s: string): string => JSON.stringify(s);

/** Go's strconv.ParseInt(s, 10, 64), with its error texts. */
export function goParseInt64(s: string): UnitParse<number> {
  if (!/^[+-]?\d+$/.test(s)) return { ok: false, message: `strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax` };
  const n = BigInt(s);
  if (n > 2n ** 63n - 1n || n < -(2n ** 63n)) return { ok: false, message: `strconv.ParseInt: parsing ${goQuote(s)}: value out of range` };
  return { ok: true, value: Number(n) };
}

const BINARY_UNITS: Readonly<Record<string, number>> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/**
 * go-units RAMInBytes, which the docker CLI's and buildx's `--shm-size` (and `--memory`) take:
 * "128m", "1.5GiB", "512", "64 MB" (binary multiples, case-insensitive, an optional `b`/`ib`), with its
 * exact errors ("invalid size: '-5'", "invalid suffix: 'q'").
 */
export function parseRamInBytes(text: string): UnitParse<number> {
  let sep = -1;
  for (let i = text.length - 1; i >= 0; i--) {
    if ("0123456789. ".includes(text[i] as string)) {
      sep = i;
      break;
    }
  }
  if (sep < 0) return { ok: false, message: `invalid size: '${text}'` };
  const num = text[sep] === " " ? text.slice(0, sep) : text.slice(0, sep + 1);
  const suffix = text.slice(sep + 1).toLowerCase();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(num)) return { ok: false, message: `strconv.ParseFloat: parsing ${goQuote(num)}: invalid syntax` };
  const size = Number(num);
  if (size < 0) return { ok: false, message: `invalid size: '${text}'` };
  if (suffix === "" || suffix === "b") return { ok: true, value: Math.trunc(size) };
  const mult = BINARY_UNITS[suffix[0] as string];
  const rest = suffix.slice(1);
  if (suffix.length > 3 || mult === undefined || (rest !== "" && rest !== "b" && rest !== "ib")) return { ok: false, message: `invalid suffix: '${suffix}'` };
  return { ok: true, value: Math.trunc(size * mult) };
}

/**
 * The resource limit names Docker's `--ulimit` accepts (go-units' ulimitNameMapping; `as` is left out
 * there, as it is unusable with the way Docker starts a container). Each is RLIMIT_<NAME upper-cased>.
 */
export const ULIMIT_NAMES: readonly string[] = ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

/** One `--ulimit`: soft ≤ hard, -1 is unlimited. */
export interface UlimitValue {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/** go-units ParseUlimit: `nofile=1024:2048` or `nofile=1024` (hard = soft), with its exact errors. */
export function parseUlimit(text: string): UnitParse<UlimitValue> {
  const eq = text.indexOf("=");
  if (eq < 0) return { ok: false, message: `invalid ulimit argument: ${text}` };
  const name = text.slice(0, eq);
  if (!ULIMIT_NAMES.includes(name)) return { ok: false, message: `invalid ulimit type: ${name}` };
  const values = text.slice(eq + 1).split(":");
  if (values.length > 2) return { ok: false, message: `too many limit value arguments - ${text.slice(eq + 1)}, can only have up to two, \`soft[:hard]\`` };
  // Go parses the hard limit first, so its error is the one shown when both are wrong.
  const hard = values.length === 2 ? goParseInt64(values[1] as string) : undefined;
  if (hard !== undefined && !hard.ok) return hard;
  const soft = goParseInt64(values[0] as string);
  if (!soft.ok) return soft;
  const h = hard === undefined ? soft.value : hard.value;
  if (h !== -1 && soft.value === -1) return { ok: false, message: `ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: ${h}` };
  if (h !== -1 && soft.value > h) return { ok: false, message: `ulimit soft limit must be less than or equal to hard limit: ${soft.value} > ${h}` };
  return { ok: true, value: { name, soft: soft.value, hard: h } };
}

/** go-units Ulimit.String(): `name=soft:hard`, the form buildx sends in the `ulimit` frontend attribute. */
export function formatUlimit(u: UlimitValue): string {
  return `${u.name}=${u.soft}:${u.hard}`;
}
