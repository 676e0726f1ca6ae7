#!/usr/bin/env bash
# The release as CI runs it (.ci/run calls this), as root, with the same commands a release runs:
#
#   npm run release:prebuilds   the linux-x64 and linux-arm64 binaries (scripts/release/prebuilds.sh)
#   npm run release:check       npm pack, then the tarball in bare Debian roots (bare-root-check.sh)
#   npm run release:image       the exporter image from deploy/Dockerfile (image.sh)
#   test/release/               that image run as the DaemonSet runs it, scraped from outside
#
# then removes what it made: the Debian roots (unless NFCT_ROOTS named a folder to keep them
# in), the images, the containers. Every root is made afresh in a new folder, as on a fresh
# machine: nothing is cached between runs but the host's Debian packages and npm's cache.
# Prints the time of each step. NFCT_RELEASE_REPORT=FILE: the vitest JSON report of test/release/.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=common.sh
source scripts/release/common.sh

need debootstrap qemu-user-static podman runc binutils file curl python3 conntrack iproute2 debian-archive-keyring
keep_roots=${NFCT_ROOTS:-}
if [ -z "$keep_roots" ]; then
  NFCT_ROOTS=$(mktemp -d /var/tmp/nfct-ci-roots-XXXXXX)
fi
export NFCT_ROOTS
ROOTS=$NFCT_ROOTS   # common.sh read NFCT_ROOTS when sourced, before it was set here
TAG=localhost/nfct-exporter:ci   # release:image's default tag; removed again at the end
BASE=docker.io/library/node:20-bookworm-slim
status=0
times=()

cleanup() {
  local c
  cleanup_mounts
  # Containers of this run's image (the test removes its own; one it could not is removed here).
  for c in $(podman ps --all --quiet --filter "ancestor=$TAG" 2>/dev/null); do podman --runtime runc rm --force "$c" >/dev/null 2>&1 || true; done
  podman --runtime runc rmi --force "$TAG" "$BASE" >/dev/null 2>&1 || true
  [ -n "$keep_roots" ] || rm -rf "$NFCT_ROOTS"
}
trap cleanup EXIT

step() { # step NAME COMMAND...: runs it, records its time, a failure fails the run
  local name=$1 start=$SECONDS rc=0
  shift
  printf '\n==== release: %s\n' "$name"
  "$@" </dev/null || rc=$?
  times+=("$(printf '%-26s %4ss %s' "$name" $((SECONDS - start)) "$([ "$rc" = 0 ] && echo ok || echo "FAILED ($rc)")")")
  if [ "$rc" != 0 ]; then status=1; fi
  return "$rc"
}

# The roots that need no compiler are made while the binaries compile (debootstrap waits mostly
# on the network); the steps below find them made, as they would find them kept from an earlier
# run without CI.
( make_roots bare arm64 base ) >"$NFCT_ROOTS/roots.log" 2>&1 &
roots=$!
# Each step's command is the one docs/development.md and docs/operations.md give, word for word
# ("$TAG" for the image's tag, "${report[@]}" added): test/docs/shipping.test.ts
# holds the documents to these lines.
report=(--reporter=default ${NFCT_RELEASE_REPORT:+--reporter=json --outputFile.json="$NFCT_RELEASE_REPORT"})
step prebuilds npm run release:prebuilds
built=$?
step "other roots (made meanwhile)" wait "$roots" || cat "$NFCT_ROOTS/roots.log"
[ "$built" != 0 ] || step "bare-root check" npm run release:check
step image npm run release:image
# test/release/: the image run as the DaemonSet runs it.
step "test/release" env NFCT_IMAGE="$TAG" npx vitest run --config vitest.release.config.mts "${report[@]}"

printf '\n==== release steps\n'
printf '  %s\n' "${times[@]}"
[ "$status" = 0 ] && echo "release: every step passed" || echo "release: a step failed"
exit "$status"
