import { describe, expect, it } from "vitest";
import { htkError, isHtkError } from "../../base/errors/index.ts";
import { authConfigFrom, decodeRegistryAuth, encodeRegistryAuth, registryAuthFailure } from "./registry-auth.ts";

describe("X-Registry-Auth", () => {
  it("decodes base64url JSON as the docker CLI encodes it, padded or not, either alphabet", () => {
    const config = { username: "htk", password: "s3cr?t>>", serveraddress: "127.0.0.1:5000" };
    const encoded = encodeRegistryAuth(config);
    expect(encoded).not.toMatch(/[+/=]/);
    expect(decodeRegistryAuth(encoded)).toEqual(config);
    expect(decodeRegistryAuth(Buffer.from(JSON.stringify(config)).toString("base64"))).toEqual(config);
    expect(decodeRegistryAuth(encoded.padEnd(Math.ceil(encoded.length / 4) * 4, "="))).toEqual(config);
  });

  it("treats a missing or broken header as no credentials (dockerd ignores it)", () => {
    expect(decodeRegistryAuth(undefined)).toEqual({});
    expect(decodeRegistryAuth("")).toEqual({});
    expect(decodeRegistryAuth("e30=")).toEqual({});
    expect(decodeRegistryAuth("!!!not base64")).toEqual({});
    expect(decodeRegistryAuth(Buffer.from("[1,2]").toString("base64url"))).toEqual({});
  });

  it("matches keys case-insensitively and keeps only the AuthConfig fields", () => {
    expect(authConfigFrom({ Username: "a", PASSWORD: "b", IdentityToken: "t", other: "x", email: 3 })).toEqual({ username: "a", password: "b", identitytoken: "t" });
    expect(authConfigFrom("nope")).toBeUndefined();
  });

  it("reports a registry's refusal on pull and push as 500 (HTK-REGISTRY-0056), never the 401 that makes the CLI prompt", () => {
    const refused = htkError("HTK-REGISTRY-0005", { host: "127.0.0.1:5000", operation: "pull", repository: "app", detail: "no credentials are stored for 127.0.0.1:5000" });
    const e = registryAuthFailure(refused);
    expect(isHtkError(e, "HTK-REGISTRY-0056")).toBe(true);
    expect(isHtkError(e) && e.http).toBe(500);
    expect(isHtkError(e) && e.plainCause).toBe(refused.plainCause);
    const other = new Error("x");
    expect(registryAuthFailure(other)).toBe(other);
  });

  it("says dockerd's words for a basic-auth registry without credentials: the pull's url.Error (HTK-REGISTRY-0060), the push's bare reason (HTK-REGISTRY-0061)", () => {
    const details = { dockerOp: "Head", dockerUrl: "http://127.0.0.1:5000/v2/app/manifests/1", dockerReason: "no basic auth credentials" };
    const pull = registryAuthFailure(htkError("HTK-REGISTRY-0005", { host: "127.0.0.1:5000", operation: "pull", repository: "app", detail: "x" }, { details }));
    expect(isHtkError(pull, "HTK-REGISTRY-0060")).toBe(true);
    expect(isHtkError(pull) && [pull.http, pull.plainCause]).toEqual([500, 'Head "http://127.0.0.1:5000/v2/app/manifests/1": no basic auth credentials']);
    const push = registryAuthFailure(htkError("HTK-REGISTRY-0005", { host: "127.0.0.1:5000", operation: "push", repository: "app", detail: "x" }, { details }));
    expect(isHtkError(push, "HTK-REGISTRY-0061")).toBe(true);
    expect(isHtkError(push) && push.plainCause).toBe("no basic auth credentials");
  });
});
