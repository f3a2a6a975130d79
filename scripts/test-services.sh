#!/usr/bin/env bash
# Throwaway services for mailgate's tests, from Debian's packages, unprivileged, on loopback high
# ports, in one temp dir, stopped by PID:
#   PostgreSQL  127.0.0.1:${MG_PG_PORT:-25432}, user mailgate / password mailgate, database mailgate
#   (SMTP tests start their own aiosmtpd from Debian's python3-aiosmtpd; `install` provides it.)
#
#   test-services.sh install          # apt-get what is missing (root; a no-op when present)
#   eval "$(test-services.sh start)"  # prints `export MG_...` lines
#   test-services.sh stop DIR         # stop everything started in DIR and remove it
set -euo pipefail

PG_PORT=${MG_PG_PORT:-25432}

log() { printf 'test-services: %s\n' "$*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

cmd_install() {
  local missing=()
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
  command -v setpriv >/dev/null || missing+=(util-linux)
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]} (run this as root once to install them)"; exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "timeout waiting for 127.0.0.1:$1"; return 1
}

cmd_start() {
  local dir uid gid
  dir=$(mktemp -d "${TMPDIR:-/tmp}/mailgate-services.XXXXXX")
  chmod 0755 "$dir"
  local -a runas=()
  if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses to run as root
    uid=$(id -u nobody); gid=$(id -g nobody)
    runas=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
  fi
  mkdir -p "$dir/pg"
  echo mailgate >"$dir/pg/pwfile"
  [ "$(id -u)" = 0 ] && chown -R nobody: "$dir"

  local bin; bin=$(pg_bin)
  "${runas[@]}" "$bin/initdb" -D "$dir/pg/data" -U mailgate --pwfile="$dir/pg/pwfile" \
    -A scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/pg/initdb.log" 2>&1
  "${runas[@]}" "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -s \
    -o "-p $PG_PORT -k $dir/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start </dev/null >/dev/null
  head -n 1 "$dir/pg/data/postmaster.pid" >"$dir/postgres.pid"
  wait_port "$PG_PORT" 10
  PGPASSWORD=mailgate psql -qAt "postgresql://mailgate@127.0.0.1:$PG_PORT/postgres" -c 'CREATE DATABASE mailgate' >/dev/null
  log "postgres up on 127.0.0.1:$PG_PORT (pid $(cat "$dir/postgres.pid"))"

  cat <<ENV
export MG_SERVICES_DIR='$dir'
export MG_PG_URL='postgres://mailgate:mailgate@127.0.0.1:$PG_PORT/mailgate'
ENV
}

cmd_stop() {
  local dir=${1:?usage: test-services.sh stop DIR} pid i
  if [ -f "$dir/postgres.pid" ]; then
    pid=$(cat "$dir/postgres.pid")
    kill -INT "$pid" 2>/dev/null || true # "fast" shutdown
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    log "postgres stopped"
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  *) log "usage: $0 install | start | stop DIR"; exit 2 ;;
esac
