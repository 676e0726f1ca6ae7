#!/usr/bin/env bash
# Release check, step 1: the prebuilt binaries, made in an old Debian root so that they load on
# any glibc from 2.28 on, with nothing but the C library needed at run time.
#
#   prebuilds/linux-x64/@x+nfct.glibc.node     built in a $SUITE root (debootstrap)
#   prebuilds/linux-arm64/@x+nfct.glibc.node   cross-compiled there (crossbuild-essential-arm64)
#   prebuilds/sources/                         which source the libraries in them came from
#
# The static archives of libmnl, libnfnetlink, libnetfilter_conntrack and libnetfilter_log
# (their Debian -dev packages, pinned below) are linked into the addon, with libstdc++ and
# libgcc, their symbols hidden; scripts/release/check-binary.sh then refuses a binary that asks
# for a GLIBC symbol newer than 2.28, any GLIBCXX symbol, an unversioned libc symbol, or any
# shared library but libc's.
# Takes ~10 minutes the first time (the root), ~3 minutes after.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# The library versions linked in: Debian 12's, the ones the test suite runs against (source
# package = version; the binary packages used are SOURCE-dev:amd64 and SOURCE-dev:arm64).
LIBS=(libmnl=1.0.4-3 libnfnetlink=1.0.2-2 libnetfilter-conntrack=1.0.9-3 libnetfilter-log=1.0.2-3)
LIB_SUITE=bookworm
BUILD=$ROOTS/build-$SUITE
OUT=$REPO/prebuilds

make_root "$BUILD" --include=build-essential,python3,pkg-config,dpkg-dev,crossbuild-essential-arm64,ca-certificates

# 1. The libraries' Debian -dev packages for both architectures (their static archives and
# headers), downloaded with apt (signatures and checksums checked) under a private apt state so
# that the root itself stays on $SUITE; and their source package descriptions (.dsc: the exact
# source, by checksum).
APT=(-o Dir::Etc::SourceList=/etc/apt/nfct-libs.list -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists=/var/lib/apt/nfct-lists -o APT::Architectures::=amd64 -o APT::Architectures::=arm64)
if [ ! -e "$BUILD/opt/nf/.done" ]; then
  install -D -m 644 /usr/share/keyrings/debian-archive-keyring.gpg "$BUILD/etc/apt/keyrings/nfct-libs.gpg"
  printf 'deb [arch=amd64,arm64 signed-by=/etc/apt/keyrings/nfct-libs.gpg] %s %s main\ndeb-src [signed-by=/etc/apt/keyrings/nfct-libs.gpg] %s %s main\n' \
    "$MIRROR" "$LIB_SUITE" "$MIRROR" "$LIB_SUITE" >"$BUILD/etc/apt/nfct-libs.list"
  mkdir -p "$BUILD/var/lib/apt/nfct-lists/partial"
  chroot "$BUILD" apt-get "${APT[@]}" update -qq
  rm -rf "$BUILD/opt/nf" && mkdir -p "$BUILD/opt/nf/debs" "$BUILD/opt/nf/sources"
  debs=()
  for s in "${LIBS[@]}"; do
    for a in amd64 arm64; do debs+=("${s%%=*}-dev:$a=${s#*=}"); done
  done
  # The kernel's UAPI headers of the same release (the conntrack attributes of newer kernels).
  debs+=(linux-libc-dev:amd64 linux-libc-dev:arm64)
  chroot "$BUILD" sh -c "cd /opt/nf/debs && apt-get $(printf '%q ' "${APT[@]}") download -qq ${debs[*]}"
  for s in "${LIBS[@]}"; do
    chroot "$BUILD" sh -c "cd /opt/nf/sources && apt-get $(printf '%q ' "${APT[@]}") source --print-uris -qq ${s}" |
      sed -n "s/^'\([^']*\.dsc\)' .*/\1/p" | while read -r uri; do
        curl -fsS -o "$BUILD/opt/nf/sources/$(basename "$uri")" "$uri"
      done
  done
  # Each architecture's static archives and headers under /opt/nf/<arch>/{lib,include}.
  for pair in x64:amd64:x86_64-linux-gnu arm64:arm64:aarch64-linux-gnu; do
    IFS=: read -r arch debarch triplet <<<"$pair"
    mkdir -p "$BUILD/opt/nf/$arch/root"
    for deb in "$BUILD"/opt/nf/debs/*_"$debarch".deb; do dpkg-deb -x "$deb" "$BUILD/opt/nf/$arch/root"; done
    ln -s "root/usr/include" "$BUILD/opt/nf/$arch/include"
    ln -s "root/usr/include/$triplet" "$BUILD/opt/nf/$arch/include-arch"
    ln -s "root/usr/lib/$triplet" "$BUILD/opt/nf/$arch/lib"
  done
  touch "$BUILD/opt/nf/.done"
fi

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
    sh -c "cd /src && node node_modules/prebuildify/bin.js --napi --strip --tag-libc --arch $arch -t \$(node -p process.versions.node)" >/dev/null
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
cp "$BUILD"/opt/nf/sources/*.dsc "$OUT/sources/"
{
  echo "The libraries linked into the prebuilt binaries beside this folder are the static archives"
  echo "of these Debian packages (SOURCE-dev, amd64 and arm64); each .dsc here names its source"
  echo "tarballs by checksum. The source itself: see NOTICE (written offer) or"
  echo "https://snapshot.debian.org/package/SOURCE/VERSION/. Built with scripts/release/prebuilds.sh"
  echo "in a Debian $SUITE root."
  echo
  for s in "${LIBS[@]}"; do echo "  ${s%%=*} ${s#*=} ($LIB_SUITE)"; done
} >"$OUT/sources/README"
log "done: $(cd "$OUT" && find . -name '*.node' | sort | tr '\n' ' ')"
