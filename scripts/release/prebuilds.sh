#!/usr/bin/env bash
# Release check, step 1: the prebuilt binaries, made in an old Debian root so that they load on
# any glibc from 2.17 on (Node 20 itself needs 2.28), with nothing but the C library needed at
# run time.
#
#   prebuilds/linux-x64/@x+nfct.glibc.node     built in a $SUITE root (debootstrap)
#   prebuilds/linux-arm64/@x+nfct.glibc.node   cross-compiled there (crossbuild-essential-arm64)
#   prebuilds/linux-*/lib*.so.*                libmnl, libnfnetlink, libnetfilter_conntrack,
#                                              libnetfilter_log: Debian 12's, found through the
#                                              addon's $ORIGIN rpath
#   prebuilds/sources/                         which source those libraries came from
#
# libstdc++ and libgcc are linked in; scripts/release/check-binary.sh then refuses any file
# that asks for a GLIBC symbol newer than 2.17, any GLIBCXX symbol, or a shared library that
# is neither libc's nor bundled.
# Takes ~4 minutes the first time (the root), ~2 minutes after.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

# The library versions bundled: Debian 12's, the ones the test suite runs against
# (source package:runtime package=version; the -dev package is SOURCE-dev).
LIBS=(libmnl:libmnl0=1.0.4-3 libnfnetlink:libnfnetlink0=1.0.2-2
  libnetfilter-conntrack:libnetfilter-conntrack3=1.0.9-3 libnetfilter-log:libnetfilter-log1=1.0.2-3)
SONAMES=(libmnl.so.0 libnfnetlink.so.0 libnetfilter_conntrack.so.3 libnetfilter_log.so.1)
LIB_SUITE=bookworm
BUILD=$(root_dir build)
OUT=$REPO/prebuilds

need debootstrap curl binutils debian-archive-keyring
make_named_root build

# 1. The libraries' Debian packages for both architectures (the shared libraries, their -dev
# packages to link against, the kernel's UAPI headers of the same release), downloaded with apt
# (signatures and checksums checked) under a private apt state so that the root itself stays
# on $SUITE; and their source package descriptions (.dsc: the exact source, by checksum).
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
    IFS=: read -r src runtime <<<"${s%%=*}"
    for a in amd64 arm64; do debs+=("$src-dev:$a=${s#*=}" "$runtime:$a=${s#*=}"); done
  done
  debs+=(linux-libc-dev:amd64 linux-libc-dev:arm64)
  chroot "$BUILD" sh -c "cd /opt/nf/debs && apt-get $(printf '%q ' "${APT[@]}") download -qq ${debs[*]}" 2>/dev/null
  for s in "${LIBS[@]}"; do
    src=${s%%:*}
    chroot "$BUILD" sh -c "apt-get $(printf '%q ' "${APT[@]}") source --print-uris -qq $src=${s#*=}" |
      sed -n "s/^'\([^']*\.dsc\)' .*/\1/p" | while read -r uri; do
        curl -fsS -o "$BUILD/opt/nf/sources/$(basename "$uri")" "$uri"
      done
  done
  # Each architecture's libraries and headers under /opt/nf/<arch>/{lib,include,include-arch}.
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
    npm_config_nodedir=/usr JOBS=max NFCT_NETFILTER_BUNDLE=/opt/nf/$arch "$@" \
    sh -c "cd /src && node node_modules/prebuildify/bin.js --napi --strip --tag-libc --arch $arch -t \$(node -p process.versions.node)" \
    >"$ROOTS/prebuild-$arch.log" 2>&1 || { tail -n 40 "$ROOTS/prebuild-$arch.log" >&2; die "prebuildify for linux-$arch failed (see $ROOTS/prebuild-$arch.log)"; }
}
prebuild x64
prebuild arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
  PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip

# 4. Checked, then copied into the tree with the corresponding source.
rm -rf "$OUT" && mkdir -p "$OUT/sources"
for arch in x64 arm64; do
  mkdir -p "$OUT/linux-$arch"
  cp "$BUILD/src/prebuilds/linux-$arch/"*.node "$OUT/linux-$arch/"
  for so in "${SONAMES[@]}"; do cp -L "$BUILD/opt/nf/$arch/lib/$so" "$OUT/linux-$arch/$so"; done
  bash "$REPO/scripts/release/check-binary.sh" "$OUT/linux-$arch/"*
done
cp "$BUILD"/opt/nf/sources/*.dsc "$OUT/sources/"
for s in "${LIBS[@]}"; do
  runtime=${s#*:}; runtime=${runtime%%=*}
  cp "$BUILD/opt/nf/x64/root/usr/share/doc/$runtime/copyright" "$OUT/sources/$runtime.copyright"
done
{
  echo "The shared libraries beside the prebuilt binaries (prebuilds/linux-*/lib*.so.*) are those of"
  echo "these Debian source packages, amd64 and arm64 builds; each .dsc here names its source"
  echo "tarballs by checksum, each .copyright is the package's copyright file. The source itself:"
  echo "see NOTICE (written offer) or https://snapshot.debian.org/package/SOURCE/VERSION/."
  echo "Put together by scripts/release/prebuilds.sh in a Debian $SUITE root."
  echo
  for s in "${LIBS[@]}"; do echo "  ${s%%:*} ${s#*=} ($LIB_SUITE)"; done
} >"$OUT/sources/README"
log "done: $(cd "$OUT" && find . -name '*.node' | sort | tr '\n' ' ')"
