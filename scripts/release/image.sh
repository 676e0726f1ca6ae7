#!/usr/bin/env bash
# Release check, step 3: the exporter image, deploy/Dockerfile built with Debian's podman.
#
#   bash scripts/release/image.sh [TAG]      (default localhost/nfct-exporter:ci)
#
# No base image is pulled. The Dockerfile's FROM, node:20-bookworm-slim, is made here as that
# image is made: a Debian bookworm minbase root (debootstrap) with this machine's node and npm
# in /usr/local, imported with `podman import` and tagged docker.io/library/node:20-bookworm-slim,
# so that the Dockerfile stays the one anyone builds elsewhere (`podman build --pull=never`
# then finds the base locally). The build's RUN steps use the host's network (apt-get, npm ci);
# nothing is changed in the host's rules. podman runs with runc: Debian's default, crun, fails
# on this kernel's hybrid cgroups. test/release/image.test.ts then runs the image as the
# DaemonSet would. Root only; ~5 minutes with no root made yet.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"

TAG=${1:-localhost/nfct-exporter:ci}
BASE_ROOT=$(root_dir base)
need podman runc debootstrap
PODMAN=(podman --runtime runc)

from=$(sed -n 's/^FROM \([^ ]*\).*/\1/p' "$REPO/deploy/Dockerfile" | sort -u)
[ "$from" = node:20-bookworm-slim ] || die "deploy/Dockerfile builds FROM $from; this script makes node:20-bookworm-slim only"
[ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || die "node:20-bookworm-slim needs this machine's node to be 20.x"

# 1. The base: bookworm minbase with node and npm, as the official slim image has them.
make_named_root base
copy_node "$BASE_ROOT"
rm -f "$BASE_ROOT/etc/resolv.conf"
# Node's headers where the official tarball has them. node-gyp would download them from
# nodejs.org, which is not reachable here: npm_config_nodedir points it at these instead.
headers=$(dirname "$(readlink -f "$(command -v node)")")/../include/node
[ -e "$headers/node_api.h" ] || headers=/usr/include/node
rm -rf "$BASE_ROOT/usr/local/include/node" && mkdir -p "$BASE_ROOT/usr/local/include"
cp -a "$headers" "$BASE_ROOT/usr/local/include/node"
changes=(--change 'CMD ["node"]' --change "ENV NODE_VERSION=$(node -p process.versions.node)" --change 'ENV npm_config_nodedir=/usr/local')
# Where this machine's node trusts extra certificate authorities (a TLS-inspecting proxy in
# front of the npm registry), the base's node trusts them too, as the machine's own node does.
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ]; then
  install -D -m 644 "$NODE_EXTRA_CA_CERTS" "$BASE_ROOT/usr/local/share/ca-certificates/host-extra.crt"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/host-extra.crt')
fi
log "podman import $BASE_ROOT as docker.io/library/node:20-bookworm-slim"
tar -C "$BASE_ROOT" --exclude=./proc --exclude=./.nfct-root-done -c . |
  "${PODMAN[@]}" import "${changes[@]}" - docker.io/library/node:20-bookworm-slim >/dev/null

# 2. The image, from this tree (.dockerignore keeps node_modules, builds and roots out).
log "podman build -f deploy/Dockerfile -t $TAG"
"${PODMAN[@]}" build --pull=never --network host --layers=false -f "$REPO/deploy/Dockerfile" -t "$TAG" "$REPO" >"$ROOTS/image-build.log" 2>&1 ||
  { tail -n 40 "$ROOTS/image-build.log" >&2; die "podman build failed (see $ROOTS/image-build.log)"; }
"${PODMAN[@]}" image inspect --format '{{.Id}} {{.Size}}' "$TAG" | {
  read -r id size
  log "built $TAG: ${id:0:12}, $((size / 1048576)) MiB"
}
