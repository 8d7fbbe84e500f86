import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { runChecked } from "../../testing/index.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";

/**
 * buildx's `remote` driver against a HATAKE engine served over TCP with mutual TLS (`--tlsverify`,
 * dockerd's flags) and over its unix socket: create, inspect --bootstrap, and a build whose files
 * come back through the remote node — with the real docker CLI 28 and the plugin.
 */
describe("docker buildx create --driver remote", () => {
  let engine: TestEngine;
  let certs: string;
  let tcp: string;
  let ctxDir: string;
  const docker = (args: string[], env: NodeJS.ProcessEnv = {}) => engine.docker(args, { cwd: ctxDir, timeoutMs: 120_000, env });

  /** A CA, a server certificate for 127.0.0.1 and a client certificate, as `docker --tlsverify` uses them. */
  async function makeCerts(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const ssl = (args: string[]) => runChecked("openssl", args, { cwd: dir });
    await ssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2", "-subj", "/CN=hatake-test-ca"]);
    writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    for (const who of ["server", "client"]) {
      await ssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${who}-key.pem`, "-out", `${who}.csr`, "-subj", `/CN=${who}`]);
      await ssl(["x509", "-req", "-in", `${who}.csr`, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", `${who}-cert.pem`, "-days", "2", "-extfile", `${who}.ext`]);
    }
  }

  beforeAll(async () => {
    certs = mkdtempSync(join(tmpdir(), "htk-remote-certs-"));
    await makeCerts(certs);
    engine = await startTestEngine({
      flags: { tlsVerify: true, tlsCaCert: join(certs, "ca.pem"), tlsCert: join(certs, "server-cert.pem"), tlsKey: join(certs, "server-key.pem") },
      extraHosts: ["tcp://127.0.0.1:0"],
      plugin: true,
    });
    tcp = engine.daemon.addresses.find((a) => a.startsWith("tcp://")) ?? "";
    ctxDir = join(engine.root, "ctx");
    mkdirSync(ctxDir, { recursive: true });
    writeFileSync(join(ctxDir, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
    writeFileSync(join(ctxDir, "hello.txt"), "over mutual TLS\n");
  }, 240_000);
  afterAll(async () => {
    await engine?.stop();
    rmSync(certs, { recursive: true, force: true });
  });

  it("the engine serves dockerd's --tlsverify: the docker CLI with a client certificate gets in, without one it does not", async () => {
    expect(tcp).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const tlsArgs = ["--tlsverify", "--tlscacert", join(certs, "ca.pem"), "--tlscert", join(certs, "client-cert.pem"), "--tlskey", join(certs, "client-key.pem"), "-H", tcp];
    const ok = await docker([...tlsArgs, "version", "--format", "{{.Server.APIVersion}}"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe("1.45\n");
    const noCert = await docker(["--tls", "--tlscacert", join(certs, "ca.pem"), "-H", tcp, "version", "--format", "{{.Server.APIVersion}}"]);
    expect(noCert.code).not.toBe(0);
    // Without --tlsverify, only loopback TCP is served (HTK-ENGINE-0003).
    const open = await startTestEngine({ extraHosts: ["tcp://0.0.0.0:0"] }).catch((e: unknown) => e);
    expect(isHtkError(open, "HTK-ENGINE-0003")).toBe(true);
  });

  it("create + inspect --bootstrap + build with cacert/cert/key driver options over tcp://", async () => {
    const opts = `cacert=${join(certs, "ca.pem")},cert=${join(certs, "client-cert.pem")},key=${join(certs, "client-key.pem")}`;
    const created = await docker(["buildx", "create", "--name", "remote-tls", "--driver", "remote", "--driver-opt", opts, tcp]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toBe("remote-tls\n");
    const inspect = await docker(["buildx", "inspect", "--bootstrap", "remote-tls"]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^Name: +remote-tls\nDriver: +remote\nLast Activity: +.+\n\nNodes:\nName: +remote-tls0\n/);
    expect(inspect.stdout).toContain(`Endpoint:         ${tcp}\n`);
    expect(inspect.stdout).toMatch(/\nDriver Options: +cacert="[^"]+ca\.pem" cert="[^"]+client-cert\.pem" key="[^"]+client-key\.pem"\nStatus: +running\nBuildKit version: +v[0-9.]+-hatake\.\S+\nPlatforms: +linux\/(amd64|arm64)\n/);
    const out = join(engine.root, "out-tls");
    const build = await docker(["buildx", "build", "--builder", "remote-tls", "--progress=plain", "-o", `type=local,dest=${out}`, "."]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/^#0 building with "remote-tls" instance using remote driver\n/);
    expect(readFileSync(join(out, "hello.txt"), "utf8")).toBe("over mutual TLS\n");
    const ls = await docker(["buildx", "ls"]);
    expect(ls.stdout).toMatch(/remote-tls\s+remote\s*\n\s+\\_ remote-tls0\s+\\_ tcp:\/\/127\.0\.0\.1:\d+\s+running/);
  });

  it("a remote builder without a client certificate is refused by the engine", async () => {
    const created = await docker(["buildx", "create", "--name", "remote-nocert", "--driver", "remote", "--driver-opt", `cacert=${join(certs, "ca.pem")}`, tcp]);
    expect(created.code, created.stderr).toBe(0);
    const inspect = await docker(["buildx", "inspect", "--bootstrap", "remote-nocert"]);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toMatch(/^ERROR: The engine at tcp:\/\/127\.0\.0\.1:\d+ refused the TLS connection \(ERR_SSL_\w+\)\.\n {2}HTK-BUILDX-0113: /);
    // The engine refuses to start with certificate files it cannot read (HTK-ENGINE-0740) or use (HTK-ENGINE-0741).
    const missing = await startTestEngine({ flags: { tlsVerify: true, tlsCaCert: join(certs, "ca.pem"), tlsCert: join(certs, "nope.pem"), tlsKey: join(certs, "server-key.pem") }, extraHosts: ["tcp://127.0.0.1:0"] }).catch((e: unknown) => e);
    expect(isHtkError(missing, "HTK-ENGINE-0740")).toBe(true);
    const mismatched = await startTestEngine({ flags: { tlsVerify: true, tlsCaCert: join(certs, "ca.pem"), tlsCert: join(certs, "server-cert.pem"), tlsKey: join(certs, "client-key.pem") }, extraHosts: ["tcp://127.0.0.1:0"] }).catch((e: unknown) => e);
    expect(isHtkError(mismatched, "HTK-ENGINE-0741")).toBe(true);
  });

  it("the remote driver over unix:// builds too", async () => {
    const created = await docker(["buildx", "create", "--name", "remote-unix", "--driver", "remote", `unix://${engine.socket}`]);
    expect(created.code, created.stderr).toBe(0);
    const inspect = await docker(["buildx", "inspect", "--bootstrap", "remote-unix"]);
    expect(inspect.stdout).toMatch(/\nStatus: +running\n/);
    const out = join(engine.root, "out-unix");
    const build = await docker(["buildx", "build", "--builder", "remote-unix", "-o", `type=local,dest=${out}`, "."]);
    expect(build.code, build.stderr).toBe(0);
    expect(readFileSync(join(out, "hello.txt"), "utf8")).toBe("over mutual TLS\n");
  });
});
