#!/usr/bin/env bash
# Install (Node 24 + packages into .tools, once) and run tribalmemoryd in the foreground with
# its embedded defaults: 127.0.0.1:18790, data in ~/.tribal-memory/data, the offline
# embedding model (or bge-small-en-v1.5 when its weights are in ~/.tribal-memory/models).
# Flags pass through: bash scripts/daemon.sh --port 18791 --data-dir /tmp/tm
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh >&2
exec node cli/src/tribalmemoryd.ts "$@"
