import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixtures, requirePrograms, run, runChecked } from "../../testing/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * What the engine asks of the client during a `docker buildx build` (the build service's session):
 * registry credentials for --push (docker login's, from the client's config), and the client's SSH
 * agent for RUN --mount=type=ssh, relayed through the build's stream. Real docker CLI 28 + plugin.
 */
describe("docker buildx build: the client's session (push credentials, ssh agent)", () => {
  let engine: TestEngine;
  const { busybox, registry, authRegistry } = fixtures();
  const docker = (args: string[], cwd?: string, env?: NodeJS.ProcessEnv) => engine.docker(args, { ...(cwd === undefined ? {} : { cwd }), ...(env === undefined ? {} : { env }), timeoutMs: 180_000 });

  beforeAll(async () => {
    requirePrograms(["ssh-agent", "ssh-add", "ssh-keygen"].map((program) => ({ program, aptPackage: "openssh-client" })));
    engine = await startTestEngine({ plugin: true });
  }, 180_000);
  afterAll(async () => engine?.stop());

  function context(name: string, dockerfile: string): string {
    const dir = join(engine.root, "contexts", name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    return dir;
  }

  const skopeoDigest = async (ref: string, creds?: string): Promise<string> => {
    const r = await runChecked("skopeo", ["inspect", "--tls-verify=false", ...(creds === undefined ? [] : ["--creds", creds]), `docker://${ref}`]);
    return (JSON.parse(r.stdout) as { Digest: string }).Digest;
  };

  it("--push sends the image with the client's docker login credentials; skopeo sees the same digest; another engine pulls and runs it", async () => {
    const dir = context("push", `FROM ${busybox.reference}\nRUN echo pushed-by-build > /p\n`);
    const ref = `${authRegistry.host}/pluginout/push:1`;
    // Without credentials the registry refuses the push: the exporter's step fails.
    const denied = await docker(["buildx", "build", "--progress=plain", "--push", "-t", ref, "."], dir);
    expect(denied.code, denied.stderr).toBe(1);
    expect(denied.stderr).toMatch(/#(\d+) pushing layers\n(.|\n)*#\1 ERROR: /);

    const loginOk = await engine.docker(["login", authRegistry.host, "-u", authRegistry.username, "--password-stdin"], { cwd: dir, input: authRegistry.password, timeoutMs: 60_000 });
    expect(loginOk.code, loginOk.stderr).toBe(0);

    const r = await docker(["buildx", "build", "--progress=plain", "--push", "-t", ref, "--metadata-file", "meta.json", "."], dir);
    expect(r.code, r.stderr).toBe(0);
    const meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Record<string, unknown>;
    const digest = meta["containerimage.digest"] as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(meta["image.name"]).toBe(ref);
    expect(meta["containerimage.descriptor"]).toMatchObject({ digest });
    expect(r.stderr).toMatch(new RegExp(`#(\\d+) exporting to image\\n(#\\1 .*\\n)*#\\1 pushing layers( \\d+\\.\\ds)? done\\n(#\\1 .*\\n)*#\\1 pushing manifest for ${ref.replaceAll(".", "\\.")}@${digest}( \\d+\\.\\ds)? done\\n#\\1 DONE`));
    expect(await skopeoDigest(ref, `${authRegistry.username}:${authRegistry.password}`)).toBe(digest);

    const other = await startTestEngine();
    try {
      const l = await other.docker(["login", authRegistry.host, "-u", authRegistry.username, "--password-stdin"], { input: authRegistry.password, timeoutMs: 60_000 });
      expect(l.code, l.stderr).toBe(0);
      const pulled = await other.docker(["pull", ref], { timeoutMs: 120_000 });
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout).toContain(`Digest: ${digest}`);
      const ran = await other.docker(["run", "--rm", ref, "cat", "/p"], { timeoutMs: 120_000 });
      expect(ran).toMatchObject({ code: 0, stdout: "pushed-by-build\n" });
    } finally {
      await other.stop();
    }
  });

  it("-o type=registry,name=… and -o type=image,name=…,push=true push; a push without a name is BuildKit's error", async () => {
    const dir = context("registry-out", `FROM ${busybox.reference}\nRUN echo out > /o\n`);
    const a = `${registry.host}/pluginout/out:a`;
    const b = `${registry.host}/pluginout/out:b`;
    const r1 = await docker(["buildx", "build", "-q", "-o", `type=registry,name=${a}`, "--metadata-file", "m1.json", "."], dir);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await docker(["buildx", "build", "-q", "-o", `type=image,name=${b},push=true`, "--metadata-file", "m2.json", "."], dir);
    expect(r2.code, r2.stderr).toBe(0);
    const d1 = (JSON.parse(readFileSync(join(dir, "m1.json"), "utf8")) as Record<string, string>)["containerimage.digest"];
    const d2 = (JSON.parse(readFileSync(join(dir, "m2.json"), "utf8")) as Record<string, string>)["containerimage.digest"];
    expect(await skopeoDigest(a)).toBe(d1);
    expect(await skopeoDigest(b)).toBe(d2);
    const noName = await docker(["buildx", "build", "-q", "--push", "."], dir);
    expect(noName.code).toBe(1);
    expect(noName.stderr).toContain("tag is needed when pushing to registry");
  });

  /** ssh-add, its libraries and the dynamic loader, in the context (busybox has no SSH client). */
  function sshAddTools(ctx: string): void {
    const dir = join(ctx, "tools");
    mkdirSync(dir, { recursive: true });
    copyFileSync("/usr/bin/ssh-add", join(dir, "ssh-add"));
    const ldd = execFileSync("ldd", ["/usr/bin/ssh-add"], { encoding: "utf8" });
    for (const m of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) copyFileSync(m[1] ?? "", join(dir, basename(m[1] ?? "")));
  }
  const SSH_ADD = "/tools/ld-linux-x86-64.so.2 --library-path /tools /tools/ssh-add";

  it("--ssh default relays the client's real ssh-agent to RUN --mount=type=ssh; --ssh id=KEYFILE serves key files from the client; no key byte in the engine", async () => {
    const dir = context(
      "ssh",
      `FROM ${busybox.reference}
RUN --mount=type=bind,source=tools,target=/tools --mount=type=ssh sh -c '${SSH_ADD} -l; ${SSH_ADD} -D || echo remove-refused'
RUN --mount=type=bind,source=tools,target=/tools --mount=type=ssh,id=files sh -c '${SSH_ADD} -l'
`,
    );
    sshAddTools(dir);
    const keyDir = join(engine.root, "ssh-keys");
    mkdirSync(keyDir, { recursive: true });
    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "agent-key@pluginout", "-f", join(keyDir, "agent")]);
    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "file-key@pluginout", "-f", join(keyDir, "file")]);
    const sock = join(keyDir, "agent.sock");
    const agent = await runChecked("ssh-agent", ["-a", sock, "-s"]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
    try {
      const env = { SSH_AUTH_SOCK: sock };
      await runChecked("ssh-add", [join(keyDir, "agent")], { env: { ...process.env, ...env } });
      const fingerprint = (await runChecked("ssh-keygen", ["-lf", join(keyDir, "agent.pub")])).stdout.split(" ")[1] ?? "";
      const r = await docker(["buildx", "build", "--progress=plain", "--no-cache", "--ssh", "default", "--ssh", `files=${join(keyDir, "file")}`, "."], dir, env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`${fingerprint} agent-key@pluginout (ED25519)`);
      expect(r.stderr).toContain("remove-refused");
      expect(r.stderr).toContain("file-key@pluginout (ED25519)");
      expect((await runChecked("ssh-add", ["-l"], { env: { ...process.env, ...env } })).stdout).toContain("agent-key@pluginout");
      for (const name of ["agent", "file"]) {
        const lines = readFileSync(join(keyDir, name), "utf8").split("\n").filter((l) => l.length > 40 && !l.startsWith("-----"));
        for (const line of lines.slice(0, 3)) expect((await run("grep", ["-r", "-a", "-l", "-F", line, engine.dataRoot])).stdout).toBe("");
      }
      // A required id the build was not given: BuildKit's error.
      writeFileSync(join(dir, "Dockerfile.req"), `FROM ${busybox.reference}\nRUN --mount=type=ssh,id=files,required=true true\n`);
      const missing = await docker(["buildx", "build", "--progress=plain", "-f", "Dockerfile.req", "--ssh", "other", "."], dir, env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("unset ssh forward key files");
      // A key that needs a passphrase cannot be served (HTK-BUILDX-0081), before the build starts.
      await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret-passphrase", "-f", join(keyDir, "locked")]);
      const locked = await docker(["buildx", "build", "--ssh", `x=${join(keyDir, "locked")}`, "."], dir, env);
      expect(locked.code).toBe(1);
      expect(locked.stderr).toMatch(/^ERROR: The key files .*locked given to --ssh could not be loaded into an SSH agent on this machine: .*\n  HTK-BUILDX-0081: /);
    } finally {
      if (pid !== undefined) process.kill(Number(pid));
    }
  });
});
