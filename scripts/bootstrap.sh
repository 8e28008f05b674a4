#!/usr/bin/env bash
# Installs the project's toolchain into <repo>/.tools (gitignored) and the workspace's packages.
#   source scripts/bootstrap.sh   # also puts .tools' node and pnpm first on the caller's PATH
#   bash scripts/bootstrap.sh     # installs only
# Node 24 and pnpm (the version pinned in package.json "packageManager") come from the npm
# registry (`npm install --prefix .tools node@24 pnpm@X`), so a fresh machine with any npm works;
# the machine's own Node 20 is never used to run the project. Idempotent: skips what is there.
# Written to be sourced: no `set -e`/`exit` leak into the caller's shell.

# The dashboard is built by its package's `prepare` when pnpm installs; an install that finds
# nothing to do runs no scripts, so sources changed since (a pull) are rebuilt here (~1 s).
_tm_build_dashboard() {
  local root=$1 index="$1/dashboard/dist/index.html"
  [[ -f $root/dashboard/build.ts ]] || return 0
  if [[ -f $index && -z $(find "$root/dashboard/src" "$root/dashboard/build.ts" -newer "$index" -print -quit) ]]; then
    return 0
  fi
  echo "[bootstrap] building the dashboard (dashboard/dist)"
  (cd "$root/dashboard" && node build.ts) || { echo "[bootstrap] ERROR: the dashboard did not build" >&2; return 1; }
}

# The keyword scorer (daemon/native/tm-fts5.c), compiled where a C compiler is; without one the
# daemon ranks with FTS5's bm25() (the build says so). Skipped when the library is up to date.
_tm_build_native() {
  (cd "$1" && node daemon/native/build.ts) || echo "[bootstrap] WARNING: the keyword scorer did not build" >&2
  return 0
}

# What install leaves built besides node_modules.
_tm_build_outputs() {
  _tm_build_dashboard "$1" && _tm_build_native "$1"
}

# What `pnpm install` reads: the lockfile, the workspace file, every package.json of the
# workspace (the root and one folder down) and .npmrc; one sha256 over their names and contents.
_tm_install_inputs_hash() {
  local root=$1
  (cd "$root" && find . -maxdepth 2 \( -name node_modules -o -name '.*' ! -name . \) -prune -o \
      \( -name package.json -o -name pnpm-lock.yaml -o -name pnpm-workspace.yaml \) -print;
    [[ -f .npmrc ]] && echo ./.npmrc) | LC_ALL=C sort | (cd "$root" && xargs sha256sum) | sha256sum | cut -d' ' -f1
}

_tm_bootstrap() {
  local log='[bootstrap]'
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
  local tools="$root/.tools" node_major=24 pnpm_version
  pnpm_version=$(sed -n 's/.*"packageManager": *"pnpm@\([^"+]*\).*/\1/p' "$root/package.json")
  if [[ -z $pnpm_version ]]; then
    echo "$log ERROR: no \"packageManager\": \"pnpm@X.Y.Z\" in $root/package.json" >&2; return 1
  fi
  local bin="$tools/node_modules/.bin"

  local have_node="" have_pnpm=""
  [[ -x $bin/node ]] && have_node=$("$bin/node" --version 2>/dev/null)
  [[ -x $bin/pnpm ]] && have_pnpm=$(PATH="$bin:$PATH" "$bin/pnpm" --version 2>/dev/null | tail -n1)
  if [[ $have_node == v$node_major.* && $have_pnpm == "$pnpm_version" ]]; then
    echo "$log node $have_node and pnpm $have_pnpm already in .tools"
  else
    if ! command -v npm >/dev/null 2>&1; then
      echo "$log ERROR: npm is not on PATH; it is needed once to fetch Node $node_major and pnpm into .tools" >&2
      return 1
    fi
    echo "$log installing node@$node_major and pnpm@$pnpm_version into .tools (found node='${have_node:-none}' pnpm='${have_pnpm:-none}')"
    mkdir -p "$tools" || return 1
    if ! npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
        "node@$node_major" "pnpm@$pnpm_version"; then
      echo "$log ERROR: 'npm install --prefix .tools node@$node_major pnpm@$pnpm_version' failed (is the npm registry reachable?)" >&2
      return 1
    fi
    have_node=$("$bin/node" --version 2>/dev/null)
    have_pnpm=$(PATH="$bin:$PATH" "$bin/pnpm" --version 2>/dev/null | tail -n1)
    if [[ $have_node != v$node_major.* || $have_pnpm != "$pnpm_version" ]]; then
      echo "$log ERROR: after install, .tools has node='$have_node' pnpm='$have_pnpm'" >&2
      return 1
    fi
    echo "$log installed node $have_node and pnpm $have_pnpm"
  fi

  case ":$PATH:" in
    "$bin:"*) ;;
    *) export PATH="$bin:$PATH" ;;
  esac
  echo "$log PATH now starts with $bin (node $(node --version), pnpm $(pnpm --version 2>/dev/null | tail -n1))"

  # pmOnFail=ignore: on every command pnpm 12.21 tries to resolve its own "packageManager" pin
  # from the registry, which fails (no @pnpm/exe.netbsd-x64@12.21.0): it warns "publishes no
  # pnpm 12.21.0", makes `install --frozen-lockfile` fail (ERR_PNPM_FROZEN_LOCKFILE_WITH_OUTDATED_
  # LOCKFILE, "Cannot update packageManagerDependencies") and makes about 1 `pnpm run` in 5 fail
  # (ERR_PNPM_BAD_CONFIG_DEP). The exact version is already guaranteed by .tools above.
  export PNPM_CONFIG_PM_ON_FAIL=ignore
  # confirm_modules_purge=false: pnpm asks before purging a node_modules made by another pnpm or
  # Node; with no TTY (CI) that question is an error.
  # Skip the install when nothing it reads changed since the last one that succeeded: the stamp
  # (inside node_modules, so deleting that folder forces an install) holds the hash of the
  # lockfile, the workspace's package.json files and .npmrc. TRIBAL_MEMORY_FORCE_INSTALL=1 ignores it.
  local stamp="$root/node_modules/.tribalmemory-install-stamp" want
  want=$(_tm_install_inputs_hash "$root")
  if [[ -z ${TRIBAL_MEMORY_FORCE_INSTALL:-} && -f $stamp && $(cat "$stamp") == "$want" ]]; then
    echo "$log packages unchanged since the last install (lockfile and package.json files): skipping pnpm install"
    _tm_build_outputs "$root"
    return $?
  fi
  local out="$root/.tools/pnpm-install.log"
  echo "$log pnpm install --frozen-lockfile"
  if (cd "$root" && npm_config_confirm_modules_purge=false pnpm install --frozen-lockfile 2>&1) | tee "$out"; \
     [[ ${PIPESTATUS[0]} -eq 0 ]]; then
    _tm_install_inputs_hash "$root" >"$stamp"
    _tm_build_outputs "$root"
    return $?
  fi
  if grep -qE 'ERR_PNPM_OUTDATED_LOCKFILE|ERR_PNPM_LOCKFILE_CONFIG_MISMATCH|not up to date with' "$out"; then
    echo "$log WARNING: pnpm-lock.yaml is out of date with package.json; installing without --frozen-lockfile." >&2
    echo "$log WARNING: commit the updated pnpm-lock.yaml (run 'pnpm install' and add it)." >&2
    (cd "$root" && npm_config_confirm_modules_purge=false pnpm install --no-frozen-lockfile) &&
      { _tm_install_inputs_hash "$root" >"$stamp"; _tm_build_outputs "$root"; return $?; }
  fi
  echo "$log ERROR: pnpm install failed (see output above)" >&2
  return 1
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  _tm_bootstrap "$@"
  _tm_rc=$?; unset -f _tm_bootstrap _tm_build_dashboard _tm_build_native _tm_build_outputs _tm_install_inputs_hash; return $_tm_rc
else
  _tm_bootstrap "$@"
  exit $?
fi
