#!/usr/bin/env bash
# valgrind memcheck over test/support/memcheck-driver.mjs, which drives every native path of
# the addon once or a few times in a network namespace of its own (vitest under valgrind would
# take hours). As root.
#
#   bash scripts/valgrind.sh            # both parts of the driver: kernel, then fuzz
#   bash scripts/valgrind.sh kernel     # or only one
#   NFCT_VALGRIND_ORIGINS=1 bash scripts/valgrind.sh   # --track-origins=yes (about 2x slower)
#
# The addon: binding.gyp and native/ are copied into build-memcheck/debug/src/ (only files
# whose content changed are rewritten) and built there with -O1 -g, so reports carry file and
# line, and so a rebuild of build/Release by someone else never pulls the addon out from under
# the run; lib/core/native.ts loads it from NFCT_ADDON. The JavaScript: dist/, rebuilt with
# `npm run build:ts` when lib/ is newer.
#
# Reported as failures: every memcheck error (invalid read/write, use of uninitialised values
# in a jump or a syscall, bad free, overlap) and every definite leak
# (--errors-for-leak-kinds=definite). test/support/valgrind.supp suppresses only what node, V8,
# libuv and glibc do on their own (each entry says why); nothing there names our code.
# valgrind does not follow child processes (ip, nft, ping): they are not ours.
# Exit status: 0 clean; 1 errors, leaks, or a driver path that did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-memcheck/debug
SRC=$OUT/src
LOGS=$ROOT/build-memcheck/valgrind
ADDON=$SRC/build/Release/nfct.node

log() { printf '[valgrind] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "run as root (the driver makes a network namespace)"; exit 1; }
# shellcheck source=scripts/memcheck-common.sh
source "$ROOT/scripts/memcheck-common.sh"
trap cleanup_netns EXIT
if ! command -v valgrind >/dev/null; then
  log "installing valgrind"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
[ -d node_modules ] || bash scripts/setup.sh

# ---- the addon, with debug information ------------------------------------------------------
export CFLAGS="-O1 -g -fno-omit-frame-pointer"
export CXXFLAGS="$CFLAGS"
export LDFLAGS=""
build_addon "the addon (-O1 -g)"
ensure_dist

# ---- the runs -------------------------------------------------------------------------------
rm -rf "$LOGS"
mkdir -p "$LOGS"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(kernel fuzz)
VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
  --error-exitcode=97 --num-callers=40 --suppressions="$ROOT/test/support/valgrind.supp"
  --gen-suppressions=all --trace-children=no --child-silent-after-fork=yes)
[ -n "${NFCT_VALGRIND_ORIGINS:-}" ] && VG+=(--track-origins=yes)

export NFCT_ADDON=$ADDON
failed=0
for part in "${parts[@]}"; do
  logf="$LOGS/$part.log"
  log "memcheck: driver part '$part' (report: ${logf#"$ROOT"/})"
  t0=$(date +%s)
  status=0
  timeout --kill-after=30 540 "${VG[@]}" --log-file="$logf" \
    node --expose-gc test/support/memcheck-driver.mjs "$part" </dev/null >"$LOGS/$part.out" 2>&1 || status=$?
  secs=$(( $(date +%s) - t0 ))
  # The driver's own account: what ran, what did not.
  grep -E 'paths ran|FAIL|did not run' "$LOGS/$part.out" | sed 's/^/    /' >&2 || true
  summary=$(grep -E 'ERROR SUMMARY' "$logf" | tail -n 1 | sed 's/^==[0-9]*== //')
  lost=$(grep -E 'definitely lost:' "$logf" | tail -n 1 | sed 's/^==[0-9]*== *//')
  log "part '$part': exit $status after ${secs} s; ${summary:-no summary}; ${lost:-no leak summary}"
  if [ "$status" -ne 0 ]; then
    failed=1
    # The first errors, with their stacks, for the log of whoever runs this.
    awk '/^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest|[0-9,]+ bytes in [0-9,]+ blocks are definitely)/{n=40} n>0 && /^==/{print; n--} /^==[0-9]+== $/{n=0}' "$logf" | head -n 200 >&2
    [ "$status" = 124 ] && log "part '$part' timed out"
    [ "$status" = 97 ] || [ "$status" = 124 ] || log "part '$part': the driver failed (a path did not run; see above)"
  fi
done

if [ "$failed" -ne 0 ]; then
  log "memcheck found problems; full reports in ${LOGS#"$ROOT"/}"
  exit 1
fi
log "clean: no memcheck error, no definite leak"
