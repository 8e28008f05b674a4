#!/usr/bin/env bash
# Builds the installable `tribalmemory` npm package (cli/build.ts) and packs it:
#   bash scripts/pack.sh [DIR]     # DIR defaults to .tmp/pack; the last line printed is the tarball
# Needs the workspace installed (`source scripts/bootstrap.sh`): the build bundles its sources.
# Then, on any machine with Node ≥ 22.12 (onnxruntime-node's install script otherwise downloads
# CUDA files from NuGet; its CPU binaries are in the package):
#   ONNXRUNTIME_NODE_INSTALL=skip npm install -g ./tribalmemory-X.tgz
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$root/.tmp/pack}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
# Staged in a folder of its own, so two packs (a test and a daemon.sh) never share one.
stage=$(mktemp -d "${TMPDIR:-/tmp}/tribalmemory-pack.XXXXXX")
trap 'rm -rf "$stage"' EXIT
node "$root/cli/build.ts" --out "$stage/package" >&2
name=$(cd "$stage/package" && npm pack --pack-destination "$dest" --loglevel=error | tail -n1)
echo "[pack] $dest/$name ($(du -k "$dest/$name" | cut -f1) KiB)" >&2
echo "$dest/$name"
