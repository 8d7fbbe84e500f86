import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { buildSpec } from "../runtime/index.ts";
import type { Container } from "../state/index.ts";
import { securityOptions, specOptions } from "./spec-options.ts";

function container(config: Record<string, unknown>, hostConfig: Record<string, unknown>): Container {
  return {
    status: "created",
    id: "a".repeat(64),
    name: "/c",
    createdNs: 0n,
    created: "",
    image: "busybox",
    imageId: "sha256:x",
    path: "sh",
    args: ["-c", "true"],
    config,
    hostConfig,
    state: { Pid: 0, ExitCode: 0, Error: "", OOMKilled: false, StartedAt: "", FinishedAt: "", ManuallyStopped: false },
    restartCount: 0,
    mounts: [],
    networkSettings: {},
    paths: {},
    driver: "overlayfs",
    platform: "linux",
    version: 1,
  };
}

const inputs = {
  rootfs: "/rootfs",
  userDb: { passwd: [{ name: "app", uid: 1000, gid: 1000, home: "/home/app", shell: "/bin/sh" }], group: [] },
  mounts: [],
  network: { kind: "new" } as const,
  networkFiles: { hosts: "/h", resolvConf: "/r", hostname: "/n" },
};

describe("a container record as runtime spec options", () => {
  it("maps Config and HostConfig to Docker's runtime spec", () => {
    const c = container(
      { Env: ["A=1"], WorkingDir: "/srv", User: "app", Tty: true, Hostname: "web" },
      { Memory: 64 << 20, PidsLimit: 50, CapDrop: ["CHOWN"], ReadonlyRootfs: true, Ulimits: [{ Name: "nofile", Soft: 100, Hard: 200 }], Sysctls: { "net.ipv4.ip_forward": "1" }, ShmSize: 1 << 20 },
    );
    const spec = buildSpec(specOptions(c, { ...inputs, initPath: "/usr/bin/tini-static" }));
    expect(spec.process.args).toEqual(["/sbin/docker-init", "--", "sh", "-c", "true"]);
    expect(spec.process.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=web", "TERM=xterm", "A=1", "HOME=/home/app"]);
    expect(spec.process.cwd).toBe("/srv");
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000] });
    expect(spec.process.capabilities?.bounding).not.toContain("CAP_CHOWN");
    expect(spec.root.readonly).toBe(true);
    expect(spec.linux.resources?.memory?.limit).toBe(64 << 20);
    expect(spec.linux.resources?.pids?.limit).toBe(50);
    expect(spec.process.rlimits).toContainEqual({ type: "RLIMIT_NOFILE", soft: 100, hard: 200 });
    expect(spec.linux.sysctl?.["net.ipv4.ip_forward"]).toBe("1");
    expect(spec.hostname).toBe("web");
  });

  it("reads --security-opt as Docker (HTK-ENGINE-0397, 0398)", () => {
    expect(securityOptions({ SecurityOpt: ["seccomp=unconfined", "no-new-privileges", "apparmor=docker-default"] })).toEqual({ seccomp: { kind: "unconfined" }, noNewPrivileges: true });
    expect(securityOptions({ SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] }).seccomp).toEqual({ kind: "custom", profile: { defaultAction: "SCMP_ACT_ALLOW" } });
    const bad = (opt: string): string => {
      try {
        securityOptions({ SecurityOpt: [opt] });
      } catch (err) {
        if (isHtkError(err)) return `${err.id} ${err.plainCause}`;
      }
      return "accepted";
    };
    expect(bad("wobble=1")).toBe('HTK-ENGINE-0397 invalid --security-opt 2: "wobble=1"');
    expect(bad("seccomp={nope")).toMatch(/^HTK-ENGINE-0398 Decoding seccomp profile failed: /);
  });
});
