// Here, not in base/oci/: it checks base/oci's parser against llb's cache-key normaliser, and base may not import llb.
import { describe, expect, it } from "vitest";
import { normalizeImageRef } from "../llb/image-ref.ts";
import { authKeyFor, familiarName, familiarString, parseDockerReference, parseReference, referenceString, registryApiHost } from "../base/oci/reference.ts";

const D = "sha256:" + "a".repeat(64);

describe("parseDockerReference (Docker's ParseNormalizedNamed + TagNameOnly)", () => {
  const cases: Array<[string, string, string]> = [
    ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["me/app", "docker.io/me/app:latest", "me/app:latest"],
    ["docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    ["localhost/app", "localhost/app:latest", "localhost/app:latest"],
    ["localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"],
    ["127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest", "127.0.0.1:5000/a/b/c:latest"],
    ["[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"],
    ["ghcr.io/o/r:tag_1.2-x", "ghcr.io/o/r:tag_1.2-x", "ghcr.io/o/r:tag_1.2-x"],
    ["Registry.Example.com/app", "Registry.Example.com/app:latest", "Registry.Example.com/app:latest"],
    ["a__b/c--d/e.f", "docker.io/a__b/c--d/e.f:latest", "a__b/c--d/e.f:latest"],
  ];
  it.each(cases)("%s → %s", (input, full, familiar) => {
    const r = parseDockerReference(input);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    if (!r.ok) return;
    expect(referenceString(r.value)).toBe(full);
    expect(familiarString(r.value)).toBe(familiar);
    // llb's cache-key normaliser agrees on every valid reference.
    expect(normalizeImageRef(input)).toBe(full);
  });

  it("splits domain, path, tag and digest", () => {
    const r = parseReference(`127.0.0.1:5000/team/app:v2@${D}`);
    expect(r).toEqual({ ok: true, value: { domain: "127.0.0.1:5000", path: "team/app", tag: "v2", digest: D } });
    if (r.ok) expect(familiarName(r.value)).toBe("127.0.0.1:5000/team/app");
  });

  it("does not add latest without TagNameOnly", () => {
    const r = parseReference("busybox");
    expect(r.ok && r.value.tag).toBe(undefined);
  });

  const bad: Array<[string, RegExp]> = [
    ["", /at least one component/],
    ["Busybox", /must be lowercase/],
    ["me/App", /must be lowercase/],
    ["a".repeat(64).replace(/a/g, "f"), /64-byte hexadecimal/],
    ["busybox:", /invalid reference format/],
    ["busybox:-bad", /invalid reference format/],
    ["bus box", /invalid reference format/],
    ["busybox@sha256:abc", /invalid reference format/],
    ["-a/b", /invalid reference format/],
    ["a//b", /invalid reference format/],
    ["busybox:" + "x".repeat(129), /invalid reference format/],
    ["example.com/" + "a".repeat(250), /more than 255/],
  ];
  it.each(bad)("refuses %j", (input, msg) => {
    const r = parseDockerReference(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(msg);
  });

  it("maps docker.io to its API host and config key", () => {
    expect(registryApiHost("docker.io")).toBe("registry-1.docker.io");
    expect(registryApiHost("127.0.0.1:5000")).toBe("127.0.0.1:5000");
    expect(authKeyFor("docker.io")).toBe("https://index.docker.io/v1/");
    expect(authKeyFor("ghcr.io")).toBe("ghcr.io");
  });
});
