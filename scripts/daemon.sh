#!/usr/bin/env bash
# Install the `tribalmemory` package and run tribalmemoryd in the foreground with its embedded
# defaults: 127.0.0.1:18790, data in ~/.tribal-memory/data, the offline embedding model (or
# bge-small-en-v1.5 once `tribalmemory models pull bge-small-en-v1.5` has fetched it).
#   1. Node 24, pnpm and the workspace into .tools / node_modules (bootstrap.sh; no install when
#      the lockfile and package.json files are unchanged since the last one)
#   2. build and pack the package (scripts/pack.sh; skipped when no source is newer than the
#      tarball), then `npm install -g` it into $TRIBAL_MEMORY_PREFIX (default
#      ~/.tribal-memory/npm), unless that same tarball is what is installed there
#   3. exec tribalmemoryd from that prefix; its bin folder holds tribalmemory, tribalmemory-mcp
#      (and Node 24 when the machine's node is older than 22.12): put it on PATH to use them.
# Flags pass through: bash scripts/daemon.sh --port 18791 --data-dir /tmp/tm
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
log='[daemon.sh]'

# The machine's own node, before bootstrap puts .tools first: the bins run on whatever node PATH
# names, so an older one gets Node 24 installed beside them.
system_node=$(node --version 2>/dev/null || true)
node_too_old() { # the package says engines.node >=22.12
  [[ $1 =~ ^v([0-9]+)\.([0-9]+) ]] || return 0
  local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  ((major < 22 || (major == 22 && minor < 12)))
}
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh >&2

prefix=${TRIBAL_MEMORY_PREFIX:-$HOME/.tribal-memory/npm}
tarball=$(ls -t "$root"/.tmp/pack/tribalmemory-*.tgz 2>/dev/null | head -n1 || true)
if [[ -z $tarball || -n $(find shared/src daemon/src sync-server/src cli/src cli/build.ts cli/package.json \
      dashboard/dist shared/models package.json pnpm-lock.yaml -newer "$tarball" -print -quit) ]]; then
  tarball=$(bash scripts/pack.sh .tmp/pack)
fi

sum=$(sha256sum "$tarball" | cut -d' ' -f1)
stamp="$prefix/.tribalmemory-package.sha256"
if [[ -x $prefix/bin/tribalmemoryd && -f $stamp && $(cat "$stamp") == "$sum" ]]; then
  echo "$log $(basename "$tarball") is already installed in $prefix" >&2
else
  extra=()
  if [[ ! -x $prefix/bin/node ]] && node_too_old "$system_node"; then
    extra+=("node@24")
  fi
  echo "$log npm install -g --prefix $prefix $(basename "$tarball") ${extra[*]}" >&2
  t0=$SECONDS
  # onnxruntime-node's install script would fetch CUDA files from NuGet; its CPU build ships in it.
  ONNXRUNTIME_NODE_INSTALL=skip npm install -g --prefix "$prefix" --no-audit --no-fund --loglevel=error \
    "$tarball" "${extra[@]}" >&2
  echo "$sum" >"$stamp"
  echo "$log installed in $((SECONDS - t0)) s; for the bins elsewhere: export PATH=\"$prefix/bin:\$PATH\"" >&2
fi

export PATH="$prefix/bin:$PATH"
exec "$prefix/bin/tribalmemoryd" "$@"
