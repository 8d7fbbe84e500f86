#!/usr/bin/env bash
# Installs what HATAKE needs on a Debian 12 machine: the apt packages in tools/apt-packages.txt and the
# npm dependencies (npm ci), then builds the product. Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "HTK-TEST-0001-style failure: root rights are needed to install $*" >&2; exit 1; fi; }

# Node.js 20+ comes with the machine (Debian 12's own nodejs is 18, too old).
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "HATAKE needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none)). Install Node.js 20 and run this again." >&2
  exit 1
fi

mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tools/apt-packages.txt | awk '{print $1}')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install (the stamp keeps re-runs fast).
stamp=node_modules/.hatake-lock-stamp
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -L node_modules ] && { [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; }; then
  # A git worktree sharing another checkout's node_modules: npm ci would empty that folder for every
  # checkout using it while it reinstalls. Install in the checkout that owns it.
  echo "node_modules is a link to $(readlink -f node_modules) and does not match package-lock.json:" >&2
  echo "run 'npm ci' in the checkout that owns it, then run this again." >&2
  exit 1
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

say "npm run build"
npm run --silent build
