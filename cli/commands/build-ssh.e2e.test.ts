import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../hatake.ts";
import { memoryIo } from "../testing.ts";
import { fixtures, requirePrograms, run, runChecked, tempDir } from "../../testing/index.ts";

/**
 * `--ssh` and RUN --mount=type=ssh against a real ssh-agent: the step runs the host's real `ssh-add`
 * (dynamically linked, so it comes with its libraries in the build context and is started through
 * their dynamic loader; busybox has no SSH client).
 */
describe("hatake build --ssh", () => {
  beforeAll(() => void requirePrograms(["ssh-agent", "ssh-add", "ssh-keygen"].map((program) => ({ program, aptPackage: "openssh-client" }))));

  const reg = (): string => fixtures().registry.host;

  async function hatakeBuild(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; err: string }> {
    const io = memoryIo({ cwd, env });
    const code = await main(["build", "--data-root", "data", "--progress=plain", ...args, "ctx"], io);
    return { code, err: io.err() };
  }

  /** ssh-add, its libraries and the dynamic loader, copied into `ctx/tools/`. */
  function sshAddTools(ctx: string): void {
    const dir = join(ctx, "tools");
    mkdirSync(dir, { recursive: true });
    copyFileSync("/usr/bin/ssh-add", join(dir, "ssh-add"));
    const ldd = execFileSync("ldd", ["/usr/bin/ssh-add"], { encoding: "utf8" });
    for (const m of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) {
      const lib = m[1] ?? "";
      copyFileSync(lib, join(dir, basename(lib)));
    }
  }

  async function project(dockerfile: string): Promise<string> {
    const root = await tempDir("ssh-build");
    mkdirSync(join(root, "ctx"), { recursive: true });
    writeFileSync(join(root, "ctx", "Dockerfile"), dockerfile);
    sshAddTools(join(root, "ctx"));
    return root;
  }

  const SSH_ADD = "/tools/ld-linux-x86-64.so.2 --library-path /tools /tools/ssh-add";

  it("forwards the client's agent (default) and serves key files (id=…); nothing of the keys is stored", async () => {
    const root = await project(`FROM ${reg()}/busybox
RUN --mount=type=bind,source=tools,target=/tools --mount=type=ssh sh -c 'echo "sock=$SSH_AUTH_SOCK"; test -S /run/buildkit/ssh_agent.0 && ${SSH_ADD} -l; ${SSH_ADD} -D || echo remove-refused'
RUN --mount=type=bind,source=tools,target=/tools --mount=type=ssh,id=files,target=/keys.sock,uid=1000,mode=0600 sh -c 'stat -c "owner=%u mode=%a" /keys.sock; ${SSH_ADD} -l'
RUN --mount=type=ssh,id=absent echo optional-skipped
RUN test ! -e /run/buildkit/ssh_agent.0 && test ! -e /keys.sock && echo no-socket-left
`);
    const keyDir = join(root, "keys");
    mkdirSync(keyDir);
    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "agent-key@htk", "-f", join(keyDir, "agent")]);
    await runChecked("ssh-keygen", ["-q", "-t", "rsa", "-N", "", "-C", "file-key@htk", "-f", join(keyDir, "file")]);
    const sock = join(keyDir, "agent.sock");
    const agent = await runChecked("ssh-agent", ["-a", sock, "-s"]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
    try {
      await runChecked("ssh-add", [join(keyDir, "agent")], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const fingerprint = (await runChecked("ssh-keygen", ["-lf", join(keyDir, "agent.pub")])).stdout.split(" ")[1] ?? "";
      expect(fingerprint).toMatch(/^SHA256:/);
      const r = await hatakeBuild(root, ["--ssh", "default", "--ssh", "files=keys/file", "-t", "ssh/app:1"], { SSH_AUTH_SOCK: sock });
      expect(r.err, r.err).not.toContain("ERROR");
      expect(r.code).toBe(0);
      expect(r.err).toContain("sock=/run/buildkit/ssh_agent.0");
      expect(r.err).toContain(`${fingerprint} agent-key@htk (ED25519)`);
      expect(r.err).toContain("remove-refused");
      expect(r.err).toContain("owner=1000 mode=600");
      expect(r.err).toContain("file-key@htk (RSA)");
      expect(r.err).toContain("optional-skipped");
      expect(r.err).toContain("no-socket-left");
      // The client's agent still has its key (the build could not remove it).
      expect((await runChecked("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: sock } })).stdout).toContain("agent-key@htk");

      // No byte of either private key anywhere in the data root (layers, content, cache keys, records).
      for (const name of ["agent", "file"]) {
        const lines = readFileSync(join(keyDir, name), "utf8").split("\n").filter((l) => l.length > 40 && !l.startsWith("-----"));
        for (const line of lines.slice(0, 3)) {
          const grep = await run("grep", ["-r", "-a", "-l", "-F", line, join(root, "data")]);
          expect(grep.stdout).toBe("");
        }
      }
    } finally {
      if (pid !== undefined) process.kill(Number(pid));
    }
  });

  it("fails a required ssh mount with BuildKit's errors (HTK-BUILD-0200, HTK-BUILD-0201)", async () => {
    const root = await project(`FROM ${reg()}/busybox\nRUN --mount=type=ssh,id=deploy,required=true true\n`);
    const none = await hatakeBuild(root, []);
    expect(none.code).toBe(1);
    expect(none.err).toContain("HTK-BUILD-0200");
    expect(none.err).toContain('no SSH key "deploy" forwarded from the client');
    const keyDir = join(root, "keys");
    mkdirSync(keyDir);
    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "k")]);
    const other = await hatakeBuild(root, ["--ssh", "other=keys/k"]);
    expect(other.code).toBe(1);
    expect(other.err).toContain("HTK-BUILD-0201");
    expect(other.err).toContain("unset ssh forward key deploy");
  });
});
