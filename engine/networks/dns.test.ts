import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { connect } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../base/observability/index.ts";
import { isHtkError } from "../../base/errors/index.ts";
import { spec, testStore, type TestStore } from "../state/test-support.ts";
import type { Container } from "../state/index.ts";
import { encodeName, encodeResponse, parseQuery, RCODE_FORMERR, RCODE_NOERROR, RCODE_REFUSED, reverseAddress, TYPE_A, TYPE_AAAA, TYPE_PTR } from "./dns-message.ts";
import { EmbeddedDns, linkAliases, localAnswer, nameservers, type DnsNetworkView } from "./dns.ts";
import { connectContainer, createNetwork, ensurePredefinedNetworks } from "./networks.ts";
import { Writable } from "node:stream";

/** A query as a stub resolver sends it. */
function query(name: string, type: number, id = 0x1234): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2);
  head.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([head, encodeName(name), tail]);
}

describe("DNS messages", () => {
  it("reads a query's question (lower case, compression pointers) and refuses responses and junk", () => {
    const parsed = parseQuery(query("Web.AppNet", TYPE_A));
    expect(parsed.ok && parsed.query.question).toEqual({ name: "web.appnet", type: TYPE_A, class: 1 });
    expect(parseQuery(Buffer.alloc(5))).toEqual({ ok: false, id: undefined, rcode: RCODE_FORMERR });
    const resp = encodeResponse({ id: 1, opcode: 0, recursionDesired: true, questionBytes: query("x", TYPE_A).subarray(12) }, { rcode: 0, recursionAvailable: true });
    expect(parseQuery(resp)).toMatchObject({ ok: false });
    const loop = Buffer.concat([query("a", TYPE_A).subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(parseQuery(loop)).toMatchObject({ ok: false, rcode: RCODE_FORMERR });
  });

  it("answers with the question echoed, one record per address, and truncates over 512 bytes", () => {
    const q = parseQuery(query("web", TYPE_A));
    if (!q.ok) throw new Error("unparsed");
    const many = Array.from({ length: 40 }, (_, i) => ({ type: TYPE_A as typeof TYPE_A, address: Buffer.from([10, 0, 0, i]) }));
    const small = encodeResponse(q.query, { rcode: RCODE_NOERROR, answers: many.slice(0, 2), recursionAvailable: true });
    expect(small.readUInt16BE(0)).toBe(0x1234);
    expect(small.readUInt16BE(6)).toBe(2);
    expect(small.readUInt16BE(2) & 0x8380).toBe(0x8180); // QR, RD, RA; not truncated
    const cut = encodeResponse(q.query, { rcode: RCODE_NOERROR, answers: many, recursionAvailable: true, maxSize: 512 });
    expect(cut.length).toBeLessThanOrEqual(512);
    expect(cut.readUInt16BE(2) & 0x0200).toBe(0x0200);
  });

  it("reverse names", () => {
    expect(reverseAddress("4.3.2.10.in-addr.arpa")).toEqual({ family: 4, address: "10.2.3.4" });
    expect(reverseAddress("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa")).toEqual({ family: 6, address: "fd00:0:0:0:0:0:0:1" });
    expect(reverseAddress("x.in-addr.arpa")).toBeUndefined();
  });

  it("nameservers of a resolv.conf", () => {
    expect(nameservers("# c\nnameserver 10.0.0.2\nnameserver ::1\nnameserver bogus\nsearch x\n")).toEqual(["10.0.0.2", "::1"]);
  });
});

describe("localAnswer (libnetwork's ResolveName/ResolveIP)", () => {
  const nets: DnsNetworkView[] = [
    { name: "front", internal: false, peers: [{ containerName: "web", names: ["web", "www", "abc123abc123"], ipv4: "10.1.0.2", ipv6: "" }] },
    {
      name: "back",
      internal: false,
      peers: [
        { containerName: "db1", names: ["db1", "db"], ipv4: "10.2.0.2", ipv6: "fd00::2" },
        { containerName: "db2", names: ["db2", "db"], ipv4: "10.2.0.3", ipv6: "" },
      ],
    },
  ];
  const addrs = (a: ReturnType<typeof localAnswer>): string[] => (a.kind === "records" ? a.records.map((r) => ("address" in r ? [...r.address].join(".") : r.target)).sort() : []);

  it("names, aliases shared by several containers, name.network, and the first network that has the name", () => {
    expect(addrs(localAnswer(nets, "WWW", TYPE_A))).toEqual(["10.1.0.2"]);
    expect(addrs(localAnswer(nets, "db", TYPE_A))).toEqual(["10.2.0.2", "10.2.0.3"]);
    expect(addrs(localAnswer(nets, "db1.back", TYPE_A))).toEqual(["10.2.0.2"]);
    expect(localAnswer(nets, "db1.front", TYPE_A)).toEqual({ kind: "forward" });
    expect(localAnswer(nets, "example.com", TYPE_A)).toEqual({ kind: "forward" });
    expect(localAnswer(nets, "web", 15)).toEqual({ kind: "forward" });
  });

  it("AAAA of a container without IPv6 is NODATA; with IPv6 its address", () => {
    expect(localAnswer(nets, "web", TYPE_AAAA)).toEqual({ kind: "nodata" });
    const six = localAnswer(nets, "db1", TYPE_AAAA);
    expect(six.kind === "records" && six.records.length).toBe(1);
  });

  it("PTR of a peer's address is name.network", () => {
    expect(addrs(localAnswer(nets, "3.0.2.10.in-addr.arpa", TYPE_PTR))).toEqual(["db2.back"]);
    expect(localAnswer(nets, "9.9.9.9.in-addr.arpa", TYPE_PTR)).toEqual({ kind: "forward" });
  });
});

describe("EmbeddedDns on a loopback listener, asked by Node's resolver (UDP) and over TCP", () => {
  let t: TestStore;
  let dns: EmbeddedDns;
  const log = createLogger(new Writable({ write: (_c, _e, cb) => cb() }), "warn");

  beforeEach(() => {
    t = testStore();
    ensurePredefinedNetworks(t.store);
    dns = new EmbeddedDns({ state: t.store, log, hostResolvConf: "/nonexistent/resolv.conf" });
  });
  afterEach(async () => {
    await dns.closeAll();
    t.close();
  });

  const running = (name: string, network: string, aliases: string[] = []): Container => {
    const c = t.store.containers.create(spec({ name, hostConfig: { NetworkMode: network } }));
    connectContainer(t.store, network, c, { aliases });
    return t.store.containers.start(c as Container<"created">, { pid: 1 });
  };

  it("answers a running peer's name and alias; stopped containers and other networks' are not known; internal networks refuse to forward", async () => {
    // 127.0.0.0/8 as the subnet so the asker's source address (127.0.0.2 once connected) is its endpoint's.
    const net = createNetwork(t.store, { name: "lo", internal: true, ipam: { config: [{ Subnet: "127.0.0.0/24", Gateway: "127.0.0.1" }] } });
    createNetwork(t.store, { name: "other", ipam: { config: [{ Subnet: "10.77.0.0/24" }] } });
    running("asker", "lo");
    running("web", "lo", ["www"]);
    running("far", "other");
    const port = await dns.listen(net, "127.0.0.1");
    expect(dns.port(net.id)).toBe(port);
    const r = new Resolver({ timeout: 2000, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    // Node's resolver binds 0.0.0.0, so its source is 127.0.0.1 — the gateway, no endpoint: it sees that network only.
    expect(await r.resolve4("www")).toEqual(["127.0.0.3"]);
    await expect(r.resolve4("far")).rejects.toMatchObject({ code: "EREFUSED" });

    // TCP, length-prefixed.
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
      const q = query("web", TYPE_A, 7);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(q.length, 0);
      let got = Buffer.alloc(0);
      s.on("connect", () => s.write(Buffer.concat([head, q])));
      s.on("data", (b: Buffer) => {
        got = Buffer.concat([got, b]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          s.destroy();
          resolve(got.subarray(2));
        }
      });
      s.on("error", reject);
    });
    expect(reply.readUInt16BE(0)).toBe(7);
    expect(reply.readUInt16BE(6)).toBe(1);
    expect([...reply.subarray(reply.length - 4)]).toEqual([127, 0, 0, 3]);

    // A query from the asker's own address, for a name nobody has: internal → REFUSED without RA.
    const udp = createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.2", resolve));
    const answer = await new Promise<Buffer>((resolve) => {
      udp.once("message", (m) => resolve(m));
      udp.send(query("example.com", TYPE_A, 9), port, "127.0.0.1");
    });
    udp.close();
    expect(answer.readUInt16BE(2) & 0x008f).toBe(RCODE_REFUSED);
    expect(answer.readUInt16BE(2) & 0x0080).toBe(0);
    await dns.close(net.id);
    expect(dns.port(net.id)).toBeUndefined();
  });

  it("a gateway that is not the host's cannot be listened on (HTK-ENGINE-0800)", async () => {
    const net = createNetwork(t.store, { name: "x", ipam: { config: [{ Subnet: "192.0.2.0/24" }] } });
    const err = await dns.listen(net, "192.0.2.1").catch((e: unknown) => e);
    expect(isHtkError(err) && err.id).toBe("HTK-ENGINE-0800");
  });
});

describe("linkAliases", () => {
  it("reads --link NAME[:ALIAS] (HostConfig.Links, endpoints' Links, Docker's stored /target:/self/alias form) as aliases by target", () => {
    const links = linkAliases({
      hostConfig: { Links: ["acme_web_1:frontdoor", "/db:/app/database", "cache"] },
      networkSettings: { Networks: { acme_default: { Links: ["acme_web_1:www"] } } },
    });
    expect(Object.fromEntries(links)).toEqual({ acme_web_1: ["frontdoor", "www"], db: ["database"], cache: ["cache"] });
  });
});
