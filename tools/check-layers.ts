import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers } from "./layers.ts";

// `npm run check:layers`: fails (exit 1) on any import that breaks the dependency direction, any
// folder missing from the layer table, and any value-import cycle between files.
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const violations = checkLayers(root);
for (const v of violations) process.stderr.write(`${v.kind}: ${v.message}\n`);
if (violations.length > 0) {
  process.stderr.write(`\n${violations.length} layer violation(s). The allowed directions are in tools/layers.ts and the README's Architecture section.\n`);
  process.exit(1);
}
process.stdout.write("layers: ok\n");
