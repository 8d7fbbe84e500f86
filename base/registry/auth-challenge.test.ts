import { describe, expect, it } from "vitest";
import { challengeScopes, normalizeScopes, parseWwwAuthenticate, repositoryScope } from "./auth-challenge.ts";

describe("WWW-Authenticate parsing", () => {
  it("reads Docker Hub's bearer challenge", () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    expect(c).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
    });
    if (c !== undefined) expect(challengeScopes(c)).toEqual(["repository:library/busybox:pull"]);
  });

  it("reads basic, several challenges in one header, several headers, escapes and odd spacing", () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: "basic", params: { realm: "Registry Realm" } }]);
    const two = parseWwwAuthenticate('Basic realm="a, b", Bearer realm="https://x/token" , service=reg,error="insufficient_scope"');
    expect(two).toEqual([
      { scheme: "basic", params: { realm: "a, b" } },
      { scheme: "bearer", params: { realm: "https://x/token", service: "reg", error: "insufficient_scope" } },
    ]);
    expect(parseWwwAuthenticate(['Basic realm="x"', 'Bearer realm="y\\"z"'])).toEqual([
      { scheme: "basic", params: { realm: "x" } },
      { scheme: "bearer", params: { realm: 'y"z' } },
    ]);
    expect(parseWwwAuthenticate('BEARER Realm="r"')).toEqual([{ scheme: "bearer", params: { realm: "r" } }]);
  });

  it("never throws on garbage", () => {
    for (const h of ["", "=", '"', 'Bearer realm="unterminated', ",,,", "Bearer ==x", "\u0000\u00ff", "realm=x Basic"]) {
      expect(() => parseWwwAuthenticate(h)).not.toThrow();
    }
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("realm=x Basic")).toEqual([{ scheme: "basic", params: {} }]);
  });

  it("merges scopes per resource, sorted", () => {
    expect(normalizeScopes(["repository:a:push", "repository:b:pull", "repository:a:pull", "registry:catalog:*"])).toEqual([
      "registry:catalog:*",
      "repository:a:pull,push",
      "repository:b:pull",
    ]);
    expect(repositoryScope("a/b", ["push", "pull", "pull"])).toBe("repository:a/b:pull,push");
  });
});
