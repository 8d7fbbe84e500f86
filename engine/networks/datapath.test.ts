import { Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { createLogger } from "../../base/observability/index.ts";
import { BridgeNetworks } from "../containers/bridge-network.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import { BridgeDatapath, configureDefaultBridgeIPv6, createNetwork, datapathNames, ensurePredefinedNetworks } from "./index.ts";
import type { HostCommand } from "./host.ts";

const log = createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "error");

/**
 * A fake host: records the commands (each line of an `ip -batch` or `iptables-restore` input as the
 * command it stands for), answers `ip -j route` with `routes`, fails what `fail` matches.
 */
function fakeHost(routes: unknown[], fail: (cmd: string) => boolean = () => false): { cmds: string[]; run: HostCommand } {
  const cmds: string[] = [];
  const one = (cmd: string): Promise<string> | undefined => {
    cmds.push(cmd);
    return fail(cmd) ? Promise.reject(new Error(`${cmd}: failed`)) : undefined;
  };
  return {
    cmds,
    run: async (file, args, input) => {
      if (input !== undefined && file === "ip") {
        const global = args.slice(0, args.indexOf("-batch")).filter((a) => a !== "-force");
        for (const line of input.split("\n").filter((l) => l !== "")) await one(["ip", ...global, line].join(" "));
        return "";
      }
      if (input !== undefined && file.endsWith("-restore")) {
        let table = "";
        for (const line of input.split("\n")) {
          if (line.startsWith("*")) table = line.slice(1);
          else if (line.startsWith("-")) await one(`${file.replace("-restore", "")} -w -t ${table} ${line}`);
        }
        return "";
      }
      const cmd = `${file} ${args.join(" ")}`;
      const failed = one(cmd);
      if (failed !== undefined) return failed;
      if ((file === "iptables" || file === "ip6tables") && args.includes("-C")) throw new Error("Bad rule (does a matching rule exist in that chain?)");
      if (file === "ip" && args.includes("route")) return JSON.stringify(routes);
      if (file === "ip" && args[0] === "link" && args[1] === "show") throw new Error("Device does not exist");
      if (file === "ip" && args.join(" ") === "-j link show") return "[]";
      return "";
    },
  };
}

async function failure(p: Promise<unknown>): Promise<{ id: string; cause: string }> {
  try {
    await p;
  } catch (err) {
    if (isHtkError(err)) return { id: err.id, cause: err.plainCause };
    throw err;
  }
  throw new Error("no failure");
}

describe("BridgeDatapath (fake host)", () => {
  let t: TestStore;
  beforeEach(() => {
    t = testStore();
    ensurePredefinedNetworks(t.store);
  });
  afterEach(() => t.close());

  it("names carry a tag derived from the data root, within Linux's 15 characters", () => {
    const a = datapathNames("/a");
    const b = datapathNames("/b");
    expect(a.tag).not.toBe(b.tag);
    const n = t.store.networks.resolve("bridge");
    expect(a.bridge(n).length).toBeLessThanOrEqual(15);
    expect(a.veth("0123456789abcdef").length).toBeLessThanOrEqual(15);
    expect(a.natPost).toBe(`HTK-${a.tag}-POST`);
  });

  it("prepare turns forwarding on, hooks its own chains, makes the default bridge with MASQUERADE for its subnet", async () => {
    const host = fakeHost([{ dst: "192.0.2.0/24", dev: "eth0" }]);
    const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run });
    await d.prepare();
    const n = d.names;
    expect(host.cmds).toContain("sysctl -q -w net.ipv4.ip_forward=1");
    expect(host.cmds).toContain(`iptables -w -t nat -N ${n.natPost}`);
    expect(host.cmds).toContain(`iptables -w -t nat -I POSTROUTING 1 -j ${n.natPost}`);
    const br = n.bridge(t.store.networks.resolve("bridge"));
    expect(host.cmds).toContain(`ip addr add 172.17.0.1/16 dev ${br}`);
    expect(host.cmds.some((c) => c.includes(`-A ${n.natPost} -s 172.17.0.0/16 ! -o ${br}`) && c.endsWith("-j MASQUERADE"))).toBe(true);
  });

  it("moves the default bridge off a subnet the host routes elsewhere (another engine's bridge)", async () => {
    const host = fakeHost([{ dst: "172.17.0.0/16", dev: "hbotherengine" }]);
    const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run });
    await d.prepare();
    expect(t.store.networks.resolve("bridge").ipam.Config).toEqual([{ Subnet: "172.18.0.0/16", Gateway: "172.18.0.1" }]);
  });

  it("HTK-ENGINE-0660: a user network whose subnet the host already routes; HTK-ENGINE-0661: no IPv4 subnet", async () => {
    const host = fakeHost([{ dst: "10.9.0.0/16", dev: "eth7" }]);
    const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run });
    const n = createNetwork(t.store, { name: "clash", ipam: { config: [{ Subnet: "10.9.1.0/24" }] } });
    const f = await failure(d.ensureBridge(n));
    expect(f.id).toBe("HTK-ENGINE-0660");
    expect(f.cause).toContain("10.9.0.0/16 on eth7");
    const v6 = { ...n, id: "f".repeat(64), name: "v6only", ipam: { Driver: "default", Options: {}, Config: [{ Subnet: "fd00:1::/64" }] } };
    expect((await failure(d.ensureBridge(v6))).id).toBe("HTK-ENGINE-0661");
  });

  it("HTK-ENGINE-0660 for an IPv6 subnet the host routes (this host's own prefix); link-local routes do not count; an IPv6 bridge hooks ip6tables", async () => {
    const host = fakeHost([
      { dst: "fd00::/64", dev: "eth0" },
      { dst: "fe80::/64", dev: "eth0" },
    ]);
    const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run });
    const own = createNetwork(t.store, { name: "own6", enableIPv6: true, ipam: { config: [{ Subnet: "10.9.3.0/24" }, { Subnet: "fd00::/64" }] } });
    const f = await failure(d.ensureBridge(own));
    expect(f.id).toBe("HTK-ENGINE-0660");
    expect(f.cause).toContain("fd00::/64 on eth0");
    const ok = createNetwork(t.store, { name: "ula6", enableIPv6: true, ipam: { config: [{ Subnet: "10.9.4.0/24" }, { Subnet: "fd42:1::/64" }] } });
    const br = await d.ensureBridge(ok);
    expect(host.cmds).toContain(`ip addr add fd42:1::1/64 dev ${br} nodad`);
    expect(host.cmds).toContain(`ip6tables -w -t nat -I POSTROUTING 1 -j ${d.names.natPost}`);
    expect(host.cmds.some((c) => c.startsWith(`ip6tables -w -t nat -A ${d.names.natPost} -s fd42:1::/64 ! -o ${br}`) && c.endsWith("-j MASQUERADE"))).toBe(true);
  });

  it("a pool is chosen around the host's routes at network create", async () => {
    const host = fakeHost([{ dst: "172.18.0.0/16", dev: "eth9" }]);
    const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run });
    const n = await d.createBridgeNetwork((prefixes) => createNetwork(t.store, { name: "x" }, prefixes));
    expect(n.ipam.Config[0]?.Subnet).toBe("172.19.0.0/16");
  });

  it("HTK-ENGINE-0662: a container whose veth cannot be made does not start, and what was made is released", async () => {
    const host = fakeHost([], (cmd) => cmd.includes("type veth"));
    const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run });
    const c = t.store.containers.create(spec({ name: "/c1" }));
    const attacher = new BridgeNetworks({ state: t.store, datapath: d, pidOf: () => undefined, containerDir: () => t.dataRoot, log });
    const f = await failure(attacher.attach(c, new AbortController().signal));
    expect(f.id).toBe("HTK-ENGINE-0662");
    expect(host.cmds.some((cmd) => cmd.endsWith(`netns del ${d.names.netns(c.id)}`))).toBe(true);
    expect(t.store.networks.endpointsOfContainer(c.id)).toEqual([]);
  });
  it('"ip6tables": false: -p on [::] of an IPv6 container adds no ip6tables DNAT (there are no ip6tables chains; the relay on [::] serves it), and the container starts; with ip6tables on, it does', async () => {
    configureDefaultBridgeIPv6(t.store, "fd42:7::/64");
    const hostConfig = { NetworkMode: "bridge", RestartPolicy: { Name: "no" }, PortBindings: { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "" }, { HostIp: "::", HostPort: "" }] } };
    for (const ip6tables of [false, true]) {
      // A host without the engine's ip6tables chains: appending to one fails ("No chain/target/match by that name").
      const host = fakeHost([], (cmd) => !ip6tables && cmd.startsWith("ip6tables") && cmd.includes(" -A "));
      const d = new BridgeDatapath({ dataRoot: t.dataRoot, state: t.store, log, run: host.run, ip6tables });
      expect(d.ipv6Rules).toBe(ip6tables);
      const c = t.store.containers.create(spec({ name: `/web${String(ip6tables)}`, hostConfig }));
      const attacher = new BridgeNetworks({ state: t.store, datapath: d, pidOf: () => undefined, containerDir: () => t.dataRoot, log });
      try {
        const a = await attacher.attach(c, new AbortController().signal);
        expect(a.settings.Ports).toEqual({ "80/tcp": [expect.objectContaining({ HostIp: "0.0.0.0" }), expect.objectContaining({ HostIp: "::" })] });
        const dnat = host.cmds.filter((cmd) => cmd.includes(`-A ${d.names.natDnat}`));
        expect(dnat.filter((cmd) => cmd.startsWith("iptables ")).length).toBe(1);
        expect(dnat.filter((cmd) => cmd.startsWith("ip6tables ") && /--to-destination \[fd42:7::[0-9a-f]+\]:80$/.test(cmd)).length).toBe(ip6tables ? 1 : 0);
        // (Reading ip6tables-save to clean up is harmless; no rule is changed.)
        if (!ip6tables) expect(host.cmds.filter((cmd) => cmd.startsWith("ip6tables "))).toEqual([]);
      } finally {
        await attacher.detach(c.id);
      }
    }
  });
});
