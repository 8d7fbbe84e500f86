import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { formatCpuTime, formatStime, formatTty, parseProcStat, parsePsOutput, renderPsEf, validatePsArgs } from "./top.ts";

function failure(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (isHtkError(err)) return `${err.id} ${err.plainCause}`;
    throw err;
  }
  return "no error";
}

describe("docker top's pure parts", () => {
  const psEf = [
    "UID          PID    PPID  C STIME TTY          TIME CMD",
    "root         100      90  0 06:48 ?        00:00:00 sleep 301",
    "root         101     100  0 06:48 ?        00:00:00 sh -c echo a  b",
    "root         200       1  0 06:48 ?        00:00:00 other",
    "",
  ].join("\n");

  it("keeps the container's rows and joins the command's spaces back (Docker's parsePSOutput)", () => {
    expect(parsePsOutput(psEf, [100, 101])).toEqual({
      Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
      Processes: [
        ["root", "100", "90", "0", "06:48", "?", "00:00:00", "sleep 301"],
        ["root", "101", "100", "0", "06:48", "?", "00:00:00", "sh -c echo a b"],
      ],
    });
  });

  it("keeps thread rows ('-' in PID) under a kept process only", () => {
    const threads = ["USER PID TID CMD", "root 100 - sleep", "- - 100 -", "root 200 - other", "- - 200 -"].join("\n");
    expect(parsePsOutput(threads, [100]).Processes).toEqual([
      ["root", "100", "-", "sleep"],
      ["-", "-", "100", "-"],
    ]);
  });

  it("refuses output without a PID column and a PID that is not a number", () => {
    expect(failure(() => parsePsOutput("USER COMMAND\nroot sleep\n", [1]))).toBe("HTK-ENGINE-0506 Couldn't find PID field in ps output");
    expect(failure(() => parsePsOutput("PID CMD\nabc sleep\n", [1]))).toContain("HTK-ENGINE-0507 Unexpected pid 'abc'");
  });

  it("refuses ps_args that give another column the PID title (HTK-ENGINE-0505)", () => {
    expect(failure(() => validatePsArgs("-o comm=PID"))).toBe('HTK-ENGINE-0505 specifying "comm=PID" is not allowed');
    expect(failure(() => validatePsArgs("-o pid=PID,comm"))).toBe("no error");
    expect(failure(() => validatePsArgs("aux"))).toBe("no error");
  });

  it("renders ps -ef from /proc figures as procps does", () => {
    const stat = "1234 (sleep (x)) S 1200 1234 1234 34817 1234 4194560 100 0 0 0 150 50 0 0 20 0 1 0 5000 2000000 200 18446744073709551615";
    expect(parseProcStat(stat)).toEqual({ ppid: 1200, ttyNr: 34817, utime: 150, stime: 50, startTicks: 5000, comm: "sleep (x)" });
    expect(formatTty(0)).toBe("?");
    expect(formatTty(34817)).toBe("pts/1");
    expect(formatTty(1025)).toBe("tty1");
    expect(formatCpuTime(3725)).toBe("01:02:05");
    expect(formatCpuTime(90000)).toBe("1-01:00:00");
    const now = new Date(2024, 4, 10, 12, 0, 0);
    expect(formatStime(new Date(2024, 4, 10, 9, 5), now)).toBe("09:05");
    expect(formatStime(new Date(2024, 1, 3, 9, 5), now)).toBe("Feb03");
    expect(formatStime(new Date(2022, 1, 3, 9, 5), now)).toBe("2022");
    const out = renderPsEf(
      [
        { pid: 1234, ppid: 1200, uid: 0, startTicks: 5000, cpuTicks: 200, ttyNr: 0, comm: "sleep", cmdline: "sleep\u0000300\u0000" },
        { pid: 1240, ppid: 1234, uid: 65534, startTicks: 5100, cpuTicks: 0, ttyNr: 0, comm: "kworker", cmdline: "" },
      ],
      { users: new Map([[0, "root"]]), bootTimeMs: now.getTime() - 100_000, uptimeSeconds: 100, hz: 100, now },
    );
    const parsed = parsePsOutput(out, [1234, 1240]);
    expect(parsed.Titles).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    expect(parsed.Processes[0]).toEqual(["root", "1234", "1200", "4", "11:59", "?", "00:00:02", "sleep 300"]);
    expect(parsed.Processes[1]?.[0]).toBe("65534");
    expect(parsed.Processes[1]?.[7]).toBe("[kworker]");
  });
});
