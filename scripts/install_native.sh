#!/usr/bin/env bash
# Builds the native programs (compress_task, wait_task, wq_manager) into build/native/.
#
# Installs the Debian packages they need first if any is missing: as root with
# apt-get, otherwise it says what to install and stops. Safe to run repeatedly;
# when everything is installed and built it only checks and returns.
#
#   scripts/install_native.sh            # from anywhere
#   BUILD_DIR=/tmp/b scripts/install_native.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo_root/build}"

# cmake and the compilers build; zlib1g-dev is needed because libdttools.a
# (coop-computing-tools-dev) uses zlib; coop-computing-tools has work_queue_worker.
packages=(coop-computing-tools coop-computing-tools-dev libzfp-dev zlib1g-dev cmake make gcc g++)

say() { printf 'install_native: %s\n' "$*"; }
die() { printf 'install_native: %s\n' "$*" >&2; exit 1; }

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
  done
else
  # Not Debian: trust whatever is on the system and let CMake say what is missing.
  say "dpkg-query not found; skipping the package check"
fi

if ((${#missing[@]})); then
  if [[ "$(id -u)" -ne 0 ]]; then
    die "missing packages: ${missing[*]}; install them as root with: apt-get install -y ${missing[*]}"
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
    # A fresh machine may have empty or stale package lists; refresh once.
    say "apt-get install failed; running apt-get update and retrying"
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

# Configure only when needed: a second configure is cheap but not free. A cache
# left by a checkout elsewhere (copied or moved tree) cannot be reused.
cache="$build_dir/CMakeCache.txt"
if [[ -f "$cache" ]] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$repo_root" "$cache"; then
  say "$cache belongs to another source tree; configuring afresh"
  rm -rf "$build_dir/CMakeCache.txt" "$build_dir/CMakeFiles"
fi
if [[ ! -f "$cache" ]]; then
  cmake -S "$repo_root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build_dir" --parallel "$(nproc 2>/dev/null || echo 2)"

for exe in compress_task wait_task wq_manager; do
  [[ -x "$build_dir/native/$exe" ]] || die "build finished but $build_dir/native/$exe is missing"
done
say "compress_task: $build_dir/native/compress_task"
say "wait_task:     $build_dir/native/wait_task"
say "wq_manager:    $build_dir/native/wq_manager"
say "work_queue_worker: $(command -v work_queue_worker || echo 'not on PATH')"
