import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { BuildBridge, buildBridgeNames } from "./build-bridge.ts";
import type { HostCommand } from "./host.ts";

/** A host whose `ip route` shows `routes`; records every command (an `ip -batch` input line by line); `fail` makes matching commands fail. */
function fakeHost(routes: readonly string[], fail?: (cmd: string) => boolean): { run: HostCommand; commands: string[] } {
  const commands: string[] = [];
  const run: HostCommand = async (file, args, input) => {
    // An `ip -batch` input is recorded line by line, as the commands it stands for.
    if (input !== undefined) {
      const global = args.slice(0, args.indexOf("-batch")).filter((a) => a !== "-force");
      for (const line of input.split("\n").filter((l) => l !== "")) {
        const cmd = ["ip", ...global, line].join(" ");
        commands.push(cmd);
        if (fail?.(cmd) === true) throw new Error(`${cmd}: failed`);
      }
      return "";
    }
    const cmd = `${file} ${args.join(" ")}`;
    commands.push(cmd);
    if (fail?.(cmd) === true) throw new Error(`${cmd}: failed`);
    if (cmd === "ip -j -4 route show table all") return JSON.stringify(routes.map((dst) => ({ dst })));
    if (cmd === "ip -j link show") return "[]";
    return "";
  };
  return { run, commands };
}

const signal = new AbortController().signal;

describe("BuildBridge (commands recorded, nothing made)", () => {
  it("takes the first /24 of 10.10.0.0/16 the host does not route; a step gets .2, the next .3", async () => {
    const root = `/nonexistent/bb-test-${process.pid}-a`;
    const host = fakeHost(["default", "10.10.0.0/24", "10.10.1.0/24", "192.0.2.0/24"]);
    const bridge = new BuildBridge({ dataRoot: root, run: host.run });
    const n = buildBridgeNames(root);
    const a = await bridge.openStep(signal);
    const b = await bridge.openStep(signal);
    expect([a.address, b.address, a.gateway]).toEqual(["10.10.2.2", "10.10.2.3", "10.10.2.1"]);
    expect(a.path).toBe(`/run/netns/htkb-${n.tag}-2`);
    expect(host.commands).toContain(`ip addr add 10.10.2.1/24 dev ${n.bridge}`);
    expect(host.commands).toContain(`iptables -w -t nat -A ${n.natPost} -s 10.10.2.0/24 ! -o ${n.bridge} -j MASQUERADE`);
    expect(host.commands).toContain(`ip -n htkb-${n.tag}-2 route add default via 10.10.2.1 dev eth0`);
    expect(n.veth(2)).toHaveLength(15);
    await a.release();
    const c = await bridge.openStep(signal);
    expect(c.address).toBe("10.10.2.2");
    await bridge.close();
    expect(host.commands).toContain(`iptables -w -t nat -X ${n.natPost}`);
    expect(existsSync(`/run/hatake/build-owners/${n.tag}`)).toBe(false);
  });

  it("HTK-RUNTIME-0320 when all of 10.10.0.0/16 is routed; HTK-RUNTIME-0321 when the bridge cannot be made", async () => {
    const full = new BuildBridge({ dataRoot: `/nonexistent/bb-test-${process.pid}-b`, run: fakeHost(["10.10.0.0/16"]).run });
    const e1 = await full.openStep(signal).catch((e: unknown) => e);
    expect(isHtkError(e1, "HTK-RUNTIME-0320")).toBe(true);

    const root = `/nonexistent/bb-test-${process.pid}-c`;
    const broken = fakeHost([], (cmd) => cmd.includes("type bridge"));
    const bridge = new BuildBridge({ dataRoot: root, run: broken.run });
    const e2 = await bridge.openStep(signal).catch((e: unknown) => e);
    expect(isHtkError(e2, "HTK-RUNTIME-0321")).toBe(true);
    // Nothing left: the owner file went with the half-made bridge.
    expect(existsSync(`/run/hatake/build-owners/${buildBridgeNames(root).tag}`)).toBe(false);
  });
});
