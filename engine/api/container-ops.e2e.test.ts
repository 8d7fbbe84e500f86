import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { run } from "../../testing/index.ts";
import { seedImage } from "../containers/test-support.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

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
  let engine: TestEngine;
  const busybox = inject("busybox").reference;
  beforeAll(async () => {
    engine = await startTestEngine();
    await seedImage(engine, busybox);
  });
  afterAll(async () => {
    await engine.stop();
  });

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
});
