import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { nodeEndpoint, resolveBuilder } from "./builders.ts";
import { runPlugin } from "./cli.ts";
import { clientError, EngineError, parseHost } from "./client.ts";
import { GLOBAL_FLAGS, resolveDockerCli } from "./docker-cli.ts";
import { parseFlags } from "./flags.ts";
import { renderFormat } from "./format.ts";
import { BuilderStore } from "./store.ts";
import { memoryIo } from "./testing/memory-io.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const never = new AbortController().signal;

/** A private docker config with one extra context "ctx", and the environment that selects it. */
function setup(): { env: NodeJS.ProcessEnv; config: string } {
  const config = mkdtempSync(join(tmpdir(), "htk-buildx-builders-"));
  dirs.push(config);
  const meta = join(config, "contexts", "meta", createHash("sha256").update("ctx").digest("hex"));
  mkdirSync(meta, { recursive: true });
  writeFileSync(join(meta, "meta.json"), JSON.stringify({ Name: "ctx", Endpoints: { docker: { Host: "unix:///run/ctx.sock" } } }));
  return { config, env: { DOCKER_CONFIG: config, DOCKER_HOST: "unix:///run/default.sock" } };
}

async function plugin(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo(env);
  const code = await runPlugin(["buildx", ...args], io, never);
  return { code, out: io.out(), err: io.err() };
}

describe("the builder store (buildx's layout)", () => {
  it("keeps the current builder per docker endpoint, globally, or as the endpoint's default", () => {
    const { env, config } = setup();
    const cli = resolveDockerCli(parseFlags([], GLOBAL_FLAGS).flags, env);
    const store = BuilderStore.for(cli);
    store.save({ Name: "b1", Driver: "hatake", Nodes: [{ Name: "b10", Endpoint: "ctx", Platforms: null, DriverOpts: null, Flags: null, Files: null }], Dynamic: false });
    expect(resolveBuilder(cli, store).name).toBe("default");
    store.setCurrent("unix:///run/default.sock", "b1", false, false);
    expect(resolveBuilder(cli, store).name).toBe("b1");
    expect(JSON.parse(readFileSync(join(config, "buildx", "current"), "utf8"))).toEqual({ Key: "unix:///run/default.sock", Name: "b1", Global: false });
    // Another endpoint: not current there, unless global or made its default.
    const other = resolveDockerCli(parseFlags(["--context", "ctx"], GLOBAL_FLAGS).flags, env);
    expect(resolveBuilder(other, store).name).toBe("ctx");
    store.setCurrent("ctx", "b1", false, true);
    store.setCurrent("unix:///run/default.sock", "", false, false);
    expect(resolveBuilder(other, store).name).toBe("b1");
    expect(nodeEndpoint(other, resolveBuilder(other, store), store.get("b1")?.Nodes[0] as never).host).toBe("unix:///run/ctx.sock");
    expect(store.lastActivity("b1")).toBeInstanceOf(Date);
    expect(store.generateName()).toMatch(/^builder_[a-z0-9]{12}$/);
  });

  it("refuses drivers it does not run (HTK-BUILDX-0008) and transports it does not speak (HTK-BUILDX-0005)", () => {
    const { env } = setup();
    const cli = resolveDockerCli(parseFlags([], GLOBAL_FLAGS).flags, env);
    const store = BuilderStore.for(cli);
    store.save({ Name: "dc", Driver: "docker-container", Nodes: [{ Name: "dc0", Endpoint: "ctx", Platforms: null, DriverOpts: null, Flags: null, Files: null }], Dynamic: false });
    const b = resolveBuilder(cli, store, "dc");
    expect(() => nodeEndpoint(cli, b, b.nodes[0] as never)).toThrow(/HTK-BUILDX-0008: The builder "dc" uses the "docker-container" driver/);
    expect(() => parseHost("ssh://me@host")).toThrow(/HTK-BUILDX-0005.*ssh:\/\/ is not supported/);
    expect(parseHost("tcp://10.0.0.2")).toEqual({ kind: "tcp", hostPort: "10.0.0.2:2376" });
  });
});

describe("builder commands without an engine", () => {
  it("create stores the builder with buildx's defaults and refuses buildx's cases", async () => {
    const { env } = setup();
    expect(await plugin(env, "create", "--name", "one", "--driver-opt", "cacert=ca.pem", "--platform", "linux/amd64,linux/arm64/v8", "ctx")).toMatchObject({ code: 0, out: "one\n" });
    // HTK-BUILDX-0010: a context's name; HTK-BUILDX-0011: exists without --append/--node.
    expect((await plugin(env, "create", "--name", "ctx")).err).toBe('ERROR: instance name "ctx" already exists as context builder\n');
    expect((await plugin(env, "create", "--name", "one")).err).toBe('ERROR: existing instance for "one" but no append mode, specify the node name to make changes for existing instances\n');
    // HTK-BUILDX-0020: buildx's other validation texts.
    expect((await plugin(env, "create", "--append")).err).toBe("ERROR: append requires a builder name\n");
    expect(await plugin(env, "create", "--name", "one", "--append", "unix:///run/two.sock")).toMatchObject({ code: 0, out: "one\n" });
    expect((await plugin(env, "create", "--name", "one", "--append", "unix:///run/two.sock")).err).toBe("ERROR: invalid duplicate endpoint unix:///run/two.sock\n");
    const ls = await plugin(env, "inspect", "one");
    expect(ls.out).toMatch(/Name: +one0\nEndpoint: +ctx\nDriver Options: +cacert="\/.*\/ca\.pem"\nError: /);
    expect(ls.out).toMatch(/Name: +one1\nEndpoint: +unix:\/\/\/run\/two\.sock\n/);
  });

  it("use follows buildx's rules (HTK-BUILDX-0015, HTK-BUILDX-0016, HTK-BUILDX-0017)", async () => {
    const { env } = setup();
    expect((await plugin({ ...env, DOCKER_HOST: "", DOCKER_CONTEXT: "ctx" }, "use", "default")).err).toBe("ERROR: run `docker context use default` to switch to default context\n");
    expect((await plugin(env, "use", "ctx")).err).toBe("ERROR: run `docker context use ctx` to switch to context ctx\n");
    expect((await plugin(env, "use", "ghost")).err).toMatch(/^ERROR: failed to find instance "ghost": open .*instances\/ghost: no such file or directory\n$/);
    expect((await plugin(env, "use", "default")).code).toBe(0);
  });

  it("rm reports each builder and fails at the end (HTK-BUILDX-0013, HTK-BUILDX-0018, HTK-BUILDX-0003)", async () => {
    const { env } = setup();
    await plugin(env, "create", "--name", "gone");
    const r = await plugin(env, "rm", "gone", "ctx", "ghost");
    expect(r.code).toBe(1);
    expect(r.err).toBe('gone removed\nfailed to remove ctx: context builder cannot be removed, run `docker context rm ctx` to remove this context\nfailed to remove ghost: no builder "ghost" found\nERROR: failed to remove one or more builders\n');
  });
});

describe("docker's --format", () => {
  const rows = [{ fields: { Name: "a", Status: "running" }, json: { Name: "a" } }];
  it("renders table, json and field templates (HTK-BUILDX-0019 for the rest)", () => {
    expect(renderFormat("table", "table {{.Name}}\\t{{.Status}}", { Name: "NAME", Status: "STATUS" }, rows)).toBe("NAME      STATUS\na         running\n");
    expect(renderFormat("json", "", {}, rows)).toBe('{"Name":"a"}\n');
    expect(renderFormat("{{.Name}}={{.Status}}", "", {}, rows)).toBe("a=running\n");
    expect(() => renderFormat("{{range .}}", "", {}, rows)).toThrow(/HTK-BUILDX-0019: template parsing error/);
  });
});

describe("engine errors in the plugin's terms", () => {
  it("keeps the engine's diagnostic, names a missing build service (HTK-BUILDX-0007)", () => {
    const withId = new ConnectError("The context was refused.", Code.InvalidArgument, new Headers({ "htk-id": "HTK-ENGINE-0600", "htk-next": encodeURIComponent("Run it again.") }));
    const e = clientError(withId, "unix:///x", "SyncContext");
    expect(e).toBeInstanceOf(EngineError);
    expect(e).toMatchObject({ id: "HTK-ENGINE-0600", next: "Run it again.", message: "The context was refused." });
    expect(String(clientError(new ConnectError("HTTP 404", Code.Unimplemented), "unix:///x", "ListWorkers"))).toMatch(/HTK-BUILDX-0007: The engine at unix:\/\/\/x does not serve the HATAKE build service/);
  });
});
