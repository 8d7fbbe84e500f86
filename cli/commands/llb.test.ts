import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isHtkError } from "../../base/errors/index.ts";
import { dumpDot, dumpJson, encodeDefinition, image, marshal, mkdir } from "../../llb/index.ts";
import { memoryIo } from "../testing.ts";
import { llbCommand } from "./llb.ts";

const dir = mkdtempSync(join(tmpdir(), "htk-llb-dump-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const def = marshal(image("alpine").file(mkdir("/app", 0o755)).run({ shell: "echo hi" }).root());
writeFileSync(join(dir, "def.pb"), encodeDefinition(def));
writeFileSync(join(dir, "junk.pb"), "not a definition");

async function run(args: string[], stdin?: string) {
  const io = memoryIo({ cwd: dir, ...(stdin === undefined ? {} : { stdin }) });
  const code = await llbCommand.run(args, io);
  return { code, out: io.out(), err: io.err() };
}

async function failure(args: string[]): Promise<unknown> {
  try {
    await run(args);
  } catch (err) {
    return err;
  }
  throw new Error("expected the command to fail");
}

describe("hatake llb dump", () => {
  it("prints JSON by default and DOT on request", async () => {
    expect(await run(["dump", "def.pb"])).toEqual({ code: 0, out: dumpJson(def), err: "" });
    expect(await run(["dump", "--format", "dot", join(dir, "def.pb")])).toEqual({ code: 0, out: dumpDot(def), err: "" });
  });

  it("reports an invalid definition with its LLB code", async () => {
    const err = await failure(["dump", "junk.pb"]);
    expect(isHtkError(err, "HTK-CLI-0002")).toBe(true);
    expect(String(err)).toContain("DECODE_FAILED");
  });

  it("reports a missing file, a bad format and a missing argument", async () => {
    expect(String(await failure(["dump", "nope.pb"]))).toContain('cannot read "nope.pb"');
    expect(String(await failure(["dump", "--format", "jsn", "def.pb"]))).toContain('did you mean "json"');
    expect(isHtkError(await failure(["dump"]), "HTK-CLI-0002")).toBe(true);
    expect(isHtkError(await failure(["dupm"]), "HTK-CLI-0001")).toBe(true);
  });

  it("shows usage", async () => {
    expect((await run(["dump", "--help"])).out).toContain("Usage: hatake llb dump");
    expect((await run([])).code).toBe(2);
  });
});
