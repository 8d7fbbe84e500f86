import { startupSnapshot } from "node:v8";
import { installMiniHeaders } from "./mini-headers.ts";
import { runPluginProcess } from "./plugin-process.ts";
// Evaluated into the snapshot: `docker build` is the command whose start-up counts.
import "./commands/build.ts";

/**
 * The plugin's V8 start-up snapshot (dist/docker-buildx.blob, made by tools/build.mjs with `node
 * --build-snapshot` from this module bundled as CommonJS): the heap after the plugin's modules, the
 * build command's included, have been evaluated — the protobuf registry built, the error catalogue
 * and Connect loaded. `node --snapshot-blob docker-buildx.blob -- ARGS…` (bin/docker-buildx, when the
 * blob was made by the same node binary) starts from it and runs the function below, which skips
 * about 30 ms of CPU of every `docker build` on the 2-core test machine.
 *
 * What a snapshot holds is fixed at build time, so nothing here may read the environment, the
 * working directory or the clock at module load (the plugin's modules do not), and node:http (which
 * Node 20 cannot put in a snapshot) is loaded when first used (client.ts).
 */
installMiniHeaders();
startupSnapshot.setDeserializeMainFunction(() => {
  // `--` ends node's own options: the plugin's arguments follow it (argv[0] is node).
  runPluginProcess(process.argv.slice(1)).catch((err: unknown) => {
    process.stderr.write(`ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
});
