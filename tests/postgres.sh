#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (Debian's `postgresql` package).
#
#   bash tests/postgres.sh start [--dir DIR] [--port PORT] [--db NAME]
#       installs postgresql if initdb is missing (apt-get), creates the cluster in DIR if needed
#       (initdb --auth=trust), starts it on 127.0.0.1:PORT (unix socket in DIR/socket), creates
#       database NAME, and prints its URL on stdout (all else goes to stderr). Idempotent: a
#       running cluster is reused. Typical use:
#           export GEO_AGENT_TEST_POSTGRES_URL="$(bash tests/postgres.sh start)"
#   bash tests/postgres.sh url     [--dir DIR] [--port PORT] [--db NAME]   prints the URL only
#   bash tests/postgres.sh stop    [--dir DIR]                             fast shutdown
#   bash tests/postgres.sh destroy [--dir DIR]                             stop and delete DIR
#
# Defaults: DIR=$GEO_AGENT_PG_DIR or ${TMPDIR:-/tmp}/bailian-geo-agent-pg,
#           PORT=$GEO_AGENT_PG_PORT or 54329, NAME=$GEO_AGENT_PG_DB or geo_agent_test.
# PostgreSQL refuses to run as root: as root, the cluster belongs to (and runs as) the
# `postgres` OS user. The database superuser is always `postgres`, with no password (trust).
set -euo pipefail

cmd="${1:-}"
[ $# -gt 0 ] && shift
dir="${GEO_AGENT_PG_DIR:-${TMPDIR:-/tmp}/bailian-geo-agent-pg}"
port="${GEO_AGENT_PG_PORT:-54329}"
db="${GEO_AGENT_PG_DB:-geo_agent_test}"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --db) db="$2"; shift 2 ;;
    *) echo "postgres.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
data="$dir/data"
socket="$dir/socket"
url="postgresql://postgres@127.0.0.1:$port/$db"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  # Debian keeps the server programs (and its psql) in /usr/lib/postgresql/<version>/bin.
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return; fi
  found=$(command -v initdb 2>/dev/null || true)
  if [ -n "$found" ]; then dirname "$(readlink -f "$found")"; fi
}

install_postgres() {
  log "initdb not found: installing Debian's postgresql package"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { log "need root or sudo to install postgresql"; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
}

# Run a command as the cluster's owner (postgres when we are root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

running() {
  [ -n "${bin:-}" ] && [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

start() {
  bin=$(find_bin)
  if [ -z "$bin" ]; then
    install_postgres
    bin=$(find_bin)
    [ -n "$bin" ] || { log "postgresql installed but initdb still not found"; exit 1; }
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    # the postgres user must be able to reach the directory
    as_owner test -w "$dir" || { log "user postgres cannot write $dir (check its parents)"; exit 1; }
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a cluster in $data"
    as_owner mkdir -p "$data" "$socket"
    as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as_owner mkdir -p "$socket"
  if running; then
    log "already running in $data"
  else
    log "starting on 127.0.0.1:$port"
    # Throwaway test data: durability off for speed.
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $socket -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >&2 || { tail -n 30 "$dir/server.log" >&2 || true; exit 1; }
  fi
  if ! as_owner "$bin/psql" -h "$socket" -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as_owner "$bin/createdb" -h "$socket" -p "$port" -U postgres "$db"
  fi
  echo "$url"
}

stop() {
  bin=$(find_bin)
  if running; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
  else
    log "not running ($data)"
  fi
}

case "$cmd" in
  start) start ;;
  url) echo "$url" ;;
  stop) stop ;;
  destroy) stop; rm -rf "$dir" ;;
  *) echo "usage: $0 start|url|stop|destroy [--dir DIR] [--port PORT] [--db NAME]" >&2; exit 2 ;;
esac
