import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { isHtkError } from "../base/errors/index.ts";
import { isRemoteContext, readContextInput } from "./context-input.ts";

describe("the build context argument", () => {
  const readAll = async (): Promise<Uint8Array> => new Uint8Array();
  const io = { cwd: "/", stdin: Readable.from([Buffer.from("FROM scratch\n")]) };

  it("URLs go to the engine; -f is a path inside them unless - or absolute", async () => {
    expect(isRemoteContext("https://h/x.git#main:sub")).toBe(true);
    expect(isRemoteContext("git@github.com:o/r.git")).toBe(true);
    expect(isRemoteContext("./dir")).toBe(false);
    expect(await readContextInput("https://h/x.git#main", "docker/Dockerfile", io, readAll)).toEqual({ kind: "remote", url: "https://h/x.git#main", dockerfile: new Uint8Array(), filename: "docker/Dockerfile" });
  });

  it("stdin cannot be both the context and the Dockerfile (HTK-BUILDX-0070, buildx's text)", async () => {
    const err = await readContextInput("-", "-", io, readAll).catch((e: unknown) => e);
    expect(isHtkError(err) && err.id).toBe("HTK-BUILDX-0070");
    expect((err as Error).message).toContain("invalid argument: can't use stdin for both build context and dockerfile");
  });
});
