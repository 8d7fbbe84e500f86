import { describe, expect, it } from "vitest";
import type { Health } from "../state/index.ts";
import { healthSettings, nextHealth, probeCommand, probeLogEntry } from "./health.ts";

describe("healthchecks' pure parts (Docker's daemon/health.go)", () => {
  it("the probe's command: CMD as given, CMD-SHELL through the shell (Config.Shell or /bin/sh -c), none for NONE or nothing", () => {
    expect(probeCommand(["CMD", "curl", "-f", "localhost"], undefined)).toEqual(["curl", "-f", "localhost"]);
    expect(probeCommand(["CMD-SHELL", "test -f /ok"], undefined)).toEqual(["/bin/sh", "-c", "test -f /ok"]);
    expect(probeCommand(["CMD-SHELL", "x"], ["/bin/bash", "-ec"])).toEqual(["/bin/bash", "-ec", "x"]);
    expect(probeCommand(["NONE"], undefined)).toBeUndefined();
    expect(probeCommand([], undefined)).toBeUndefined();
    expect(probeCommand(undefined, undefined)).toBeUndefined();
    expect(probeCommand(["WHATEVER", "x"], undefined)).toBeUndefined();
  });

  it("Docker's defaults for zero durations (30 s interval and timeout, 5 s start interval, 3 retries)", () => {
    expect(healthSettings(undefined)).toEqual({ intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, startIntervalMs: 5_000, retries: 3 });
    expect(healthSettings({ Interval: 200_000_000, Timeout: 1_000_000_000, StartPeriod: 5e9, StartInterval: 1e8, Retries: 1 })).toEqual({
      intervalMs: 200,
      timeoutMs: 1000,
      startPeriodMs: 5000,
      startIntervalMs: 100,
      retries: 1,
    });
  });

  it("Go's duration text in the timeout message", () => {
    const entry = probeLogEntry({ kind: "timeout", output: "partial" }, 1_700_000_000_000_000_000n, 1_700_000_000_500_000_000n, 300);
    expect(entry).toEqual({ Start: "2023-11-14T22:13:20Z", End: "2023-11-14T22:13:20.5Z", ExitCode: -1, Output: "Health check exceeded timeout (300ms): partial" });
    expect(probeLogEntry({ kind: "timeout", output: "" }, 0n, 0n, 90_000).Output).toBe("Health check exceeded timeout (1m30s)");
    expect(probeLogEntry({ kind: "error", message: "Container x is not running" }, 0n, 0n, 1).ExitCode).toBe(-1);
  });

  it("status transitions: healthy at once, unhealthy after the retries, the start period's failures not counted, five log entries", () => {
    const settings = healthSettings({ Retries: 2, StartPeriod: 10e9 });
    const ok = { Start: "s", End: "e", ExitCode: 0, Output: "" };
    const bad = { Start: "s", End: "e", ExitCode: 1, Output: "no" };
    const starting: Health = { Status: "starting", FailingStreak: 0, Log: [] };
    // Inside the start period a failure leaves "starting" and the streak alone.
    expect(nextHealth(starting, bad, settings, 1000)).toMatchObject({ Status: "starting", FailingStreak: 0 });
    const one = nextHealth(starting, bad, settings, 20_000);
    expect(one).toMatchObject({ Status: "starting", FailingStreak: 1 });
    const two = nextHealth(one, bad, settings, 21_000);
    expect(two).toMatchObject({ Status: "unhealthy", FailingStreak: 2 });
    const healthy = nextHealth(two, ok, settings, 22_000);
    expect(healthy).toMatchObject({ Status: "healthy", FailingStreak: 0 });
    // A healthy container fails in the start period too (only "starting" is spared).
    expect(nextHealth(healthy, bad, settings, 1000)).toMatchObject({ Status: "healthy", FailingStreak: 1 });
    let h: Health = starting;
    for (let i = 0; i < 7; i++) h = nextHealth(h, { ...ok, Output: String(i) }, settings, 0);
    expect(h.Log.map((l) => l.Output)).toEqual(["2", "3", "4", "5", "6"]);
  });
});
