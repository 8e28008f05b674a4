#!/usr/bin/env bash
# Builds the installable `tribalmemory` npm package (cli/build.ts → cli/pkg) and packs it:
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
node "$root/cli/build.ts" --out "$root/cli/pkg" >&2
name=$(cd "$root/cli/pkg" && npm pack --pack-destination "$dest" --loglevel=error | tail -n1)
echo "[pack] $dest/$name ($(du -k "$dest/$name" | cut -f1) KiB)" >&2
echo "$dest/$name"
