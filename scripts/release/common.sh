# Shared by the release scripts (sourced): where the Debian roots live, how they are made, the
# host packages each script needs, and the bind mounts a chroot needs, undone on exit.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Roots are kept here between runs (made again when missing); CI gives each run a new folder.
ROOTS=${NFCT_ROOTS:-/var/tmp/nfct-roots}
# The oldest Debian release the configured mirror still serves: bullseye (glibc 2.31). buster
# (glibc 2.28) is on archive.debian.org only; set NFCT_SUITE=buster
# NFCT_MIRROR=http://archive.debian.org/debian where that is reachable.
SUITE=${NFCT_SUITE:-bullseye}
MIRROR=${NFCT_MIRROR:-http://deb.debian.org/debian}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, ip netns)"

# need PACKAGE...: installs the Debian packages that are missing (apt waits for another apt).
need() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

MOUNTS=()
cleanup_mounts() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  MOUNTS=()
}
trap cleanup_mounts EXIT

# bind SRC DST [ro]: bind-mounts SRC on DST (created), undone on exit.
bind() {
  mkdir -p "$2"
  mount --bind "$1" "$2"
  MOUNTS+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

mount_proc() {
  mkdir -p "$1/proc"
  mount -t proc proc "$1/proc"
  MOUNTS+=("$1/proc")
}

# make_root DIR [debootstrap options...]: a minbase root of $SUITE (or $ROOT_SUITE), made once
# and kept in $ROOTS.
make_root() {
  local dir=$1 suite=${ROOT_SUITE:-$SUITE}; shift
  if [ -e "$dir/.nfct-root-done" ]; then return; fi
  need debootstrap
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  log "debootstrap --variant=minbase $* $suite $dir"
  debootstrap --variant=minbase "$@" "$suite" "$dir" "$MIRROR" >"$dir.log" 2>&1 ||
    die "debootstrap failed (see $dir.log)"
  touch "$dir/.nfct-root-done"
}

# The roots the release scripts use, by name, and how each is made (make_roots NAME...: at once).
root_dir() {
  case $1 in
    build) echo "$ROOTS/build-$SUITE" ;;          # prebuilds.sh: compilers, cross-compilers
    bare) echo "$ROOTS/bare-$SUITE" ;;            # bare-root-check.sh: nothing but the base
    arm64) echo "$ROOTS/bare-$SUITE-arm64" ;;     # arm64-check.sh: debootstrap's first stage
    base) echo "$ROOTS/base-bookworm" ;;          # image.sh: the Dockerfile's FROM
    *) die "no root named $1" ;;
  esac
}
make_named_root() {
  case $1 in
    build) make_root "$(root_dir build)" --include=build-essential,python3,pkg-config,dpkg-dev,crossbuild-essential-arm64,ca-certificates ;;
    bare) make_root "$(root_dir bare)" ;;
    arm64) make_root "$(root_dir arm64)" --foreign --arch=arm64 ;;
    base) ROOT_SUITE=bookworm make_root "$(root_dir base)" ;;
  esac
}
make_roots() {
  local name pids=() rc=0
  for name in "$@"; do make_named_root "$name" & pids+=($!); done
  for name in "${pids[@]}"; do wait "$name" || rc=1; done
  return "$rc"
}

# copy_node ROOT: this machine's node and npm into ROOT/usr/local (nothing else of Node's).
copy_node() {
  local root=$1 npm_dir
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  install -D -m 755 "$(readlink -f "$(command -v node)")" "$root/usr/local/bin/node"
  rm -rf "$root/usr/local/lib/node_modules/npm"
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
}

# wait_for FILE REGEX SECONDS: waits until a line of FILE matches (a sentinel), at most SECONDS.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
