#!/usr/bin/env bash
# Installs what the test suite needs from Debian's repositories alone (no web downloads):
#   - PostgreSQL 15 (Debian bookworm) + pgvector 0.8.x, built from Debian trixie's *source*
#     package through a private apt sources list (bookworm's pgvector is 0.4; we need
#     hnsw.iterative_scan, which arrived in 0.8 — see shared/SETUP-NOTES.md).
#   - python3-onnx and python3-numpy: the tests make small ONNX models with /usr/bin/python3.
#   - nftables and iproute2 (and util-linux's nsenter): the fault harness (test/chaos/) puts
#     daemons in network namespaces and partitions them with nftables rules.
#   - docker-compose: test/deploy/ validates docker-compose.yml with `docker-compose config`
#     (no Docker engine needed).
#   - chromium: test/dashboard/ drives Debian's browser with playwright-core (no downloaded one).
# Idempotent: each part is skipped when already installed. Needs root (uses sudo if not).
set -euo pipefail

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
VECTOR_CONTROL=/usr/share/postgresql/$PG_MAJOR/extension/vector.control

log() { printf '[install-postgres] %s\n' "$*"; }
die() { printf '[install-postgres] ERROR: %s\n' "$*" >&2; exit 1; }

need_pg=0; need_vector=0; need_py=0; need_net=0; need_compose=0; need_chromium=0
[[ -x $PG_BIN/pg_ctl ]] || need_pg=1
[[ -f $VECTOR_CONTROL ]] || need_vector=1
/usr/bin/python3 -c 'import onnx, numpy' >/dev/null 2>&1 || need_py=1
{ command -v nft && command -v ip && command -v nsenter; } >/dev/null 2>&1 || need_net=1
command -v docker-compose >/dev/null 2>&1 || need_compose=1
[[ -x /usr/bin/chromium ]] || need_chromium=1

if (( need_pg + need_vector + need_py + need_net + need_compose + need_chromium == 0 )); then
  log "PostgreSQL $PG_MAJOR ($PG_BIN), pgvector $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$VECTOR_CONTROL") python3-onnx/numpy, nftables/iproute2, docker-compose and chromium are installed; nothing to do."
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    log "not root: re-running under sudo"
    exec sudo --preserve-env=DEBIAN_FRONTEND bash "$0" "$@"
  fi
  die "installing system packages needs root, and sudo is not available. Run this script as root: bash $0"
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script expects Debian bookworm."

export DEBIAN_FRONTEND=noninteractive

# The mirror this machine's apt already uses for Debian's main archive (not -security), read
# from deb822 `.sources` files and one-line `sources.list` entries, so the build works behind
# any mirror or proxy the machine is configured for.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk '
      /^[[:space:]]*$/ { if (u != "" && s ~ /(^| )(bookworm|trixie|stable)( |$)/ && u !~ /security/) { print u; exit } u = ""; s = ""; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { $1 = ""; s = $0 " " }
      END { if (u != "" && s ~ /(^| )(bookworm|trixie|stable)( |$)/ && u !~ /security/) print u }
    ' "$f" | head -n1)
    [[ -n $uri ]] && { printf '%s\n' "${uri%/}"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i) !~ /security/ && $(i+1) ~ /^(bookworm|trixie|stable)$/) { print $(i); exit } }' "$f")
    [[ -n $uri ]] && { printf '%s\n' "${uri%/}"; return 0; }
  done
  return 1
}
apt_install() { apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 "$@"; }

pkgs=()
(( need_pg )) && pkgs+=(postgresql-$PG_MAJOR)
# The dev package is needed only to build pgvector; make/gcc are normally already present.
(( need_vector )) && pkgs+=(postgresql-server-dev-$PG_MAJOR dpkg-dev make gcc libc6-dev)
(( need_py )) && pkgs+=(python3-onnx python3-numpy)
(( need_net )) && pkgs+=(nftables iproute2 util-linux)
(( need_compose )) && pkgs+=(docker-compose)
(( need_chromium )) && pkgs+=(chromium)

log "apt-get update"
apt-get update -q || die "apt-get update failed (are Debian's repositories reachable?)"
log "apt-get install ${pkgs[*]}"
apt_install "${pkgs[@]}" || die "apt-get install ${pkgs[*]} failed"
[[ -x $PG_BIN/pg_ctl ]] || die "$PG_BIN/pg_ctl still missing after installing postgresql-$PG_MAJOR"

if (( need_vector )); then
  W=$(mktemp -d "${TMPDIR:-/tmp}/pgvector-build.XXXXXX")
  trap 'rm -rf "$W"' EXIT
  mkdir -p "$W/lists/partial" "$W/cache/archives/partial"
  # A private sources list: trixie's *source* packages only. It never touches the system's
  # sources, so nothing from trixie is ever installed as a binary.
  mirror=$(debian_mirror) || die "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d: add one (e.g. 'deb http://<mirror>/debian bookworm main')"
  log "Debian mirror (from this machine's apt configuration): $mirror"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$W/src.list"
  APT=(-oDir::Etc::SourceList="$W/src.list" -oDir::Etc::SourceParts=/dev/null
       -oDir::State::Lists="$W/lists" -oDir::Cache="$W/cache")
  # (apt warns "Download is performed unsandboxed as root": harmless for a source download.)
  log "fetching pgvector source from Debian trixie (private sources list in $W)"
  (cd "$W" && apt-get "${APT[@]}" update -q && apt-get "${APT[@]}" source -q pgvector) \
    || die "could not fetch Debian trixie's pgvector source package"
  src=$(find "$W" -maxdepth 1 -type d -name 'pgvector-0.8.*' | sort -V | tail -n1)
  [[ -n $src ]] || die "expected a pgvector 0.8.x source tree, found: $(ls "$W")"
  log "building $(basename "$src") against PostgreSQL $PG_MAJOR"
  make -C "$src" -j"$(nproc)" PG_CONFIG="$PG_BIN/pg_config" >"$W/build.log" 2>&1 \
    || { tail -n 40 "$W/build.log" >&2; die "pgvector build failed"; }
  make -C "$src" install PG_CONFIG="$PG_BIN/pg_config" >>"$W/build.log" 2>&1 \
    || { tail -n 40 "$W/build.log" >&2; die "pgvector install failed"; }
  [[ -f $VECTOR_CONTROL ]] || die "pgvector installed but $VECTOR_CONTROL is missing"
fi

/usr/bin/python3 -c 'import onnx, numpy' || die "python3 cannot import onnx and numpy"
log "done: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), pgvector $(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$VECTOR_CONTROL"), python3-onnx $(/usr/bin/python3 -c 'import onnx; print(onnx.__version__)')"
