import { describe, expect, it } from "vitest";
import { causeChain, didYouMean, htkError, isCancellation, isHtkError, renderError, toHtkError } from "./index.ts";

describe("HtkError", () => {
  it("fills the catalogue's templates", () => {
    const err = htkError("HTK-CLI-0002", { command: "build", detail: "unknown flag --x" });
    expect(err.message).toBe('HTK-CLI-0002: The options of "hatake build" could not be read: unknown flag --x.');
    expect(err.nextStep).toBe('Run "hatake help build" to see the options it takes.');
    expect(err.http).toBe(500);
    expect(err.toJSON()).toMatchObject({ id: "HTK-CLI-0002", next: err.nextStep });
  });

  it("keeps the cause chain and renders it", () => {
    const root = new Error("ENOENT: no such file");
    const mid = new Error("read failed", { cause: root });
    const err = htkError("HTK-CLI-0003", { path: "/x/dist/hatake.mjs", root: "/x" }, { cause: mid });
    expect(causeChain(err)).toEqual(["Error: read failed", "Error: ENOENT: no such file"]);
    expect(renderError(err)).toBe(
      [
        "ERROR HTK-CLI-0003: The compiled hatake program was not found at /x/dist/hatake.mjs.",
        '  next step: Run "npm run build" in /x (the set-up command does this for you).',
        "  caused by: Error: read failed",
        "  caused by: Error: ENOENT: no such file",
      ].join("\n"),
    );
  });

  it("turns a bug into HTK-CORE-0001 with the trace ID, keeping the original", () => {
    const bug = new TypeError("x is undefined");
    const err = toHtkError(bug, { operation: "build", traceId: "abc123" });
    expect(err.id).toBe("HTK-CORE-0001");
    expect(err.plainCause).toBe("HATAKE hit an unexpected internal error: x is undefined.");
    expect(err.nextStep).toContain("abc123");
    expect(err.cause).toBe(bug);
    expect(err.http).toBe(500);
  });

  it("turns cancellation into HTK-CORE-0002 and recognises it", () => {
    const controller = new AbortController();
    controller.abort();
    const reason: unknown = controller.signal.reason;
    expect(isCancellation(reason)).toBe(true);
    const err = toHtkError(reason, { operation: "pull busybox" });
    expect(err.id).toBe("HTK-CORE-0002");
    expect(isCancellation(err)).toBe(true);
    expect(isCancellation(new Error("boom"))).toBe(false);
  });

  it("passes HtkErrors through unchanged", () => {
    const err = htkError("HTK-CLI-0001", { command: "x", suggestion: "" });
    expect(toHtkError(err, { operation: "x" })).toBe(err);
    expect(isHtkError(err, "HTK-CLI-0001")).toBe(true);
    expect(isHtkError(err, "HTK-CLI-0002")).toBe(false);
  });

  it("rejects missing template parameters at compile time", () => {
    // @ts-expect-error -- "detail" is missing: the catalogue's template names it.
    const err = htkError("HTK-CLI-0002", { command: "build" });
    expect(err.plainCause).toContain("{detail}");
  });
});

describe("didYouMean", () => {
  it("suggests close words only", () => {
    expect(didYouMean("COPPY", ["FROM", "COPY", "ADD"])).toBe("COPY");
    expect(didYouMean("biuld", ["build", "version"])).toBe("build");
    expect(didYouMean("zzzzzz", ["build", "version"])).toBeUndefined();
    expect(didYouMean("COPY", ["COPY"])).toBeUndefined();
  });
});
