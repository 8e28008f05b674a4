#!/usr/bin/env bash
# The relay container's entrypoint (Dockerfile, docker-compose.yml, fly.toml, railway.json).
#   entrypoint.sh [start]   wait for the database, migrate as the owner when its URL is given,
#                           then exec `relay start` as the app role
#   entrypoint.sh migrate   wait, migrate, exit (compose's one-shot service, Fly's release command)
#
# Environment (secrets come from the platform, never from the image):
#   TRIBAL_MEMORY_DATABASE_URL        the app role's URL, a role without BYPASSRLS (or DATABASE_URL)
#   TRIBAL_MEMORY_ADMIN_DATABASE_URL  the owner's URL: runs migrations; unset → no migration here
#   TRIBAL_MEMORY_MIGRATE=0           another process migrates: start with --no-migrate anyway
#   PORT                              port to listen on (default 18800; Railway sets it)
#   TRIBAL_MEMORY_HOST                address (default 0.0.0.0)
#   TRIBAL_MEMORY_BEHIND_PROXY=1      a TLS-terminating proxy (Fly, Railway, a load balancer) fronts it
#   TRIBAL_MEMORY_TLS_CERT/_TLS_KEY   or serve HTTPS itself with these PEM files
#   TRIBAL_MEMORY_DB_WAIT_S           how long to wait for the database (default 60)
#   TRIBAL_MEMORY_BIN                 the CLI to run (default: the image's; tests point it at the repo's)
set -euo pipefail

log() { printf '[entrypoint] %s\n' "$*" >&2; }
die() { printf '[entrypoint] ERROR: %s\n' "$*" >&2; exit 1; }

# A platform that runs `release_command` through the ENTRYPOINT passes this script's own path first.
[[ ${1:-} == "$0" || ${1:-} == */entrypoint.sh ]] && shift
mode=${1:-start}
[[ $mode == start || $mode == migrate ]] || die "unknown command '$mode': use start or migrate"

# Word-split on purpose: TRIBAL_MEMORY_BIN may be "node /repo/cli/src/tribalmemory.ts".
read -r -a BIN <<<"${TRIBAL_MEMORY_BIN:-/app/cli/bin/tribalmemory.js}"

export TRIBAL_MEMORY_DATABASE_URL=${TRIBAL_MEMORY_DATABASE_URL:-${DATABASE_URL:-}}
app_url=$TRIBAL_MEMORY_DATABASE_URL
admin_url=${TRIBAL_MEMORY_ADMIN_DATABASE_URL:-}
[[ -n $app_url || -n $admin_url ]] || log "no TRIBAL_MEMORY_DATABASE_URL: the relay uses its embedded PGlite folder"

# Host and port of a postgres:// URL (userinfo, path and query dropped; [v6] literals kept).
host_port() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%[/?]*}
  if [[ $rest == \[* ]]; then
    local h=${rest%%]*}
    local p=${rest#*]}
    printf '%s %s\n' "${h#[}" "${p#:}"
  elif [[ $rest == *:* ]]; then
    printf '%s %s\n' "${rest%%:*}" "${rest##*:}"
  else
    printf '%s %s\n' "$rest" ""
  fi
}

# Wait until the server takes TCP connections; the CLI then reports anything else in one line.
wait_for_db() {
  local url=$1 host port deadline
  read -r host port <<<"$(host_port "$url")"
  port=${port:-5432}
  deadline=$((SECONDS + ${TRIBAL_MEMORY_DB_WAIT_S:-60}))
  until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    ((SECONDS < deadline)) || die "the database at $host:$port did not accept connections in ${TRIBAL_MEMORY_DB_WAIT_S:-60} s"
    sleep 1
  done
  log "database at $host:$port accepts connections"
}

migrated=0
if [[ -n $admin_url ]]; then
  wait_for_db "$admin_url"
  log "migrating as the owner"
  args=(relay migrate --admin-database-url "$admin_url")
  [[ -n $app_url ]] && args+=(--database-url "$app_url")
  "${BIN[@]}" "${args[@]}"
  migrated=1
elif [[ $mode == migrate ]]; then
  [[ -n $app_url ]] || die "migrate needs TRIBAL_MEMORY_ADMIN_DATABASE_URL (the owner) or TRIBAL_MEMORY_DATABASE_URL"
  wait_for_db "$app_url"
  "${BIN[@]}" relay migrate --database-url "$app_url"
fi
[[ $mode == migrate ]] && exit 0

[[ -n $app_url ]] && wait_for_db "$app_url"
start=(relay start --host "${TRIBAL_MEMORY_HOST:-0.0.0.0}" --port "${PORT:-18800}")
if ((migrated)) || [[ ${TRIBAL_MEMORY_MIGRATE:-1} == 0 ]]; then start+=(--no-migrate); fi
if [[ -n ${TRIBAL_MEMORY_TLS_CERT:-} || -n ${TRIBAL_MEMORY_TLS_KEY:-} ]]; then
  start+=(--tls-cert "${TRIBAL_MEMORY_TLS_CERT:-}" --tls-key "${TRIBAL_MEMORY_TLS_KEY:-}")
elif [[ ${TRIBAL_MEMORY_BEHIND_PROXY:-0} == 1 ]]; then
  start+=(--behind-proxy)
fi
log "starting: relay ${start[*]:1}"
# exec: the relay is PID 1's process, so the platform's SIGTERM reaches it and it drains.
exec "${BIN[@]}" "${start[@]}"
