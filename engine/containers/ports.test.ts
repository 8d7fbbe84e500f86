import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { holderOf, PortPublisher, portsJson, requestedBindings } from "./ports.ts";

describe("published ports", () => {
  it("reads PortBindings and, with -P, the exposed ports without a binding", () => {
    const r = requestedBindings(
      { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }, { HostIp: "", HostPort: "" }], "53/udp": [{ HostPort: "5353" }] }, PublishAllPorts: true },
      { ExposedPorts: { "80/tcp": {}, "443/tcp": {} } },
    );
    expect(r).toEqual([
      { key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: 8080, hostPortEnd: 8080 },
      { key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "0.0.0.0", hostPort: 0, hostPortEnd: 0 },
      { key: "53/udp", containerPort: 53, proto: "udp", hostIp: "0.0.0.0", hostPort: 5353, hostPortEnd: 5353 },
      { key: "443/tcp", containerPort: 443, proto: "tcp", hostIp: "0.0.0.0", hostPort: 0, hostPortEnd: 0 },
    ]);
  });

  it("on an IPv6-capable host a binding without a host address is also made on [::] (Docker 28), right after its 0.0.0.0 twin; an explicit address stays alone", () => {
    const r = requestedBindings({ PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }, { HostIp: "::1", HostPort: "8081" }, { HostIp: "0.0.0.0", HostPort: "8082" }] } }, {}, true);
    expect(r.map((b) => `${b.hostIp}:${b.hostPort}${b.twin === true ? " twin" : ""}`)).toEqual(["0.0.0.0:8080", ":::8080 twin", "::1:8081", "0.0.0.0:8082"]);
  });

  it("the [::] twin of an ephemeral binding gets the same port, bound IPv6-only beside 0.0.0.0", async () => {
    const p = new PortPublisher();
    try {
      const req = requestedBindings({ PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "" }] } }, {}, true);
      const [v4, v6] = await p.publish(req, { ipv4: "127.0.0.2", ipv6: "" }, { name: "web", id: "e" });
      expect(v4?.hostIp).toBe("0.0.0.0");
      expect(v6?.hostIp).toBe("::");
      expect(v6?.hostPort).toBe(v4?.hostPort);
      expect(holderOf(new Map([["x", p]]), { proto: "tcp", hostIp: "::1", hostPort: v4?.hostPort ?? 0 })?.binding.hostIp).toBe("::");
    } finally {
      await p.close();
    }
  });

  it("inspect's Ports: bindings by key, exposed ports without one null", () => {
    expect(portsJson([{ key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "0.0.0.0", hostPort: 32768 }], { ExposedPorts: { "80/tcp": {}, "81/tcp": {} } })).toEqual({
      "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "32768" }],
      "81/tcp": null,
    });
  });

  it("HTK-ENGINE-0663: a taken host port is Docker's 'port is already allocated', and nothing stays bound", async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const a = holder.address();
    const port = typeof a === "object" && a !== null ? a.port : 0;
    const p = new PortPublisher();
    try {
      await p.publish([{ key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: port, hostPortEnd: port }], "127.0.0.2", { name: "web", id: "e".repeat(64) });
      expect.unreachable();
    } catch (err) {
      expect(isHtkError(err) && err.id).toBe("HTK-ENGINE-0663");
      expect(isHtkError(err) && err.plainCause).toBe(`driver failed programming external connectivity on endpoint web (${"e".repeat(64)}): Bind for 127.0.0.1:${port} failed: port is already allocated`);
    } finally {
      await p.close();
      await new Promise((r) => holder.close(r));
    }
  });

  it("port 0 takes a free port; close releases it", async () => {
    const p = new PortPublisher();
    const [b] = await p.publish([{ key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: 0, hostPortEnd: 0 }], "127.0.0.2", { name: "web", id: "e" });
    expect(b?.hostPort).toBeGreaterThan(0);
    await p.close();
    const again = new PortPublisher();
    await again.publish([{ key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: b?.hostPort ?? 0, hostPortEnd: b?.hostPort ?? 0 }], "127.0.0.2", { name: "web", id: "e" });
    await again.close();
  });

  it("holderOf finds the publisher whose binding takes a port: same protocol and port, same address or 0.0.0.0", async () => {
    const a = new PortPublisher();
    const [b] = await a.publish([{ key: "80/tcp", containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: 0, hostPortEnd: 0 }], "127.0.0.2", { name: "web", id: "e" });
    const port = b?.hostPort ?? 0;
    const all = new Map([["holder", a]]);
    try {
      expect(holderOf(all, { proto: "tcp", hostIp: "127.0.0.1", hostPort: port })).toEqual({ key: "holder", binding: b });
      expect(holderOf(all, { proto: "tcp", hostIp: "0.0.0.0", hostPort: port })?.key).toBe("holder");
      expect(holderOf(all, { proto: "udp", hostIp: "127.0.0.1", hostPort: port })).toBeUndefined();
      expect(holderOf(all, { proto: "tcp", hostIp: "127.0.0.3", hostPort: port })).toBeUndefined();
    } finally {
      await a.close();
    }
    expect(a.bindings).toEqual([]);
    expect(holderOf(all, { proto: "tcp", hostIp: "127.0.0.1", hostPort: port })).toBeUndefined();
  });
});
