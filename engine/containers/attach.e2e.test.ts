import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { run } from "../../testing/index.ts";
import { suiteEngine, type TestEngine } from "../e2e/harness.ts";

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** A docker command under a pseudo-terminal (`script`), with input fed as the test says. */
function underPty(engine: TestEngine, command: string, input: string): ReturnType<typeof run> {
  return run("sh", ["-c", `${input} | script -qec '${command}' /dev/null`], { env: engine.env, timeoutMs: 60_000 });
}

describe("attach, start -a, restart, interactive terminals, network files, limits, log rotation", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  it("docker attach follows a running container's output; docker start -a runs one attached and returns its code", async () => {
    expect((await engine.docker(["run", "-d", "--name", "ticker", busybox, "sh", "-c", "trap 'echo bye; exit 0' TERM; i=0; while :; do echo t$i; i=$((i+1)); sleep 0.1; done"])).code).toBe(0);
    const attached = engine.docker(["attach", "--no-stdin", "ticker"]);
    await until("ticker runs a while", async () => (await engine.docker(["logs", "ticker"])).stdout.includes("t5"));
    expect((await engine.docker(["stop", "ticker"])).code).toBe(0);
    const a = await attached;
    expect(a.stdout).toMatch(/t\d+\n/);
    expect(a.stdout.endsWith("bye\n")).toBe(true);
    expect(a.code).toBe(0);
    const id = (await engine.docker(["create", busybox, "sh", "-c", "echo started-attached; exit 6"])).stdout.trim();
    const s = await engine.docker(["start", "-a", id]);
    expect(s.stdout).toBe("started-attached\n");
    expect(s.code).toBe(6);
    expect((await engine.docker(["restart", "-t", "1", "ticker"])).stdout.trim()).toBe("ticker");
    expect((await engine.docker(["inspect", "--format", "{{.State.Status}}", "ticker"])).stdout.trim()).toBe("running");
    const events = await engine.docker(["events", "--since", "0", "--until", String(Math.ceil(Date.now() / 1000)), "--filter", `container=${id}`, "--format", "{{.Action}}"]);
    expect(events.stdout.trim().split("\n")).toEqual(["create", "attach", "start", "die"]);
    expect((await engine.docker(["rm", "-f", "ticker", id])).code).toBe(0);
  });

  it("docker run -it: an interactive shell on a terminal, its exit code; ctrl-p ctrl-q detaches and leaves it running", async () => {
    const sh = await underPty(engine, `docker run -it --rm ${busybox} sh`, "(sleep 1; printf 'echo hel\"\"lo\\n'; sleep 0.5; printf 'exit 5\\n')");
    expect(sh.stdout.replace(/\r/g, "")).toContain("\nhello\n");
    const detached = await underPty(engine, `docker run -it --name det ${busybox} sh`, "(sleep 1; printf 'echo before\\n'; sleep 0.5; printf '\\020\\021'; sleep 1)");
    expect(detached.stdout.replace(/\r/g, "")).toContain("before\n");
    expect((await engine.docker(["inspect", "--format", "{{.State.Status}}", "det"])).stdout.trim()).toBe("running");
    expect((await engine.docker(["rm", "-f", "det"])).code).toBe(0);
  });

  it("writes /etc/hosts, resolv.conf and hostname as Docker does; none and host networks", async () => {
    const r = await engine.docker(["run", "--rm", "--add-host", "db:10.1.2.3", "--dns", "1.1.1.1", "--dns-search", "example.com", "--hostname", "web", busybox, "sh", "-c", "cat /etc/hosts /etc/resolv.conf /etc/hostname; hostname"]);
    // Docker's order: the defaults, --add-host, then the container's own address and name (the default bridge's).
    expect(r.stdout.replace(/^\d+\.\d+\.\d+\.\d+\tweb$/m, "ADDRESS\tweb")).toBe(
      [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        "10.1.2.3\tdb",
        "ADDRESS\tweb",
        "search example.com",
        "nameserver 1.1.1.1",
        "web",
        "web",
        "",
      ].join("\n"),
    );
    // `none`: a namespace of its own, only loopback; the default bridge: loopback and eth0 (its veth).
    for (const [network, links] of [
      ["none", "lo"],
      ["bridge", "lo eth0"],
    ] as const) {
      const lo = await engine.docker(["run", "--rm", "--network", network, busybox, "sh", "-c", "ip -o link | cut -d: -f2 | cut -d@ -f1 | tr -d ' '"]);
      expect(lo.stdout.trim().split("\n").join(" ")).toBe(links);
    }
    const host = await engine.docker(["run", "--rm", "--network", "host", busybox, "hostname"]);
    expect(host.stdout.trim()).toBe((await run("hostname")).stdout.trim());
    // An unknown network is refused at create with Docker's 404 (the CLI then tries a pull first, as with Docker).
    const unknown = await run("curl", ["-s", "--unix-socket", engine.socket, "-H", "Content-Type: application/json", "-d", JSON.stringify({ Image: busybox, HostConfig: { NetworkMode: "no-such-net" } }), "http://engine/v1.45/containers/create"]);
    expect(unknown.stdout).toContain('"message":"network no-such-net not found');
  });

  it("--sysctl, --ulimit, --privileged, --security-opt no-new-privileges", async () => {
    const r = await engine.docker(["run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "--ulimit", "nofile=100:200", busybox, "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn"]);
    expect(r.stdout).toBe("1\n100\n200\n");
    const privileged = await engine.docker(["run", "--rm", "--privileged", busybox, "sh", "-c", "grep CapEff /proc/self/status"]);
    expect(privileged.code).toBe(0);
    const plain = await engine.docker(["run", "--rm", busybox, "sh", "-c", "grep CapEff /proc/self/status"]);
    expect(plain.stdout.trim()).toBe("CapEff:\t00000000a80425fb");
    expect(privileged.stdout.trim()).not.toBe(plain.stdout.trim());
    const nnp = await engine.docker(["run", "--rm", "--security-opt", "no-new-privileges", busybox, "sh", "-c", "grep NoNewPrivs /proc/self/status"]);
    expect(nnp.stdout.trim()).toBe("NoNewPrivs:\t1");
  });

  it("json-file rotates at max-size into max-file files; docker logs reads them in order", async () => {
    const id = (await engine.docker(["run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", busybox, "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"])).stdout.trim();
    expect((await engine.docker(["wait", id])).stdout.trim()).toBe("0");
    const dir = join(engine.dataRoot, "containers", id);
    const files = readdirSync(dir).filter((f) => f.includes("-json.log")).sort();
    expect(files).toEqual([`${id}-json.log`, `${id}-json.log.1`]);
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThan(1024 + 200);
    const lines = (await engine.docker(["logs", id])).stdout.trim().split("\n");
    expect(lines.at(-1)).toBe("line-199-xxxxxxxxxxxxxxxxxxxxxxxx");
    const numbers = lines.map((l) => Number(/line-(\d+)/.exec(l)?.[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    expect((await engine.docker(["logs", "--tail", "2", id])).stdout).toBe("line-198-xxxxxxxxxxxxxxxxxxxxxxxx\nline-199-xxxxxxxxxxxxxxxxxxxxxxxx\n");
    expect((await engine.docker(["rm", id])).code).toBe(0);
  });
});
