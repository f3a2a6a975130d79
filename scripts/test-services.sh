#!/usr/bin/env bash
# Throwaway services for mailgate's tests, from Debian's packages, unprivileged, on loopback high
# ports, in one temp dir, stopped by PID:
#   PostgreSQL  127.0.0.1:${MG_PG_PORT:-25432}, user mailgate / password mailgate, database mailgate;
#               TLS on (same throwaway CA as Dovecot, $MG_PG_CA), plain TCP still accepted
#   Dovecot     IMAP 127.0.0.1:${MG_IMAP_PORT:-25143} (plain + STARTTLS), ${MG_IMAPS_PORT:-25993} (implicit
#               TLS; leaf certificate for localhost/127.0.0.1 from a throwaway CA, $MG_IMAP_CA); *any*
#               user name logs in with the password `secret` and gets its own empty Maildir
#   (SMTP tests start their own aiosmtpd from Debian's python3-aiosmtpd, browser tests their own
#   chromedriver and headless Chromium from Debian's chromium and chromium-driver, tests/postfix.rs
#   its own private Postfix instance from Debian's postfix, tests/ldap.rs a private OpenLDAP slapd
#   per test from Debian's slapd (tests/common/ldap_server.rs), tests/oidc.rs its own OpenID Connect
#   provider from PyPI's oidc-provider-mock in a venv at $MG_OIDC_VENV; `install` provides them.)
#
#   test-services.sh install          # apt-get what is missing (root; a no-op when present)
#   eval "$(test-services.sh start)"  # prints `export MG_...` lines
#   test-services.sh stop DIR         # stop everything started in DIR and remove it
set -euo pipefail

PG_PORT=${MG_PG_PORT:-25432}
IMAP_PORT=${MG_IMAP_PORT:-25143}
IMAPS_PORT=${MG_IMAPS_PORT:-25993}
# The OpenID Connect provider of tests/oidc.rs (tests/support/oidc_provider.py runs it): PyPI's
# oidc-provider-mock, pinned, in its own venv on Debian's python3 (tests/common/oidc_provider.rs
# looks here, or at $MG_OIDC_VENV).
OIDC_VENV=${MG_OIDC_VENV:-/opt/mailgate-test/oidc-provider}
OIDC_PROVIDER=oidc-provider-mock==0.3.4

log() { printf 'test-services: %s\n' "$*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

cmd_install() {
  local missing=()
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
  command -v setpriv >/dev/null || missing+=(util-linux)
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || missing+=(python3-aiosmtpd)
  [ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)
  command -v openssl >/dev/null || missing+=(openssl)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  [ -x /usr/sbin/postfix ] || missing+=(postfix)
  command -v systemd-analyze >/dev/null || missing+=(systemd)  # tests/operations.rs: verify the unit
  /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)  # the OIDC provider's venv
  [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ] || missing+=(slapd)  # tests/ldap.rs
  command -v ldapsearch >/dev/null || missing+=(ldap-utils)  # to look into a test slapd by hand
  [ ${#missing[@]} -eq 0 ] && { install_oidc_provider; return 0; }
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages: ${missing[*]} (run this as root once to install them)"; exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  # Tests run private slapd instances only: no system directory (no /etc/ldap/slapd.d database,
  # nothing started on port 389).
  echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    # Tests run private Postfix instances only. Debian's package would otherwise write
    # /etc/postfix/main.cf and start a system Postfix on port 25 (postfix.service and the init
    # script run only when that file exists), and it replaces any other MTA (exim4, ...): refuse that.
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    local removals
    removals=$(apt-get install -s --no-install-recommends "${missing[@]}" | sed -n 's/^Remv //p')
    if [ -n "$removals" ]; then
      log "installing postfix would remove packages (another MTA?); install it by hand or run elsewhere:"
      printf '%s\n' "$removals" >&2; exit 1
    fi
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  install_oidc_provider
}

# PyPI's oidc-provider-mock in a venv of its own (Debian's python3 refuses pip installs system-wide).
install_oidc_provider() {
  "$OIDC_VENV/bin/python" -c 'import oidc_provider_mock' 2>/dev/null && return 0
  if [ "$(id -u)" != 0 ] && [ ! -w "$(dirname "$OIDC_VENV")" ]; then
    log "missing the OIDC test provider in $OIDC_VENV (run this as root once, or set MG_OIDC_VENV)"; exit 1
  fi
  log "installing $OIDC_PROVIDER into $OIDC_VENV"
  mkdir -p "$(dirname "$OIDC_VENV")"
  /usr/bin/python3 -m venv "$OIDC_VENV"
  "$OIDC_VENV/bin/pip" install -q --disable-pip-version-check "$OIDC_PROVIDER" >/dev/null
}

wait_port() { # port seconds [pid: give up early when it exits]
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || { log "pid $3 exited"; return 1; }
    sleep 0.1
  done
  log "timeout waiting for 127.0.0.1:$1"; return 1
}

port_free() { # port: fail (with a hint) when something already listens there
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 0
  log "127.0.0.1:$1 is already in use (services of an earlier run? stop them with \`$0 stop DIR\`"
  log "  for their ${TMPDIR:-/tmp}/mailgate-services.* DIR, or set MG_*_PORT)"
  return 1
}

# A throwaway CA and a leaf for localhost/127.0.0.1 signed by it, in DIR/tls: ca.pem, server.pem,
# server.key. The leaf must say CA:FALSE (webpki rejects a CA certificate as an end entity).
make_certs() { # dir
  (
    cd "$1/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
      -subj /CN=mailgate-test-ca -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
      -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
      'basicConstraints=critical,CA:FALSE' 'extendedKeyUsage=serverAuth' >leaf.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 \
      -extfile leaf.ext -out server.pem 2>/dev/null
    rm -f ca.key ca.srl server.csr leaf.ext
    chmod 0600 server.key # PostgreSQL refuses a key that others can read
  )
}

# Dovecot's config: one unprivileged instance in DIR/dovecot, mail under DIR/imap/<user>.
dovecot_conf() { # dir user group uid gid
  local dir=$1 user=$2 group=$3 uid=$4 gid=$5
  cat <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/dovecot/run
state_dir = $dir/dovecot/state
log_path = $dir/dovecot/dovecot.log
info_log_path = $dir/dovecot/dovecot.log
# Unprivileged: every process runs as the one service user.
default_internal_user = $user
default_internal_group = $group
default_login_user = $user
first_valid_uid = $uid
last_valid_uid = $uid

ssl = yes
ssl_cert = <$dir/tls/server.pem
ssl_key = <$dir/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests log in wrongly on purpose: fail at once (well, at Dovecot's next 0.5 s check), not after 2 s.
auth_failure_delay = 0

# Any user name, password "secret"; each user its own (new, empty) Maildir.
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/imap/%u
}
mail_location = maildir:~/Maildir
# Throwaway mail: no fsync (appends twice as fast).
mail_fsync = never
# IDLE wakes ~0.5 s after a change through inotify, but Linux allows 128 inotify instances per uid
# (fs.inotify.max_user_instances) and every IDLE session here runs as the same user: beyond that
# Dovecot falls back to polling, by default every 30 s.
mailbox_idle_check_interval = 1 secs

protocol imap {
  mail_max_userip_connections = 1000
}
service imap-login {
  chroot =
  # One long-lived login process for all clients instead of a fork per connection.
  service_count = 0
  process_min_avail = 1
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service anvil {
  chroot =
  # Tests fail logins on purpose. Dovecot 2.3 then delays every later login from the same IP
  # (i.e. every test's, all from 127.0.0.1) by up to 15 s; login_trusted_networks does not exempt
  # it. Without access to this socket the auth process runs without penalties.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    user = $user
  }
  unix_listener stats-writer {
    user = $user
  }
}
CONF
}

cmd_start() {
  local dir uid gid user group port
  for port in "$PG_PORT" "$IMAP_PORT" "$IMAPS_PORT"; do port_free "$port"; done
  dir=$(mktemp -d "${TMPDIR:-/tmp}/mailgate-services.XXXXXX")
  chmod 0755 "$dir"
  local -a runas=()
  if [ "$(id -u)" = 0 ]; then # PostgreSQL refuses to run as root
    uid=$(id -u nobody); gid=$(id -g nobody)
    runas=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
    user=nobody; group=$(id -gn nobody)
  else
    uid=$(id -u); gid=$(id -g); user=$(id -un); group=$(id -gn)
  fi
  mkdir -p "$dir"/{pg,tls,imap,dovecot/run,dovecot/state}
  echo mailgate >"$dir/pg/pwfile"
  make_certs "$dir"
  dovecot_conf "$dir" "$user" "$group" "$uid" "$gid" >"$dir/dovecot/dovecot.conf"
  [ "$(id -u)" = 0 ] && chown -R nobody: "$dir"

  local bin; bin=$(pg_bin)
  "${runas[@]}" "$bin/initdb" -D "$dir/pg/data" -U mailgate --pwfile="$dir/pg/pwfile" \
    -A scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/pg/initdb.log" 2>&1
  "${runas[@]}" "$bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -s \
    -o "-p $PG_PORT -k $dir/pg -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c ssl=on -c ssl_cert_file=$dir/tls/server.pem -c ssl_key_file=$dir/tls/server.key" \
    start </dev/null >/dev/null
  head -n 1 "$dir/pg/data/postmaster.pid" >"$dir/postgres.pid"
  wait_port "$PG_PORT" 10
  PGPASSWORD=mailgate psql -qAt "postgresql://mailgate@127.0.0.1:$PG_PORT/postgres" -c 'CREATE DATABASE mailgate' >/dev/null
  log "postgres up on 127.0.0.1:$PG_PORT (pid $(cat "$dir/postgres.pid"))"

  "${runas[@]}" /usr/sbin/dovecot -F -c "$dir/dovecot/dovecot.conf" \
    </dev/null >"$dir/dovecot/stdout.log" 2>&1 &
  echo $! >"$dir/dovecot.pid"
  if ! { wait_port "$IMAP_PORT" 10 $! && wait_port "$IMAPS_PORT" 10 $!; }; then
    cat "$dir/dovecot/stdout.log" "$dir/dovecot/dovecot.log" >&2 2>/dev/null || true
    log "dovecot did not start"; cmd_stop "$dir"; return 1
  fi
  log "dovecot up on 127.0.0.1:$IMAP_PORT (plain+STARTTLS), 127.0.0.1:$IMAPS_PORT (TLS) (pid $(cat "$dir/dovecot.pid"))"

  cat <<ENV
export MG_SERVICES_DIR='$dir'
export MG_PG_URL='postgres://mailgate:mailgate@127.0.0.1:$PG_PORT/mailgate'
export MG_IMAP_HOST='127.0.0.1'
export MG_IMAP_PORT=$IMAP_PORT
export MG_IMAPS_PORT=$IMAPS_PORT
export MG_IMAP_CA='$dir/tls/ca.pem'
export MG_PG_CA='$dir/tls/ca.pem'
export MG_IMAP_PASSWORD='secret'
ENV
}

reap() { # name pidfile: wait up to 10 s for an already signalled service, then KILL it
  local pid i
  [ -f "$2" ] || return 0
  pid=$(cat "$2")
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  log "$1 stopped"
}

cmd_stop() {
  local dir=${1:?usage: test-services.sh stop DIR}
  # Both shut down at once (each takes about 2 s).
  [ -f "$dir/dovecot.pid" ] && kill -TERM "$(cat "$dir/dovecot.pid")" 2>/dev/null || true
  [ -f "$dir/postgres.pid" ] && kill -INT "$(cat "$dir/postgres.pid")" 2>/dev/null || true # "fast" shutdown
  reap dovecot "$dir/dovecot.pid"
  reap postgres "$dir/postgres.pid"
  rm -rf "$dir"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) shift; cmd_stop "$@" ;;
  *) log "usage: $0 install | start | stop DIR"; exit 2 ;;
esac
