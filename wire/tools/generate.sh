#!/usr/bin/env bash
# Regenerates wire/gen/ from wire/build.proto with the buf and protoc-gen-es binaries from node_modules
# (offline: no remote plugins). Commit the result; never edit gen/ by hand.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
rm -rf gen
../node_modules/.bin/buf generate
