import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../index.ts";
import { formatChecksJson, formatChecksText, runChecks } from "./index.ts";
import { rng } from "../seeded-random.test-support.ts";

const SEED_FILE = `# check=experimental=all
ARG BASE=alpine VERSION
FROM --platform=$BUILDPLATFORM \${BASE}:\${VERSION:-3.20} AS Build
ARG TARGETARCH SECRET_TOKEN=x
ENV A=1 B=$A C="$NOPE" \\

  D=\${A:+set}
WORKDIR src/$A
COPY --chown=$U:$G --from=0 <<EOF a b /dst/
$HOME \${x%%y} \${y/a/b}
EOF
RUN --mount=type=cache,target=/root/\${CACHE},from=build echo $X
LABEL k v
onbuild COPY $x .
HEALTHCHECK --interval=5s CMD curl $URL
CMD echo $1
FROM build AS final
SHELL ["/bin/sh", "-c"]
ENTRYPOINT run
MAINTAINER me
`;

/** A small deterministic PRNG (mulberry32), so that a failure reproduces. */

const PIECES = ["$", "${", "}", ":-", "\\", "\n", " ", "'", '"', "AS", "as", "--platform=", "=", "<<EOF\n", "FROM x\n", "ARG ", "COPY ", "#", ";", ","];

describe("runChecks on arbitrary input", () => {
  it("never throws on mutated Dockerfiles and always renders its output", () => {
    const next = rng(20261129);
    for (let i = 0; i < 400; i++) {
      let text = SEED_FILE;
      const edits = 1 + Math.floor(next() * 6);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * text.length);
        const cut = Math.floor(next() * 4);
        const piece = PIECES[Math.floor(next() * PIECES.length)] ?? "";
        text = text.slice(0, at) + piece + text.slice(at + cut);
      }
      const { result } = parseDockerfile(text);
      if (result === undefined) continue;
      const r = runChecks(result, { dockerignore: ["a", "!b", "**/*.md"], ...(next() < 0.3 ? { target: "final" } : {}) });
      expect(() => formatChecksText(r, { fileName: "Dockerfile", text })).not.toThrow();
      expect(() => JSON.parse(formatChecksJson(r, { fileName: "Dockerfile", text }))).not.toThrow();
    }
  });

  it("handles every parser conformance case", () => {
    const root = "/work/shared/conformance/dockerfile-parser/testfiles";
    const dirs = existsSync(root) ? readdirSync(root) : [];
    for (const d of dirs) {
      const p = join(root, d, "Dockerfile");
      if (!existsSync(p)) continue;
      const { result } = parseDockerfile(readFileSync(p));
      if (result !== undefined) expect(() => runChecks(result, { checkConfig: "experimental=all", dockerignore: ["*"] })).not.toThrow();
    }
  });
});
