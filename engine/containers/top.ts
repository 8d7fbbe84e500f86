import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { htkError } from "../../base/errors/index.ts";
import { findExecutable } from "../runtime/find-executable.ts";

/**
 * `docker top` (Docker's daemon/top_unix.go): `ps` runs on the host with the client's `ps_args`
 * (default `-ef`) and `-q` with the container's host pids; the rows whose PID is one of them are
 * kept (and the thread rows under them, `-` in the PID column). Without `ps` on the host, `-ef` is
 * rendered from /proc as procps prints it; other `ps_args` need `ps`.
 */

/** Docker's ContainerTopOKBody. */
export interface TopResult {
  readonly Titles: readonly string[];
  readonly Processes: ReadonlyArray<readonly string[]>;
}

/** Docker refuses ps_args that rename the PID column to something else (`-o pid=PID` is fine). */
export function validatePsArgs(psArgs: string): void {
  const re = /\s+([^\s]*)=\s*(PID[^\s]*)/g;
  for (const m of psArgs.matchAll(re)) {
    const k = m[1] ?? "";
    const v = m[2] ?? "";
    if (k !== "pid") throw htkError("HTK-ENGINE-0505", { key: k, value: v });
  }
}

/** Go's strings.FieldsFunc on ASCII whitespace only (Docker keeps non-ASCII spaces inside a field). */
function fieldsAscii(s: string): string[] {
  return s.split(/[\t\n\f\r ]+/).filter((f) => f !== "");
}

/** Docker's parsePSOutput: the title row, then the rows of the container's pids (and their thread rows). */
export function parsePsOutput(output: string, pids: readonly number[]): TopResult {
  const lines = output.split("\n");
  const titles = fieldsAscii(lines[0] ?? "");
  const pidIndex = titles.indexOf("PID");
  if (pidIndex < 0) throw htkError("HTK-ENGINE-0506", {});
  const wanted = new Set(pids);
  const processes: string[][] = [];
  let previousKept = false;
  const append = (fields: string[]): void => {
    // The last column (the command) keeps its spaces: overhanging fields are joined back.
    const head = fields.slice(0, titles.length - 1);
    processes.push([...head, fields.slice(titles.length - 1).join(" ")]);
  };
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const fields = fieldsAscii(line);
    const pidField = fields[pidIndex] ?? "";
    if (pidField === "-") {
      if (previousKept) append(fields);
      continue;
    }
    const pid = Number(pidField);
    if (!/^-?\d+$/.test(pidField)) throw htkError("HTK-ENGINE-0507", { psErrorLine: `Unexpected pid '${pidField}': strconv.Atoi: parsing ${JSON.stringify(pidField)}: invalid syntax` });
    previousKept = wanted.has(pid);
    if (previousKept) append(fields);
  }
  return { Titles: titles, Processes: processes };
}

function runPs(args: readonly string[]): Promise<{ ok: true; stdout: string } | { ok: false; stderr: string; message: string }> {
  return new Promise((resolve) => {
    execFile("ps", [...args], { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (err === null) resolve({ ok: true, stdout });
      // Go's ExitError text, as Docker wraps it: "exit status 1".
      else resolve({ ok: false, stderr: String(stderr), message: typeof err.code === "number" ? `exit status ${err.code}` : err.message });
    });
  });
}

/** The container's processes as `ps ${psArgs}` shows them (Docker's retry without `-q` included). */
export async function top(pids: readonly number[], psArgs: string): Promise<TopResult> {
  const argsText = psArgs === "" ? "-ef" : psArgs;
  validatePsArgs(argsText);
  const args = argsText.split(" ");
  if (findExecutable("ps") === undefined) {
    if (argsText.trim() !== "-ef") throw htkError("HTK-ENGINE-0507", { psErrorLine: `ps ${argsText}: the program ps (Debian package procps) is not installed; without it only the default -ef is available` });
    return parsePsOutput(await psEfFromProc(pids), pids);
  }
  let r = await runPs([...args, `-q${pids.join(",")}`]);
  // Some ps options (such as f) cannot be combined with q: Docker retries without it.
  if (!r.ok) r = await runPs(args);
  if (!r.ok) {
    const first = r.stderr.split("\n")[0] ?? "";
    throw htkError("HTK-ENGINE-0507", { psErrorLine: first !== "" ? first : `ps: ${r.message}` });
  }
  return parsePsOutput(r.stdout, pids);
}

// ---------------------------------------------------------------------------------------------------
// `ps -ef` from /proc, for hosts without procps.

/** What `ps -ef` needs of one process. */
export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly uid: number;
  /** Clock ticks since boot when it started. */
  readonly startTicks: number;
  /** utime + stime, clock ticks. */
  readonly cpuTicks: number;
  /** The controlling terminal's device number (0: none). */
  readonly ttyNr: number;
  readonly comm: string;
  /** NUL-separated arguments; empty for kernel threads and zombies. */
  readonly cmdline: string;
}

/** /proc/<pid>/stat: the fields after the command name (which may hold spaces and parentheses). */
export function parseProcStat(text: string): { ppid: number; ttyNr: number; utime: number; stime: number; startTicks: number; comm: string } {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const comm = text.slice(open + 1, close);
  const rest = text.slice(close + 2).split(" ");
  // rest[0] is field 3 (state).
  const field = (n: number): number => Number(rest[n - 3] ?? 0);
  return { ppid: field(4), ttyNr: field(7), utime: field(14), stime: field(15), startTicks: field(22), comm };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** procps' STIME: HH:MM today, MonDD this year, else the year. */
export function formatStime(start: Date, now: Date): string {
  const pad = (n: number): string => String(n).padStart(2, "0");
  if (start.toDateString() === now.toDateString() || now.getTime() - start.getTime() < 24 * 3600 * 1000) return `${pad(start.getHours())}:${pad(start.getMinutes())}`;
  if (start.getFullYear() === now.getFullYear()) return `${MONTHS[start.getMonth()] ?? ""}${pad(start.getDate())}`;
  return String(start.getFullYear());
}

/** procps' TIME: [DD-]HH:MM:SS of CPU time. */
export function formatCpuTime(seconds: number): string {
  const s = Math.floor(seconds);
  const days = Math.floor(s / 86400);
  const pad = (n: number): string => String(n).padStart(2, "0");
  const hms = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

/** procps' TTY: pts/N, ttyN, or "?". */
export function formatTty(ttyNr: number): string {
  if (ttyNr === 0) return "?";
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return `tty${minor}`;
  return "?";
}

/** `ps -ef` rows for these processes (the columns procps prints: UID PID PPID C STIME TTY TIME CMD). */
export function renderPsEf(procs: readonly ProcInfo[], ctx: { readonly users: ReadonlyMap<number, string>; readonly bootTimeMs: number; readonly uptimeSeconds: number; readonly hz: number; readonly now: Date }): string {
  const rows: string[][] = procs.map((p) => {
    const elapsed = ctx.uptimeSeconds - p.startTicks / ctx.hz;
    const cpuSeconds = p.cpuTicks / ctx.hz;
    const c = elapsed > 0 ? Math.floor((cpuSeconds * 100) / elapsed) : 0;
    const start = new Date(ctx.bootTimeMs + (p.startTicks / ctx.hz) * 1000);
    const args = p.cmdline.replace(/\0+$/, "").split("\0").join(" ");
    return [ctx.users.get(p.uid) ?? String(p.uid), String(p.pid), String(p.ppid), String(c), formatStime(start, ctx.now), formatTty(p.ttyNr), formatCpuTime(cpuSeconds), args === "" ? `[${p.comm}]` : args];
  });
  const titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];
  const widths = titles.map((t, i) => Math.max(t.length, ...rows.map((r) => (r[i] ?? "").length)));
  // procps right-aligns the numbers and left-aligns the rest; CMD is last and unpadded.
  const right = new Set([1, 2, 3]);
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : right.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join(" ");
  return [line(titles), ...rows.map(line)].join("\n") + "\n";
}

async function psEfFromProc(pids: readonly number[]): Promise<string> {
  const procs: ProcInfo[] = [];
  for (const pid of pids) {
    try {
      const stat = parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      procs.push({ pid, ppid: stat.ppid, uid, startTicks: stat.startTicks, cpuTicks: stat.utime + stat.stime, ttyNr: stat.ttyNr, comm: stat.comm, cmdline });
    } catch {
      // Gone meanwhile.
    }
  }
  const users = new Map<number, string>();
  for (const line of (await readFile("/etc/passwd", "utf8").catch(() => "")).split("\n")) {
    const [name, , uid] = line.split(":");
    if (name !== undefined && uid !== undefined && !users.has(Number(uid))) users.set(Number(uid), name);
  }
  const uptimeSeconds = Number((await readFile("/proc/uptime", "utf8")).split(" ")[0]);
  const now = new Date();
  return renderPsEf(procs, { users, bootTimeMs: now.getTime() - uptimeSeconds * 1000, uptimeSeconds, hz: 100, now });
}
