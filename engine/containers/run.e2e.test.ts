import { request } from "node:http";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { run, tempDir } from "../../testing/index.ts";
import { suiteEngine, type TestEngine } from "../e2e/harness.ts";

/** One request to the engine's socket; the body read whole. */
function api(engine: TestEngine, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = request(
      {
        socketPath: engine.socket,
        method,
        path: `/v1.45${path}`,
        headers: { ...(payload === undefined ? {} : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

// The real docker CLI (28.x) against the engine: the container lifecycle end to end.
describe("containers with the docker CLI", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  it("docker run --rm busybox echo hi prints hi, exits 0 and leaves nothing", async () => {
    const r = await engine.docker(["run", "--rm", busybox, "echo", "hi"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hi\n");
    expect(r.code).toBe(0);
    expect((await engine.docker(["ps", "-aq"])).stdout).toBe("");
  });

  it("propagates the exit code and keeps stdout and stderr apart", async () => {
    const r = await engine.docker(["run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n");
  });

  it("-e, -w, -u and the container's environment", async () => {
    const r = await engine.docker(["run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", busybox, "sh", "-c", 'echo "$FOO $(pwd) $(id -u) $HOME"; env | sort']);
    expect(r.code).toBe(0);
    const [first, ...env] = r.stdout.trim().split("\n");
    expect(first).toBe("bar /tmp 65534 /home");
    expect(env).toContain("FOO=bar");
    expect(env).toContain("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    expect(env.some((e) => /^HOSTNAME=[0-9a-f]{12}$/.test(e))).toBe(true);
  });

  it("run -i with stdin piped, and StdinOnce closes the container's stdin", async () => {
    const r = await engine.docker(["run", "--rm", "-i", busybox, "sh", "-c", "tr a-z A-Z; echo done"], { input: "hello\nworld\n" });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("HELLO\nWORLD\ndone\n");
  });

  it("run -t under a pty: one raw stream, TERM=xterm", async () => {
    const cmd = `docker run --rm -t ${busybox} sh -c 'echo "tty:$TERM"; test -t 0 && echo is-a-tty; exit 4'`;
    const res = await run("script", ["-qec", cmd, "/dev/null"], { env: engine.env, timeoutMs: 60_000 });
    expect(res.stdout.replace(/\r/g, "")).toContain("tty:xterm\nis-a-tty\n");
    expect(res.code).toBe(4);
  });

  it("--name, the name conflict error, ps -a/-q/--filter/--format, rename, inspect --format, rm", async () => {
    const created = await engine.docker(["create", "--name", "web1", "--label", "tier=front", busybox, "sleep", "60"]);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const conflict = await engine.docker(["create", "--name", "web1", busybox, "true"]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain(`Conflict. The container name "/web1" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
    expect((await engine.docker(["ps", "-q"])).stdout).toBe("");
    expect((await engine.docker(["ps", "-aq"])).stdout.trim()).toBe(id.slice(0, 12));
    const fmt = await engine.docker(["ps", "-a", "--filter", "label=tier=front", "--format", "{{.Names}} {{.Status}} {{.Image}}"]);
    expect(fmt.stdout.trim()).toBe(`web1 Created ${busybox}`);
    expect((await engine.docker(["ps", "-a", "--filter", "label=tier=back", "-q"])).stdout).toBe("");
    expect((await engine.docker(["rename", "web1", "web2"])).code).toBe(0);
    const inspect = await engine.docker(["inspect", "--format", "{{.Name}} {{.State.Status}} {{.Config.Labels.tier}} {{.HostConfig.NetworkMode}} {{.Path}} {{json .Args}}", "web2"]);
    expect(inspect.stdout.trim()).toBe('/web2 created front bridge sleep ["60"]');
    const same = await engine.docker(["rename", "web2", "web2"]);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain("Renaming a container with the same name as its current name");
    expect((await engine.docker(["rm", "web2"])).code).toBe(0);
    const gone = await engine.docker(["inspect", "web2"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("No such object: web2");
  });

  it("run -d, logs (--tail, --timestamps, --since, -f), stop, start again, wait, kill, rm -f", async () => {
    const r = await engine.docker(["run", "-d", "--name", "talker", busybox, "sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    // Follow until the three lines are there: -f ends when the container stops.
    const follow = engine.docker(["logs", "-f", "talker"]);
    for (;;) {
      const l = await engine.docker(["logs", "talker"]);
      if (l.stdout.includes("three")) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const logs = await engine.docker(["logs", "talker"]);
    expect(logs.stdout).toBe("one\nthree\n");
    expect(logs.stderr).toBe("two\n");
    expect((await engine.docker(["logs", "--tail", "1", "talker"])).stdout).toBe("three\n");
    const ts = await engine.docker(["logs", "--timestamps", "--tail", "1", "talker"]);
    expect(ts.stdout).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z three\n$/);
    expect((await engine.docker(["logs", "--since", "2099-01-01T00:00:00Z", "talker"])).stdout).toBe("");
    expect((await engine.docker(["ps", "--format", "{{.Names}} {{.State}}"])).stdout.trim()).toBe("talker running");

    const stop = await engine.docker(["stop", "talker"]);
    expect(stop.code).toBe(0);
    expect(stop.stdout.trim()).toBe("talker");
    const followed = await follow;
    expect(followed.stdout).toBe("one\nthree\nbye\n");
    expect((await engine.docker(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id])).stdout.trim()).toBe("exited 0");
    expect((await engine.docker(["ps", "-a", "--filter", "exited=0", "--format", "{{.Names}}"])).stdout.trim()).toBe("talker");
    // Stopping again is Docker's 304, which the CLI reports as success.
    expect((await engine.docker(["stop", "talker"])).code).toBe(0);

    expect((await engine.docker(["start", "talker"])).code).toBe(0);
    const waiting = engine.docker(["wait", "talker"]);
    expect((await engine.docker(["kill", "talker"])).code).toBe(0);
    const waited = await waiting;
    expect(waited.stdout.trim()).toBe("137");
    const notRunning = await engine.docker(["kill", "talker"]);
    expect(notRunning.code).toBe(1);
    expect(notRunning.stderr).toContain("cannot kill container: talker: Container " + id + " is not running");
    expect((await engine.docker(["start", "talker"])).code).toBe(0);
    const refused = await engine.docker(["rm", "talker"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('cannot remove container "/talker": container is running: stop the container before removing or force remove');
    expect((await engine.docker(["rm", "-f", "talker"])).code).toBe(0);
    expect((await engine.docker(["ps", "-aq"])).stdout).toBe("");
  });

  it("a command that does not exist: 127 and Docker's message; --rm leaves nothing", async () => {
    const r = await engine.docker(["run", "--rm", busybox, "no-such-command"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    expect(r.stderr).toContain("[HTK-ENGINE-0360]");
    expect((await engine.docker(["ps", "-aq"])).stdout).toBe("");
  });

  it("-v bind and named volume (with the image's content copied up), --mount, --tmpfs, --read-only", async () => {
    const dir = await tempDir("binds");
    writeFileSync(join(dir, "in.txt"), "from host\n");
    const r = await engine.docker([
      "run", "--rm", "-v", `${dir}:/host`, "-v", "vol1:/etc", "--mount", "type=tmpfs,dst=/scratch", "--tmpfs", "/run:size=1m", "--read-only", busybox,
      "sh", "-c", "cat /host/in.txt; echo w > /host/out.txt; test -f /etc/passwd && echo copied; echo x > /scratch/x && echo tmpfs-ok; grep -c ' /run ' /proc/mounts; touch /root 2>/dev/null || echo read-only",
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("from host\ncopied\ntmpfs-ok\n1\nread-only\n");
    expect(r.code).toBe(0);
    expect(execFileSync("cat", [join(dir, "out.txt")]).toString()).toBe("w\n");
    // The named volume outlives the container and keeps what was written.
    expect((await engine.docker(["run", "--rm", "-v", "vol1:/data", busybox, "sh", "-c", "echo kept > /data/k"])).code).toBe(0);
    expect((await engine.docker(["run", "--rm", "-v", "vol1:/data", busybox, "cat", "/data/k"])).stdout).toBe("kept\n");
    const missing = await engine.docker(["run", "--rm", "--mount", "type=bind,src=/no/such/dir,dst=/x", busybox, "true"]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('invalid mount config for type "bind": bind source path does not exist: /no/such/dir');
    mkdirSync(join(dir, "sub"));
  });

  it("--init, --memory, --pids-limit, --cap-drop", async () => {
    const init = await engine.docker(["run", "--rm", "--init", busybox, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]);
    expect(init.stdout).toBe("/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr '\\0' ' ' ");
    const limits = await engine.docker(["run", "--rm", "--memory", "64m", "--pids-limit", "50", busybox, "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"]);
    expect(limits.stdout).toBe(`${64 * 1024 * 1024}\n50\n`);
    const caps = await engine.docker(["run", "--rm", "--cap-drop", "CHOWN", busybox, "sh", "-c", "chown nobody /tmp 2>&1; echo $?"]);
    expect(caps.stdout).toContain("Operation not permitted");
    const tooSmall = await engine.docker(["run", "--rm", "--memory", "1m", busybox, "true"]);
    expect(tooSmall.code).toBe(125);
    expect(tooSmall.stderr).toContain("Minimum memory limit allowed is 6MB");
  });

  it("--restart on-failure:2 restarts with back-off and stops at the limit; container prune", async () => {
    const r = await engine.docker(["run", "-d", "--name", "flaky", "--restart", "on-failure:2", busybox, "sh", "-c", "echo attempt; exit 5"]);
    expect(r.code).toBe(0);
    for (;;) {
      const s = await engine.docker(["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "flaky"]);
      if (s.stdout.trim() === "exited 2") break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect((await engine.docker(["logs", "flaky"])).stdout).toBe("attempt\nattempt\nattempt\n");
    expect((await engine.docker(["inspect", "--format", "{{.State.ExitCode}}", "flaky"])).stdout.trim()).toBe("5");
    const pruned = await engine.docker(["container", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain("Deleted Containers:");
    expect((await engine.docker(["ps", "-aq"])).stdout).toBe("");
  });

  it("--restart always restarts after every exit until docker stop; unless-stopped likewise; events carry die and start", async () => {
    for (const policy of ["always", "unless-stopped"]) {
      const name = `loop-${policy}`;
      expect((await engine.docker(["run", "-d", "--name", name, "--restart", policy, busybox, "sh", "-c", "echo run; exit 1"])).code).toBe(0);
      for (;;) {
        const n = Number((await engine.docker(["inspect", "--format", "{{.RestartCount}}", name])).stdout.trim());
        if (n >= 2) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect((await engine.docker(["stop", name])).code).toBe(0);
      const after = (await engine.docker(["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", name])).stdout.trim().split(" ");
      expect(after[0]).toBe("exited");
      // Stopped by hand: no further restart (Docker's ExitOnNext).
      const count = after[1];
      await new Promise((res) => setTimeout(res, 500));
      expect((await engine.docker(["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", name])).stdout.trim()).toBe(`exited ${count}`);
      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.ceil(Date.now() / 1000)), "--filter", `container=${name}`, "--format", "{{.Action}}"]);
      const actions = events.stdout.trim().split("\n");
      expect(actions.slice(0, 4)).toEqual(["create", "start", "die", "start"]);
      expect((await engine.docker(["rm", name])).code).toBe(0);
    }
  });

  it("answers the Engine API's errors with Docker's status codes and texts", async () => {
    expect(await api(engine, "GET", "/containers/nope/json")).toMatchObject({ status: 404 });
    expect((await api(engine, "GET", "/containers/nope/json")).text).toContain("No such container: nope");
    const noImage = await api(engine, "POST", "/containers/create", { Cmd: ["true"] });
    expect(noImage.status).toBe(400);
    expect(noImage.text).toContain("A container needs an image, and the request named none. [HTK-ENGINE-0399]");
    const bad = await api(engine, "POST", "/containers/create", "{not json");
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("HTK-ENGINE-0450");
    const created = await api(engine, "POST", "/containers/create?name=apitest", { Image: busybox, Cmd: ["sleep", "30"], Tty: false });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.text) as { Id: string }).Id;
    expect((await api(engine, "POST", "/containers/apitest/wait?condition=sometime")).text).toContain('invalid condition: \\"sometime\\" [HTK-ENGINE-0366]');
    expect((await api(engine, "GET", "/containers/apitest/logs")).text).toContain("Bad parameters: you must choose at least one stream [HTK-ENGINE-0367]");
    expect((await api(engine, "POST", "/containers/apitest/start", { Binds: [] })).text).toContain("HTK-ENGINE-0368");
    expect((await api(engine, "POST", "/containers/apitest/kill")).text).toContain("cannot kill container: apitest: Container " + id + " is not running [HTK-ENGINE-0369]");
    expect(await api(engine, "POST", "/containers/nope/kill")).toMatchObject({ status: 404 });
    expect((await api(engine, "POST", "/containers/nope/kill")).text).toContain("cannot kill container: nope: No such container: nope [HTK-ENGINE-0370]");
    expect((await api(engine, "POST", "/containers/apitest/stop?t=soon")).text).toContain('strconv.Atoi: parsing \\"soon\\": invalid syntax [HTK-ENGINE-0372]');
    expect((await api(engine, "POST", "/containers/apitest/rename?name=")).text).toContain("Neither old nor new names may be empty [HTK-ENGINE-0363]");
    expect((await api(engine, "GET", "/containers/apitest/logs?stdout=1&since=yesterday")).text).toContain('failed to parse value as time or duration: \\"yesterday\\" [HTK-ENGINE-0401]');
    expect((await api(engine, "POST", "/containers/apitest/attach?stream=1&stdout=1&detachKeys=ctrl-1")).text).toContain("Unknown character: 'ctrl-1' [HTK-ENGINE-0400]");
    expect(await api(engine, "POST", "/containers/apitest/start")).toMatchObject({ status: 204 });
    expect(await api(engine, "POST", "/containers/apitest/start")).toMatchObject({ status: 304 });
    expect((await api(engine, "POST", "/containers/apitest/kill?signal=NOPE")).text).toContain("cannot kill container: apitest: Invalid signal: NOPE [HTK-ENGINE-0371]");
    const wait = api(engine, "POST", "/containers/apitest/wait?condition=removed");
    expect(await api(engine, "DELETE", "/containers/apitest?force=1")).toMatchObject({ status: 204 });
    expect(JSON.parse((await wait).text)).toEqual({ StatusCode: 137 });

    const silent = await api(engine, "POST", "/containers/create", { Image: busybox, Cmd: ["true"], HostConfig: { LogConfig: { Type: "none", Config: {} } } });
    const silentId = (JSON.parse(silent.text) as { Id: string }).Id;
    const noLogs = await api(engine, "GET", `/containers/${silentId}/logs?stdout=1`);
    expect(noLogs.status).toBe(501);
    expect(noLogs.text).toContain("configured logging driver does not support reading [HTK-ENGINE-0365]");
    // A start failure that is not the command's: a file mounted onto a directory.
    const clash = await api(engine, "POST", "/containers/create", { Image: busybox, Cmd: ["true"], HostConfig: { Binds: ["/tmp:/etc/passwd"] } });
    const clashId = (JSON.parse(clash.text) as { Id: string }).Id;
    const failed = await api(engine, "POST", `/containers/${clashId}/start`);
    expect(failed.status).toBe(500);
    expect(failed.text).toContain("HTK-ENGINE-0361");
    expect((await engine.docker(["rm", "-f", silentId, clashId])).code).toBe(0);
  });

  it("a removal that cannot delete the container's files marks it dead (HTK-ENGINE-0362); a second rm finishes", async () => {
    const id = (await engine.docker(["create", busybox, "true"])).stdout.trim();
    const busy = join(engine.dataRoot, "containers", id, "busy");
    mkdirSync(busy);
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", busy]);
    try {
      const r = await engine.docker(["rm", id]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`unable to remove filesystem for ${id}`);
      expect(r.stderr).toContain("HTK-ENGINE-0362");
      expect((await engine.docker(["inspect", "--format", "{{.State.Status}}", id])).stdout.trim()).toBe("dead");
    } finally {
      execFileSync("umount", [busy]);
    }
    expect((await engine.docker(["rm", id])).code).toBe(0);
  });

  it("attach to a paused container is refused (HTK-ENGINE-0364)", async () => {
    // Pausing is the later helper's endpoint; the state store can put it there directly.
    const id = (await engine.docker(["run", "-d", busybox, "sleep", "30"])).stdout.trim();
    const { state, runtime } = engine.daemon.services;
    const c = state.containers.get(id);
    if (c?.status !== "running") throw new Error("not running");
    await runtime.pause(id);
    state.containers.pause(c);
    const r = await api(engine, "POST", `/containers/${id}/attach?stream=1&stdout=1`);
    expect(r.status).toBe(409);
    expect(r.text).toContain(`container ${id} is paused, unpause the container before attach [HTK-ENGINE-0364]`);
    expect((await engine.docker(["rm", "-f", id])).code).toBe(0);
  });
});
