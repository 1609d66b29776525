# Shared by the scripts: repo root, dependency install, build. Source it; do not run it.
# shellcheck shell=bash
FMX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Every Debian package the project needs to build, test and run. One list, used by up and test.
FMX_PACKAGES=(
  build-essential cmake pkg-config clang llvm
  libzmq3-dev libczmq-dev libmsgpack-dev libyaml-dev liblmdb-dev lmdb-utils libxxhash-dev
  libcmocka-dev libhiredis-dev redis-server libxgboost-dev libmicrohttpd-dev
  libbpf-dev bpftool systemtap-sdt-dev libsodium-dev libclang-rt-14-dev
  valgrind graphviz procps
  gnuplot-nox python3
)

fmx_log() { printf '%s\n' "$*" >&2; }

fmx_install_deps() {
  local missing=() p
  for p in "${FMX_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  fmx_log "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { fmx_log "need root (or sudo) to install: ${missing[*]}"; return 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || return 1
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
}

# fmx_build DIR BUILD_TYPE [cmake -D args...] [--target T...]: everything, or just the targets.
fmx_build() {
  local dir=$1 type=$2 defs=() targets=()
  shift 2
  while [ $# -gt 0 ]; do
    if [ "$1" = --target ]; then shift; targets=("$@"); break; fi
    defs+=("$1"); shift
  done
  cmake -S "$FMX_ROOT" -B "$FMX_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" "${defs[@]}" >/dev/null || return 1
  local tflag=()
  [ ${#targets[@]} -gt 0 ] && tflag=(--target "${targets[@]}")
  cmake --build "$FMX_ROOT/$dir" -j"$(nproc)" "${tflag[@]}" -- --no-print-directory >/dev/null || {
    # Re-run verbosely so the error is in the log.
    cmake --build "$FMX_ROOT/$dir" -j1 "${tflag[@]}"
    return 1
  }
}
