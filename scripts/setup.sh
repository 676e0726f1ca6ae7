#!/usr/bin/env bash
# Brings a Debian/Ubuntu machine (as root) to the point where the library builds and its tests
# run: the system packages, the npm dependencies, the native addon and the TypeScript build.
# Each step runs only when something is missing or stale, so calling it again is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential pkg-config python3 libnetfilter-conntrack-dev libnetfilter-log-dev
  libmnl-dev libnftnl-dev conntrack iptables nftables iproute2 iputils-ping tcpdump tmux prometheus
  util-linux nfdump ulogd2 libfixbuf-tools openssl apache2-utils clang-format)

log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing packages (${missing[*]}); run as root"; exit 1; }
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubectl for `kubectl kustomize` (the deploy/ tests): Debian's kubernetes-client, unless the
# machine has a kubectl already (another package may own /usr/bin/kubectl).
if ! command -v kubectl >/dev/null; then
  [ "$(id -u)" = 0 ] || { log "kubectl is missing (Debian: kubernetes-client); run as root"; exit 1; }
  log "installing kubernetes-client"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  log "Node.js 20 or newer is required"; exit 1
fi

# The npm dependencies, installed again when package-lock.json differs from the one they were
# installed from (its hash is kept beside them: a copied or cloned tree has new times, not new
# contents). A node_modules that is a link belongs to another tree (the mutation runs' sandbox
# links the checkout's): npm ci would empty that tree's, so it is left alone.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -L node_modules ]; then
  :
elif [ ! -d node_modules ] || [ "$(cat node_modules/.nfct-package-lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
  log "npm ci"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.nfct-package-lock.sha256
fi

stale() { # stale TARGET SOURCES...: true when TARGET is missing or older than any source
  local target=$1; shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" -newer "$target" -type f 2>/dev/null | head -n 1)" ]
}

if stale build/Release/nfct.node native binding.gyp; then
  log "building the native addon"
  npx --no-install node-gyp rebuild -j "$(nproc)" --loglevel=error >/dev/null
fi
if stale dist/index.mjs lib tsconfig.json tsconfig.build.json scripts/write-esm-entry.mjs scripts/gen-layout.mjs native/layout; then
  log "building the TypeScript"
  npm run --silent build:ts
fi
