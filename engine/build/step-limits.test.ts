import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { buildStepCgroupsPath } from "../worker/runtime-worker.ts";
import { checkedLimits, stepLimitsFromAttrs } from "./step-limits.ts";

const idOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (isHtkError(err)) return err.message;
    throw err;
  }
  throw new Error("expected an error");
};

describe("step limits", () => {
  it("reads BuildKit's frontend attributes as buildx sends them", () => {
    expect(stepLimitsFromAttrs({})).toEqual({});
    expect(stepLimitsFromAttrs({ "shm-size": "134217728", ulimit: "nofile=1024:2048,nproc=10:20", "cgroup-parent": "ci" })).toEqual({
      shmSize: 134217728,
      ulimits: [
        { name: "nofile", soft: 1024, hard: 2048 },
        { name: "nproc", soft: 10, hard: 20 },
      ],
      cgroupParent: "ci",
    });
    // The last value of a name wins; 0 is "no size given".
    expect(stepLimitsFromAttrs({ "shm-size": "0", ulimit: "nofile=1:1,nofile=2:2" })).toEqual({ ulimits: [{ name: "nofile", soft: 2, hard: 2 }] });
  });

  it("refuses what BuildKit's frontend refuses, with its texts", () => {
    expect(idOf(() => stepLimitsFromAttrs({ ulimit: "nofile" }))).toMatch(/^HTK-BUILD-0420: failed to parse ulimit: invalid ulimit argument: nofile/);
    expect(idOf(() => stepLimitsFromAttrs({ ulimit: "bogus=1" }))).toMatch(/^HTK-BUILD-0420: failed to parse ulimit: invalid ulimit type: bogus/);
    expect(idOf(() => stepLimitsFromAttrs({ "shm-size": "128m" }))).toMatch(/^HTK-BUILD-0421: failed to parse shm size: strconv.ParseInt: parsing "128m": invalid syntax/);
    expect(idOf(() => checkedLimits({ ulimits: [{ name: "as", soft: 1, hard: 1 }] }))).toMatch(/^HTK-BUILD-0422: .*"as"/);
    expect(idOf(() => checkedLimits({ ulimits: [{ name: "nofile", soft: 9, hard: 1 }] }))).toMatch(/^HTK-BUILD-0420: .*9 > 1/);
    expect(idOf(() => checkedLimits({ cgroupParent: "a/../../x" }))).toMatch(/^HTK-BUILD-0423/);
  });

  it("places a step with a cgroup parent as BuildKit does, and refuses systemd slices (HTK-RUNTIME-0340)", () => {
    expect(buildStepCgroupsPath("ci", "htk-build-1")).toBe("/ci/buildkit/htk-build-1");
    expect(buildStepCgroupsPath("/system.slice/ci.slice/", "x")).toBe("/system.slice/ci.slice/buildkit/x");
    expect(idOf(() => buildStepCgroupsPath("ci.slice:hatake:", "x"))).toMatch(/^HTK-RUNTIME-0340/);
  });
});
