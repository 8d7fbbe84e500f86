import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { askAgent, parseSsh, registryAuth } from "./session.ts";

const root = mkdtempSync(join(tmpdir(), "htk-session-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("--ssh as buildx parses it", () => {
  it("takes ID, ID=SOCKET and ID=KEY[,KEY]; the errors are buildx's texts (HTK-BUILDX-0080)", async () => {
    const sock = join(root, "agent.sock");
    const server: Server = createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(sock, r));
    writeFileSync(join(root, "k1"), "key");
    writeFileSync(join(root, "k2"), "key");
    try {
      expect(parseSsh(["default", "other=agent.sock", "keys=k1,k2"], { SSH_AUTH_SOCK: sock }, root)).toEqual([
        { id: "default", socket: sock },
        { id: "other", socket: sock },
        { id: "keys", keys: [join(root, "k1"), join(root, "k2")] },
      ]);
      expect(parseSsh(["=agent.sock"], {}, root)).toEqual([{ id: "default", socket: sock }]);
      expect(() => parseSsh(["default"], {}, root)).toThrow(/: invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set$/);
      expect(() => parseSsh(["a=agent.sock", "a=agent.sock"], {}, root)).toThrow("invalid duplicate ID a");
      expect(() => parseSsh(["a=agent.sock,agent.sock"], {}, root)).toThrow("only single socket allowed");
      expect(() => parseSsh(["a=k1,agent.sock"], {}, root)).toThrow("invalid combination of keys and sockets");
      expect(() => parseSsh(["a=nope"], {}, root)).toThrow(`failed to stat ${join(root, "nope")}: no such file or directory`);
      try {
        parseSsh(["default"], {}, root);
      } catch (err) {
        expect((err as { id: string }).id).toBe("HTK-BUILDX-0080");
      }
    } finally {
      server.close();
    }
  });

  it("asks an agent one framed message and returns its framed answer", async () => {
    const sock = join(root, "echo.sock");
    const server = createServer((c) => c.on("data", () => c.write(Buffer.from([0, 0, 0, 2, 12, 0]))));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      expect([...(await askAgent(sock, Uint8Array.of(11), AbortSignal.timeout(5000)))]).toEqual([12, 0]);
    } finally {
      server.close();
    }
  });
});

describe("registry credentials as the docker CLI keeps them", () => {
  it("reads auths (also URL keys and Docker Hub's v1 key); nothing found is anonymous", async () => {
    const dir = join(root, "cfg");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({
        auths: {
          "127.0.0.1:5000": { auth: Buffer.from("u:p").toString("base64") },
          "https://reg.example:443/v2/": { identitytoken: "tok", auth: Buffer.from("x:y").toString("base64") },
          "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") },
        },
      }),
    );
    expect(await registryAuth(dir, "127.0.0.1:5000", {})).toEqual({ username: "u", password: "p", identityToken: "", registryToken: "" });
    expect(await registryAuth(dir, "reg.example:443", {})).toEqual({ username: "x", password: "y", identityToken: "tok", registryToken: "" });
    expect(await registryAuth(dir, "docker.io", {})).toMatchObject({ username: "hub", password: "pw" });
    expect(await registryAuth(dir, "other:5000", {})).toEqual({ username: "", password: "", identityToken: "", registryToken: "" });
  });

  it("asks a credential helper (credHelpers, credsStore) with the helpers' protocol", async () => {
    const dir = join(root, "helper");
    mkdirSync(join(dir, "bin"), { recursive: true });
    writeFileSync(join(dir, "bin", "docker-credential-fake"), `#!/bin/sh\nread server\necho "{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"h-$server\\",\\"Secret\\":\\"s\\"}"\n`, { mode: 0o755 });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ credHelpers: { "reg:5000": "fake" } }));
    const env = { PATH: `${join(dir, "bin")}:${process.env["PATH"] ?? ""}` };
    expect(await registryAuth(dir, "reg:5000", env)).toMatchObject({ username: "h-reg:5000", password: "s" });
    expect(await registryAuth(dir, "else:5000", env)).toMatchObject({ username: "" });
    writeFileSync(join(dir, "config.json"), JSON.stringify({ credsStore: "not-installed" }));
    expect(await registryAuth(dir, "reg:5000", env)).toEqual({ username: "", password: "", identityToken: "", registryToken: "" });
  });
});
