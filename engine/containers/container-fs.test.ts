import { mkdirSync, symlinkSync, writeFileSync, lstatSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { tempDataRoot } from "../state/test-support.ts";
import { rmSync } from "node:fs";
import { absoluteKeepingTrailing, goBase, goFileMode, goTimeJson, hostPathOf, resolveInContainer, statResource, type ContainerFsView } from "./container-fs.ts";

describe("a container's file system view", () => {
  let root = "";
  let volume = "";
  let view: ContainerFsView;
  beforeEach(() => {
    const base = tempDataRoot("cfs");
    root = `${base}/root`;
    volume = `${base}/volume`;
    mkdirSync(`${root}/etc`, { recursive: true });
    mkdirSync(`${root}/data`, { recursive: true });
    mkdirSync(`${volume}/inner`, { recursive: true });
    writeFileSync(`${root}/etc/passwd`, "root:x:0:0::/root:/bin/sh\n");
    writeFileSync(`${volume}/inner/v.txt`, "in the volume\n");
    symlinkSync("/etc", `${root}/abs-link`);
    symlinkSync("../../../../../../etc", `${root}/climbing`);
    symlinkSync("/data/inner", `${root}/into-volume`);
    symlinkSync("loop-b", `${root}/loop-a`);
    symlinkSync("loop-a", `${root}/loop-b`);
    view = { root, mounts: [{ destination: "/data", source: volume }] };
  });
  afterEach(() => rmSync(root.replace(/\/root$/, ""), { recursive: true, force: true }));

  it("maps container paths to the host through the deepest mount", () => {
    expect(hostPathOf(view, "/")).toBe(`${root}/.`);
    expect(hostPathOf(view, "/etc/passwd")).toBe(`${root}/etc/passwd`);
    expect(hostPathOf(view, "/data")).toBe(volume);
    expect(hostPathOf(view, "/data/inner/v.txt")).toBe(`${volume}/inner/v.txt`);
    expect(hostPathOf(view, "/database")).toBe(`${root}/database`);
  });

  it("resolves links inside the container: absolute targets from its root, '..' stops there, mounts followed", async () => {
    expect(await resolveInContainer(view, "/abs-link/passwd", true)).toEqual({ containerPath: "/etc/passwd", hostPath: `${root}/etc/passwd` });
    expect((await resolveInContainer(view, "/climbing/passwd", true)).hostPath).toBe(`${root}/etc/passwd`);
    expect((await resolveInContainer(view, "../../../etc/../etc/passwd", true)).containerPath).toBe("/etc/passwd");
    expect((await resolveInContainer(view, "/into-volume/v.txt", true)).hostPath).toBe(`${volume}/inner/v.txt`);
    // The last link only when asked; missing components are kept as they are.
    expect((await resolveInContainer(view, "/abs-link", false)).containerPath).toBe("/abs-link");
    expect((await resolveInContainer(view, "/abs-link/new/../deeper", true)).containerPath).toBe("/etc/deeper");
  });

  it("refuses a loop of links (HTK-ENGINE-0522)", async () => {
    const err = await resolveInContainer(view, "/loop-a/x", true).catch((e: unknown) => e);
    expect(isHtkError(err, "HTK-ENGINE-0522")).toBe(true);
  });

  it("stats a resource as Docker's ResolvePath/StatPath: the last link kept, its target resolved", async () => {
    const link = await statResource(view, "abs-link");
    expect(link?.info).toMatchObject({ name: "abs-link", size: 4, mode: 2 ** 27 + 0o777, linkTarget: "/etc" });
    const dir = await statResource(view, "/etc/");
    expect(dir?.info).toMatchObject({ name: "etc", mode: 2 ** 31 + (lstatSync(`${root}/etc`).mode & 0o777), linkTarget: "" });
    expect((await statResource(view, "/etc/."))?.info.name).toBe(".");
    expect(await statResource(view, "/nope")).toBeUndefined();
    expect((await statResource(view, "/abs-link/passwd"))?.containerPath).toBe("/etc/passwd");
  });

  it("Go's path and value forms", () => {
    expect(absoluteKeepingTrailing("etc")).toBe("/etc");
    expect(absoluteKeepingTrailing("etc/")).toBe("/etc/");
    expect(absoluteKeepingTrailing("/etc/.")).toBe("/etc/.");
    expect(absoluteKeepingTrailing("/a/../b//")).toBe("/b/");
    expect(absoluteKeepingTrailing("/")).toBe("/");
    expect(goBase("/etc/")).toBe("etc");
    expect(goBase("/")).toBe("/");
    expect(goBase("/etc/.")).toBe(".");
    expect(goTimeJson(1_700_000_000_120_000_000n)).toBe("2023-11-14T22:13:20.12Z");
    expect(goTimeJson(1_700_000_000_000_000_000n)).toBe("2023-11-14T22:13:20Z");
    const st = lstatSync(`${root}/etc/passwd`, { bigint: true });
    expect(goFileMode(st)).toBe(Number(st.mode & 0o777n));
  });
});
