import { runProcess } from "./hatake.ts";

// The bundled entry point (dist/hatake.mjs). Kept apart from hatake.ts so tests import `main` without
// starting a process.
await runProcess();
