import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
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

  /** A message announcing 1 MiB (OpenSSH's agent allows 256 KiB): the connection is closed, the socket goes on serving. */
  function closesOnOversized(path: string): Promise<boolean> {
    return new Promise((resolve) => {
      const c = connect(path, () => c.write(Uint8Array.of(0, 0x10, 0, 0, 11)));
      c.on("error", () => undefined);
      c.on("close", () => resolve(true));
    });
  }

  it("serves PKCS#8 keys (RSA, ECDSA P-384/P-521 as ssh-keygen writes them, ed25519 as openssl does), as buildx reads them", async () => {
    const dir = await tempDir("ssh-pkcs8");
    const rsa = await keypair(dir, "rsa", "", "p8_rsa");
    const ec384 = join(dir, "p8_ec384");
    await runChecked("ssh-keygen", ["-q", "-t", "ecdsa", "-b", "384", "-N", "", "-f", ec384]);
    const ec521 = join(dir, "p8_ec521");
    await runChecked("ssh-keygen", ["-q", "-t", "ecdsa", "-b", "521", "-N", "", "-f", ec521]);
    for (const f of [rsa, ec384, ec521]) await runChecked("ssh-keygen", ["-q", "-p", "-N", "", "-m", "PKCS8", "-f", f]);
    const ed = join(dir, "p8_ed25519");
    writeFileSync(ed, generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    for (const f of [rsa, ec384, ec521, ed]) expect(readFileSync(f, "utf8")).toContain("-----BEGIN PRIVATE KEY-----");
    const sources = await loadSshSources([`k=${rsa},${ec384},${ec521},${ed}`], {}, dir);
    const agent = await serveAgentSocket(sources["k"] ?? { kind: "keys", keys: [] }, { uid: 0, gid: 0, mode: 0o600 });
    try {
      const env = { ...process.env, SSH_AUTH_SOCK: agent.path };
      const listed = (await runChecked("ssh-add", ["-L"], { env })).stdout.trim().split("\n");
      expect(listed.map((l) => l.split(" ")[0])).toEqual(["ssh-rsa", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519"]);
      writeFileSync(join(dir, "msg"), "pkcs8\n");
      for (const [i, line] of listed.entries()) {
        // The listed public key (named by the file's path: PKCS#8 has no comment) signs and verifies.
        expect(line).toContain(join(dir, "p8_"));
        writeFileSync(join(dir, `pub${i}`), `${line}\n`);
        await runChecked("ssh-keygen", ["-Y", "sign", "-n", "htk", "-f", join(dir, `pub${i}`), join(dir, "msg")], { env });
        const check = await run("ssh-keygen", ["-Y", "check-novalidate", "-n", "htk", "-s", join(dir, "msg.sig"), "-f", join(dir, `pub${i}`)], { input: "pkcs8\n" });
        expect(check.code, check.stderr).toBe(0);
        await runChecked("rm", [join(dir, "msg.sig")]);
      }
      expect(await closesOnOversized(agent.path)).toBe(true);
      expect((await runChecked("ssh-add", ["-l"], { env })).stdout).toContain("(ED25519)");
    } finally {
      await agent.close();
    }
    // With a passphrase, in PKCS#8 or in the old PEM format: refused as the OpenSSH format is.
    for (const format of ["PKCS8", "PEM"]) {
      const locked = join(dir, `locked_${format}`);
      await runChecked("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "pass-phrase", "-m", format, "-f", locked]);
      const err = await loadSshSources([`a=${locked}`], {}, dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isHtkError(err, "HTK-CLI-0051"), String(err)).toBe(true);
      expect(String(err)).toContain("passphrase");
    }
  });

  it("relays certificates untouched, and closes a connection that sends an oversized message", async () => {
    const dir = await tempDir("ssh-cert");
    const ca = await keypair(dir, "ed25519", "ca@htk", "ca");
    const key = await keypair(dir, "ecdsa", "user@htk");
    await runChecked("ssh-keygen", ["-q", "-s", ca, "-I", "build-user", "-n", "git", `${key}.pub`]);
    const sock = join(dir, "agent.sock");
    const agentProc = await runChecked("ssh-agent", ["-a", sock, "-s"]);
    const pid = /SSH_AGENT_PID=(\d+)/.exec(agentProc.stdout)?.[1];
    try {
      await runChecked("ssh-add", [key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const direct = (await runChecked("ssh-add", ["-L"], { env: { ...process.env, SSH_AUTH_SOCK: sock } })).stdout;
      expect(direct).toContain("ecdsa-sha2-nistp256-cert-v01@openssh.com");
      const agent = await serveAgentSocket({ kind: "socket", path: sock }, { uid: 0, gid: 0, mode: 0o600 });
      try {
        const env = { ...process.env, SSH_AUTH_SOCK: agent.path };
        expect((await runChecked("ssh-add", ["-L"], { env })).stdout).toBe(direct);
        // A relayed signature verifies.
        writeFileSync(join(dir, "msg"), "relayed\n");
        await runChecked("ssh-keygen", ["-Y", "sign", "-n", "htk", "-f", `${key}.pub`, join(dir, "msg")], { env });
        const check = await run("ssh-keygen", ["-Y", "check-novalidate", "-n", "htk", "-s", join(dir, "msg.sig"), "-f", `${key}.pub`], { input: "relayed\n" });
        expect(check.code, check.stderr).toBe(0);
        expect(await closesOnOversized(agent.path)).toBe(true);
        expect((await runChecked("ssh-add", ["-L"], { env })).stdout).toBe(direct);
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
