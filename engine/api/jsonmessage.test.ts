import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { htkError } from "../../base/errors/index.ts";
import { JsonMessageStream, encodeMessage, humanSize, progressString } from "./jsonmessage.ts";

describe("jsonmessage encoding (pkg/jsonmessage, pkg/streamformatter)", () => {
  it("writes Docker's keys in Go's struct order, empty ones left out, CRLF after each", () => {
    expect(encodeMessage({ status: "Pulling from library/busybox", id: "latest" })).toBe('{"status":"Pulling from library/busybox","id":"latest"}\r\n');
    expect(encodeMessage({ status: "Pulling fs layer", progressDetail: {}, id: "ec562eabd705" })).toBe('{"status":"Pulling fs layer","progressDetail":{},"id":"ec562eabd705"}\r\n');
    expect(encodeMessage({ id: "x", status: "Downloading", progressDetail: { current: 32768, total: 2152262 } })).toBe(
      '{"status":"Downloading","progressDetail":{"current":32768,"total":2152262},"progress":"[>                                                  ]  32.77kB/2.152MB","id":"x"}\r\n',
    );
    expect(encodeMessage({ stream: "Loaded image: busybox:latest\n" })).toBe('{"stream":"Loaded image: busybox:latest\\n"}\r\n');
    expect(encodeMessage({ errorDetail: { message: "boom" } })).toBe('{"errorDetail":{"message":"boom"},"error":"boom"}\r\n');
    expect(encodeMessage({ progressDetail: {}, aux: { Tag: "latest", Digest: "sha256:ab", Size: 527 } })).toBe('{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:ab","Size":527}}\r\n');
  });

  it("sizes as go-units' HumanSize: decimal, four significant digits", () => {
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(100)).toBe("100B");
    expect(humanSize(999)).toBe("999B");
    expect(humanSize(1000)).toBe("1kB");
    expect(humanSize(32768)).toBe("32.77kB");
    expect(humanSize(2152262)).toBe("2.152MB");
    expect(humanSize(1982357)).toBe("1.982MB");
    expect(humanSize(5 * 1000 ** 3)).toBe("5GB");
  });

  it("draws JSONProgress.String() at the daemon's 200 columns", () => {
    expect(progressString({})).toBe("");
    expect(progressString({ current: 1_076_000, total: 2_152_000 })).toBe(`[${"=".repeat(25)}>${" ".repeat(25)}]  1.076MB/2.152MB`);
    expect(progressString({ current: 2_152_000, total: 2_152_000 })).toBe(`[${"=".repeat(50)}>]  2.152MB/2.152MB`);
    // A current beyond the total (a wonky count) shows the current alone.
    expect(progressString({ current: 3000, total: 2000 })).toBe(`[${"=".repeat(50)}>]      3kB`);
    expect(progressString({ current: 4096 })).toBe(" 4.096kB");
  });
});

/** Enough of a ServerResponse to record what the stream writes. */
function fakeResponse(): ServerResponse & { out: string; status?: number; ended: boolean } {
  const res = new EventEmitter() as unknown as ServerResponse & { out: string; status?: number; ended: boolean };
  Object.assign(res, {
    out: "",
    ended: false,
    destroyed: false,
    writableEnded: false,
    writeHead(status: number) {
      res.status = status;
      return res;
    },
    write(chunk: string) {
      res.out += chunk;
      return true;
    },
    end() {
      res.ended = true;
      (res as { writableEnded: boolean }).writableEnded = true;
      return res;
    },
  });
  return res;
}

describe("JsonMessageStream", () => {
  it("sends nothing before the first message, so an early error is still an HTTP error", () => {
    const res = fakeResponse();
    const stream = new JsonMessageStream(res);
    const err = htkError("HTK-ENGINE-0310", { name: "127.0.0.1:5000/nope" });
    expect(() => stream.fail(err, "push")).toThrow(err);
    expect(res.status).toBeUndefined();
  });

  it("puts a later error in the stream as its last line", () => {
    const res = fakeResponse();
    const stream = new JsonMessageStream(res);
    stream.status("The push refers to repository [127.0.0.1:5000/nope]");
    stream.fail(htkError("HTK-ENGINE-0310", { name: "127.0.0.1:5000/nope" }), "push");
    expect(res.status).toBe(200);
    expect(res.ended).toBe(true);
    const lines = res.out.trimEnd().split("\r\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ status: "The push refers to repository [127.0.0.1:5000/nope]" });
    expect(String((lines[1] as { error: string }).error)).toMatch(/^An image does not exist locally with the tag: 127\.0\.0\.1:5000\/nope \[HTK-ENGINE-0310\]/);
  });

  it("ends quietly when the client went away", () => {
    const res = fakeResponse();
    const stream = new JsonMessageStream(res);
    stream.progress("abc", "Pulling fs layer");
    stream.fail(new DOMException("client went away", "AbortError"), "pull");
    expect(res.out).toBe('{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}\r\n');
    expect(res.ended).toBe(true);
  });
});
