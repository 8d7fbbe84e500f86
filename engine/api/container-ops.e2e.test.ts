import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { run, tempDir } from "../../testing/index.ts";
import { suiteEngine, type TestEngine } from "../e2e/harness.ts";

/** One request to the engine's socket; the body read whole. */
function api(engine: TestEngine, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = request(
      {
        socketPath: engine.socket,
        method,
        path: `/v1.45${path}`,
        headers: {
          ...(payload === undefined ? {} : { "Content-Type": Buffer.isBuffer(payload) ? "application/x-tar" : "application/json", "Content-Length": Buffer.byteLength(payload) }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** A program's stdout as bytes (tar archives for PUT /archive). */
function runBuffer(cmd: string, args: readonly string[]): Promise<{ code: number | null; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(chunks) }));
  });
}

/** The parts of Docker's StatsJSON the tests read. */
interface StatsBody {
  readonly name: string;
  readonly id: string;
  readonly read: string;
  readonly preread: string;
  readonly pids_stats: Record<string, number>;
  readonly cpu_stats: { readonly cpu_usage: { readonly total_usage: number }; readonly online_cpus: number };
  readonly precpu_stats: { readonly cpu_usage: { readonly total_usage: number } };
  readonly memory_stats: { readonly usage: number; readonly limit: number };
  readonly networks?: Record<string, { readonly rx_bytes: number }>;
}

/** The `message` of Docker's JSON error body. */
function message(r: { text: string }): string {
  return (JSON.parse(r.text) as { message: string }).message;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}

// The real docker CLI (28.x) against the engine: the container operations beyond the lifecycle.
describe("container operations with the docker CLI", () => {
  const busybox = inject("busybox").reference;
  const engine = suiteEngine({ images: [busybox] });

  describe("exec", () => {
    let id = "";
    beforeAll(async () => {
      const r = await engine.docker(["run", "-d", "--name", "ex", "-w", "/root", busybox, "sleep", "300"]);
      expect(r.code).toBe(0);
      id = r.stdout.trim();
    });
    afterAll(async () => {
      await engine.docker(["rm", "-f", "ex"]);
    });

    it("runs a command: output, stdout and stderr apart, the exit code", async () => {
      expect(await engine.docker(["exec", "ex", "echo", "hi"])).toMatchObject({ code: 0, stdout: "hi\n", stderr: "" });
      const r = await engine.docker(["exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 5"]);
      expect(r).toMatchObject({ code: 5, stdout: "out\n", stderr: "err\n" });
    });

    it("-i with stdin piped: the command reads it to its end", async () => {
      const r = await engine.docker(["exec", "-i", "ex", "sh", "-c", "tr a-z A-Z; echo done"], { input: "hello\nworld\n" });
      expect(r).toMatchObject({ code: 0, stdout: "HELLO\nWORLD\ndone\n" });
    });

    it("-t under a pty: one raw stream, TERM=xterm, the exit code", async () => {
      const cmd = `docker exec -t ex sh -c 'echo "tty:$TERM"; test -t 0 && echo is-a-tty; exit 4'`;
      const r = await run("script", ["-qec", cmd, "/dev/null"], { env: engine.env, timeoutMs: 60_000 });
      expect(r.stdout.replace(/\r/g, "")).toBe("tty:xterm\nis-a-tty\n");
      expect(r.code).toBe(4);
    });

    it("-u, -w, -e; the container's working directory and environment by default", async () => {
      const r = await engine.docker(["exec", "-u", "nobody", "-w", "/tmp", "-e", "A=1", "ex", "sh", "-c", "id -u; pwd; echo $A; echo $PATH"]);
      expect(r.stdout).toBe("65534\n/tmp\n1\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
      expect((await engine.docker(["exec", "ex", "sh", "-c", "pwd; id -u"])).stdout).toBe("/root\n0\n");
    });

    it("-d returns at once and the command runs on", async () => {
      const r = await engine.docker(["exec", "-d", "ex", "sh", "-c", "sleep 0.3; touch /tmp/detached"]);
      expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
      await until(async () => (await engine.docker(["exec", "ex", "test", "-f", "/tmp/detached"])).code === 0);
    });

    it("a command that cannot run: 127 or 126 and Docker's message on stdout", async () => {
      const missing = await engine.docker(["exec", "ex", "no-such-command"]);
      expect(missing.code).toBe(127);
      expect(missing.stdout).toContain('OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in $PATH: unknown [HTK-ENGINE-0504]');
      const notExecutable = await engine.docker(["exec", "ex", "/etc/passwd"]);
      expect(notExecutable.code).toBe(126);
      expect(notExecutable.stdout).toContain('exec: "/etc/passwd": permission denied');
      const user = await engine.docker(["exec", "-u", "nobody2", "ex", "true"]);
      expect(user.code).toBe(126);
      expect(user.stdout).toContain("unable to find user nobody2: no matching entries in passwd file");
      const detached = await engine.docker(["exec", "-d", "ex", "no-such-command"]);
      expect(detached.code).toBe(1);
      expect(detached.stderr).toContain('Error response from daemon: OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-command": executable file not found in $PATH: unknown');
    });

    it("exec instances over the API: inspect, Docker's refusals, events", async () => {
      const noCmd = await api(engine, "POST", "/containers/ex/exec", { AttachStdout: true });
      expect(noCmd.status).toBe(400);
      expect(noCmd.text).toContain("No exec command specified [HTK-ENGINE-0500]");
      const badKeys = await api(engine, "POST", "/containers/ex/exec", { Cmd: ["true"], DetachKeys: "ctrl-1" });
      expect(badKeys.status).toBe(500);
      expect(badKeys.text).toContain("Invalid escape keys (ctrl-1) provided [HTK-ENGINE-0501]");
      const badType = await api(engine, "POST", "/containers/ex/exec", { Cmd: ["true"], Tty: "yes" });
      expect(badType.status).toBe(400);
      expect(message(badType)).toContain("json: cannot unmarshal string into Go struct field ExecConfig.Tty of type bool");

      const created = await api(engine, "POST", "/containers/ex/exec", { Cmd: ["sh", "-c", "exit 3"], User: "nobody", DetachKeys: "ctrl-p,ctrl-q" });
      expect(created.status).toBe(201);
      const execId = (JSON.parse(created.text) as { Id: string }).Id;
      const before = JSON.parse((await api(engine, "GET", `/exec/${execId}/json`)).text) as Record<string, unknown>;
      expect(before).toMatchObject({ ID: execId, ContainerID: id, Running: false, ExitCode: null, Pid: 0, DetachKeys: "EBE=", ProcessConfig: { entrypoint: "sh", arguments: ["-c", "exit 3"], user: "nobody", tty: false, privileged: false } });
      expect((JSON.parse((await engine.docker(["inspect", "--format", "{{json .ExecIDs}}", "ex"])).stdout) as string[]).includes(execId)).toBe(true);
      expect(await api(engine, "POST", `/exec/${execId}/start`, { Detach: true })).toMatchObject({ status: 200, text: "" });
      await until(async () => (JSON.parse((await api(engine, "GET", `/exec/${execId}/json`)).text) as { Running: boolean }).Running === false);
      const after = JSON.parse((await api(engine, "GET", `/exec/${execId}/json`)).text) as Record<string, unknown>;
      expect(after).toMatchObject({ Running: false, ExitCode: 3 });
      expect(after["Pid"]).toBeGreaterThan(0);
      // An ended exec leaves the container's ExecIDs but stays inspectable.
      expect((await engine.docker(["inspect", "--format", "{{json .ExecIDs}}", "ex"])).stdout).not.toContain(execId);
      const again = await api(engine, "POST", `/exec/${execId}/start`, { Detach: true });
      expect(again.status).toBe(409);
      expect(again.text).toContain(`Error: Exec command ${execId} has already run [HTK-ENGINE-0502]`);

      const long = (JSON.parse((await api(engine, "POST", "/containers/ex/exec", { Cmd: ["sleep", "30"] })).text) as { Id: string }).Id;
      expect((await api(engine, "POST", `/exec/${long}/start`, { Detach: true })).status).toBe(200);
      const twice = await api(engine, "POST", `/exec/${long}/start`, { Detach: true });
      expect(twice.status).toBe(409);
      expect(twice.text).toContain(`Error: Exec command ${long} is already running [HTK-ENGINE-0503]`);
      expect(await api(engine, "POST", `/exec/${long}/resize?h=24&w=80`)).toMatchObject({ status: 200 });
      const badResize = await api(engine, "POST", `/exec/${long}/resize?w=80`);
      expect(badResize.status).toBe(400);
      expect(message(badResize)).toContain('strconv.Atoi: parsing "": invalid syntax');
      expect((await api(engine, "GET", "/exec/nope/json")).status).toBe(404);
      expect((await api(engine, "GET", "/exec/nope/json")).text).toContain("No such exec instance: nope");

      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=ex", "--filter", "event=exec_die", "--format", "{{.Action}} {{index .Actor.Attributes \"exitCode\"}} {{index .Actor.Attributes \"execID\"}}"]);
      expect(events.stdout).toContain(`exec_die 3 ${execId}`);
      const starts = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "event=exec_start", "--format", "{{.Action}}"]);
      expect(starts.stdout).toContain("exec_start: sh -c exit 3");
    });

    it("a stopped container refuses exec with Docker's 409", async () => {
      const stopped = (await engine.docker(["create", busybox, "true"])).stdout.trim();
      const r = await engine.docker(["exec", stopped, "true"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Error response from daemon: Container ${stopped} is not running`);
      const viaApi = await api(engine, "POST", `/containers/${stopped}/exec`, { Cmd: ["true"] });
      expect(viaApi.status).toBe(409);
      await engine.docker(["rm", stopped]);
    });
  });
  describe("top, stats, pause/unpause, update", () => {
    let id = "";
    beforeAll(async () => {
      const r = await engine.docker(["run", "-d", "--name", "ops", busybox, "sh", "-c", "sleep 300 & sleep 301"]);
      expect(r.code).toBe(0);
      id = r.stdout.trim();
    });
    afterAll(async () => {
      await engine.docker(["rm", "-f", "ops"]);
    });

    it("docker top lists the container's processes as ps -ef, and other ps options", async () => {
      const r = await engine.docker(["top", "ops"]);
      expect(r.code).toBe(0);
      const [titles, ...rows] = r.stdout.trim().split("\n");
      expect(titles?.split(/\s+/)).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
      expect(rows.map((l) => l.split(/\s{2,}/).at(-1)).sort()).toEqual(["sleep 300", "sleep 301"]);
      const o = await engine.docker(["top", "ops", "-o", "pid,comm"]);
      expect(o.stdout.trim().split("\n").slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(["sleep", "sleep"]);
      const bad = await engine.docker(["top", "ops", "-o", "comm=PID"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('Error response from daemon: specifying "comm=PID" is not allowed [HTK-ENGINE-0505]');
      const json = JSON.parse((await api(engine, "GET", "/containers/ops/top?ps_args=aux")).text) as { Titles: string[]; Processes: string[][] };
      expect(json.Titles).toContain("%CPU");
      expect(json.Processes).toHaveLength(2);
      const stopped = (await engine.docker(["create", busybox, "true"])).stdout.trim();
      expect((await engine.docker(["top", stopped])).stderr).toContain(`Container ${stopped} is not running`);
      await engine.docker(["rm", stopped]);
    });

    it("docker stats --no-stream prints sane figures; the API's one-shot and stream forms", async () => {
      const r = await engine.docker(["stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}", "ops"]);
      expect(r.code).toBe(0);
      const [name, cpu, mem, net, block, pids] = r.stdout.trim().split("|");
      expect(name).toBe("ops");
      expect(cpu).toMatch(/^\d+\.\d\d%$/);
      expect(mem).toMatch(/^\d+(\.\d+)?[KMG]iB \/ \d+(\.\d+)?[KMG]iB$/);
      expect(mem).not.toMatch(/^0B/);
      // The bridge network's eth0 (loopback is not counted).
      expect(net).toMatch(/^\d+(\.\d+)?k?B \/ \d+(\.\d+)?k?B$/);
      expect(block).toMatch(/B \/ /);
      expect(pids).toBe("2");
      const oneShot = await api(engine, "GET", "/containers/ops/stats?stream=0&one-shot=1");
      expect(oneShot.status).toBe(200);
      const stats = JSON.parse(oneShot.text) as StatsBody;
      expect(stats.name).toBe("/ops");
      expect(stats.id).toBe(id);
      expect(stats.pids_stats).toEqual({ current: 2 });
      expect(stats.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
      expect(stats.cpu_stats.online_cpus).toBeGreaterThan(0);
      expect(stats.memory_stats.usage).toBeGreaterThan(0);
      expect(stats.memory_stats.limit).toBeGreaterThan(0);
      expect(stats.preread).toBe("0001-01-01T00:00:00Z");
      expect(Object.keys(stats.networks ?? {})).toEqual(["eth0"]);
      const none = (await engine.docker(["run", "-d", "--network", "none", busybox, "sleep", "30"])).stdout.trim();
      const isolated = JSON.parse((await api(engine, "GET", `/containers/${none}/stats?stream=0&one-shot=1`)).text) as StatsBody;
      expect(isolated.networks).toBeUndefined();
      await engine.docker(["rm", "-f", none]);
      const both = await api(engine, "GET", "/containers/ops/stats?stream=1&one-shot=1");
      expect(both.status).toBe(400);
      expect(message(both)).toContain("cannot have stream=true and one-shot=true [HTK-ENGINE-0509]");
      const stopped = (await engine.docker(["create", "--name", "idle", busybox, "true"])).stdout.trim();
      const idle = JSON.parse((await api(engine, "GET", "/containers/idle/stats?stream=0")).text) as Record<string, unknown>;
      expect(idle).toMatchObject({ name: "/idle", id: stopped, read: "0001-01-01T00:00:00Z", memory_stats: {}, pids_stats: {} });
      await engine.docker(["rm", "idle"]);
      // The stream: two samples a second apart, the second with the first's CPU figures.
      const controller = new AbortController();
      const lines: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const req = request({ socketPath: engine.socket, path: "/v1.45/containers/ops/stats", signal: controller.signal }, (res) => {
          let buffered = "";
          res.on("data", (c: Buffer) => {
            buffered += c.toString();
            const parts = buffered.split("\n");
            buffered = parts.pop() ?? "";
            lines.push(...parts);
            if (lines.length >= 2) {
              controller.abort();
              resolve();
            }
          });
        });
        req.on("error", (err) => (controller.signal.aborted ? resolve() : reject(err)));
        req.end();
      });
      const [first, second] = lines.map((l) => JSON.parse(l) as StatsBody);
      expect(second?.precpu_stats.cpu_usage.total_usage).toBe(first?.cpu_stats.cpu_usage.total_usage);
      expect(second?.preread).toBe(first?.read);
    });

    it("pause and unpause: Docker's refusals, exec refused while paused, events, (Paused) in ps", async () => {
      expect((await engine.docker(["pause", "ops"])).stdout.trim()).toBe("ops");
      expect((await engine.docker(["ps", "--filter", "name=ops", "--format", "{{.Status}}"])).stdout.trim()).toMatch(/^Up .* \(Paused\)$/);
      expect((await engine.docker(["inspect", "--format", "{{.State.Status}} {{.State.Paused}}", "ops"])).stdout.trim()).toBe("paused true");
      const again = await engine.docker(["pause", "ops"]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`Container ${id} is already paused`);
      const exec = await engine.docker(["exec", "ops", "true"]);
      expect(exec.code).toBe(1);
      expect(exec.stderr).toContain("Container ops is paused, unpause the container before exec");
      expect((await api(engine, "POST", "/containers/ops/exec", { Cmd: ["true"] })).status).toBe(409);
      // The freezer holds the processes: top still lists them.
      expect((await engine.docker(["top", "ops"])).code).toBe(0);
      expect((await engine.docker(["unpause", "ops"])).stdout.trim()).toBe("ops");
      const notPaused = await api(engine, "POST", "/containers/ops/unpause");
      expect(notPaused.status).toBe(500);
      expect(message(notPaused)).toContain(`Container ${id} is not paused`);
      expect((await engine.docker(["exec", "ops", "true"])).code).toBe(0);
      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=ops", "--filter", "event=pause", "--filter", "event=unpause", "--format", "{{.Action}}"]);
      expect(events.stdout).toBe("pause\nunpause\n");
      const stopped = (await engine.docker(["create", busybox, "true"])).stdout.trim();
      expect((await engine.docker(["pause", stopped])).stderr).toContain(`Container ${stopped} is not running`);
      await engine.docker(["rm", stopped]);
    });

    it("docker update: cgroup limits of the running container, the restart policy, Docker's refusals", async () => {
      const r = await engine.docker(["update", "--memory", "64m", "--pids-limit", "40", "--cpu-shares", "512", "--restart", "on-failure:3", "ops"]);
      expect(r).toMatchObject({ code: 0, stdout: "ops\n" });
      const cg = await engine.docker(["exec", "ops", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"]);
      expect(cg.stdout).toBe(`${64 * 1024 * 1024}\n40\n`);
      const inspect = await engine.docker(["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "ops"]);
      expect(inspect.stdout.trim()).toBe(`${64 * 1024 * 1024} 40 512 on-failure:3`);
      const stats = JSON.parse((await api(engine, "GET", "/containers/ops/stats?stream=0&one-shot=1")).text) as { memory_stats: { limit: number } };
      expect(stats.memory_stats.limit).toBe(64 * 1024 * 1024);
      // Docker's memory/memory-swap rule: the swap limit is twice the memory unless given.
      const swap = await engine.docker(["update", "--memory", "256m", "ops"]);
      expect(swap.code).toBe(1);
      expect(swap.stderr).toContain(`Cannot update container ${id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time [HTK-ENGINE-0510]`);
      expect((await engine.docker(["update", "--memory", "256m", "--memory-swap", "512m", "ops"])).code).toBe(0);
      expect((await engine.docker(["update", "--pids-limit", "-1", "ops"])).code).toBe(0);
      expect((await engine.docker(["exec", "ops", "sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"])).stdout).toBe("max\n");
      const tooSmall = await engine.docker(["update", "--memory", "1m", "ops"]);
      expect(tooSmall.stderr).toContain("Minimum memory limit allowed is 6MB");
      const policy = await api(engine, "POST", "/containers/ops/update", { RestartPolicy: { Name: "sometimes" } });
      expect(policy.status).toBe(400);
      expect(message(policy)).toContain("invalid restart policy: unknown policy 'sometimes'");
      const body = await api(engine, "POST", "/containers/ops/update", { Memory: "lots" });
      expect(message(body)).toContain("json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64");
      const ok = await api(engine, "POST", "/containers/ops/update", { CpuShares: 256 });
      expect(ok).toMatchObject({ status: 200 });
      expect(JSON.parse(ok.text)).toEqual({ Warnings: [] });
      const rm = (await engine.docker(["create", "--rm", busybox, "true"])).stdout.trim();
      const autoRemove = await engine.docker(["update", "--restart", "always", rm]);
      expect(autoRemove.stderr).toContain(`Cannot update container ${rm}: Restart policy cannot be updated because AutoRemove is enabled for the container`);
      // A stopped container: the HostConfig changes and applies at the next start.
      expect((await engine.docker(["update", "--memory", "32m", rm])).code).toBe(0);
      expect((await engine.docker(["inspect", "--format", "{{.HostConfig.Memory}}", rm])).stdout.trim()).toBe(String(32 * 1024 * 1024));
      await engine.docker(["rm", rm]);
      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=ops", "--filter", "event=update", "--format", "{{.Action}}"]);
      expect(events.stdout.split("\n").filter((l) => l === "update").length).toBeGreaterThanOrEqual(3);
    });
  });
  describe("cp, diff, export", () => {
    let dir = "";
    beforeAll(async () => {
      dir = await tempDir("cp");
      writeFileSync(join(dir, "f.txt"), "hello\n");
      mkdirSync(join(dir, "d", "sub"), { recursive: true });
      writeFileSync(join(dir, "d", "sub", "x"), "x\n");
      const r = await engine.docker(["run", "-d", "--name", "files", "-v", "cpvol:/vol", "-v", `${dir}:/ro:ro`, busybox, "sh", "-c", "echo made > /tmp/made; ln -s /etc /tmp/etclink; ln -s ../../../../../../../../etc /tmp/escape; rm /bin/ls; echo ok > /tmp/ready; sleep 300"]);
      expect(r.code).toBe(0);
      await until(async () => (await engine.docker(["exec", "files", "test", "-f", "/tmp/ready"])).code === 0);
    });
    afterAll(async () => {
      await engine.docker(["rm", "-f", "-v", "files"]);
      await engine.docker(["volume", "rm", "cpvol"]);
    });

    it("copies a file and a directory into a running container, and out again", async () => {
      expect((await engine.docker(["cp", join(dir, "f.txt"), "files:/tmp/"])).code).toBe(0);
      expect((await engine.docker(["cp", join(dir, "d"), "files:/tmp/d2"])).code).toBe(0);
      expect((await engine.docker(["exec", "files", "sh", "-c", "cat /tmp/f.txt; find /tmp/d2 | sort; stat -c '%u:%g %a' /tmp/f.txt"])).stdout).toBe("hello\n/tmp/d2\n/tmp/d2/sub\n/tmp/d2/sub/x\n0:0 644\n");
      const out = join(dir, "out");
      expect((await engine.docker(["cp", "files:/tmp/d2", out])).code).toBe(0);
      expect(readFileSync(join(out, "sub", "x"), "utf8")).toBe("x\n");
      expect((await engine.docker(["cp", "files:/etc/passwd", join(dir, "passwd")])).code).toBe(0);
      expect(readFileSync(join(dir, "passwd"), "utf8")).toContain("root:x:0:0:root:/root:/bin/sh");
      // The contents of a directory ("dir/."), and a volume of the running container.
      expect((await engine.docker(["cp", `${join(dir, "d")}/.`, "files:/vol/"])).code).toBe(0);
      expect((await engine.docker(["exec", "files", "cat", "/vol/sub/x"])).stdout).toBe("x\n");
    });

    it("docker cp to stdout is a tar; -L follows a link; links never lead out of the container", async () => {
      const tar = await run("sh", ["-c", "docker cp files:/tmp/made - | tar -tvf -"], { env: engine.env });
      expect(tar.code).toBe(0);
      expect(tar.stdout).toMatch(/^-rw-r--r-- root\/root\s+5 .* made\n$/);
      const dirTar = await run("sh", ["-c", "docker cp files:/tmp/d2 - | tar -tf -"], { env: engine.env });
      expect(dirTar.stdout).toBe("d2/\nd2/sub/\nd2/sub/x\n");
      expect((await engine.docker(["cp", "files:/tmp/etclink", join(dir, "link")])).code).toBe(0);
      expect(readlinkSync(join(dir, "link"))).toBe("/etc");
      expect((await engine.docker(["cp", "-L", "files:/tmp/etclink", join(dir, "linkL")])).code).toBe(0);
      expect(readFileSync(join(dir, "linkL", "passwd"), "utf8")).toContain("nobody:x:65534");
      // /tmp/escape climbs far above the root: it ends at the container's own /etc.
      const escaped = await run("sh", ["-c", "docker cp files:/tmp/escape/passwd - | tar -xOf -"], { env: engine.env });
      expect(escaped.stdout).toBe(readFileSync(join(dir, "passwd"), "utf8"));
      const stat = await api(engine, "HEAD", "/containers/files/archive?path=/tmp/etclink");
      const header = JSON.parse(Buffer.from(String(stat.headers["x-docker-container-path-stat"]), "base64").toString("utf8")) as Record<string, unknown>;
      expect(header).toMatchObject({ name: "etclink", size: 4, mode: 2 ** 27 + 0o777, linkTarget: "/etc" });
      expect(header["mtime"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      const dirStat = await api(engine, "HEAD", "/containers/files/archive?path=/tmp/d2/");
      expect(JSON.parse(Buffer.from(String(dirStat.headers["x-docker-container-path-stat"]), "base64").toString("utf8"))).toMatchObject({ name: "d2", mode: 2 ** 31 + 0o755 });
    });

    it("Docker's errors: missing paths, a file as destination, read-only mounts, bad archives, entries that climb out", async () => {
      const missing = await engine.docker(["cp", "files:/nope", join(dir, "x")]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("Error response from daemon: Could not find the file /nope in container files [HTK-ENGINE-0513]");
      const noPath = await api(engine, "GET", "/containers/files/archive");
      expect(noPath.status).toBe(400);
      expect(message(noPath)).toContain("bad parameter: pathcannot be empty [HTK-ENGINE-0512]");
      const tarOf = async (args: string[]): Promise<Buffer> => (await runBuffer("tar", ["-cf", "-", "-C", dir, ...args])).stdout;
      const ok = await tarOf(["f.txt"]);
      const notDir = await api(engine, "PUT", "/containers/files/archive?path=/etc/passwd", ok);
      expect(notDir.status).toBe(400);
      expect(message(notDir)).toContain("extraction point is not a directory [HTK-ENGINE-0514]");
      const putMissing = await api(engine, "PUT", "/containers/files/archive?path=/no/such/dir", ok);
      expect(putMissing.status).toBe(404);
      const ro = await api(engine, "PUT", "/containers/files/archive?path=/ro", ok);
      expect(ro.status).toBe(403);
      expect(message(ro)).toContain("mounted volume is marked read-only [HTK-ENGINE-0516]");
      const garbage = await api(engine, "PUT", "/containers/files/archive?path=/tmp", Buffer.from("this is not a tar archive at all".repeat(40)));
      expect(garbage.status).toBe(500);
      expect(message(garbage)).toContain("HTK-ENGINE-0521");
      // An entry named ../../etc/evil, made by hand: refused before anything is written.
      const climbing = await runBuffer("tar", ["-cf", "-", "-C", dir, "--transform", "s,^f.txt,../../etc/evil,", "f.txt"]);
      const out = await api(engine, "PUT", "/containers/files/archive?path=/tmp", climbing.stdout);
      expect(out.status).toBe(500);
      expect(message(out)).toContain('"../../etc/evil" is outside of "/tmp" [HTK-ENGINE-0519]');
      expect((await engine.docker(["exec", "files", "test", "-e", "/etc/evil"])).code).toBe(1);
      const link = await runBuffer("sh", ["-c", `cd ${dir} && ln -sf ../../../etc/shadow up && tar -cf - up; rm -f up`]);
      const badLink = await api(engine, "PUT", "/containers/files/archive?path=/tmp", link.stdout);
      expect(message(badLink)).toContain('invalid symlink "/tmp/up" -> "../../../etc/shadow" [HTK-ENGINE-0520]');
      // noOverwriteDirNonDir (what docker cp sends): a file where the container has a directory.
      mkdirSync(join(dir, "clash"));
      writeFileSync(join(dir, "clash", "d2"), "file\n");
      const clash = await engine.docker(["cp", join(dir, "clash", "d2"), "files:/tmp/"]);
      expect(clash.code).toBe(1);
      expect(clash.stderr).toContain('cannot overwrite directory "/tmp/d2" with non-directory "/tmp" [HTK-ENGINE-0517]');
      // A symbolic link in the container leads the extraction into its target, inside the container.
      expect((await api(engine, "PUT", "/containers/files/archive?path=/tmp/etclink", ok)).status).toBe(200);
      expect((await engine.docker(["exec", "files", "cat", "/etc/f.txt"])).stdout).toBe("hello\n");
      const readOnly = (await engine.docker(["create", "--read-only", busybox, "true"])).stdout.trim();
      const rootfs = await engine.docker(["cp", join(dir, "f.txt"), `${readOnly}:/tmp/`]);
      expect(rootfs.stderr).toContain("container rootfs is marked read-only [HTK-ENGINE-0515]");
      await engine.docker(["rm", readOnly]);
    });

    it("docker diff lists the writable layer's changes as Docker does; export is a tar of the root file system", async () => {
      const diff = await engine.docker(["diff", "files"]);
      expect(diff.code).toBe(0);
      const lines = diff.stdout.trim().split("\n");
      expect(lines).toEqual(expect.arrayContaining(["C /bin", "D /bin/ls", "C /tmp", "A /tmp/made", "A /tmp/etclink", "A /tmp/d2", "A /tmp/d2/sub", "A /tmp/d2/sub/x", "A /vol"]));
      // The mount points the runtime made (Docker's init layer) are not changes.
      expect(lines.filter((l) => /\/etc\/(hosts|hostname|resolv\.conf)$/.test(l))).toEqual([]);
      expect(lines.indexOf("C /bin")).toBeLessThan(lines.indexOf("D /bin/ls"));
      const changes = JSON.parse((await api(engine, "GET", "/containers/files/changes")).text) as Array<{ Path: string; Kind: number }>;
      expect(changes).toContainEqual({ Path: "/bin/ls", Kind: 2 });
      expect(changes).toContainEqual({ Path: "/tmp/made", Kind: 1 });
      expect(changes).toContainEqual({ Path: "/bin", Kind: 0 });
      const fresh = (await engine.docker(["create", busybox, "true"])).stdout.trim();
      expect((await engine.docker(["diff", fresh])).stdout).toBe("");
      const list = await run("sh", ["-c", "docker export files | tar -tf -"], { env: engine.env });
      expect(list.code).toBe(0);
      const entries = list.stdout.split("\n");
      expect(entries).toEqual(expect.arrayContaining(["bin/", "bin/busybox", "etc/passwd", "tmp/made", "tmp/d2/sub/x"]));
      expect(entries).not.toContain("bin/ls");
      // Volumes are not part of an export.
      expect(entries.filter((e) => e.startsWith("vol/sub"))).toEqual([]);
      const o = join(dir, "exported.tar");
      expect((await engine.docker(["export", "-o", o, fresh])).code).toBe(0);
      expect((await run("tar", ["-tf", o])).stdout).toContain("bin/sh");
      await engine.docker(["rm", fresh]);
      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=files", "--format", "{{.Action}}"]);
      expect(events.stdout).toContain("archive-path\n");
      expect(events.stdout).toContain("extract-to-dir\n");
      expect(events.stdout).toContain("export\n");
    });

    it("cp -a gives the files the container user's IDs; without it the archive's", async () => {
      const id = (await engine.docker(["create", "-u", "nobody", busybox, "true"])).stdout.trim();
      expect((await engine.docker(["cp", "-a", join(dir, "f.txt"), `${id}:/tmp/`])).code).toBe(0);
      const listed = await run("sh", ["-c", `docker cp ${id}:/tmp/f.txt - | tar -tvf -`], { env: engine.env });
      expect(listed.stdout).toMatch(/^-rw-r--r-- nobody\/nobody /);
      await engine.docker(["rm", id]);
    });

    it("a stopped container: cp both ways (its volumes included), diff, export", async () => {
      expect((await engine.docker(["stop", "-t", "0", "files"])).code).toBe(0);
      expect((await engine.docker(["cp", join(dir, "f.txt"), "files:/root/"])).code).toBe(0);
      expect((await engine.docker(["cp", join(dir, "f.txt"), "files:/vol/from-outside"])).code).toBe(0);
      const made = await run("sh", ["-c", "docker cp files:/tmp/made - | tar -xOf -"], { env: engine.env });
      expect(made.stdout).toBe("made\n");
      const fromVolume = await run("sh", ["-c", "docker cp files:/vol/sub/x - | tar -xOf -"], { env: engine.env });
      expect(fromVolume.stdout).toBe("x\n");
      expect((await engine.docker(["diff", "files"])).stdout).toContain("A /root/f.txt\n");
      expect((await engine.docker(["start", "files"])).code).toBe(0);
      expect((await engine.docker(["exec", "files", "sh", "-c", "cat /root/f.txt /vol/from-outside"])).stdout).toBe("hello\nhello\n");
    });
  });
  describe("commit", () => {
    it("docker commit: a new layer on the image, --change, author and message, the image runs", async () => {
      const r = await engine.docker(["run", "-d", "--name", "tocommit", busybox, "sh", "-c", "echo made > /tmp/made; rm /bin/ls; echo done > /tmp/ready; sleep 300"]);
      expect(r.code).toBe(0);
      await until(async () => (await engine.docker(["exec", "tocommit", "test", "-f", "/tmp/ready"])).code === 0);
      const committed = await engine.docker(["commit", "-a", "Ada <ada@example.org>", "-m", "a message", "-c", "ENV FOO=bar", "-c", 'CMD ["cat", "/tmp/made"]', "tocommit", "committed:v1"]);
      expect(committed.code).toBe(0);
      const id = committed.stdout.trim();
      expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
      // Paused for the commit (Docker's default) and running again after it.
      expect((await engine.docker(["inspect", "--format", "{{.State.Status}}", "tocommit"])).stdout.trim()).toBe("running");
      expect((await engine.docker(["run", "--rm", "committed:v1"])).stdout).toBe("made\n");
      const ran = await engine.docker(["run", "--rm", "committed:v1", "sh", "-c", "echo $FOO; test -e /bin/ls || echo no-ls; cat /etc/hostname | wc -c"]);
      expect(ran.stdout).toBe("bar\nno-ls\n13\n");
      const inspect = await engine.docker(["image", "inspect", "--format", "{{.Author}}|{{len .RootFS.Layers}}|{{.Parent}}|{{json .Config.Cmd}}", "committed:v1"]);
      const base = (await engine.docker(["image", "inspect", "--format", "{{.Id}}|{{len .RootFS.Layers}}", busybox])).stdout.trim().split("|");
      expect(inspect.stdout.trim()).toBe(`Ada <ada@example.org>|${Number(base[1]) + 1}|${base[0]}|["cat","/tmp/made"]`);
      const history = await engine.docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}|{{.Comment}}", "committed:v1"]);
      expect(history.stdout.split("\n")[0]).toBe("sh -c echo made > /tmp/made; rm /bin/ls; echo done > /tmp/ready; sleep 300|10B|a message");
      // The layer holds the container's changes, not the runtime's mount points (/etc/hosts …).
      const saved = await tempDir("save");
      expect((await engine.docker(["save", "committed:v1", "-o", join(saved, "img.tar")])).code).toBe(0);
      await run("tar", ["-xf", join(saved, "img.tar"), "-C", saved]);
      const manifest = JSON.parse(readFileSync(join(saved, "manifest.json"), "utf8")) as Array<{ Layers: string[] }>;
      const top = await run("tar", ["-tf", join(saved, manifest[0]?.Layers.at(-1) ?? "")]);
      expect(top.stdout).toBe("bin/\nbin/.wh.ls\ntmp/\ntmp/made\ntmp/ready\n");
      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=tocommit", "--format", "{{.Action}} {{index .Actor.Attributes \"imageRef\"}} {{index .Actor.Attributes \"comment\"}}"]);
      expect(events.stdout).toContain("pause  \ncommit committed:v1 a message\nunpause  \n");
      await engine.docker(["rm", "-f", "tocommit"]);
    });

    it("a container that changed nothing gets no layer; Docker's refusals", async () => {
      const fresh = (await engine.docker(["create", "--name", "unchanged", busybox, "true"])).stdout.trim();
      const id = (await engine.docker(["commit", "unchanged", "unchanged:1"])).stdout.trim();
      expect(id).toMatch(/^sha256:/);
      const layers = (await engine.docker(["image", "inspect", "--format", "{{len .RootFS.Layers}}", "unchanged:1"])).stdout.trim();
      expect(layers).toBe((await engine.docker(["image", "inspect", "--format", "{{len .RootFS.Layers}}", busybox])).stdout.trim());
      expect((await engine.docker(["history", "--format", "{{.Size}}", "unchanged:1"])).stdout.split("\n")[0]).toBe("0B");
      const bad = await engine.docker(["commit", "-c", "RUN true", "unchanged"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain("run is not a valid change command");
      const missing = await api(engine, "POST", "/commit?container=nope");
      expect(missing.status).toBe(404);
      const viaApi = await api(engine, "POST", `/commit?container=${fresh}&repo=viaapi&tag=t&comment=c&pause=0`, { Cmd: ["echo", "from the body"], Labels: { a: "b" } });
      expect(viaApi.status).toBe(201);
      expect((await engine.docker(["run", "--rm", "viaapi:t"])).stdout).toBe("from the body\n");
      expect((await engine.docker(["image", "inspect", "--format", "{{.Config.Labels.a}}", "viaapi:t"])).stdout.trim()).toBe("b");
      await engine.docker(["rm", "unchanged"]);
    });
  });
  describe("healthchecks", () => {
    const health = async (name: string): Promise<{ Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string }> }> =>
      JSON.parse((await engine.docker(["inspect", "--format", "{{json .State.Health}}", name])).stdout) as { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string }> };

    it("--health-cmd: starting, unhealthy after the retries, healthy once the probe passes; (healthy) in ps; events only on a change", async () => {
      const r = await engine.docker(["run", "-d", "--name", "hc", "--health-cmd", "test -f /tmp/ok && echo fine", "--health-interval", "100ms", "--health-retries", "2", busybox, "sleep", "300"]);
      expect(r.code).toBe(0);
      expect((await engine.docker(["ps", "--filter", "name=hc", "--format", "{{.Status}}"])).stdout).toMatch(/\(health: starting\)\n$/);
      await until(async () => (await health("hc")).Status === "unhealthy");
      const sick = await health("hc");
      expect(sick.FailingStreak).toBeGreaterThanOrEqual(2);
      expect(sick.Log.length).toBeLessThanOrEqual(5);
      expect(sick.Log.every((l) => l.ExitCode === 1)).toBe(true);
      expect((await engine.docker(["ps", "--filter", "name=hc", "--format", "{{.Status}}"])).stdout).toMatch(/\(unhealthy\)\n$/);
      await engine.docker(["exec", "hc", "touch", "/tmp/ok"]);
      await until(async () => (await health("hc")).Status === "healthy");
      expect((await health("hc")).Log.at(-1)).toMatchObject({ ExitCode: 0, Output: "fine\n" });
      expect((await engine.docker(["ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}"])).stdout).toMatch(/^hc Up .* \(healthy\)\n$/);
      const events = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=hc", "--filter", "event=health_status", "--format", "{{.Action}}"]);
      expect(events.stdout).toBe("health_status: unhealthy\nhealth_status: healthy\n");
      // The probes are execs (Docker emits their events) that leave nothing behind.
      const probes = await engine.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "container=hc", "--filter", "event=exec_die", "--format", "{{.Action}}"]);
      expect(probes.stdout.split("\n").length).toBeGreaterThan(3);
      expect((await engine.docker(["inspect", "--format", "{{json .ExecIDs}}", "hc"])).stdout.trim()).toBe("null");
      // The monitor stops with the container (no timer left), and starts again with it, from "starting".
      expect((await engine.docker(["stop", "-t", "0", "hc"])).code).toBe(0);
      const hcId = (await engine.docker(["inspect", "--format", "{{.Id}}", "hc"])).stdout.trim();
      await until(() => Promise.resolve(!engine.daemon.services.containerOps.health.monitored.includes(hcId)));
      expect((await engine.docker(["start", "hc"])).code).toBe(0);
      expect((await health("hc")).Status).toBe("starting");
      await until(async () => (await health("hc")).Status === "healthy");
      expect((await engine.docker(["rm", "-f", "hc"])).code).toBe(0);
      await until(() => Promise.resolve(engine.daemon.services.containerOps.health.monitored.length === 0));
    });

    it("a probe that runs too long fails with Docker's timeout text; a paused container is not probed", async () => {
      const r = await engine.docker(["run", "-d", "--name", "slow", "--health-cmd", "sleep 5", "--health-interval", "100ms", "--health-timeout", "200ms", "--health-retries", "1", busybox, "sleep", "300"]);
      expect(r.code).toBe(0);
      await until(async () => (await health("slow")).Status === "unhealthy");
      expect((await health("slow")).Log[0]).toMatchObject({ ExitCode: -1, Output: "Health check exceeded timeout (200ms)" });
      const id = (await engine.docker(["inspect", "--format", "{{.Id}}", "slow"])).stdout.trim();
      expect((await engine.docker(["pause", "slow"])).code).toBe(0);
      await until(() => Promise.resolve(!engine.daemon.services.containerOps.health.monitored.includes(id)));
      expect((await engine.docker(["unpause", "slow"])).code).toBe(0);
      await until(() => Promise.resolve(engine.daemon.services.containerOps.health.monitored.includes(id)));
      await engine.docker(["rm", "-f", "slow"]);
    });

    it("HEALTHCHECK from the API's Config (CMD form) and NONE", async () => {
      const created = await api(engine, "POST", "/containers/create?name=hcapi", { Image: busybox, Cmd: ["sleep", "300"], Healthcheck: { Test: ["CMD", "true"], Interval: 100_000_000 } });
      expect(created.status).toBe(201);
      expect((await api(engine, "POST", "/containers/hcapi/start")).status).toBe(204);
      await until(async () => (await health("hcapi")).Status === "healthy");
      const none = await engine.docker(["run", "-d", "--name", "hcnone", "--no-healthcheck", busybox, "sleep", "300"]);
      expect(none.code).toBe(0);
      expect((await engine.docker(["inspect", "--format", "{{json .State.Health}}", "hcnone"])).stdout.trim()).toBe("null");
      await engine.docker(["rm", "-f", "hcapi", "hcnone"]);
    });
  });
  describe("docker-py", () => {
    it("typical calls of Debian's python3-docker pass: run detached, exec_run, logs, top, stats, pause, update, archives, diff, stop, commit, remove", async () => {
      const script = `
import docker, io, json, sys, tarfile
client = docker.DockerClient(base_url=sys.argv[1], version="auto")
image = sys.argv[2]
out = {}
c = client.containers.run(image, ["sh", "-c", "echo hello; echo oops >&2; sleep 300"], detach=True, name="pyc", environment={"A": "1"})
c.reload()
out["status"] = c.status
r = c.exec_run(["sh", "-c", "echo $A; exit 3"])
out["exec"] = [r.exit_code, r.output.decode()]
d = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
out["demux"] = [d.output[0].decode(), d.output[1].decode()]
out["workdir"] = c.exec_run("pwd", workdir="/tmp", user="nobody").output.decode()
out["logs"] = c.logs().decode()
out["stderr"] = c.logs(stdout=False, stderr=True).decode()
out["top"] = c.top()["Titles"]
st = c.stats(stream=False)
out["stats"] = [st["name"], st["pids_stats"].get("current"), "cpu_stats" in st]
c.pause(); c.reload(); out["paused"] = c.status
c.unpause(); c.reload(); out["unpaused"] = c.status
c.update(mem_limit="64m")
c.reload(); out["memory"] = c.attrs["HostConfig"]["Memory"]
bits, stat = c.get_archive("/etc/passwd")
data = b"".join(bits)
out["archive"] = [stat["name"], tarfile.open(fileobj=io.BytesIO(data)).getnames()]
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    info = tarfile.TarInfo("from-py.txt"); payload = b"from docker-py\\n"; info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))
out["put"] = c.put_archive("/tmp", buf.getvalue())
out["cat"] = c.exec_run(["cat", "/tmp/from-py.txt"]).output.decode()
out["diff"] = sorted(x["Path"] for x in c.diff())
c.stop(timeout=1)
c.reload(); out["stopped"] = [c.status, c.attrs["State"]["ExitCode"]]
img = c.commit(repository="pyimg", tag="1", message="from docker-py")
out["commit"] = img.tags
c.remove()
out["run"] = client.containers.run("pyimg:1", ["cat", "/tmp/from-py.txt"], remove=True).decode()
out["left"] = [x.name for x in client.containers.list(all=True) if x.name == "pyc"]
client.images.remove("pyimg:1")
print(json.dumps(out))
`;
      const r = await run("/usr/bin/python3", ["-c", script, engine.host, busybox]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({
        status: "running",
        exec: [3, "1\n"],
        demux: ["out\n", "err\n"],
        workdir: "/tmp\n",
        logs: "hello\noops\n",
        stderr: "oops\n",
        top: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        stats: ["/pyc", 1, true],
        paused: "paused",
        unpaused: "running",
        memory: 64 * 1024 * 1024,
        archive: ["passwd", ["passwd"]],
        put: true,
        cat: "from docker-py\n",
        diff: ["/tmp", "/tmp/from-py.txt"],
        stopped: ["exited", 137],
        commit: ["pyimg:1"],
        run: "from docker-py\n",
        left: [],
      });
    });
  });
});
