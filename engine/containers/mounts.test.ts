import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { ANONYMOUS_LABEL } from "../volumes/index.ts";
import { copiesImageContent, planMounts, runtimeMounts, tmpfsOptions } from "./mounts.ts";

let n = 0;
const opts = {
  volumePath: (name: string) => `/data/volumes/${name}/_data`,
  anonymousName: () => `anon${++n}`,
  hostPathExists: (p: string) => p === "/srv" || p === "/etc/hosts",
};

function refusal(fn: () => unknown): { id: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, message: err.plainCause };
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("planning mounts (Docker's parser)", () => {
  it("-v: host paths are binds, names are volumes, a bare path is an anonymous volume", () => {
    n = 0;
    const plan = planMounts({ Volumes: { "/cache": {} } }, { Binds: ["/srv:/app:ro", "named:/data", "/srv:/rshared:rshared"] }, opts);
    expect(plan.points).toEqual([
      { Type: "bind", Source: "/srv", Destination: "/app", Mode: "ro", RW: false, Propagation: "rprivate" },
      { Type: "volume", Name: "named", Source: "/data/volumes/named/_data", Destination: "/data", Driver: "local", Mode: "z", RW: true, Propagation: "" },
      { Type: "bind", Source: "/srv", Destination: "/rshared", Mode: "rshared", RW: true, Propagation: "rshared" },
      { Type: "volume", Name: "anon1", Source: "/data/volumes/anon1/_data", Destination: "/cache", Driver: "local", Mode: "", RW: true, Propagation: "" },
    ]);
    expect(plan.volumes).toEqual([
      { name: "named", anonymous: false, labels: {}, driverOpts: {} },
      { name: "anon1", anonymous: true, labels: { [ANONYMOUS_LABEL]: "" }, driverOpts: {} },
    ]);
  });

  it("an image VOLUME covered by a bind or a tmpfs gets no anonymous volume", () => {
    const plan = planMounts({ Volumes: { "/app": {}, "/tmp/x": {} } }, { Binds: ["/srv:/app"], Tmpfs: { "/tmp/x": "" } }, opts);
    expect(plan.volumes).toEqual([]);
    expect(plan.points.map((p) => p.Destination)).toEqual(["/app"]);
  });

  it("--mount bind, volume and tmpfs", () => {
    n = 0;
    const plan = planMounts(
      {},
      {
        Mounts: [
          { Type: "bind", Source: "/srv", Target: "/b", ReadOnly: true, BindOptions: { Propagation: "rslave" } },
          { Type: "volume", Source: "v1", Target: "/v", VolumeOptions: { NoCopy: true, Labels: { l: "1" } } },
          { Type: "volume", Target: "/anon" },
          { Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } },
        ],
      },
      opts,
    );
    expect(plan.points.map((p) => [p.Type, p.Destination, p.RW, p.Propagation])).toEqual([
      ["bind", "/b", false, "rslave"],
      ["volume", "/v", true, ""],
      ["volume", "/anon", true, ""],
      ["tmpfs", "/t", true, ""],
    ]);
    expect(plan.volumes.map((v) => [v.name, v.anonymous, v.labels])).toEqual([
      ["v1", false, { l: "1" }],
      ["anon1", true, { [ANONYMOUS_LABEL]: "" }],
    ]);
    const host = { Mounts: [{ Type: "volume", Source: "v1", Target: "/v", VolumeOptions: { NoCopy: true } }] };
    expect(copiesImageContent(plan.points[1]!, host)).toBe(false);
    expect(copiesImageContent(plan.points[2]!, host)).toBe(true);
  });

  it("refuses what Docker refuses, with its texts", () => {
    expect(refusal(() => planMounts({}, { Mounts: [{ Type: "bind", Source: "/missing", Target: "/x" }] }, opts))).toEqual({
      id: "HTK-ENGINE-0356",
      message: 'invalid mount config for type "bind": bind source path does not exist: /missing',
    });
    expect(refusal(() => planMounts({}, { Mounts: [{ Type: "volume", Target: "/" }] }, opts)).message).toBe(
      'invalid mount config for type "volume": invalid specification: destination can\'t be \'/\'',
    );
    expect(refusal(() => planMounts({}, { Mounts: [{ Type: "tmpfs", Source: "x", Target: "/t" }] }, opts)).message).toBe(
      'invalid mount config for type "tmpfs": field Source must not be specified',
    );
    expect(refusal(() => planMounts({}, { Mounts: [{ Type: "weird", Target: "/t" }] }, opts)).message).toBe('invalid mount config for type "weird": mount type unknown');
    expect(refusal(() => planMounts({}, { Binds: ["/foo:rw"] }, opts))).toEqual({ id: "HTK-ENGINE-0357", message: "invalid volume specification: '/foo:rw'" });
    expect(refusal(() => planMounts({}, { Binds: ["/a:b"] }, opts)).message).toBe(
      "invalid volume specification: '/a:b': invalid mount config for type \"bind\": invalid mount path: 'b' mount path must be absolute",
    );
    expect(refusal(() => planMounts({}, { Binds: ["x:/a"] }, opts)).id).toBe("HTK-ENGINE-0454");
    expect(refusal(() => planMounts({}, { Binds: ["/srv:/a:rw,ro"] }, opts))).toEqual({ id: "HTK-ENGINE-0359", message: "invalid mode: rw,ro" });
    expect(refusal(() => planMounts({}, { Binds: ["/srv:/a", "vol:/a"] }, opts))).toEqual({ id: "HTK-ENGINE-0396", message: "Duplicate mount point: /a" });
  });

  it("becomes runtime mounts at start: volumes are binds of their data, --tmpfs and --mount tmpfs with their options", () => {
    const host = { Tmpfs: { "/run": "size=1m" }, Mounts: [{ Type: "tmpfs", Target: "/t", ReadOnly: true, TmpfsOptions: { SizeBytes: 1536 } }] };
    const points = planMounts({}, { ...host, Binds: ["vol:/v:ro"] }, opts).points;
    expect(runtimeMounts(points, host)).toEqual([
      { kind: "bind", source: "/data/volumes/vol/_data", target: "/v", readonly: true, propagation: "rprivate" },
      { kind: "tmpfs", target: "/t", options: "ro,size=1536" },
      { kind: "tmpfs", target: "/run", options: "size=1m" },
    ]);
    expect(tmpfsOptions({ SizeBytes: 2 * 2 ** 30, Mode: 0o700 }, false)).toBe("mode=700,size=2g");
  });
});
