import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { renderErrorsDoc } from "../base/errors/render-doc.ts";

// Writes docs/errors.md from the catalogue. `--check` exits 1 when the checked-in file differs, so CI
// catches a catalogue change without its doc.
const path = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "errors.md");
const text = renderErrorsDoc();
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {
    current = "";
  }
  if (current !== text) {
    process.stderr.write("docs/errors.md is out of date with base/errors/catalogue/. Run: npm run docs:errors\n");
    process.exit(1);
  }
  process.stdout.write("docs/errors.md: up to date\n");
} else {
  writeFileSync(path, text);
  process.stdout.write(`wrote ${path}\n`);
}
