#!/usr/bin/env bash
# Release check, step 1: the prebuilt binaries, made in an old Debian root so that they load on
# any glibc from 2.28 on, with nothing but the C library needed at run time.
#
#   prebuilds/linux-x64/@x+nfct.glibc.node     built in a $SUITE root (debootstrap)
#   prebuilds/linux-arm64/@x+nfct.glibc.node   cross-compiled there (crossbuild-essential-arm64)
#   prebuilds/sources/                         the Debian source packages of the libraries in them
#
# libmnl, libnfnetlink, libnetfilter_conntrack and libnetfilter_log are built from their Debian
# source packages (pinned below) as position-independent static archives and linked into the
# addon, with libstdc++ and libgcc; scripts/release/check-binary.sh then refuses a binary that
# asks for a GLIBC symbol newer than 2.28, any GLIBCXX symbol, or any shared library but libc's.
# Takes ~10 minutes the first time (the root), ~3 minutes after.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# The library versions linked in: Debian 12's, the ones the test suite runs against.
SOURCES=(libmnl=1.0.4-3 libnfnetlink=1.0.2-2 libnetfilter-conntrack=1.0.9-3 libnetfilter-log=1.0.2-3)
SOURCE_SUITE=bookworm
BUILD=$ROOTS/build-$SUITE
OUT=$REPO/prebuilds

make_root "$BUILD" --include=build-essential,python3,pkg-config,dpkg-dev,crossbuild-essential-arm64,ca-certificates

# 1. The Debian source packages, checked by apt against the signed Sources index.
if [ ! -e "$BUILD/opt/src/.done" ]; then
  install -D -m 644 /usr/share/keyrings/debian-archive-keyring.gpg "$BUILD/etc/apt/keyrings/nfct-src.gpg"
  echo "deb-src [signed-by=/etc/apt/keyrings/nfct-src.gpg] $MIRROR $SOURCE_SUITE main" >"$BUILD/etc/apt/sources.list.d/nfct-src.list"
  chroot "$BUILD" apt-get update -qq
  rm -rf "$BUILD/opt/src" && mkdir -p "$BUILD/opt/src"
  chroot "$BUILD" sh -c "cd /opt/src && apt-get source -qq ${SOURCES[*]}" >/dev/null
  touch "$BUILD/opt/src/.done"
fi

# 2. The libraries, static and PIC, for each target (installed under /opt/nf/<arch>).
build_libs() { # build_libs ARCH TRIPLET
  local arch=$1 triplet=$2
  [ -e "$BUILD/opt/nf/$arch/.done" ] && return
  log "building the netfilter libraries for $arch ($triplet)"
  chroot "$BUILD" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root bash -euo pipefail -c '
    arch=$1 triplet=$2 prefix=/opt/nf/$1
    export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig PKG_CONFIG_PATH=
    rm -rf "$prefix" /opt/build/$arch && mkdir -p /opt/build/$arch
    for name in libmnl libnfnetlink libnetfilter-conntrack libnetfilter-log; do
      src=$(find /opt/src -maxdepth 1 -type d -name "$name-[0-9]*" | head -n 1)
      cp -a "$src" /opt/build/$arch/ && cd /opt/build/$arch/$(basename "$src")
      ./configure -q --host="$triplet" --prefix="$prefix" --enable-static --disable-shared --with-pic \
        CFLAGS="-O2 -fPIC -fvisibility=hidden" >/dev/null
      make -s -j"$(nproc)" >/dev/null 2>&1 && make -s install >/dev/null
    done
    touch "$prefix/.done"
  ' _ "$arch" "$triplet"
}
build_libs x64 x86_64-linux-gnu
build_libs arm64 aarch64-linux-gnu

# 3. The addon, with prebuildify, from a copy of the tree's native sources.
rm -rf "$BUILD/src" && mkdir -p "$BUILD/src"
cp -a "$REPO/native" "$REPO/binding.gyp" "$REPO/package.json" "$BUILD/src/"
bind "$REPO/node_modules" "$BUILD/src/node_modules" ro
bind /usr/include/node "$BUILD/usr/include/node" ro
mount_proc "$BUILD"
install -m 755 "$(readlink -f "$(command -v node)")" "$BUILD/usr/local/bin/node"

prebuild() { # prebuild ARCH [VAR=VALUE...]
  local arch=$1; shift
  log "prebuildify for linux-$arch"
  chroot "$BUILD" env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    npm_config_nodedir=/usr JOBS=max NFCT_NETFILTER_STATIC=/opt/nf/$arch "$@" \
    sh -c "cd /src && node node_modules/prebuildify/bin.js --napi --strip --tag-libc --arch $arch" >/dev/null
}
prebuild x64
prebuild arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
  PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip

# 4. Checked, then copied into the tree with the corresponding source.
rm -rf "$OUT" && mkdir -p "$OUT/sources"
for arch in x64 arm64; do
  mkdir -p "$OUT/linux-$arch"
  cp "$BUILD/src/prebuilds/linux-$arch/"*.node "$OUT/linux-$arch/"
  bash "$REPO/scripts/release/check-binary.sh" "$OUT/linux-$arch/"*.node
done
find "$BUILD/opt/src" -maxdepth 1 -type f \( -name '*.dsc' -o -name '*.tar.*' \) -exec cp {} "$OUT/sources/" \;
{
  echo "The corresponding source of the libraries linked into the prebuilt binaries beside this"
  echo "folder: Debian source packages (dpkg-source -x X.dsc unpacks one), built with"
  echo "scripts/release/prebuilds.sh in a Debian $SUITE root."
  echo
  for s in "${SOURCES[@]}"; do echo "  ${s%%=*} ${s#*=} ($SOURCE_SUITE)"; done
} >"$OUT/sources/README"
log "done: $(cd "$OUT" && find . -name '*.node' | sort | tr '\n' ' ')"
