import { describe, expect, it } from "vitest";
import { referenceError } from "./reference.ts";

describe("image references (distribution/reference)", () => {
  it("accepts what Docker accepts", () => {
    for (const ok of ["busybox", "alpine:3.20", "docker.io/library/alpine", "localhost:5000/team/app:1.0-rc_1", `golang@sha256:${"a".repeat(64)}`, "a__b", "my-org/my.app"]) {
      expect(referenceError(ok), ok).toBeUndefined();
    }
  });

  it("rejects the rest with BuildKit's text", () => {
    expect(referenceError("Busybox")).toBe("invalid reference format: repository name (Busybox) must be lowercase");
    expect(referenceError("a b")).toBe("invalid reference format");
    expect(referenceError("-x")).toBe("invalid reference format");
    expect(referenceError("")).toBe("invalid reference format");
  });
});
