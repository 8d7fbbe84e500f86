#!/usr/bin/env bash
# The README's first command: installs what HATAKE needs, builds it, and starts the engine in the
# background (logs in $HATAKE_LOG, default /var/log/hatake/engine.log for root). Idempotent: when the
# engine already answers on its socket, it says so and leaves it running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-deps.sh

if [ "$(id -u)" -eq 0 ]; then
  sock=${HATAKE_SOCKET:-/run/hatake/docker.sock}; data=${HATAKE_DATA_ROOT:-/var/lib/hatake}; logdir=/var/log/hatake
else
  rt=${XDG_RUNTIME_DIR:-/tmp/hatake-$(id -u)}
  sock=${HATAKE_SOCKET:-$rt/hatake/docker.sock}; data=${HATAKE_DATA_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/hatake}; logdir=$data/logs
fi
log=${HATAKE_LOG:-$logdir/engine.log}
mkdir -p "$logdir" "$(dirname "$sock")"

ping() { curl -fsS --max-time 2 --unix-socket "$sock" http://hatake/_ping >/dev/null 2>&1; }
if ping; then
  echo "hatake engine already running on unix://$sock"
else
  nohup ./bin/hatake engine --data-root "$data" -H "unix://$sock" --pidfile "$data/hatake.pid" >>"$log" 2>&1 &
  for _ in $(seq 1 100); do ping && break; sleep 0.1; done
  if ! ping; then echo "The engine did not start; the last lines of $log:" >&2; tail -n 20 "$log" >&2; exit 1; fi
  echo "hatake engine started on unix://$sock (log: $log)"
fi

# A docker context named "hatake", so `docker --context hatake …` (or `docker context use hatake`) reaches it.
if command -v docker >/dev/null; then
  if docker context inspect hatake >/dev/null 2>&1; then
    docker context update hatake --docker "host=unix://$sock" >/dev/null
  else
    docker context create hatake --description "HATAKE Desktop engine" --docker "host=unix://$sock" >/dev/null
  fi
  echo "docker context \"hatake\" → unix://$sock   (try: docker --context hatake version)"
fi
# The docker CLI plugin: `docker buildx …` and `docker build` run on this engine's builder. A link, so
# a rebuild (npm run build) is picked up; HATAKE_BUILDX_SYSTEM=1 installs it for every user instead.
if [ "${HATAKE_BUILDX_SYSTEM:-0}" = 1 ]; then
  plugins=/usr/local/lib/docker/cli-plugins
else
  plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi
mkdir -p "$plugins"
ln -sfn "$PWD/bin/docker-buildx" "$plugins/docker-buildx"
echo "docker buildx plugin → $plugins/docker-buildx   (try: docker buildx version; docker --context hatake build .)"
echo "stop it with: kill \$(cat $data/hatake.pid)"
