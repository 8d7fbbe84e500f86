import { installMiniHeaders } from "./mini-headers.ts";
import { runPluginProcess } from "./plugin-process.ts";

// The bundled entry point (dist/docker-buildx.mjs, started by bin/docker-buildx when the start-up
// snapshot cannot be used: see snapshot-main.ts). Start-up cost: see mini-headers.ts (Node's Headers
// would load all of fetch).
installMiniHeaders();
await runPluginProcess(process.argv.slice(2));
