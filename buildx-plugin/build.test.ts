import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runPlugin } from "./cli.ts";
import { checkAttestations, consume, decodeExporterResponse, parseBuildContexts, parseEntitlements, parseExports, parseSecret, stepLimitAttrs } from "./commands/build.ts";
import { solveStatus, sourceFrame } from "./display.ts";
import { memoryIo } from "./testing/memory-io.ts";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const never = new AbortController().signal;

describe("buildx build's option parsing", () => {
  it("reads -o as buildx does: type=…, a bare directory, - for a tar on stdout; --push and --load", () => {
    expect(parseExports(["type=local,dest=out"], false, false)).toEqual([{ type: "local", attrs: { dest: "out" } }]);
    expect(parseExports(["out"], false, false)).toEqual([{ type: "local", attrs: { dest: "out" } }]);
    expect(parseExports(["-"], false, false)).toEqual([{ type: "tar", attrs: { dest: "-" } }]);
    expect(parseExports(["type=registry,name=r/x"], false, false)).toEqual([{ type: "image", attrs: { name: "r/x", push: "true" } }]);
    expect(parseExports([], true, true)).toEqual([{ type: "image", attrs: { push: "true" } }, { type: "docker", attrs: {} }]);
    expect(() => parseExports(["dest=x,oops"], false, false)).toThrow(/HTK-BUILDX-0020: invalid value oops/);
  });

  it("reads --secret as buildx does and reads the value only when asked (HTK-BUILDX-0026)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-secret-"));
    dirs.push(dir);
    writeFileSync(join(dir, "tok"), "file-value");
    expect(parseSecret("id=a,src=tok", {}, dir).id).toBe("a");
    expect(new TextDecoder().decode(await parseSecret("id=a,src=tok", {}, dir).read())).toBe("file-value");
    expect(parseSecret("src=/x/y/tok", {}, dir).id).toBe("tok");
    expect(new TextDecoder().decode(await parseSecret("id=b,env=MYVAR", { MYVAR: "env-value" }, dir).read())).toBe("env-value");
    expect(new TextDecoder().decode(await parseSecret("id=MYVAR", { MYVAR: "by-id" }, dir).read())).toBe("by-id");
    await expect(parseSecret("id=c,src=missing", {}, dir).read()).rejects.toThrow(/HTK-BUILDX-0026: The secret "c" could not be read/);
    expect(() => parseSecret("id=d,src=a,env=B", {}, dir)).toThrow(/src and env can't be used together/);
  });

  it("writes the metadata file's values as buildx decodes them: base64 JSON as objects", () => {
    const descriptor = Buffer.from(JSON.stringify({ mediaType: "m", digest: "sha256:1", size: 2 })).toString("base64");
    expect(decodeExporterResponse({ "containerimage.descriptor": descriptor, "image.name": "docker.io/x", "containerimage.digest": "sha256:abc" })).toEqual({
      "containerimage.descriptor": { mediaType: "m", digest: "sha256:1", size: 2 },
      "containerimage.digest": "sha256:abc",
      "image.name": "docker.io/x",
    });
  });

  it("refuses what the build service does not do yet (HTK-BUILDX-0021), before contacting an engine", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-ctx-"));
    dirs.push(dir);
    mkdirSync(join(dir, "c"));
    const io = memoryIo({ DOCKER_CONFIG: join(dir, "cfg"), DOCKER_HOST: "unix:///nonexistent.sock" }, dir);
    expect(await runPlugin(["buildx", "build", "--platform", "linux/amd64", "--platform", "linux/arm64", "c"], io, never)).toBe(1);
    expect(io.err()).toMatch(/^ERROR: The build option --platform with several platforms is not supported by this buildx yet\.\n  HTK-BUILDX-0021: /);
    const io2 = memoryIo({ DOCKER_CONFIG: join(dir, "cfg") }, dir);
    expect(await runPlugin(["buildx", "build", "--progress", "fancy", "c"], io2, never)).toBe(1);
    expect(io2.err()).toBe('ERROR: invalid progress mode "fancy"\n');
    const io3 = memoryIo({ DOCKER_CONFIG: join(dir, "cfg") }, dir);
    expect(await runPlugin(["buildx", "build", "-q", "--progress", "plain", "c"], io3, never)).toBe(1);
    expect(io3.err()).toBe("ERROR: progress=plain and quiet cannot be used together\n");
  });

  it("says when the engine ends the stream without a result (HTK-BUILDX-0024)", async () => {
    const empty = (async function* () {})();
    await expect(consume({ endpoint: "unix:///x" } as never, empty, undefined, { secrets: [], ssh: new Map(), auth: () => Promise.reject(new Error("not asked")) }, "ref", never)).rejects.toThrow(/HTK-BUILDX-0024: The engine at unix:\/\/\/x ended the build's stream without a result/);
  });
});

describe("--build-context as buildx parses it", () => {
  it("names as familiar references; images, targets, OCI layouts and URLs passed on; directories sent (context/dockerfile as _context/_dockerfile)", () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-bc-"));
    dirs.push(dir);
    mkdirSync(join(dir, "d"));
    writeFileSync(join(dir, "f"), "");
    // An OCI layout is resolved on the client (tag → digest from index.json) and synced as a directory.
    mkdirSync(join(dir, "l"));
    const digest = `sha256:${"a".repeat(64)}`;
    writeFileSync(join(dir, "l", "index.json"), JSON.stringify({ manifests: [{ digest, annotations: { "org.opencontainers.image.ref.name": "v1" } }] }));
    expect(parseBuildContexts(["docker.io/library/alpine:latest=docker-image://busybox", "x=target:s", "y=oci-layout://l:v1", "r=https://h/r.git#main", "d=d", "context=d"], dir)).toEqual([
      { name: "alpine", kind: "passed", value: "docker-image://busybox" },
      { name: "x", kind: "passed", value: "target:s" },
      { name: "y", kind: "local", local: "oci-layout-y", dir: join(dir, "l"), attr: `oci-layout://oci-layout-y:v1@${digest}` },
      { name: "r", kind: "passed", value: "https://h/r.git#main" },
      { name: "d", kind: "local", local: "d", dir: join(dir, "d") },
      { name: "context", kind: "local", local: "_context", dir: join(dir, "d") },
    ]);
    expect(() => parseBuildContexts(["x"], dir)).toThrow(/HTK-BUILDX-0080: invalid context value: x, expected key=value$/);
    expect(() => parseBuildContexts(["x=nope"], dir)).toThrow("failed to get build context x: stat nope: no such file or directory");
    expect(() => parseBuildContexts(["x=f"], dir)).toThrow("failed to get build context path {f  <nil>}: not a directory");
    expect(() => parseBuildContexts(["X=d"], dir)).toThrow("invalid context name X: invalid reference format: repository name must be lowercase");
  });
});

describe("--attest, --sbom, --provenance", () => {
  it("accepts them turned off; refuses them turned on (HTK-BUILDX-0082) and specs without a type with buildx's text", () => {
    expect(() => checkAttestations(["type=sbom,disabled=true"], "false", "0")).not.toThrow();
    expect(() => checkAttestations([], "true", undefined)).toThrow(/HTK-BUILDX-0082: The build option --sbom \(an SBOM attestation\) cannot be honoured/);
    expect(() => checkAttestations([], undefined, "mode=max")).toThrow(/--provenance \(a provenance attestation\)/);
    expect(() => checkAttestations(["type=custom"], undefined, undefined)).toThrow(/--attest type=custom cannot be honoured/);
    expect(() => checkAttestations(["generator=x"], undefined, undefined)).toThrow(/HTK-BUILDX-0080: attestation type not specified$/);
    expect(() => checkAttestations(["sbom"], undefined, undefined)).toThrow(/invalid value sbom$/);
  });
});

describe("--allow as buildx parses it", () => {
  it("takes BuildKit's entitlement names (comma lists too), adds network.host for --network=host, refuses others with BuildKit's text (HTK-BUILDX-0080)", () => {
    expect(parseEntitlements(["network.host,security.insecure", "network.host"], "default")).toEqual(["network.host", "security.insecure"]);
    expect(parseEntitlements([], "host")).toEqual(["network.host"]);
    expect(() => parseEntitlements(["device"], undefined)).toThrow(/HTK-BUILDX-0080: unknown entitlement device$/);
  });
});

describe("BuildKit's code frame", () => {
  it("shows two lines around a range, four around a single line, >>> on the step's lines", () => {
    const df = new TextEncoder().encode("FROM a\nRUN b\nRUN c\nRUN d\nRUN e\nRUN f\nRUN g\n");
    expect(sourceFrame("Dockerfile", df, [{ startLine: 4, endLine: 4 }])).toBe(
      "Dockerfile:4\n--------------------\n   2 |     RUN b\n   3 |     RUN c\n   4 | >>> RUN d\n   5 |     RUN e\n   6 |     RUN f\n--------------------\n",
    );
    expect(sourceFrame("Dockerfile", df, [{ startLine: 1, endLine: 2 }])).toBe("Dockerfile:1\n--------------------\n   1 | >>> FROM a\n   2 | >>> RUN b\n   3 |     RUN c\n--------------------\n");
  });
});

describe("--progress=rawjson", () => {
  it("prints BuildKit's SolveStatus objects", () => {
    const v = `sha256:${"a".repeat(64)}` as const;
    expect(solveStatus({ kind: "vertex-cached", vertex: v, index: 1, name: "[1/2] FROM x", time: "t" })).toEqual({ vertexes: [{ digest: v, name: "[1/2] FROM x", started: "t", completed: "t", cached: true }] });
    expect(solveStatus({ kind: "log", vertex: v, index: 1, time: "t", stream: 2, data: new TextEncoder().encode("hi") })).toEqual({ logs: [{ vertex: v, stream: 2, data: "aGk=", timestamp: "t" }] });
    expect(solveStatus({ kind: "status", vertex: v, index: 1, time: "t", status: { id: "x", current: 1, total: 2 } })).toEqual({ statuses: [{ id: "x", vertex: v, current: 1, total: 2, timestamp: "t" }] });
  });
});

describe("--shm-size, --ulimit, --cgroup-parent", () => {
  it("become BuildKit's frontend attributes as buildx sends them", () => {
    expect(stepLimitAttrs(undefined, [], undefined)).toEqual({});
    expect(stepLimitAttrs("128m", ["nofile=1024:2048", "nproc=10", "nofile=1:2"], "ci")).toEqual({ "shm-size": "134217728", ulimit: "nofile=1:2,nproc=10:10", "cgroup-parent": "ci" });
    expect(stepLimitAttrs("0", [], "")).toEqual({});
  });

  it("bad values are pflag's errors with go-units' texts (exit 125)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "htk-limits-"));
    dirs.push(dir);
    const io = memoryIo({ DOCKER_CONFIG: join(dir, "cfg") }, dir);
    expect(await runPlugin(["buildx", "build", "--ulimit", "nofile=1:2:3", "c"], io, never)).toBe(125);
    expect(io.err()).toBe("invalid argument \"nofile=1:2:3\" for \"--ulimit\" flag: too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`\nSee 'docker buildx build --help'.\n");
    const io2 = memoryIo({ DOCKER_CONFIG: join(dir, "cfg") }, dir);
    expect(await runPlugin(["buildx", "build", "--shm-size=1.5.5", "c"], io2, never)).toBe(125);
    expect(io2.err()).toContain('invalid argument "1.5.5" for "--shm-size" flag: strconv.ParseFloat: parsing "1.5.5": invalid syntax');
  });
});
