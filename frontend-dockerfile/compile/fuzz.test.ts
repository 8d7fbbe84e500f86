import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compile } from "./test-support.ts";
import { rng } from "../seeded-random.test-support.ts";

/**
 * Seeded fuzzing of the compiler: mutations of the golden Dockerfiles (instructions, flags and
 * mount options swapped in, lines cut and duplicated). The compiler must never reject its promise,
 * never report an internal error (HTK-CORE-0001), and give a result exactly when it reports no error.
 */
const here = dirname(fileURLToPath(import.meta.url));
const inputs = readdirSync(join(here, "testdata"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => readFileSync(join(here, "testdata", e.name, "Dockerfile"), "utf8"));


const PIECES = [
  "FROM busybox AS x\n", "FROM x\n", "FROM scratch\n", "ARG A=$B\n", "ENV K=${A:-v}\n", "COPY --from=x /a /b\n", "COPY --from=9 a b\n",
  "COPY --link a b\n", "ADD https://e.com/f /\n", "RUN --mount=type=cache,target=/c x\n", "RUN --mount=from=x,target=/m y\n",
  "RUN --mount=type=secret,id=s\n", "ONBUILD RUN z\n", "WORKDIR rel\n", "USER u:g\n", "EXPOSE 80/udp\n", "HEALTHCHECK NONE\n",
  "--chmod=7777", "--chown=a:b", "--parents", "--network=none", "--security=insecure", "<<EOF\nbody\nEOF\n", "$", "${", "}", "'", '"',
  "\\\n", " ", "\n", "=", "/", "..", "*", "[", "]", "STOPSIGNAL 9\n", "SHELL [\"sh\",\"-c\"]\n", "CMD [\"x\"]\n", "ENTRYPOINT y\n",
];

function mutate(base: string, r: () => number): string {
  let s = base;
  const edits = 1 + Math.floor(r() * 5);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 4)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 12));
        break;
      case 1:
        s = s.slice(0, at) + (PIECES[Math.floor(r() * PIECES.length)] ?? "") + s.slice(at);
        break;
      case 2: {
        const lines = s.split("\n");
        const i = Math.floor(r() * lines.length);
        lines.splice(i, 0, lines[Math.floor(r() * lines.length)] ?? "");
        s = lines.join("\n");
        break;
      }
      default:
        s = s.slice(0, at) + String.fromCharCode(32 + Math.floor(r() * 95)) + s.slice(at);
    }
  }
  return s;
}

describe("fuzz: the compiler never throws", () => {
  it("on 400 mutated Dockerfiles", async () => {
    const r = rng(0x5eed);
    for (let i = 0; i < 400; i++) {
      const text = mutate(inputs[i % inputs.length] ?? "", r);
      const res = await compile(text, { entitlements: ["security.insecure"] });
      const errors = res.diagnostics.filter((d) => d.severity === "error");
      expect(errors.map((d) => d.id), text).not.toContain("HTK-CORE-0001");
      expect(res.result === undefined, text).toBe(errors.length > 0);
      for (const d of res.diagnostics) expect(d.range.start.line, text).toBeGreaterThanOrEqual(1);
    }
  });
});
