#!/usr/bin/env bash
# Usage: scripts/with-postgres.sh CMD [ARGS...]
# Runs CMD against a throwaway PostgreSQL 15 + pgvector cluster and removes the cluster afterwards
# (even when CMD fails or is interrupted); exits with CMD's exit code.
#
# CMD sees:
#   TEST_DATABASE_URL      postgres://postgres@127.0.0.1:PORT/tribal_test   (superuser)
#   TEST_APP_DATABASE_URL  postgres://tribal_app@127.0.0.1:PORT/tribal_test (NOSUPERUSER NOBYPASSRLS,
#                          may CREATE schemas in tribal_test and tables in public; RLS applies to it
#                          on tables it does not own, and on its own tables with FORCE ROW LEVEL SECURITY)
# `vector` is installed in tribal_test and in template1, so every CREATE DATABASE gets it too.
# Auth is trust on 127.0.0.1 only; the cluster runs fsync=off (test data is disposable).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
log() { printf '[with-postgres] %s\n' "$*" >&2; }
die() { printf '[with-postgres] ERROR: %s\n' "$*" >&2; exit 1; }

(( $# > 0 )) || die "usage: $0 CMD [ARGS...]"
[[ -x $PG_BIN/pg_ctl ]] || die "$PG_BIN/pg_ctl not found: run 'bash scripts/install-postgres.sh' first"
[[ -f /usr/share/postgresql/15/extension/vector.control ]] \
  || die "pgvector is not installed: run 'bash scripts/install-postgres.sh' first"

# As root, the server must run as the postgres user (postgres refuses to run as root).
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user (install postgresql-15)"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/tribal-pg.XXXXXX")
SOCK="$DIR/sock"
mkdir -p "$SOCK"
chmod 755 "$DIR"
[[ $(id -u) -eq 0 ]] && chown postgres: "$DIR" "$SOCK"
started=0

cleanup() {
  local rc=$?
  if (( started )); then
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 \
      || log "warning: pg_ctl stop failed (log: $DIR/log)"
  fi
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "$PG_BIN/initdb" -D "$DIR/data" --auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
  --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }

# Pick a free port; retry if another process grabs it between the probe and the bind.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for attempt in 1 2 3 4 5 6 7 8; do
  PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
  port_in_use "$PORT" && continue
  if as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
      -o "-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null; then
    started=1
    break
  fi
  grep -q 'could not bind\|Address already in use' "$DIR/log" 2>/dev/null \
    || { cat "$DIR/log" >&2; die "PostgreSQL failed to start"; }
  log "port $PORT taken, retrying ($attempt)"
done
(( started )) || { cat "$DIR/log" >&2; die "could not find a free port for PostgreSQL"; }

psql_admin() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
psql_admin -d template1 -c 'CREATE EXTENSION IF NOT EXISTS vector' >/dev/null
psql_admin -d postgres >/dev/null <<'SQL'
CREATE ROLE tribal_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
CREATE DATABASE tribal_test TEMPLATE template1;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE tribal_test TO tribal_app;
SQL
psql_admin -d tribal_test -c 'GRANT USAGE, CREATE ON SCHEMA public TO tribal_app' >/dev/null

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/tribal_test"
export TEST_APP_DATABASE_URL="postgres://tribal_app@127.0.0.1:$PORT/tribal_test"
log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') + pgvector on 127.0.0.1:$PORT ($DIR)"

# CMD runs as a child we wait for, so a TERM/INT sent to this script is passed on at once
# (bash would otherwise hold the trap until a foreground CMD ends); `<&0` keeps its stdin.
"$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM
trap 'kill -INT "$child" 2>/dev/null || true' INT
set +e
wait "$child"; rc=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
set -e
exit "$rc"
