import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { requirePrograms, run, runChecked, tempDir } from "../../testing/index.ts";
import { loadSshSources } from "../build/ssh-sources.ts";
import { FrameReader, frame, serveAgentSocket } from "./ssh-agent.ts";

/**
 * The in-process agent and the relay, checked with OpenSSH's own clients on the host: `ssh-add -l`
 * lists what the agent holds, `ssh-keygen -Y sign` has it sign and `-Y check-novalidate` verifies.
 */
describe("SSH agent for RUN --mount=type=ssh", () => {
  beforeAll(() => void requirePrograms(["ssh-agent", "ssh-add", "ssh-keygen"].map((program) => ({ program, aptPackage: "openssh-client" }))));

  async function keypair(dir: string, type: string, comment: string, name = `id_${type}`): Promise<string> {
    const file = join(dir, name);
    await runChecked("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", comment, "-f", file]);
    return file;
  }

  it("serves key files (ed25519, RSA, ECDSA, PEM): ssh-add lists them, signatures verify", async () => {
    const dir = await tempDir("ssh-keys");
    const ed = await keypair(dir, "ed25519", "ed@htk");
    const rsa = await keypair(dir, "rsa", "rsa@htk");
    const ec = await keypair(dir, "ecdsa", "ec@htk");
    await keypair(dir, "rsa", "", "pem_rsa");
    await runChecked("ssh-keygen", ["-q", "-p", "-N", "", "-m", "PEM", "-f", join(dir, "pem_rsa")]);
    const sources = await loadSshSources([`keys=${ed},${rsa},${ec},${join(dir, "pem_rsa")}`], {}, dir);
    const source = sources["keys"];
    if (source === undefined) throw new Error("no source");
    const agent = await serveAgentSocket(source, { uid: 0, gid: 0, mode: 0o600 });
    try {
      const env = { ...process.env, SSH_AUTH_SOCK: agent.path };
      const listed = await runChecked("ssh-add", ["-L"], { env });
      for (const f of [ed, rsa, ec]) expect(listed.stdout).toContain(readFileSync(`${f}.pub`, "utf8").trim());
      // A PEM key has no comment of its own: its path names it, as ssh-add does.
      expect(listed.stdout).toContain(join(dir, "pem_rsa"));
      writeFileSync(join(dir, "msg"), "signed by the in-process agent\n");
      for (const f of [ed, rsa, ec, join(dir, "pem_rsa")]) {
        await runChecked("ssh-keygen", ["-Y", "sign", "-n", "htk", "-f", `${f}.pub`, join(dir, "msg")], { env });
        const check = await run("ssh-keygen", ["-Y", "check-novalidate", "-n", "htk", "-s", join(dir, "msg.sig"), "-f", `${f}.pub`], { input: "signed by the in-process agent\n" });
        expect(check.code, check.stderr).toBe(0);
        await runChecked("rm", [join(dir, "msg.sig")]);
      }
      // Read-only: removing keys is refused.
      const removed = await run("ssh-add", ["-D"], { env });
      expect(removed.code).not.toBe(0);
    } finally {
      await agent.close();
    }
  });

  it("relays to a running ssh-agent, read-only", async () => {
    const dir = await tempDir("ssh-relay");
    const key = await keypair(dir, "ed25519", "relay@htk");
    const sock = join(dir, "agent.sock");
    const agentProc = await runChecked("ssh-agent", ["-a", sock, "-s"]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agentProc.stdout)?.[1];
    try {
      await runChecked("ssh-add", [key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const sources = await loadSshSources(["default"], { SSH_AUTH_SOCK: sock }, dir);
      const agent = await serveAgentSocket(sources["default"] ?? { kind: "keys", keys: [] }, { uid: 0, gid: 0, mode: 0o600 });
      try {
        const env = { ...process.env, SSH_AUTH_SOCK: agent.path };
        expect((await runChecked("ssh-add", ["-l"], { env })).stdout).toContain("relay@htk");
        expect((await run("ssh-add", ["-D"], { env })).code).not.toBe(0);
        expect((await runChecked("ssh-add", ["-l"], { env: { ...process.env, SSH_AUTH_SOCK: sock } })).stdout).toContain("relay@htk");
      } finally {
        await agent.close();
      }
    } finally {
      if (pid !== undefined) process.kill(Number(pid));
    }
  });

  it("refuses bad --ssh values (HTK-CLI-0050) and unusable key files (HTK-CLI-0051)", async () => {
    const dir = await tempDir("ssh-bad");
    writeFileSync(join(dir, "not-a-key"), "hello\n");
    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret-pass", "-f", join(dir, "locked")]);
    const fails = async (specs: string[], env: NodeJS.ProcessEnv, id: "HTK-CLI-0050" | "HTK-CLI-0051", text: string): Promise<void> => {
      const err = await loadSshSources(specs, env, dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isHtkError(err, id), String(err)).toBe(true);
      expect(String((err as Error).message)).toContain(text);
    };
    await fails(["default"], {}, "HTK-CLI-0050", "invalid empty ssh agent socket");
    await fails(["a=not-a-key"], {}, "HTK-CLI-0051", "not a private key");
    await fails(["a=locked"], {}, "HTK-CLI-0051", "passphrase");
    await fails(["a=missing"], {}, "HTK-CLI-0050", "ENOENT");
    const key = join(dir, "k");
    await runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    await fails(["a=k", "a=k"], {}, "HTK-CLI-0050", "invalid duplicate ID a");
  });

  it("frames messages and refuses oversized ones", () => {
    const r = new FrameReader();
    const a = frame(Uint8Array.of(11));
    const b = frame(Uint8Array.of(13, 1, 2));
    const both = new Uint8Array([...a, ...b]);
    expect(r.push(both.subarray(0, 6))).toEqual([Uint8Array.of(11)]);
    expect(r.push(both.subarray(6))).toEqual([Uint8Array.of(13, 1, 2)]);
    expect(() => new FrameReader().push(Uint8Array.of(0, 0x10, 0, 0, 1))).toThrow();
  });
});
