import { describe, expect, it } from "vitest";
import { hostNetworkHostsFile, hostnameFile, hostsFile, parseNetworkMode, resolvConf } from "./network.ts";

describe("network files", () => {
  it("/etc/hosts as Docker writes it, with --add-host entries and the container's own address", () => {
    expect(hostsFile({ hostname: "abc", extraHosts: ["db:10.0.0.2", "gw:host-gateway"], hostGateway: "172.17.0.1", address: "172.17.0.5" })).toBe(
      [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        "10.0.0.2\tdb",
        "172.17.0.1\tgw",
        "172.17.0.5\tabc",
        "",
      ].join("\n"),
    );
    expect(hostsFile({ hostname: "abc", extraHosts: [] }).split("\n")).toHaveLength(7);
    expect(hostNetworkHostsFile(["x:1.2.3.4"], () => "127.0.0.1 localhost\n")).toBe("127.0.0.1 localhost\n1.2.3.4\tx\n");
  });

  it("resolv.conf: loopback nameservers dropped in a private namespace, --dns and --dns-search replace the host's", () => {
    const host = "# generated\nsearch corp.example\nnameserver 127.0.0.53\noptions edns0\n";
    expect(resolvConf({ hostResolvConf: host, hostNetwork: false, dns: [], dnsSearch: [], dnsOptions: [] })).toBe(
      "search corp.example\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n",
    );
    expect(resolvConf({ hostResolvConf: host, hostNetwork: true, dns: [], dnsSearch: [], dnsOptions: [] })).toBe("search corp.example\nnameserver 127.0.0.53\noptions edns0\n");
    expect(resolvConf({ hostResolvConf: host, hostNetwork: false, dns: ["1.1.1.1"], dnsSearch: ["a.b"], dnsOptions: ["ndots:2"] })).toBe(
      "search a.b\nnameserver 1.1.1.1\noptions ndots:2\n",
    );
    expect(hostnameFile("web", "example.com")).toBe("web.example.com\n");
  });

  it("reads network modes", () => {
    expect(parseNetworkMode("default")).toEqual({ kind: "bridge", network: "bridge" });
    expect(parseNetworkMode("mynet")).toEqual({ kind: "bridge", network: "mynet" });
    expect(parseNetworkMode("none")).toEqual({ kind: "none" });
    expect(parseNetworkMode("host")).toEqual({ kind: "host" });
    expect(parseNetworkMode("container:abc")).toEqual({ kind: "container", ref: "abc" });
  });
});
