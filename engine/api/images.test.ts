import { describe, expect, it } from "vitest";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { loginDomain } from "./auth.ts";
import { configFromChanges } from "./image-changes.ts";
import { errcodeText, translatePullError } from "./images-create.ts";
import { splitSearchTerm } from "./images-search.ts";
import { tagTarget } from "./images-params.ts";
import { Router } from "./router.ts";
import type { Route } from "./types.ts";

function throwsId(fn: () => unknown, id: string): void {
  try {
    fn();
  } catch (err) {
    expect(isHtkError(err) ? err.id : err).toBe(id);
    return;
  }
  throw new Error(`expected ${id}`);
}

describe("image routes' names", () => {
  it("matches {name:.*} across slashes, as Docker's router does for image names", () => {
    const route = (method: Route["method"], pattern: string): Route => ({ method, pattern, handle: () => undefined });
    const router = new Router([route("GET", "/images/json"), route("GET", "/images/get"), route("GET", "/images/{name:.*}/json"), route("GET", "/images/{name:.*}/get"), route("DELETE", "/images/{name:.*}"), route("GET", "/containers/{id}/json")]);
    const m = router.match("GET", "/images/127.0.0.1:5000/team/app:v1/json");
    expect(m.kind === "found" && m.params).toEqual({ name: "127.0.0.1:5000/team/app:v1" });
    const list = router.match("GET", "/images/json");
    expect(list.kind === "found" && list.route.pattern).toBe("/images/json");
    const all = router.match("GET", "/images/get");
    expect(all.kind === "found" && all.route.pattern).toBe("/images/get");
    const del = router.match("DELETE", "/images/me/app@sha256:abc");
    expect(del.kind === "found" && del.params).toEqual({ name: "me/app@sha256:abc" });
    // A plain {id} still stops at a slash.
    expect(router.match("GET", "/containers/a/b/json").kind).toBe("not-found");
  });

  it("checks the new name of a tag as httputils.RepoTagReference (with dockerd's texts)", () => {
    expect(tagTarget("me/app", "")).toBe("me/app");
    expect(tagTarget("me/app", "v1")).toBe("me/app:v1");
    throwsId(() => tagTarget("", "v1"), "HTK-ENGINE-0317");
    throwsId(() => tagTarget(`me/app@sha256:${"0".repeat(64)}`, ""), "HTK-ENGINE-0315");
    throwsId(() => tagTarget("me/app", "-bad"), "HTK-ENGINE-0316");
    throwsId(() => tagTarget("sha256", "abc"), "HTK-ENGINE-0314");
  });

  it("splits a search term as registry.splitReposSearchTerm", () => {
    expect(splitSearchTerm("busybox")).toEqual({ index: "docker.io", remote: "busybox" });
    expect(splitSearchTerm("me/app")).toEqual({ index: "docker.io", remote: "me/app" });
    expect(splitSearchTerm("127.0.0.1:5000/app")).toEqual({ index: "127.0.0.1:5000", remote: "app" });
    expect(splitSearchTerm("localhost/a/b")).toEqual({ index: "localhost", remote: "a/b" });
    expect(splitSearchTerm("registry.example.com/app")).toEqual({ index: "registry.example.com", remote: "app" });
  });

  it("reads a login's serveraddress as dockerd's Service.Auth", () => {
    expect(loginDomain("")).toBe("docker.io");
    expect(loginDomain("https://index.docker.io/v1/")).toBe("docker.io");
    expect(loginDomain("127.0.0.1:5000")).toBe("127.0.0.1:5000");
    expect(loginDomain("http://127.0.0.1:5000/v2/")).toBe("127.0.0.1:5000");
  });
});

describe("pull errors in Docker's words (TranslatePullError)", () => {
  it("turns distribution's error codes into errcode.Error text", () => {
    expect(errcodeText("MANIFEST_UNKNOWN: manifest unknown")).toBe("manifest unknown: manifest unknown");
    expect(errcodeText("NAME_UNKNOWN: repository name not known to registry; DENIED: x")).toBe("name unknown: repository name not known to registry");
    expect(errcodeText("HTTP 404: nope")).toBe("HTTP 404: nope");
  });

  const ref = { domain: "127.0.0.1:5000", path: "app", tag: "nope" };
  const fails = async (err: Error): Promise<unknown> => translatePullError(Promise.reject(err), ref).catch((e: unknown) => e);

  it("a missing tag, a missing repository, a denial", async () => {
    const manifest = await fails(htkError("HTK-REGISTRY-0008", { host: "127.0.0.1:5000", repository: "app", reference: "nope", detail: "MANIFEST_UNKNOWN: manifest unknown" }));
    expect(isHtkError(manifest, "HTK-ENGINE-0300") && manifest.plainCause).toBe("manifest for 127.0.0.1:5000/app:nope not found: manifest unknown: manifest unknown");
    expect(isHtkError(manifest) && manifest.http).toBe(404);
    const repo = await fails(htkError("HTK-REGISTRY-0007", { host: "127.0.0.1:5000", repository: "app", detail: "NAME_UNKNOWN: repository name not known to registry" }));
    expect(isHtkError(repo, "HTK-ENGINE-0301") && repo.plainCause).toBe("repository 127.0.0.1:5000/app not found: name unknown: repository name not known to registry");
    const denied = await fails(htkError("HTK-REGISTRY-0006", { host: "127.0.0.1:5000", operation: "pull", repository: "app", detail: "DENIED: requested access to the resource is denied" }));
    expect(isHtkError(denied, "HTK-ENGINE-0302") && denied.plainCause).toBe(
      "pull access denied for 127.0.0.1:5000/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
    );
    const auth = await fails(htkError("HTK-REGISTRY-0005", { host: "127.0.0.1:5000", operation: "pull", repository: "app", detail: "x" }));
    expect(isHtkError(auth, "HTK-REGISTRY-0056")).toBe(true);
    const other = new Error("bug");
    expect(await fails(other)).toBe(other);
  });
});

describe("--change (dockerfile.BuildFromConfig)", () => {
  it("applies the config instructions, expanding with the config's environment", () => {
    const c = configFromChanges(["ENV A=1 B=two", "ENV C=$A-${B}", "LABEL x=$C", 'CMD ["sh", "-c", "echo"]', "EXPOSE 80 53/udp", "USER nobody", "WORKDIR /srv", "WORKDIR app", "VOLUME /data /logs", "STOPSIGNAL SIGINT", "ONBUILD RUN make"]);
    expect(c).toEqual({
      Env: ["A=1", "B=two", "C=1-two"],
      Labels: { x: "1-two" },
      Cmd: ["sh", "-c", "echo"],
      ExposedPorts: { "80/tcp": {}, "53/udp": {} },
      User: "nobody",
      WorkingDir: "/srv/app",
      Volumes: { "/data": {}, "/logs": {} },
      StopSignal: "SIGINT",
      OnBuild: ["RUN make"],
    });
  });

  it("runs the shell form through /bin/sh -c; ENTRYPOINT resets an earlier image's CMD, not one set in the same changes", () => {
    expect(configFromChanges(["ENTRYPOINT top -b"], { Cmd: ["x"] })).toEqual({ Entrypoint: ["/bin/sh", "-c", "top -b"], Cmd: null });
    expect(configFromChanges(['CMD ["x"]', 'ENTRYPOINT ["e"]'])).toEqual({ Cmd: ["x"], Entrypoint: ["e"] });
    expect(configFromChanges(["HEALTHCHECK --interval=5s CMD true"])).toEqual({ Healthcheck: { Test: ["CMD-SHELL", "true"], Interval: 5_000_000_000 } });
  });

  it("refuses other instructions and malformed ones with dockerd's text", () => {
    throwsId(() => configFromChanges(["RUN make"]), "HTK-ENGINE-0306");
    try {
      configFromChanges(["FROM busybox"]);
    } catch (err) {
      expect(isHtkError(err) && err.plainCause).toBe("from is not a valid change command");
    }
    throwsId(() => configFromChanges(["ENV"]), "HTK-ENGINE-0307");
  });
});
