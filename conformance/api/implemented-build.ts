import { createServer } from "node:http";
import type { Fixture, ImplementedOperation } from "./implemented.ts";

/**
 * A build context the engine fetches itself (`remote=`): a one-file Dockerfile served over HTTP on
 * loopback for one case. The contract tests send JSON bodies only, so the context tar upload is
 * covered by engine/api/build.e2e.test.ts and the build flows.
 */
async function remoteDockerfile(text: string): Promise<Fixture> {
  const server = createServer((_req, res) => void res.writeHead(200, { "Content-Type": "text/plain" }).end(text));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { params: { url: `http://127.0.0.1:${port}/Dockerfile` }, cleanup: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * The build endpoints (issue 8): the classic POST /build on the daemon's build service, and BuildKit's
 * prune shape. `version=2` (BuildKit sessions) is refused: the buildx plugin is the way.
 */
export const IMPLEMENTED_BUILD: Readonly<Record<string, ImplementedOperation>> = {
  ImageBuild: {
    cases: [
      {
        name: "remote Dockerfile, tagged, labelled",
        path: "/build",
        query: { remote: "{url}", t: "conformance/build:1", labels: '{"conformance":"1"}', buildargs: '{"UNUSED":"x"}' },
        setup: () => remoteDockerfile("FROM scratch\nLABEL built=by-conformance\n"),
      },
    ],
    negative: [
      { name: "version=2 (BuildKit session) → 400", path: "/build", query: { version: "2" }, status: 400 },
      { name: "bad buildargs JSON → 400", path: "/build", query: { buildargs: "{nope" }, status: 400 },
    ],
  },
  BuildPrune: {
    cases: [{ path: "/build/prune" }, { name: "all, keep-storage, until", path: "/build/prune", query: { all: "1", "keep-storage": "0", filters: '{"until":["24h"]}' } }],
  },
};
