import { describe, expect, it } from "vitest";
import { withLegacyAliases } from "./container-compat.ts";

const inspect = {
  Id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  Config: { Hostname: "0123456789ab" },
  NetworkSettings: {
    Networks: {
      proj_default: { Aliases: ["web"], NetworkID: "n1" },
      bridge: { Aliases: [], NetworkID: "n2" },
      other: { Aliases: null, NetworkID: "n3" },
    },
  },
};

describe("withLegacyAliases", () => {
  it("adds the short ID and hostname to user-defined networks' aliases below API 1.45 (moby's inspect router)", () => {
    const out = withLegacyAliases(inspect, "1.41") as typeof inspect;
    expect(out.NetworkSettings.Networks.proj_default.Aliases).toEqual(["web", "0123456789ab"]);
    expect(out.NetworkSettings.Networks.other.Aliases).toEqual(["0123456789ab"]);
    expect(out.NetworkSettings.Networks.bridge.Aliases).toEqual([]);
  });

  it("leaves 1.45 and later as the engine renders it", () => {
    expect(withLegacyAliases(inspect, "1.45")).toBe(inspect);
  });
});
