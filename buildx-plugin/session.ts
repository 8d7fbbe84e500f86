import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { htkError } from "../base/errors/index.ts";
import { DockerConfigCredentials, type DecodedAuth } from "../base/registry/credentials.ts";

/**
 * What the engine asks of the client while a build runs (BuildKit's session attachables): registry
 * credentials as the docker CLI keeps them, and SSH agents. Nothing here is sent before the engine
 * asks, and nothing of it is kept.
 */

/** Docker's AuthConfig, as the build service's ProvideCredentials carries it; all empty = anonymous. */
export type ClientAuth = DecodedAuth;

/**
 * A registry's credentials as the docker CLI finds them (buildx's authprovider over the CLI's config
 * file): `credHelpers[host]`, else `credsStore`, through `docker-credential-NAME get`; else the
 * `auths` entry. Nothing found (or a helper that fails) is anonymous.
 */
export function registryAuth(configDir: string, host: string, env: NodeJS.ProcessEnv): Promise<ClientAuth> {
  return new DockerConfigCredentials({ configDir, env }).authConfig(host);
}

/** One `--ssh` value: an agent socket the client relays to. */
export interface SshSpec {
  readonly id: string;
  readonly socket: string;
}

/**
 * buildx's `--ssh` values: `ID` (the agent of $SSH_AUTH_SOCK), `ID=SOCKET`, or `ID=KEY[,KEY…]`; the
 * errors are buildx's (sshprovider) texts. Key files are served by an agent of the client's own
 * (`keyAgent`), so only agent messages ever cross to the engine.
 */
export function parseSsh(specs: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Array<{ readonly id: string; readonly socket?: string; readonly keys?: readonly string[] }> {
  const out: Array<{ id: string; socket?: string; keys?: string[] }> = [];
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const id = (eq < 0 ? spec : spec.slice(0, eq)) || "default";
    let paths = eq < 0 ? [] : spec.slice(eq + 1).split(",").filter((p) => p !== "");
    if (paths.length === 0) {
      const sock = env["SSH_AUTH_SOCK"] ?? "";
      if (sock === "") throw htkError("HTK-BUILDX-0080", { buildxMessage: "invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set" });
      paths = [sock];
    }
    if (out.some((s) => s.id === id)) throw htkError("HTK-BUILDX-0080", { buildxMessage: `invalid duplicate ID ${id}` });
    let socket: string | undefined;
    const keys: string[] = [];
    for (const p of paths) {
      const path = resolve(cwd, p);
      let isSocket: boolean;
      try {
        isSocket = statSync(path).isSocket();
      } catch (err) {
        throw htkError("HTK-BUILDX-0080", { buildxMessage: `failed to stat ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}` });
      }
      if (socket !== undefined) throw htkError("HTK-BUILDX-0080", { buildxMessage: "only single socket allowed" });
      if (isSocket) {
        if (keys.length > 0) throw htkError("HTK-BUILDX-0080", { buildxMessage: "invalid combination of keys and sockets" });
        socket = path;
      } else keys.push(path);
    }
    out.push(socket !== undefined ? { id, socket } : { id, keys });
  }
  return out;
}

/** OpenSSH's AGENT_MAX_LEN. */
const MAX_MESSAGE = 256 * 1024;

/** Sends one agent message (without its length prefix) to the agent at `socket` and returns its answer. */
export function askAgent(socket: string, message: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
  return new Promise((done, fail) => {
    const c = connect(socket);
    let buf = Buffer.alloc(0);
    const onAbort = (): void => {
      c.destroy();
      fail(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const finish = (err?: Error, answer?: Uint8Array): void => {
      signal.removeEventListener("abort", onAbort);
      c.destroy();
      if (err !== undefined) fail(err);
      else done(answer as Uint8Array);
    };
    c.on("error", (err) => finish(err));
    c.on("close", () => finish(new Error("the SSH agent closed the connection without an answer")));
    c.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4) return;
      const len = buf.readUInt32BE(0);
      if (len === 0 || len > MAX_MESSAGE) return finish(new Error(`the SSH agent sent a message of ${len} bytes`));
      if (buf.length >= 4 + len) finish(undefined, buf.subarray(4, 4 + len));
    });
    const framed = Buffer.alloc(4 + message.byteLength);
    framed.writeUInt32BE(message.byteLength, 0);
    framed.set(message, 4);
    c.write(framed);
  });
}

/**
 * `--ssh ID=KEY[,KEY…]`: the keys loaded into an ssh-agent of the client's own (OpenSSH's, for the
 * build's life, in a private folder), so key files stay on the client as with buildx; the engine
 * only relays agent messages to it. A key that needs a passphrase is refused (buildx cannot use one
 * either).
 */
export async function keyAgent(keys: readonly string[], env: NodeJS.ProcessEnv): Promise<{ readonly socket: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), "htk-buildx-ssh-"));
  const socket = join(dir, "agent.sock");
  const agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: ["ignore", "ignore", "pipe"], env });
  let agentErr = "";
  agent.stderr.setEncoding("utf8").on("data", (d: string) => (agentErr = (agentErr + d).slice(-2000)));
  const close = (): void => {
    agent.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((ready, fail) => {
      agent.once("error", (err) => fail(new Error(`ssh-agent could not be started: ${err.message}`)));
      agent.once("exit", (code) => fail(new Error(`ssh-agent exited (${code}): ${agentErr.trim()}`)));
      const poll = (): void => {
        if (existsSync(socket)) ready();
        else setTimeout(poll, 10);
      };
      poll();
    });
    agent.removeAllListeners("exit");
    const added = await new Promise<{ code: number | null; err: string }>((done) => {
      let err = "";
      const add = spawn("ssh-add", ["-q", ...keys], { stdio: ["ignore", "ignore", "pipe"], env: { ...env, SSH_AUTH_SOCK: socket, SSH_ASKPASS_REQUIRE: "never", DISPLAY: "" } });
      add.stderr.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-2000)));
      add.on("error", (e) => done({ code: -1, err: e.message }));
      add.on("close", (code) => done({ code, err }));
    });
    if (added.code !== 0) throw new Error(added.err.trim() || `ssh-add exited with ${added.code}`);
  } catch (err) {
    close();
    throw htkError("HTK-BUILDX-0081", { keys: keys.join(", "), detail: (err as Error).message });
  }
  return { socket, close };
}
