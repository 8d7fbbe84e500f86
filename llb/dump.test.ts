import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bind, cache, copy, diff, image, local, marshal, merge, mkdir, scratch, secret } from "./builder.ts";
import { decodeDefinition, encodeDefinition, unwrap } from "./definition.ts";
import { dumpDot, dumpJson } from "./dump.ts";
import type { Definition } from "./types.ts";

/**
 * Golden files: testdata/dump/<case>.{json,dot}. Run with HATAKE_ACCEPT=1 to rewrite them after an
 * intended change; the diff is the review.
 */
const accept = process.env["HATAKE_ACCEPT"] === "1";

function golden(name: string, actual: string): void {
  const file = new URL(`./testdata/dump/${name}`, import.meta.url);
  if (accept) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, "utf8"));
}

/** A small Dockerfile-shaped graph: FROM, WORKDIR, COPY, RUN with mounts, COPY --link, a binary file. */
function sample(): Definition {
  const dockerfile = { filename: "Dockerfile", language: "Dockerfile", data: new TextEncoder().encode("FROM alpine:3.20\n") };
  const base = image("alpine:3.20", {
    platform: { os: "linux", architecture: "amd64" },
    customName: "[1/4] FROM alpine:3.20",
    locations: [{ file: dockerfile, ranges: [{ start: { line: 1, character: 0 }, end: { line: 1, character: 16 } }] }],
  })
    .withEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    .withCwd("/app");
  const ctx = local("context", { exclude: ["node_modules"] });
  const workdir = base.file(mkdir("/app", 0o755, { makeParents: true }), { customName: "[2/4] WORKDIR /app" });
  const copied = workdir.file(copy(ctx, "package.json", "./", { chown: "1000:1000", createDestPath: true }), { customName: '[3/4] COPY "quoted" package.json ./' });
  const built = copied.run({
    shell: "npm ci && npm run build",
    mounts: [cache("/root/.npm", { id: "npm", sharing: "locked" }), secret("npmrc", { target: "/root/.npmrc" }), bind("/dist", scratch(), { readonly: false, output: true })],
    customName: "[4/4] RUN npm ci && npm run build",
  });
  const assets = scratch().file(copy(ctx, "assets", "/srv/assets").mkfile("/srv/bin", 0o755, new Uint8Array([0xff, 0x00, 0xfe])));
  return marshal(merge([built.root(), diff(scratch(), assets), built.mount("/dist")]));
}

describe("dumps", () => {
  it("renders JSON", () => {
    golden("sample.json", dumpJson(sample()));
  });

  it("renders DOT", () => {
    golden("sample.dot", dumpDot(sample()));
  });

  it("renders a decoded definition exactly like the one it was encoded from", () => {
    const def = sample();
    const back = unwrap(decodeDefinition(encodeDefinition(def)));
    expect(dumpJson(back)).toBe(dumpJson(def));
    expect(dumpDot(back)).toBe(dumpDot(def));
  });

  it("renders scratch", () => {
    golden("scratch.dot", dumpDot(marshal(scratch())));
    expect(JSON.parse(dumpJson(marshal(scratch())))).toEqual({ version: 1, root: "scratch", sources: [], ops: [] });
  });
});
