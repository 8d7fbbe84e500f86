import { describe, expect, it } from "vitest";
import { filterNetworks, filterVolumes } from "./resource-filters.ts";
import type { NetworkRecord, VolumeRecord } from "./types.ts";

const vol = (name: string, labels: Record<string, string> = {}, driver = "local"): VolumeRecord => ({
  name,
  driver,
  labels,
  options: {},
  mountpoint: `/v/${name}`,
  createdAt: "2024-01-01T00:00:00Z",
  anonymous: false,
  scope: "local",
});

const net = (name: string, id: string, driver = "bridge", labels: Record<string, string> = {}): NetworkRecord => ({
  id,
  name,
  driver,
  scope: "local",
  created: "2024-01-01T00:00:00Z",
  ipam: { Driver: "default", Config: [], Options: {} },
  labels,
  options: {},
  internal: false,
  attachable: false,
  ingress: false,
  enableIPv6: false,
});

describe("volume and network list filters", () => {
  it("filters volumes by name, driver, label and dangling", () => {
    const vs = [vol("data", { env: "prod" }), vol("cache"), vol("nfs-data", {}, "nfs")];
    const names = (f: Record<string, string[]>): string[] => filterVolumes(vs, f, new Set(["data"])).map((v) => v.name);
    expect(names({ name: ["data"] })).toEqual(["data", "nfs-data"]);
    expect(names({ name: ["^data$"] })).toEqual(["data"]);
    expect(names({ driver: ["nfs"] })).toEqual(["nfs-data"]);
    expect(names({ label: ["env=prod"] })).toEqual(["data"]);
    expect(names({ dangling: ["true"] })).toEqual(["cache", "nfs-data"]);
    expect(names({ dangling: ["0"] })).toEqual(["data"]);
    expect(() => names({ dangling: ["maybe"] })).toThrow(/HTK-ENGINE-0117/);
    expect(() => names({ size: ["1"] })).toThrow(/HTK-ENGINE-0116/);
  });

  it("filters networks by type, dangling, driver, id prefix, name, label", () => {
    const ns = [net("bridge", "b1"), net("host", "h1", "host"), net("front", "f1", "bridge", { app: "x" }), net("back", "f2")];
    const names = (f: Record<string, string[]>): string[] => filterNetworks(ns, f, new Set(["f1"])).map((n) => n.name);
    expect(names({ type: ["builtin"] })).toEqual(["bridge", "host"]);
    expect(names({ type: ["custom"] })).toEqual(["front", "back"]);
    expect(names({ dangling: ["true"] })).toEqual(["back"]);
    expect(names({ dangling: ["false"] })).toEqual(["bridge", "host", "front"]);
    expect(names({ driver: ["host"] })).toEqual(["host"]);
    expect(names({ id: ["f"] })).toEqual(["front", "back"]);
    expect(names({ name: ["ro"] })).toEqual(["front"]);
    expect(names({ label: ["app"] })).toEqual(["front"]);
    expect(() => names({ type: ["other"] })).toThrow(/HTK-ENGINE-0117/);
  });
});
