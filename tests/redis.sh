#!/usr/bin/env bash
# A throwaway Redis for the tests (Debian's `redis-server` package).
#
#   bash tests/redis.sh start [--dir DIR] [--port PORT]
#       installs redis-server if missing (apt-get), starts it daemonized on 127.0.0.1:PORT with
#       its files in DIR (no persistence), and prints its URL on stdout (all else goes to
#       stderr). Idempotent: a running one is reused. Typical use:
#           export GEO_AGENT_TEST_REDIS_URL="$(bash tests/redis.sh start)"
#   bash tests/redis.sh url  [--port PORT]   prints the URL only
#   bash tests/redis.sh stop [--dir DIR]     shuts it down
#   bash tests/redis.sh destroy [--dir DIR]  shuts it down and deletes DIR
#
# Defaults: DIR=$GEO_AGENT_REDIS_DIR or ${TMPDIR:-/tmp}/bailian-geo-agent-redis,
#           PORT=$GEO_AGENT_REDIS_PORT or 63791.
set -euo pipefail

cmd="${1:-}"
[ $# -gt 0 ] && shift
dir="${GEO_AGENT_REDIS_DIR:-${TMPDIR:-/tmp}/bailian-geo-agent-redis}"
port="${GEO_AGENT_REDIS_PORT:-63791}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "redis.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
url="redis://127.0.0.1:$port/0"

log() { echo "redis.sh: $*" >&2; }

install_redis() {
  log "redis-server not found: installing Debian's redis-server package"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { log "need root or sudo to install redis-server"; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >&2
}

running() {
  command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG
}

start() {
  command -v redis-server >/dev/null || install_redis
  mkdir -p "$dir"
  if running; then
    log "already running on 127.0.0.1:$port"
  else
    log "starting on 127.0.0.1:$port ($dir)"
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no \
      --maxclients 10000 >&2
    for _ in $(seq 1 100); do running && break; sleep 0.05; done
    running || { tail -n 30 "$dir/redis.log" >&2 || true; exit 1; }
  fi
  echo "$url"
}

stop() {
  if running; then
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >&2 || true
  else
    log "not running on 127.0.0.1:$port"
  fi
}

case "$cmd" in
  start) start ;;
  url) echo "$url" ;;
  stop) stop ;;
  destroy) stop; rm -rf "$dir" ;;
  *) echo "usage: $0 start|url|stop|destroy [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
