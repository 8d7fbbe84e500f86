import { createServer, request, type Server } from "node:http";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { run, tempDir } from "../../testing/index.ts";
import { pushSizedImage } from "../../testing/sized-image.ts";
import { startTestEngine, type TestEngine } from "../e2e/harness.ts";
import { encodeRegistryAuth } from "./registry-auth.ts";

// The docker CLI's image commands against the engine (issues 7 and 8), with the harness' registries
// (a plain one holding busybox:latest, one with htpasswd basic auth). Docker's texts are checked
// where Docker has them; the HATAKE diagnostic follows them in brackets.

const busybox = inject("busybox");
const registry = inject("registry");
const authRegistry = inject("authRegistry");
const short = (digest: string): string => digest.slice(7, 19);
const lines = (text: string): string[] => text.split("\n").filter((l) => l !== "");
const repoOf = (reference: string): string => reference.replace(/:[^:/]+$/, "");

interface ApiAnswer {
  readonly status: number;
  readonly body: string;
}

/** A raw Engine API request on the engine's socket (what the CLI cannot send). */
function api(engine: TestEngine, method: string, path: string, opts: { headers?: Record<string, string>; body?: string | Buffer; version?: string } = {}): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: engine.socket, method, path: `/v${opts.version ?? "1.45"}${path}`, headers: { Host: "docker", ...opts.headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** A root file system tar (the `tar` program), for docker import; `content` makes its layer unique. */
async function rootfsTar(dir: string, content = "hello from an import\n"): Promise<string> {
  const root = join(dir, "rootfs");
  await run("mkdir", ["-p", join(root, "etc")]);
  writeFileSync(join(root, "etc", "hello"), content);
  const file = join(dir, "rootfs.tar");
  const r = await run("tar", ["-C", root, "-cf", file, "."]);
  expect(r.code).toBe(0);
  return file;
}

describe("docker image commands against the engine", () => {
  let engine: TestEngine;
  let since = "";
  beforeAll(async () => {
    engine = await startTestEngine();
    since = String(Math.floor(Date.now() / 1000) - 1);
  });
  afterAll(async () => {
    await engine.stop();
  });

  it("docker pull prints Docker's progress lines, then is up to date; an unknown tag is Docker's not-found error", async () => {
    const layer = short(busybox.layerDigest);
    const first = await engine.docker(["pull", busybox.reference]);
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(
      [
        "latest: Pulling from busybox",
        `${layer}: Pulling fs layer`,
        `${layer}: Verifying Checksum`,
        `${layer}: Download complete`,
        `${layer}: Pull complete`,
        `Digest: ${busybox.manifestDigest}`,
        `Status: Downloaded newer image for ${busybox.reference}`,
        busybox.reference,
        "",
      ].join("\n"),
    );
    // Extracted at pull, as Docker does: the layer is in the snapshotter, ready for a container.
    const graph = await engine.docker(["image", "inspect", "--format", "{{.GraphDriver.Name}} {{json .GraphDriver.Data}}", busybox.reference]);
    expect(graph.stdout).toMatch(new RegExp(`^(overlayfs|native) \\{"UpperDir":"${engine.dataRoot}/snapshots/layers/\\d+/fs"\\}\n$`));
    const again = await engine.docker(["pull", busybox.reference]);
    expect(again).toMatchObject({ code: 0, stdout: `latest: Pulling from busybox\nDigest: ${busybox.manifestDigest}\nStatus: Image is up to date for ${busybox.reference}\n${busybox.reference}\n` });
    const byDigest = await engine.docker(["pull", "-q", `${repoOf(busybox.reference)}@${busybox.manifestDigest}`]);
    expect(byDigest).toMatchObject({ code: 0, stdout: `${repoOf(busybox.reference)}@${busybox.manifestDigest}\n` });

    const unknown = await engine.docker(["pull", `${repoOf(busybox.reference)}:nope`]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(new RegExp(`^Error response from daemon: manifest for ${repoOf(busybox.reference).replace(/\./g, "\\.")}:nope not found: manifest unknown: manifest unknown \\[HTK-ENGINE-0300\\]`));
    const scratch = await engine.docker(["pull", "scratch"]);
    expect(scratch.code).toBe(1);
    expect(scratch.stderr).toMatch(/^Error response from daemon: 'scratch' is a reserved name \[HTK-ENGINE-0303\]/);
    const platform = await engine.docker(["pull", "--platform", "a/b/c/d", busybox.reference]);
    expect(platform.code).toBe(1);
    expect(platform.stderr).toContain("[HTK-ENGINE-0304]");
  });

  it("docker pull of a five-layer image: the shared layer already exists, one layer waits, layers complete in order", async () => {
    const reference = `${registry.host}/images-e2e/sized:1`;
    await pushSizedImage(reference, { megabytes: 2, layers: 4, seed: "images-e2e" });
    const r = await engine.docker(["pull", reference]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe("1: Pulling from images-e2e/sized");
    expect(out[1]).toBe(`${short(busybox.layerDigest)}: Already exists`);
    const fresh = out.slice(2, 6).map((l) => /^([0-9a-f]{12}): Pulling fs layer$/.exec(l)?.[1]);
    expect(fresh.every((id) => id !== undefined)).toBe(true);
    // max-concurrent-downloads is 3: the fourth new layer waits.
    expect(out[6]).toBe(`${fresh[3] ?? ""}: Waiting`);
    for (const id of fresh) {
      expect(out).toContain(`${id ?? ""}: Verifying Checksum`);
      expect(out).toContain(`${id ?? ""}: Download complete`);
    }
    expect(out.filter((l) => l.endsWith(": Pull complete"))).toEqual(fresh.map((id) => `${id ?? ""}: Pull complete`));
    expect(out.slice(-3)).toEqual([expect.stringMatching(/^Digest: sha256:[0-9a-f]{64}$/) as unknown, `Status: Downloaded newer image for ${reference}`, reference]);
    expect((await engine.docker(["rmi", reference])).code).toBe(0);
  });

  it("docker images with --format, -q, --digests and --filter", async () => {
    const ref = busybox.reference;
    const [repo, tag] = [repoOf(ref), "latest"];
    expect((await engine.docker(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}"])).stdout).toBe(`${repo}:${tag} ${short(busybox.configDigest)} ${busybox.manifestDigest}\n`);
    expect((await engine.docker(["images", "-q"])).stdout).toBe(`${short(busybox.configDigest)}\n`);
    expect((await engine.docker(["images", "-q", "--no-trunc"])).stdout).toBe(`${busybox.configDigest}\n`);
    expect((await engine.docker(["images", "--filter", "reference=*/busybox:latest", "--format", "{{.Tag}}"])).stdout).toBe("latest\n");
    expect((await engine.docker(["images", "--filter", "reference=nothing*", "-q"])).stdout).toBe("");
    expect((await engine.docker(["images", "--filter", "dangling=true", "-q"])).stdout).toBe("");
    const table = lines((await engine.docker(["images", "--digests"])).stdout);
    expect(table[0]).toMatch(/^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$/);
    expect(table[1]).toContain(busybox.manifestDigest);
    const bad = await engine.docker(["images", "--filter", "nope=1"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error response from daemon: invalid filter 'nope'/);
  });

  it("docker tag, image inspect --format, history; rmi of an ID with two names is Docker's conflict, names go one by one", async () => {
    expect(await engine.docker(["tag", busybox.reference, "images-e2e/one:1"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect((await engine.docker(["tag", busybox.reference, "images-e2e/two"])).code).toBe(0);
    const inspect = await engine.docker(["image", "inspect", "--format", "{{.Id}} {{.Os}}/{{.Architecture}} {{json .RepoTags}} {{json .RepoDigests}} {{.RootFS.Type}} {{index .RootFS.Layers 0}}", "images-e2e/one:1"]);
    expect(inspect.stdout).toBe(
      `${busybox.configDigest} linux/amd64 ${JSON.stringify([busybox.reference, "images-e2e/one:1", "images-e2e/two:latest"])} ${JSON.stringify([`${repoOf(busybox.reference)}@${busybox.manifestDigest}`])} layers ${busybox.diffId}\n`,
    );
    const history = await engine.docker(["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}", "images-e2e/two"]);
    expect(lines(history.stdout)[0]).toMatch(new RegExp(`^${busybox.configDigest}\\|`));
    // Older API versions keep the fields 1.44/1.45 dropped.
    const old = JSON.parse((await api(engine, "GET", "/images/images-e2e/one:1/json")).body) as Record<string, unknown>;
    expect(Object.keys(old)).not.toContain("VirtualSize");
    const v143 = JSON.parse((await api(engine, "GET", "/images/images-e2e/one:1/json", { version: "1.43" })).body) as Record<string, unknown>;
    expect(v143).toMatchObject({ VirtualSize: old["Size"], Container: "" });
    expect(v143).toHaveProperty("ContainerConfig");
    const missing = await engine.docker(["image", "inspect", "images-e2e/nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("[]\n");
    expect(missing.stderr).toMatch(/^Error response from daemon: No such image: images-e2e\/nope:latest \[HTK-ENGINE-0200\]/);

    const conflict = await engine.docker(["rmi", short(busybox.configDigest)]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(new RegExp(`^Error response from daemon: conflict: unable to delete ${short(busybox.configDigest)} \\(must be forced\\) - image is referenced in multiple repositories \\[HTK-ENGINE-0203\\]`));
    expect(await engine.docker(["rmi", "images-e2e/one:1", "images-e2e/two"])).toMatchObject({ code: 0, stdout: "Untagged: images-e2e/one:1\nUntagged: images-e2e/two:latest\n" });
    const badTag = await api(engine, "POST", `/images/${encodeURIComponent(busybox.reference)}/tag?repo=x&tag=-bad`);
    expect(badTag.status).toBe(400);
    expect(badTag.body).toContain("invalid tag format [HTK-ENGINE-0316]");
  });

  it("docker push to the registry: Docker's lines, the digest skopeo sees, the RepoDigest; push errors", async () => {
    const target = `${registry.host}/images-e2e/bb:v1`;
    expect((await engine.docker(["tag", busybox.reference, target])).code).toBe(0);
    const push = await engine.docker(["push", target]);
    expect(push.code).toBe(0);
    const out = lines(push.stdout);
    const diff = short(busybox.diffId);
    expect(out[0]).toBe(`The push refers to repository [${registry.host}/images-e2e/bb]`);
    expect(out[1]).toBe(`${diff}: Preparing`);
    // The layer is in the registry's busybox repository already: mounted, as Docker does.
    expect(out[2]).toMatch(new RegExp(`^${diff}: (Mounted from busybox|Pushed|Layer already exists)$`));
    const digestLine = /^v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/.exec(out[3] ?? "");
    expect(digestLine).not.toBeNull();
    const skopeo = await run("skopeo", ["inspect", "--tls-verify=false", `docker://${target}`]);
    expect(skopeo.code).toBe(0);
    expect((JSON.parse(skopeo.stdout) as { Digest: string }).Digest).toBe(digestLine?.[1]);
    const again = await engine.docker(["push", target]);
    expect(lines(again.stdout)[2]).toBe(`${diff}: Layer already exists`);
    const digests = await engine.docker(["image", "inspect", "--format", "{{json .RepoDigests}}", target]);
    expect(digests.stdout).toContain(`${registry.host}/images-e2e/bb@${digestLine?.[1] ?? ""}`);

    const noImage = await engine.docker(["push", `${registry.host}/images-e2e/none:1`]);
    expect(noImage.code).toBe(1);
    expect(noImage.stdout).toBe(`The push refers to repository [${registry.host}/images-e2e/none]\n`);
    expect(noImage.stderr).toMatch(new RegExp(`^An image does not exist locally with the tag: ${registry.host.replace(/\./g, "\\.")}/images-e2e/none \\[HTK-ENGINE-0310\\]`));
    const noTag = await engine.docker(["push", `${registry.host}/images-e2e/bb:v2`]);
    expect(noTag.code).toBe(1);
    expect(noTag.stderr).toMatch(/^tag does not exist: .*\/images-e2e\/bb:v2 \[HTK-ENGINE-0311\]/);
    const byDigest = await api(engine, "POST", `/images/${registry.host}/images-e2e/bb@${digestLine?.[1] ?? ""}/push`, { headers: { "X-Registry-Auth": "e30=" } });
    expect(byDigest.body).toContain("cannot push a digest reference [HTK-ENGINE-0312]");
    const noHeader = await api(engine, "POST", `/images/${registry.host}/images-e2e/bb/push?tag=v1`);
    expect(noHeader.status).toBe(400);
    expect(noHeader.body).toContain("bad parameters and missing X-Registry-Auth: invalid X-Registry-Auth header: EOF [HTK-ENGINE-0313]");
    // A repository known only by digest has no tag to push (removing the last tag took the
    // repository's digest names with it; the pull by digest brings one back).
    expect((await engine.docker(["rmi", target])).code).toBe(0);
    expect((await engine.docker(["pull", "-q", `${registry.host}/images-e2e/bb@${digestLine?.[1] ?? ""}`])).code).toBe(0);
    const noTags = await engine.docker(["push", "--all-tags", `${registry.host}/images-e2e/bb`]);
    expect(noTags.stderr).toMatch(/^no tags to push for .*\/images-e2e\/bb \[HTK-ENGINE-0318\]/);
  });

  it("docker login/logout against the htpasswd registry; push and pull with the stored credentials, refused without", async () => {
    const host = authRegistry.host;
    const wrong = await engine.docker(["login", host, "-u", authRegistry.username, "--password-stdin"], { input: "wrong\n" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`Error response from daemon: login attempt to http://${host}/v2/ failed with status: 401 Unauthorized [HTK-REGISTRY-0053]`);
    const login = await engine.docker(["login", host, "-u", authRegistry.username, "--password-stdin"], { input: `${authRegistry.password}\n` });
    expect(login).toMatchObject({ code: 0, stdout: "Login Succeeded\n" });
    const config = JSON.parse(readFileSync(join(engine.env["DOCKER_CONFIG"] ?? "", "config.json"), "utf8")) as { auths: Record<string, unknown> };
    expect(Object.keys(config.auths)).toContain(host);

    const target = `${host}/images-e2e/private:1`;
    expect((await engine.docker(["tag", busybox.reference, target])).code).toBe(0);
    const push = await engine.docker(["push", target]);
    expect(push.code).toBe(0);
    expect(lines(push.stdout).at(-1)).toMatch(/^1: digest: sha256:[0-9a-f]{64} size: \d+$/);
    expect((await engine.docker(["rmi", target])).code).toBe(0);
    expect((await engine.docker(["pull", "-q", target])).stdout).toBe(`${target}\n`);

    // The engine keeps nothing: the X-Registry-Auth of a raw request is what counts.
    const auth = encodeRegistryAuth({ username: authRegistry.username, password: authRegistry.password, serveraddress: host });
    const raw = await api(engine, "POST", `/images/create?fromImage=${encodeURIComponent(`${host}/images-e2e/private`)}&tag=1`, { headers: { "X-Registry-Auth": auth } });
    expect(raw.status).toBe(200);
    expect(raw.body).toContain(`"status":"Status: Image is up to date for ${target}"`);

    expect((await engine.docker(["logout", host])).stdout).toBe(`Removing login credentials for ${host}\n`);
    const refusedPush = await engine.docker(["push", target]);
    expect(refusedPush.code).toBe(1);
    // dockerd's words (distribution's basic auth handler), the ID after them.
    expect(refusedPush.stderr).toMatch(/^no basic auth credentials \[HTK-REGISTRY-0061\]/);
    // A 500, not a 401: the CLI reports it instead of asking for a login on stdin.
    const refusedPull = await engine.docker(["pull", `${host}/images-e2e/private:1`], { input: "" });
    expect(refusedPull.code).toBe(1);
    expect(refusedPull.stderr.startsWith(`Error response from daemon: Head "http://${host}/v2/images-e2e/private/manifests/1": no basic auth credentials [HTK-REGISTRY-0060]`)).toBe(true);
  });

  it("docker save | docker load, -o and -i files, compressed archives", async () => {
    const dir = await tempDir("images-save");
    const file = join(dir, "busybox.tar");
    expect(await engine.docker(["save", "-o", file, busybox.reference])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(file)).toBe(true);
    expect((await engine.docker(["tag", busybox.reference, "images-e2e/saved:1"])).code).toBe(0);
    const rm = await engine.docker(["rmi", "-f", short(busybox.configDigest)]);
    expect(lines(rm.stdout)).toContain(`Deleted: ${busybox.configDigest}`);
    expect(await engine.docker(["load", "-i", file])).toMatchObject({ code: 0, stdout: `Loaded image: ${busybox.reference}\n` });
    const piped = await run("sh", ["-c", `docker save ${busybox.reference} images-e2e/nothing 2>&1; docker save ${busybox.reference} | docker load`], { env: engine.env });
    expect(piped.stdout).toContain("No such image: images-e2e/nothing:latest");
    expect(piped.stdout).toMatch(new RegExp(`Loaded image: ${busybox.reference.replace(/\./g, "\\.")}\\n$`));
    writeFileSync(`${file}.gz`, gzipSync(readFileSync(file)));
    expect((await engine.docker(["load", "-i", `${file}.gz`])).stdout).toBe(`Loaded image: ${busybox.reference}\n`);
    const broken = await engine.docker(["load"], { input: "not an archive at all" });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("[HTK-ENGINE-0211]");
    // Loading the same archive under a name that moved: Docker's rename message.
    expect((await engine.docker(["images", "-q", busybox.reference])).stdout).toBe(`${short(busybox.configDigest)}\n`);
  });

  it("docker import with --change and -m, from stdin and from a URL; refused changes and archives", async () => {
    const dir = await tempDir("images-import");
    const tar = await rootfsTar(dir);
    const id = await engine.docker(["import", "--change", "ENV DEBUG=true", "--change", 'CMD ["sh"]', "-m", "imported here", tar, "images-e2e/imported:1"]);
    expect(id.code).toBe(0);
    expect(id.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const inspect = await engine.docker(["image", "inspect", "--format", "{{json .Config.Env}} {{json .Config.Cmd}} {{.Comment}} {{.Size}}", "images-e2e/imported:1"]);
    expect(inspect.stdout).toBe('["DEBUG=true"] ["sh"] imported here 21\n');
    const fromStdin = await engine.docker(["import", "-", "images-e2e/imported:2"], { input: gzipSync(readFileSync(tar)) });
    expect(fromStdin.code).toBe(0);
    expect((await engine.docker(["history", "--format", "{{.Comment}}", "images-e2e/imported:2"])).stdout).toBe("Imported from -\n");

    // Pushed with its layer gzip-compressed, as Docker does (an import's layer is stored plain).
    const pushed = `${registry.host}/images-e2e/imported:1`;
    expect((await engine.docker(["tag", "images-e2e/imported:1", pushed])).code).toBe(0);
    const push = await engine.docker(["push", pushed]);
    expect(push.code).toBe(0);
    const digest = /: digest: (sha256:[0-9a-f]{64}) /.exec(push.stdout)?.[1];
    const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${pushed}`]);
    const manifest = JSON.parse(raw.stdout) as { layers: { mediaType: string }[] };
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(["application/vnd.oci.image.layer.v1.tar+gzip"]);
    const skopeo = JSON.parse((await run("skopeo", ["inspect", "--tls-verify=false", `docker://${pushed}`])).stdout) as { Digest: string };
    expect(skopeo.Digest).toBe(digest);

    const run1 = await engine.docker(["import", "--change", "RUN make", tar]);
    expect(run1.code).toBe(1);
    expect(run1.stderr).toMatch(/^Error response from daemon: run is not a valid change command \[HTK-ENGINE-0306\]/);
    const env = await engine.docker(["import", "--change", "ENV", tar]);
    expect(env.stderr).toContain("[HTK-ENGINE-0307]");
    const garbage = await engine.docker(["import", "-"], { input: "this is not a tar archive, not even close to one" });
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain("[HTK-ENGINE-0308]");
    const url = await engine.docker(["import", `${registry.url}/no/such/archive.tar`]);
    expect(url.code).toBe(1);
    expect(url.stderr).toMatch(new RegExp(`^Error response from daemon: failed to GET ${registry.url}/no/such/archive\\.tar with status 404 Not Found: .*\\[HTK-ENGINE-0309\\]`));
    const none = await api(engine, "POST", "/images/create");
    expect(none.status).toBe(400);
    expect(none.body).toContain("[HTK-ENGINE-0305]");
  });

  it("docker image prune removes dangling images, -a every unused one", async () => {
    const dir = await tempDir("images-prune");
    const dangling = (await engine.docker(["import", await rootfsTar(dir, "a layer of its own\n")])).stdout.trim();
    const prune = await engine.docker(["image", "prune", "-f"]);
    expect(prune.code).toBe(0);
    expect(prune.stdout).toMatch(new RegExp(`^Deleted Images:\\ndeleted: ${dangling}\\ndeleted: sha256:[0-9a-f]{64}\\n\\nTotal reclaimed space: 19B\\n$`));
    expect((await engine.docker(["image", "prune", "-f"])).stdout).toBe("Total reclaimed space: 0B\n");
    const all = await engine.docker(["image", "prune", "-a", "-f"]);
    expect(all.stdout).toContain(`untagged: ${busybox.reference}`);
    expect(all.stdout).toContain(`deleted: ${busybox.configDigest}`);
    expect((await engine.docker(["images", "-q"])).stdout).toBe("");
    // The layers went, and with them their unpacked snapshots.
    expect(readdirSync(join(engine.dataRoot, "snapshots", "layers"))).toEqual([]);
  });

  it("docker search: a Distribution registry has no search API (Docker's text and HTK-REGISTRY-0050); filters and limits", async () => {
    const none = await engine.docker(["search", `${registry.host}/busybox`]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^Error response from daemon: Unexpected status code 404 \[HTK-REGISTRY-0050\] The registry .* has no search API/);
    expect((await engine.docker(["search", "--limit", "101", `${registry.host}/busybox`])).stderr).toMatch(/limit 101 is outside the range of \[1, 100\] \[HTK-REGISTRY-0051\]/);
    expect((await engine.docker(["search", "--filter", "is-official=maybe", `${registry.host}/busybox`])).stderr).toContain("invalid filter 'is-official=maybe' [HTK-REGISTRY-0054]");
    expect((await engine.docker(["search", "--filter", "nope=1", `${registry.host}/busybox`])).stderr).toContain("invalid filter 'nope' [HTK-REGISTRY-0055]");
    expect((await api(engine, "GET", "/images/search?term=x&limit=abc")).body).toContain('strconv.Atoi: parsing \\"abc\\": invalid syntax [HTK-ENGINE-0320]');

    // A registry that has the v1 search API (a stand-in): results and filters as Docker applies them.
    let answer = JSON.stringify({ num_results: 2, query: "app", results: [{ name: "team/app", description: "the app", star_count: 7, is_official: true, is_automated: true }, { name: "team/other", description: "", star_count: 1, is_official: false }] });
    const server: Server = createServer((req, res) => {
      if (req.url?.startsWith("/v2/") === true) res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
      else if (req.url === "/v1/search?q=app&n=25") res.writeHead(200, { "Content-Type": "application/json" }).end(answer);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const found = await engine.docker(["search", "--format", "{{.Name}} {{.StarCount}} {{.IsOfficial}} {{.Description}}", `127.0.0.1:${port}/app`]);
      expect(found).toMatchObject({ code: 0, stdout: "team/app 7 [OK] the app\nteam/other 1  \n" });
      const raw = await api(engine, "GET", `/images/search?term=${encodeURIComponent(`127.0.0.1:${port}/app`)}`);
      // is_automated is forced to false, as Docker 26 does.
      expect(JSON.parse(raw.body)).toEqual([
        { star_count: 7, is_official: true, name: "team/app", is_automated: false, description: "the app" },
        { star_count: 1, is_official: false, name: "team/other", is_automated: false, description: "" },
      ]);
      expect((await engine.docker(["search", "--filter", "stars=3", "--format", "{{.Name}}", `127.0.0.1:${port}/app`])).stdout).toBe("team/app\n");
      expect((await engine.docker(["search", "--filter", "is-official=false", "--format", "{{.Name}}", `127.0.0.1:${port}/app`])).stdout).toBe("team/other\n");
      answer = "this is not JSON";
      expect((await engine.docker(["search", `127.0.0.1:${port}/app`])).stderr).toContain("error decoding registry search results: ");
      expect((await engine.docker(["search", `127.0.0.1:${port}/app`])).stderr).toContain("[HTK-REGISTRY-0052]");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("GET /distribution/{name}/json: the descriptor and platforms from the registry; POST /auth's answers", async () => {
    const d = await api(engine, "GET", `/distribution/${busybox.reference}/json`, { headers: { "X-Registry-Auth": "e30=" } });
    expect(d.status).toBe(200);
    expect(JSON.parse(d.body)).toEqual({
      Descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: busybox.manifestDigest, size: expect.any(Number) as unknown },
      Platforms: [{ architecture: "amd64", os: "linux" }],
    });
    const ok = await api(engine, "POST", "/auth", { body: JSON.stringify({ username: authRegistry.username, password: authRegistry.password, serveraddress: authRegistry.host }), headers: { "Content-Type": "application/json" } });
    expect(ok).toEqual({ status: 200, body: '{"IdentityToken":"","Status":"Login Succeeded"}\n' });
    const bad = await api(engine, "POST", "/auth", { body: "{not json", headers: { "Content-Type": "application/json" } });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain("[HTK-ENGINE-0319]");
  });

  it("records image events with Docker's actors and attributes", async () => {
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const events = await engine.docker(["events", "--since", since, "--until", until, "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}"]);
    expect(events.code).toBe(0);
    const got = lines(events.stdout);
    const id = busybox.configDigest;
    expect(got).toContain(`pull ${busybox.reference} ${repoOf(busybox.reference)}`);
    expect(got).toContain(`tag ${id} images-e2e/one:1`);
    expect(got).toContain(`untag ${id} ${id}`);
    expect(got).toContain(`push ${registry.host}/images-e2e/bb:v1 ${registry.host}/images-e2e/bb`);
    expect(got).toContain(`save ${id} ${id}`);
    expect(got).toContain(`load ${id} ${id}`);
    expect(got).toContain(`delete ${id} ${id}`);
    expect(got.some((l) => /^import sha256:[0-9a-f]{64} sha256:[0-9a-f]{64}$/.test(l))).toBe(true);
    expect(got.some((l) => l.startsWith("prune "))).toBe(true);
  });
});

describe("images across an engine restart", () => {
  it("a pulled and tagged image and its digests are still there after a restart", async () => {
    const first = await startTestEngine();
    let second: TestEngine | undefined;
    try {
      expect((await first.docker(["pull", "-q", busybox.reference])).code).toBe(0);
      expect((await first.docker(["tag", busybox.reference, "images-e2e/kept:1"])).code).toBe(0);
      // The CLI orders the rows of one image by a Go map's iteration: compared as sets.
      const rows = async (e: TestEngine): Promise<string[]> => lines((await e.docker(["images", "--digests", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}} {{.ID}}"])).stdout).sort();
      const before = await rows(first);
      expect(before).toHaveLength(2);
      await first.stop({ remove: false });
      second = await startTestEngine({ dataRoot: first.dataRoot });
      expect(await rows(second)).toEqual(before);
      expect((await second.docker(["rmi", "images-e2e/kept:1"])).stdout).toBe("Untagged: images-e2e/kept:1\n");
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});
