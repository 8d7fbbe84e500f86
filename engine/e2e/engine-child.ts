// An engine in its own process, for the restart tests to kill -9: `node --import tsx engine-child.ts
// DATA_ROOT SOCKET`. Prints "ready" once it serves; SIGTERM stops it gracefully.
import { Writable } from "node:stream";
import { createLogger } from "../../base/observability/index.ts";
import { resolveConfig, startDaemon } from "../index.ts";

const [dataRoot, socket] = process.argv.slice(2);
if (dataRoot === undefined || socket === undefined) throw new Error("usage: engine-child.ts DATA_ROOT SOCKET");
const { config } = resolveConfig({ dataRoot, hosts: [`unix://${socket}`] }, {});
const sink = process.env["HATAKE_TEST_ENGINE_LOG"] === "1" ? process.stderr : new Writable({ write: (_c, _e, cb) => cb() });
const daemon = await startDaemon(config, { version: "0.1.0", gitCommit: "" }, createLogger(sink, "warn"));
process.on("SIGTERM", () => {
  void daemon.stop().then(() => process.exit(0));
});
process.stdout.write("ready\n");
