import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runPlugin } from "./cli.ts";
import { GLOBAL_FLAGS, resolveDockerCli } from "./docker-cli.ts";
import { parseFlags } from "./flags.ts";
import { PLUGIN_VERSION } from "./metadata.ts";
import { watchPluginSocket } from "./plugin-socket.ts";
import { memoryIo } from "./testing/memory-io.ts";

const never = new AbortController().signal;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function configDir(contexts: Record<string, string> = {}, current?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "htk-buildx-cfg-"));
  dirs.push(dir);
  for (const [name, host] of Object.entries(contexts)) {
    const meta = join(dir, "contexts", "meta", createHash("sha256").update(name).digest("hex"));
    mkdirSync(meta, { recursive: true });
    writeFileSync(join(meta, "meta.json"), JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }));
  }
  if (current !== undefined) writeFileSync(join(dir, "config.json"), JSON.stringify({ currentContext: current }));
  return dir;
}

const cliFor = (argv: string[], env: NodeJS.ProcessEnv) => resolveDockerCli(parseFlags(argv, GLOBAL_FLAGS, { interspersed: false }).flags, env);

describe("the plugin's entry", () => {
  it("answers docker-cli-plugin-metadata with the CLI's schema, without a daemon", async () => {
    const io = memoryIo();
    expect(await runPlugin(["docker-cli-plugin-metadata"], io, never)).toBe(0);
    const meta = JSON.parse(io.out()) as Record<string, string>;
    expect(meta).toMatchObject({ SchemaVersion: "0.1.0", Vendor: "HATAKE", Version: PLUGIN_VERSION });
    expect(meta["ShortDescription"]).toMatch(/Buildx/);
  });

  it("runs a subcommand after the global flags and `buildx` (the docker CLI's argv), or standalone", async () => {
    for (const argv of [["--context", "x", "-D", "buildx", "version"], ["version"], ["buildx", "--builder", "b", "version"]]) {
      const io = memoryIo();
      expect(await runPlugin(argv, io, never)).toBe(0);
      expect(io.out()).toMatch(new RegExp(`^hatake/buildx ${PLUGIN_VERSION.replaceAll(".", "\\.")}`));
    }
  });

  it("prints help for --help and for no command", async () => {
    const io = memoryIo();
    expect(await runPlugin(["buildx"], io, never)).toBe(0);
    expect(io.out()).toContain("Usage:  docker buildx [OPTIONS] COMMAND");
    const io2 = memoryIo();
    expect(await runPlugin(["buildx", "version", "--help"], io2, never)).toBe(0);
    expect(io2.out()).toBe("\nUsage:  docker buildx version\n\nShow buildx version information\n\nOptions:\n  -D, --debug   Enable debug logging\n\n");
  });

  it("fails as cobra does: unknown flag exit 125, argument counts and unknown commands exit 1", async () => {
    const io = memoryIo();
    expect(await runPlugin(["buildx", "version", "--nope"], io, never)).toBe(125);
    expect(io.err()).toBe("unknown flag: --nope\nSee 'docker buildx version --help'.\n");
    const io2 = memoryIo();
    expect(await runPlugin(["buildx", "version", "x"], io2, never)).toBe(1);
    expect(io2.err()).toBe('ERROR: "docker buildx version" requires exactly 0 arguments.\nSee \'docker buildx version --help\'.\n\nUsage:  docker buildx version\n\nShow buildx version information\n');
    const io3 = memoryIo();
    expect(await runPlugin(["buildx", "verison"], io3, never)).toBe(1);
    expect(io3.err()).toBe('ERROR: unknown command "verison" for "docker buildx"\n\nDid you mean this?\n\tversion\n\n');
  });
});

describe("the docker CLI's context rules", () => {
  it("--context, then -H / DOCKER_HOST (default), then DOCKER_CONTEXT, then config.json", () => {
    const dir = configDir({ hatake: "unix:///run/hatake.sock", other: "tcp://10.0.0.1:2376" }, "other");
    expect(cliFor(["--context", "hatake"], { DOCKER_CONFIG: dir, DOCKER_HOST: "unix:///x.sock" }).currentContext).toBe("hatake");
    expect(cliFor(["-H", "unix:///y.sock"], { DOCKER_CONFIG: dir, DOCKER_CONTEXT: "hatake" }).currentContext).toBe("default");
    expect(cliFor([], { DOCKER_CONFIG: dir, DOCKER_HOST: "unix:///x.sock", DOCKER_CONTEXT: "hatake" }).currentContext).toBe("default");
    expect(cliFor([], { DOCKER_CONFIG: dir, DOCKER_CONTEXT: "hatake" }).currentContext).toBe("hatake");
    const cli = cliFor([], { DOCKER_CONFIG: dir });
    expect(cli.currentContext).toBe("other");
    expect(cli.currentEndpoint().host).toBe("tcp://10.0.0.1:2376");
    expect(cli.currentStoreKey()).toBe("other");
    expect(cli.contexts().map((c) => c.name)).toEqual(["default", "hatake", "other"]);
  });

  it("resolves the default context to -H, DOCKER_HOST or the default socket (buildx's store key is the host)", () => {
    const dir = configDir();
    expect(cliFor(["-H", "unix:///y.sock"], { DOCKER_CONFIG: dir }).currentEndpoint().host).toBe("unix:///y.sock");
    expect(cliFor([], { DOCKER_CONFIG: dir, DOCKER_HOST: "unix:///x.sock" }).currentStoreKey()).toBe("unix:///x.sock");
    expect(cliFor([], { DOCKER_CONFIG: dir }).currentEndpoint().host).toBe("unix:///var/run/docker.sock");
    expect(cliFor(["--config", dir], {}).configDir).toBe(dir);
  });

  it("fails on an unknown context with the CLI's text (HTK-BUILDX-0002)", async () => {
    const dir = configDir();
    expect(() => cliFor(["--context", "nope"], { DOCKER_CONFIG: dir }).currentEndpoint()).toThrow(/HTK-BUILDX-0002: context "nope": context not found: open .*meta\.json: no such file or directory/);
  });
});

describe("the plugin socket", () => {
  it("calls back when the docker CLI closes it (its SIGINT handling when not on a terminal)", async () => {
    // A filesystem socket here (Node cannot bind an abstract name as Go does; the watcher connects to both).
    const path = join(mkdtempSync(join(tmpdir(), "htk-plugin-sock-")), "s");
    dirs.push(join(path, ".."));
    const server = createServer((conn) => setTimeout(() => conn.end(), 50));
    await new Promise<void>((r) => server.listen(path, r));
    await new Promise<void>((resolve) => watchPluginSocket({ DOCKER_CLI_PLUGIN_SOCKET: path }, resolve));
    server.close();
    expect(watchPluginSocket({}, () => undefined).dispose()).toBeUndefined();
  });
});
