#!/usr/bin/env bash
# The one install-and-test command (CI runs it through .ci/run):
#   toolchain + packages (bootstrap.sh) → PostgreSQL 15 + pgvector (install-postgres.sh)
#   → the keyword scorer (daemon/native/build.ts) → pnpm lint → pnpm typecheck
#   → pnpm test against a throwaway cluster (with-postgres.sh).
# Every check phase runs even when an earlier one fails, so one run shows every problem;
# the exit status is non-zero if any phase failed. Prints the time each phase took.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

declare -a summary=()
failed=0
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
banner() { printf '\n==> %s\n' "$*"; }

# Setup phases stop the run at once: nothing after them can work without them.
setup() {
  local name=$1; shift
  banner "$name"
  local t0; t0=$(now)
  if ! "$@"; then
    echo "==> $name FAILED after $(elapsed "$t0") s" >&2
    exit 1
  fi
  summary+=("$(printf '%-12s %-10s %6s s' "$name" ok "$(elapsed "$t0")")")
}
check() {
  local name=$1; shift
  banner "$name"
  local t0 rc=0; t0=$(now)
  "$@" || rc=$?
  local status=ok; (( rc == 0 )) || { status="FAILED($rc)"; failed=1; }
  summary+=("$(printf '%-12s %-10s %6s s' "$name" "$status" "$(elapsed "$t0")")")
}

total0=$(now)
banner "bootstrap (Node 24 + pnpm into .tools, pnpm install)"
t0=$(now)
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh || { echo "==> bootstrap FAILED" >&2; exit 1; }
summary+=("$(printf '%-12s %-10s %6s s' bootstrap ok "$(elapsed "$t0")")")
setup postgres bash scripts/install-postgres.sh
# The keyword scorer, once more: bootstrap built it where a compiler was, and the postgres step
# installs one where pgvector had to be built. The tests check both scorers, so it must be there.
setup scorer node daemon/native/build.ts --require

check lint pnpm lint
check typecheck pnpm typecheck

# Vitest also writes a JSON report so this script can print one plain "N passed, N failed" line.
mkdir -p .tmp
report=.tmp/vitest-report.json
rm -f "$report"
check test bash scripts/with-postgres.sh pnpm test --reporter=default --reporter=json --outputFile.json="$report"

banner "summary"
printf '%s\n' "${summary[@]}"
printf '%-12s %-10s %6s s\n' total ''  "$(elapsed "$total0")"
if [[ -f $report ]]; then
  node -e '
    const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report" || true
fi
if (( failed )); then
  echo "==> FAILED" >&2
  exit 1
fi
echo "==> all phases passed"
