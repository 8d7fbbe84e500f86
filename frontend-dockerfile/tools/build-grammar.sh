#!/usr/bin/env bash
# Regenerates frontend-dockerfile/gen/ from the nearley grammars in frontend-dockerfile/grammar/ with the
# nearleyc binary from node_modules (no npm scripts, offline). Commit the result; never edit gen/ by hand.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nearleyc="$here/../node_modules/.bin/nearleyc"
mkdir -p "$here/gen"
for ne in "$here"/grammar/*.ne; do
  name="$(basename "$ne" .ne)"
  "$nearleyc" "$ne" -o "$here/gen/$name.ts"
done
