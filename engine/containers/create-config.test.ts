import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { entrypointAndArgs, mergeImageConfig, normaliseHostConfig, parseCreateBody, parseSignal, parseSize, validateCreate } from "./create-config.ts";

function refusal(fn: () => unknown): { id: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, message: err.plainCause };
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("the create body", () => {
  it("keeps Config, HostConfig and NetworkingConfig apart, unknown fields included", () => {
    const p = parseCreateBody({ Image: "busybox", Cmd: ["true"], Future: 1, HostConfig: { Memory: 0, Other: "x" }, NetworkingConfig: { EndpointsConfig: {} } });
    expect(p.config).toEqual({ Image: "busybox", Cmd: ["true"], Future: 1 });
    expect(p.hostConfig).toEqual({ Memory: 0, Other: "x" });
    expect(p.networkingConfig).toEqual({ EndpointsConfig: {} });
  });

  it("refuses wrong JSON types with the Go decoder's words (HTK-ENGINE-0450)", () => {
    expect(refusal(() => parseCreateBody({ Tty: "yes" }))).toEqual({ id: "HTK-ENGINE-0450", message: "invalid JSON: json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Config.Tty of type bool" });
    expect(refusal(() => parseCreateBody({ HostConfig: { Memory: "1g" } })).message).toBe(
      "invalid JSON: json: cannot unmarshal string into Go struct field ContainerConfigWrapper.HostConfig.Memory of type int64",
    );
    expect(refusal(() => parseCreateBody([1])).message).toBe("invalid JSON: json: cannot unmarshal array into Go value of type container.ContainerConfigWrapper");
    expect(refusal(() => parseCreateBody({ Env: [1] })).message).toContain("of type []string");
    // A string is a valid StrSlice.
    expect(parseCreateBody({ Cmd: "echo hi" }).config.Cmd).toBe("echo hi");
  });
});

describe("create-time validation (Docker's texts)", () => {
  const ok = { Image: "x" };
  it.each([
    [{ WorkingDir: "rel" }, {}, "HTK-ENGINE-0373", "the working directory 'rel' is invalid, it needs to be an absolute path"],
    [{ Env: ["=x"] }, {}, "HTK-ENGINE-0374", "invalid environment variable: =x"],
    [{ Healthcheck: { Interval: 5 } }, {}, "HTK-ENGINE-0377", "Interval in Healthcheck cannot be less than 1ms"],
    [{ Healthcheck: { Retries: -1 } }, {}, "HTK-ENGINE-0377", "Retries in Healthcheck cannot be negative"],
    [{}, { AutoRemove: true, RestartPolicy: { Name: "always" } }, "HTK-ENGINE-0378", "can't create 'AutoRemove' container with restart policy"],
    [{}, { RestartPolicy: { Name: "sometimes" } }, "HTK-ENGINE-0351", "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"],
    [{}, { RestartPolicy: { Name: "always", MaximumRetryCount: 2 } }, "HTK-ENGINE-0351", "invalid restart policy: maximum retry count can only be used with 'on-failure'"],
    [{}, { RestartPolicy: { Name: "on-failure", MaximumRetryCount: -1 } }, "HTK-ENGINE-0351", "invalid restart policy: maximum retry count cannot be negative"],
    [{}, { CapAdd: ["NOPE"] }, "HTK-ENGINE-0379", 'invalid CapAdd: unknown capability: "CAP_NOPE"'],
    [{}, { ExtraHosts: ["nocolon"] }, "HTK-ENGINE-0375", 'bad format for add-host: "nocolon"'],
    [{}, { ExtraHosts: ["db:nope"] }, "HTK-ENGINE-0376", 'invalid IP address in add-host: "nope"'],
    [{}, { Memory: 1024 }, "HTK-ENGINE-0380", "Minimum memory limit allowed is 6MB"],
    [{}, { Memory: 64 << 20, MemorySwap: 32 << 20 }, "HTK-ENGINE-0381", "Minimum memoryswap limit should be larger than memory limit, see usage"],
    [{}, { MemorySwap: 32 << 20 }, "HTK-ENGINE-0382", "You should always set the Memory limit when using Memoryswap limit, see usage"],
    [{}, { MemorySwappiness: 101 }, "HTK-ENGINE-0383", "Invalid value: 101, valid memory swappiness range is 0-100"],
    [{}, { Memory: 8 << 20, MemoryReservation: 16 << 20 }, "HTK-ENGINE-0384", "Minimum memory limit can not be less than memory reservation limit, see usage"],
    [{}, { MemoryReservation: 1024 }, "HTK-ENGINE-0385", "Minimum memory reservation allowed is 6MB"],
    [{}, { NanoCpus: 5e8, CpuPeriod: 100000 }, "HTK-ENGINE-0386", "Conflicting options: Nano CPUs and CPU Period cannot both be set"],
    [{}, { NanoCpus: 1e15 }, "HTK-ENGINE-0387", "Range of CPUs is from 0.01 to"],
    [{}, { CpuPeriod: 10 }, "HTK-ENGINE-0388", "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"],
    [{}, { CpuQuota: 10 }, "HTK-ENGINE-0389", "CPU cfs quota can not be less than 1ms (i.e. 1000)"],
    [{}, { OomScoreAdj: 5000 }, "HTK-ENGINE-0390", "Invalid value 5000, range for oom score adj is [-1000, 1000]"],
    [{}, { ShmSize: -1 }, "HTK-ENGINE-0391", "SHM size can not be less than 0"],
    [{}, { Ulimits: [{ Name: "nofile", Soft: 10, Hard: 5 }] }, "HTK-ENGINE-0392", "ulimit soft limit must be less than or equal to hard limit: 10 > 5"],
    [{}, { LogConfig: { Type: "json-file", Config: { "max-file": "0" } } }, "HTK-ENGINE-0393", "max-file cannot be less than 1"],
    [{}, { LogConfig: { Type: "json-file", Config: { "max-file": "3" } } }, "HTK-ENGINE-0394", "max-file can only be used with max-size"],
    [{}, { LogConfig: { Type: "json-file", Config: { "max-size": "lots" } } }, "HTK-ENGINE-0395", "invalid size: 'lots'"],
  ])("%j %j → %s", (config, host, id, text) => {
    const r = refusal(() => validateCreate({ ...ok, ...config }, host));
    expect(r.id).toBe(id);
    expect(r.message.startsWith(text)).toBe(true);
  });

  it("knows the log drivers json-file and none, and json-file's options (HTK-ENGINE-0352, 0353)", () => {
    expect(refusal(() => validateCreate(ok, { LogConfig: { Type: "syslog" } }))).toEqual({ id: "HTK-ENGINE-0352", message: "logger: no log driver named 'syslog' is registered" });
    expect(refusal(() => validateCreate(ok, { LogConfig: { Type: "json-file", Config: { "max-bytes": "1" } } }))).toEqual({
      id: "HTK-ENGINE-0353",
      message: "unknown log opt 'max-bytes' for json-file log driver",
    });
    expect(validateCreate(ok, { LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } } })).toEqual([]);
    expect(validateCreate(ok, { LogConfig: { Type: "none", Config: {} } })).toEqual([]);
  });

  it("warns like Docker about an OOM-kill-disabled container without a limit", () => {
    expect(validateCreate(ok, { OomKillDisable: true })).toHaveLength(1);
  });
});

describe("signals and sizes", () => {
  it("parses signal names and numbers as Docker does (HTK-ENGINE-0354)", () => {
    expect(parseSignal("SIGTERM")).toBe(15);
    expect(parseSignal("kill")).toBe(9);
    expect(parseSignal("10")).toBe(10);
    expect(parseSignal("RTMIN+1")).toBe(35);
    expect(refusal(() => parseSignal("NOPE"))).toEqual({ id: "HTK-ENGINE-0354", message: "Invalid signal: NOPE" });
  });

  it("reads go-units sizes", () => {
    expect(parseSize("10m")).toBe(10 * 1024 * 1024);
    expect(parseSize("512k")).toBe(512 * 1024);
    expect(parseSize("100")).toBe(100);
  });
});

describe("merging the image's config (Docker's merge)", () => {
  const image = {
    Env: ["PATH=/usr/bin:/bin", "LANG=C"],
    Cmd: ["sh"],
    Entrypoint: null,
    WorkingDir: "/srv",
    User: "app",
    Labels: { a: "image", b: "image" },
    Volumes: { "/data": {} },
    StopSignal: "SIGQUIT",
  };

  it("fills what the user left empty and keeps what the user set", () => {
    const c = mergeImageConfig({ Image: "x", Env: ["LANG=de", "X=1"], Labels: { b: "user" } }, image, "abcdef123456");
    expect(c["Env"]).toEqual(["LANG=de", "X=1", "PATH=/usr/bin:/bin"]);
    expect(c["Cmd"]).toEqual(["sh"]);
    expect(c["WorkingDir"]).toBe("/srv");
    expect(c["User"]).toBe("app");
    expect(c.Labels).toEqual({ a: "image", b: "user" });
    expect(c["Volumes"]).toEqual({ "/data": {} });
    expect(c["StopSignal"]).toBe("SIGQUIT");
    expect(c["Hostname"]).toBe("abcdef123456");
  });

  it("takes the image's Cmd only without a user Entrypoint", () => {
    expect(mergeImageConfig({ Entrypoint: ["/bin/echo"] }, image, "x")["Cmd"]).toBeUndefined();
    expect(mergeImageConfig({ Cmd: ["ls"] }, image, "x")["Cmd"]).toEqual(["ls"]);
  });

  it("makes Path and Args from Entrypoint and Cmd (HTK-ENGINE-0355 without either)", () => {
    expect(entrypointAndArgs({ Entrypoint: ["/init", "--"], Cmd: ["sh", "-c", "echo hi"] })).toEqual({ path: "/init", args: ["--", "sh", "-c", "echo hi"] });
    expect(entrypointAndArgs({ Cmd: "top" })).toEqual({ path: "top", args: [] });
    expect(refusal(() => entrypointAndArgs({ Cmd: [] }))).toEqual({ id: "HTK-ENGINE-0355", message: "No command specified" });
  });

  it("normalises HostConfig as Docker stores it", () => {
    const h = normaliseHostConfig({ NetworkMode: "default", PidsLimit: 0 });
    expect(h.NetworkMode).toBe("bridge");
    expect(h["ShmSize"]).toBe(64 * 1024 * 1024);
    expect(h["PidsLimit"]).toBeNull();
    expect(h.RestartPolicy).toEqual({ Name: "no", MaximumRetryCount: 0 });
    expect(h["LogConfig"]).toEqual({ Type: "json-file", Config: {} });
  });
});
