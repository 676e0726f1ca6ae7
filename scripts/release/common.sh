# Shared by the release scripts (sourced): where the Debian roots live, how they are made, and
# the bind mounts a chroot needs, undone on exit.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOTS=${NFCT_ROOTS:-/var/tmp/nfct-roots}
# The oldest Debian release the configured mirror still serves. buster (glibc 2.28) lives on
# archive.debian.org now; set NFCT_SUITE=buster NFCT_MIRROR=http://archive.debian.org/debian
# where that is reachable. On bullseye (glibc 2.31) check-binary.sh proves that the binaries
# ask for nothing newer than GLIBC_2.28.
SUITE=${NFCT_SUITE:-bullseye}
MIRROR=${NFCT_MIRROR:-http://deb.debian.org/debian}

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, ip netns)"

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

# make_root DIR [debootstrap options...]: a minbase root of $SUITE, made once.
make_root() {
  local dir=$1; shift
  if [ -e "$dir/.nfct-root-done" ]; then return; fi
  command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  log "debootstrap --variant=minbase $* $SUITE $dir"
  debootstrap --variant=minbase "$@" "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1 ||
    die "debootstrap failed (see $dir.log)"
  touch "$dir/.nfct-root-done"
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
