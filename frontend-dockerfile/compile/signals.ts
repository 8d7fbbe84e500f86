/**
 * STOPSIGNAL values, as moby/sys/signal `ParseSignal` accepts them on Linux: a positive number, or a
 * signal name with or without the SIG prefix, in any case (`SIGTERM`, `term`, `RTMIN+3`).
 */
const NAMES = new Set([
  "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT",
  "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
  "RTMIN", "RTMAX", "UNUSED",
  ...Array.from({ length: 15 }, (_, i) => `RTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `RTMAX-${i + 1}`),
]);

export function isValidSignal(raw: string): boolean {
  if (/^[+-]?\d+$/.test(raw)) return Number(raw) > 0;
  const name = raw.toUpperCase();
  return NAMES.has(name.startsWith("SIG") ? name.slice(3) : name);
}
