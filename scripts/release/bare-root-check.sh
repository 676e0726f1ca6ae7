#!/usr/bin/env bash
# Release check, step 2: the packed tarball on bare machines.
#
#   bash scripts/release/bare-root-check.sh [PACKAGE.tgz]
#
# Makes a minimal Debian root ($SUITE, debootstrap --variant=minbase: no compiler, no headers,
# no netfilter libraries) with only this machine's node and npm copied in, installs the tarball
# there with `npm i --offline` (the package and every package it depends on, as tarballs), and
# inside a fresh network namespace (ip netns exec ... chroot ...) uses the library as a user
# would (open, list(), count(), one event) against entries made with the host's `conntrack -I`,
# and compares `nfct -L` with `conntrack -L`. Then, in the same root, a build of the addon
# linked against the system's netfilter libraries (this tree's build/Release/nfct.node), to
# show what a user sees when the native part cannot load and that --help, --version and the
# pure helpers work without it. Last, the linux-arm64 binary in an arm64 root under qemu-user
# (scripts/release/arm64-check.sh). Without a tarball it packs this tree (prebuilds/ must hold
# the binaries scripts/release/prebuilds.sh makes). Root only; ~3 minutes with no root made yet.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

BARE=$(root_dir bare)
NS=nfct-bare-$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
WORK=$(mktemp -d /tmp/nfct-bare-XXXXXX)
PROBE=$REPO/scripts/release/probe
fail() { echo "FAIL: $*"; exit 1; }
section() { printf '\n== %s\n' "$*"; }
cleanup() {
  [ -z "${probe_pid:-}" ] || kill "$probe_pid" 2>/dev/null || true
  cleanup_mounts
  ip netns delete "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
need debootstrap conntrack iproute2 python3 binutils file
export NFCT_NS=$NS NFCT_WORK=$WORK

# 0. The tarball (prepack refuses to pack without both prebuilds).
tarball=${1:-}
if [ -z "$tarball" ]; then
  (cd "$REPO" && npm pack --silent --pack-destination "$WORK" >/dev/null)
  tarball=$(ls "$WORK"/*.tgz)
fi
tarball=$(readlink -f "$tarball")
section "package: $(basename "$tarball")"
tar -tzf "$tarball" >"$WORK/contents"
grep -E '^package/prebuilds/.*\.(node|so\.[0-9]+)$' "$WORK/contents" | sed 's/^package\//  /'
for arch in x64 arm64; do
  grep -qx "package/prebuilds/linux-$arch/@x+nfct.glibc.node" "$WORK/contents" || fail "the tarball has no linux-$arch binary"
done

# 1. The bare root.
make_named_root bare
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

# 2. npm i of the tarball, in /app, offline: every package of its production dependency tree
# (as npm resolves it on the host) packed as a tarball beside it, so the root needs no network
# and no CA certificates.
copy_node "$BARE"
in_root() { chroot "$BARE" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$@"; }
echo "  node $(in_root node --version), npm $(in_root npm --version) copied in"
rm -rf "$BARE/app" && mkdir -p "$BARE/app/deps" "$WORK/resolve"
cp "$tarball" "$BARE/app/package.tgz"
(cd "$WORK/resolve" && npm init -y >/dev/null &&
  npm install --package-lock-only --ignore-scripts --no-audit --no-fund --silent "$tarball" >/dev/null)
deps=$(node -e '
  const lock = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const out = [];
  for (const [path, e] of Object.entries(lock.packages)) {
    if (!path.includes("node_modules/") || e.link || /^file:/.test(e.resolved ?? "")) continue;
    out.push(`${e.name ?? path.slice(path.lastIndexOf("node_modules/") + 13)}@${e.version}`);
  }
  console.log(out.join(" "));' "$WORK/resolve/package-lock.json")
# shellcheck disable=SC2086 # one word per package
(cd "$BARE/app/deps" && npm pack --silent $deps >/dev/null)
section "npm i --offline ./package.tgz (in the bare root; its dependency tree: $(cd "$BARE/app/deps" && echo *.tgz))"
chroot "$BARE" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root sh -c \
  'cd /app && npm init -y >/dev/null && npm i --offline --no-audit --no-fund --foreground-scripts ./deps/*.tgz ./package.tgz 2>&1' | sed 's/^/  /'
pkgdir=$BARE/app/node_modules/@x/nfct
[ -d "$pkgdir" ] || fail "not installed"
[ ! -e "$pkgdir/build" ] || fail "the install compiled the addon (node_modules/@x/nfct/build exists)"
echo "  installed without compiling (no node_modules/@x/nfct/build)"
cp "$PROBE/use.mjs" "$PROBE/decode.mjs" "$BARE/app/"

# 3. In a namespace: the library (open, list, count, one event), and nfct -L against conntrack -L.
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" conntrack -I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 40000 --dport 443 --state ESTABLISHED -u ASSURED -m 7 -t 300 2>/dev/null
ip netns exec "$NS" conntrack -I -p udp -s 10.0.0.1 -d 10.96.0.10 --sport 5000 --dport 53 -t 300 2>/dev/null
ip netns exec "$NS" conntrack -I -p udp -s fd00::1 -d fd00::2 --sport 5000 --dport 53 -t 300 2>/dev/null
mount_proc "$BARE"
in_bare() { ip netns exec "$NS" chroot "$BARE" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root "$@"; }
EVENT_ENTRY=(-p udp -s 10.0.0.9 -d 10.0.0.10 --sport 7000 --dport 8000 -t 300)

section "the library in namespace $NS (chroot into the bare root): open, list(), count(), one event"
in_bare sh -c 'cd /app && exec node use.mjs' >"$WORK/use.out" 2>&1 &
probe_pid=$!
wait_for "$WORK/use.out" '^events: subscribed$|Error' 30 || fail "use.mjs did not subscribe: $(cat "$WORK/use.out")"
ip netns exec "$NS" conntrack -I "${EVENT_ENTRY[@]}" 2>/dev/null
wait_for "$WORK/use.out" '^count\(\) = 4$|Error' 30 || true
wait "$probe_pid" || fail "use.mjs failed: $(cat "$WORK/use.out")"
probe_pid=
sed 's/^/  /' "$WORK/use.out"
grep -q '^binary: prebuilds/linux-x64/@x+nfct.glibc.node$' "$WORK/use.out" || fail "node-gyp-build did not pick prebuilds/linux-x64"
[ "$(grep -c '^list: ' "$WORK/use.out")" = 3 ] || fail "list() did not give the 3 entries"
grep -q '^count() = 3$' "$WORK/use.out" || fail "count() did not say 3"
grep -q '^event: new udp 10.0.0.9:7000 -> 10.0.0.10:8000 ' "$WORK/use.out" || fail "no NEW event for the entry conntrack -I made"
grep -q '^count() = 4$' "$WORK/use.out" || fail "count() did not say 4 after the event"

section "nfct -L in the bare root, and conntrack -L (host) in the same namespace"
in_bare sh -c 'cd /app && ./node_modules/.bin/nfct -L' >"$WORK/nfct.out" 2>"$WORK/nfct.err"
ip netns exec "$NS" conntrack -L >"$WORK/conntrack.out" 2>"$WORK/conntrack.err"
sed 's/^/  nfct:      /' "$WORK/nfct.out" "$WORK/nfct.err"
sed 's/^/  conntrack: /' "$WORK/conntrack.out" "$WORK/conntrack.err"
# The flow lines, with the remaining timeout (third field) masked: a second may pass between.
flows() { sed -E 's/^(\S+\s+\S+\s+)[0-9]+ /\1T /' "$1" | sort; }
[ "$(wc -l <"$WORK/conntrack.out")" = 4 ] || fail "conntrack -L did not show the 4 entries"
diff <(flows "$WORK/nfct.out") <(flows "$WORK/conntrack.out") >"$WORK/diff" || fail "nfct -L and conntrack -L differ: $(cat "$WORK/diff")"
echo "  the same 4 flow lines (remaining timeouts aside)"
# The summary on stderr: each program names itself, with the same count.
grep -qx 'nfct v[0-9.]* (conntrack-tools compatible): 4 flow entries have been shown.' "$WORK/nfct.err" || fail "nfct's summary line: $(cat "$WORK/nfct.err")"
grep -qx 'conntrack v[0-9.]* (conntrack-tools): 4 flow entries have been shown.' "$WORK/conntrack.err" || fail "conntrack's summary line: $(cat "$WORK/conntrack.err")"
echo "  summary lines: 4 flow entries, each naming its own program"

# 4. When the native part cannot load: a build linked against the system's libraries.
if [ -e "$REPO/build/Release/nfct.node" ]; then
  section "an addon linked against the system's netfilter libraries (NFCT_ADDON), in the bare root"
  install -D -m 644 "$REPO/build/Release/nfct.node" "$BARE/app/system-linked/nfct.node"
  in_dynamic() { in_bare NFCT_ADDON=/app/system-linked/nfct.node sh -c "cd /app && $1" 2>&1; }
  in_dynamic 'node use.mjs; echo "exit $?"' | grep -v '^    at ' | sed 's/^/  /' | tee "$WORK/missing.out"
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

# 5. linux-arm64 under qemu-user.
cleanup_mounts
bash "$REPO/scripts/release/arm64-check.sh" "$tarball" "$BARE/app/deps"

section "bare-root check passed"
