import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { SolveEventSchema, type SolveEvent } from "../../wire/index.ts";
import { fullName, manifestAnnotations, parseNamedContexts, RunningBuilds, SecretRequests } from "./build-service-solve.ts";

const never = new AbortController().signal;
const queued = (): SolveEvent => create(SolveEventSchema, { event: { case: "queued", value: {} } });

describe("the build service's solve helpers", () => {
  it("lets Status watch a running build from its start, live, until it ends (HTK-ENGINE-0609 otherwise)", async () => {
    const running = new RunningBuilds();
    running.start("r1");
    running.publish("r1", queued());
    const seen: string[] = [];
    const watching = (async () => {
      for await (const ev of running.watch("r1", never)) seen.push(ev.event.case ?? "");
    })();
    running.publish("r1", create(SolveEventSchema, { event: { case: "result", value: {} } }));
    running.end("r1");
    await watching;
    expect(seen).toEqual(["queued", "result"]);
    await expect(running.watch("r1", never).next()).rejects.toThrow(/HTK-ENGINE-0609/);
  });

  it("hands secrets only to the request that waits for them", async () => {
    const secrets = new SecretRequests();
    const waiting = secrets.wait("ref", "q1", never);
    expect(secrets.provide("ref", "other", {})).toBe(false);
    expect(secrets.provide("ref", "q1", { a: new Uint8Array([1]) })).toBe(true);
    expect([...(await waiting).keys()]).toEqual(["a"]);
  });

  it("names images as docker's reference parser prints them", () => {
    expect(fullName("busybox")).toBe("docker.io/library/busybox");
    expect(fullName("busybox", true)).toBe("docker.io/library/busybox:latest");
    expect(fullName("me/app:1")).toBe("docker.io/me/app:1");
    expect(fullName("127.0.0.1:5000/busybox", true)).toBe("127.0.0.1:5000/busybox:latest");
  });
});

describe("named contexts (BuildKit's context:NAME attributes)", () => {
  it("maps docker-image://, local: (a synced directory) and git URLs; refuses the rest with the reason (HTK-ENGINE-0722)", () => {
    expect(parseNamedContexts({ "context:base": "docker-image://busybox:1", "context:files": "local:files", "context:repo": "https://h/r.git#v1", target: "x" }, { files: "/copy" })).toEqual({
      base: { kind: "image", ref: "busybox:1" },
      files: { kind: "local", name: "files" },
      repo: { kind: "git", remote: "https://h/r.git", ref: "v1" },
    });
    expect(() => parseNamedContexts({ "context:x": "oci-layout://l" }, {})).toThrow(/HTK-ENGINE-0722/);
    expect(() => parseNamedContexts({ "context:x": "https://h/a.tar.gz" }, {})).toThrow(/only git repositories/);
    expect(() => parseNamedContexts({ "context:x": "https://h/r.git#main:sub" }, {})).toThrow(/subdirectory/);
    expect(() => parseNamedContexts({ "context:x": "local:missing" }, {})).toThrow(/HTK-ENGINE-0722/);
  });
});

describe("--annotation on the exporters (BuildKit's annotation attributes)", () => {
  it("keeps manifest annotations (plain, manifest-typed, with a platform); refuses index and descriptor ones (HTK-ENGINE-0723)", () => {
    expect(manifestAnnotations([{ type: "image", attrs: { "annotation.a": "1", "annotation-manifest.b": "2", "annotation-manifest[linux/amd64].c": "3", name: "x", push: "true" } }])).toEqual({ a: "1", b: "2", c: "3" });
    expect(() => manifestAnnotations([{ type: "image", attrs: { "annotation-index.a": "1" } }])).toThrow(/HTK-ENGINE-0723/);
    expect(() => manifestAnnotations([{ type: "image", attrs: { "annotation-manifest-descriptor.a": "1" } }])).toThrow(/HTK-ENGINE-0723/);
  });
});
