#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every gate — typecheck, lint, the
# layer check, the errors doc check, all vitest projects (unit and real components) and the
# conformance suites. Exits non-zero if any gate fails; prints one summary line per gate.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-deps.sh || exit 1

shared="${HATAKE_SHARED_DIR:-$(cd .. && pwd)/shared}"
export HATAKE_SHARED_DIR="$shared"
mkdir -p .cache
failed=()
gate() {
  local name=$1; shift
  printf '\n\033[1m==> %s\033[0m\n' "$name"
  local start=$SECONDS
  if "$@"; then printf '%s: ok (%ss)\n' "$name" $((SECONDS - start)); else failed+=("$name"); printf '%s: FAILED\n' "$name"; fi
}

gate typecheck npm run --silent typecheck
gate lint npm run --silent lint
gate layers npm run --silent check:layers
gate errors-doc npm run --silent check:errors-doc
rm -f .cache/vitest.json
gate vitest npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json
if [ -d "$shared/conformance/dockerfile-parser" ]; then
  gate conformance-dockerfile-parser npm run --silent conformance -- dockerfile-parser "$shared/conformance/dockerfile-parser"
  gate conformance-shell-lexer npm run --silent conformance -- shell-lexer "$shared/conformance/shell-lexer"
else
  echo "note: $shared not found; the shared conformance suites were not run (set HATAKE_SHARED_DIR)"
fi

if [ "${#failed[@]}" -gt 0 ]; then echo; echo "FAILED gates: ${failed[*]}"; else echo; echo "all gates passed"; fi
# One plain closing line over all vitest tests, last, for whoever reads the log's end.
if [ -f .cache/vitest.json ]; then
  node -e 'const r=require("./.cache/vitest.json"); console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests+r.numTodoTests} skipped`)'
fi
[ "${#failed[@]}" -eq 0 ]
