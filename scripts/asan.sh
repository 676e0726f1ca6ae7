#!/usr/bin/env bash
# The addon under AddressSanitizer + UndefinedBehaviorSanitizer, with LeakSanitizer where a
# leak check can mean something. As root, like the suite itself. Three runs:
#   suite   the vitest suite (but test/core/package.test.ts), leak check off;
#   kernel  test/support/memcheck-driver.mjs kernel: every native path once, in a namespace of
#           its own, then a normal node exit, with the leak check;
#   fuzz    the same driver's decodeForTest() part, with the leak check, every distinct
#           invalid access reported (halt_on_error=0) rather than only the first.
#
#   bash scripts/asan.sh                      # build if needed, then the three runs
#   bash scripts/asan.sh test/nflog/nflog.test.ts   # arguments go to vitest (files, -t PATTERN)
#   NFCT_ASAN_CONTINUE=1 bash scripts/asan.sh # suite: log address errors and go on instead of
#                                             # aborting the worker (the whole suite runs)
#   NFCT_ASAN_SKIP_SUITE=1 bash scripts/asan.sh   # only the driver runs (~15 s)
#
# The build: binding.gyp and native/ are copied into build-memcheck/asan/src/ (only files whose
# content changed are rewritten, so make rebuilds only what changed) and built there by
# node-gyp with the sanitizer flags in CFLAGS/CXXFLAGS/LDFLAGS. build/Release, which the normal
# suite, the benchmarks and everyone else load, is never touched, and a rebuild of it by
# someone else never pulls the addon out from under this run. The copy lives inside the
# repository (ignored by git) so that binding.gyp's `require('node-addon-api')` resolves from
# the repository's node_modules.
#
# The runs: node is not built with ASan, so its runtime is preloaded (LD_PRELOAD: it must come
# before every other library) and lib/core/native.ts loads the sanitized addon from NFCT_ADDON. Every
# process inherits the preload, the tools the tests call (ip, nft, conntrack, ...) included, so
# the sanitizers never change an exit status by themselves (exitcode=0); an invalid access or
# UB aborts the process that hit it (abort_on_error=1, halt_on_error=1), which fails its test.
# ASan and LeakSanitizer reports go to build-memcheck/asan/logs/<run>/, one file per program and
# pid; UBSan's go to stderr (it ignores log_path when loaded after startup), which is kept in
# build-memcheck/asan/logs/<run>.out. quarantine_size_mb=16 (default 256): the suite's
# memory-growth assertions (test/core/lifecycle.test.ts) would otherwise count freed memory held in
# ASan's quarantine.
#
# Why no leak check in the suite: vitest ends each worker with SIGTERM and SIGKILLs it a second
# later, too soon for LeakSanitizer to scan and report a node heap (the reports came out cut),
# and a worker that ends without tearing node down leaves hundreds of V8 allocations that are
# not leaks. The driver ends as node ends when its event loop drains: the environment is torn
# down, finalizers and cleanup hooks run, and what is left is lost memory.
#
# The verdict, from the reports:
#   - an ASan or UBSan error in a node process, or with the addon on its stack: failure;
#   - a definite ("Direct") leak allocated by our code (the first frame past the allocator is
#     in native/ or node-addon-api, or in a libnetfilter_*/libmnl/libnftnl call made from it):
#     failure. Leaks allocated inside node, V8 or libuv are counted and shown, not failed;
#     test/support/lsan.supp silences the known ones (it names only node functions that
#     allocate and never call into the addon, so it cannot hide a leak of ours). Leaks and
#     errors of the other programs (ip, sysctl, ...) are counted only.
#   - any run exiting non-zero (a failed test, a driver path that did not run): failure.
# Exit status 0 when clean, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-memcheck/asan
SRC=$OUT/src
LOGS=$OUT/logs
ADDON=$SRC/build/Release/nfct.node

log() { printf '[asan] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "run as root (the tests make network namespaces)"; exit 1; }
# shellcheck source=scripts/memcheck-common.sh
source "$ROOT/scripts/memcheck-common.sh"
trap cleanup_netns EXIT
[ -d node_modules ] || bash scripts/setup.sh

LIBASAN=$(gcc -print-file-name=libasan.so)
case "$LIBASAN" in /*) ;; *) log "gcc has no libasan.so (install gcc's libasan)"; exit 1 ;; esac
LIBASAN=$(readlink -f "$LIBASAN")

# ---- build ---------------------------------------------------------------------------------
# Address errors are compiled recoverable so that the fuzz run can list every distinct one
# (halt_on_error=0 there); everywhere else halt_on_error=1 makes the first one abort. UB always
# aborts.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize-recover=address -fno-omit-frame-pointer -g -O1"
export CFLAGS="$SAN"
# _GLIBCXX_ASSERTIONS: bounds-checked operator[] and friends. (Not _GLIBCXX_SANITIZE_VECTOR:
# node exports its own instantiations of std::vector<unsigned char> members, which the addon's
# calls bind to, and those carry no container annotations: false container-overflows.)
export CXXFLAGS="$SAN -D_GLIBCXX_ASSERTIONS"
export LDFLAGS="-fsanitize=address,undefined"

build_addon "the sanitized addon"
ensure_dist

# ---- runs ----------------------------------------------------------------------------------
rm -rf "$LOGS"
mkdir -p "$LOGS"
export NFCT_ADDON=$ADDON
export LSAN_OPTIONS="suppressions=$ROOT/test/support/lsan.supp:print_suppressions=1"
COMMON="abort_on_error=1:exitcode=0:quarantine_size_mb=16:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_exe_name=1:malloc_context_size=30"
preload="$LIBASAN${LD_PRELOAD:+ $LD_PRELOAD}"

# phase NAME HALT LEAKS TIMEOUT COMMAND...: one run with its own report directory.
phase() {
  local name=$1 halt=$2 leaks=$3 limit=$4
  shift 4
  mkdir -p "$LOGS/$name"
  log "$name: $*"
  local t0 status
  t0=$(date +%s)
  set +e
  LD_PRELOAD="$preload" \
    ASAN_OPTIONS="$COMMON:halt_on_error=$halt:detect_leaks=$leaks:log_path=$LOGS/$name/asan" \
    UBSAN_OPTIONS="abort_on_error=1:halt_on_error=1:print_stacktrace=1" \
    timeout --kill-after=30 "$limit" "$@" </dev/null 2>&1 | tee "$LOGS/$name.out"
  status=${PIPESTATUS[0]}
  set -e
  log "$name: exit $status after $(( $(date +%s) - t0 )) s"
  printf '%s %s\n' "$name" "$status" >>"$LOGS/status"
}

# 1. The suite, every invalid access or UB aborting its worker; no leak check (see above).
#    test/core/package.test.ts is left out: it packs and installs the package (a node-gyp build of
#    its own, npm, tsc: minutes under ASan) and tests what goes in the tarball, not memory.
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--exclude test/core/package.test.ts)
halt=1
[ -n "${NFCT_ASAN_CONTINUE:-}" ] && halt=0
[ -n "${NFCT_ASAN_SKIP_SUITE:-}" ] || phase suite "$halt" 0 600 node node_modules/vitest/vitest.mjs run "${args[@]}"

# 2. The memcheck driver's kernel part, ending as node ends when its loop drains (the
#    environment torn down, every finalizer and cleanup hook run): LeakSanitizer's report is
#    then about memory really lost.
phase kernel 1 1 300 node --expose-gc test/support/memcheck-driver.mjs kernel

# 3. The decoders on random and malformed messages. halt_on_error=0: every distinct invalid
#    access is reported, not only the first.
#    Cheap under ASan: 20,000 rounds (400,000 inputs; valgrind.sh runs 1,000).
NFCT_MEMCHECK_FUZZ=${NFCT_MEMCHECK_FUZZ:-20000} phase fuzz 0 1 300 node --expose-gc test/support/memcheck-driver.mjs fuzz

# ---- the reports ---------------------------------------------------------------------------
verdict=0
node - "$LOGS" "$ADDON" <<'EOF' || verdict=$?
// Reads the sanitizer logs: errors (deduplicated by their top frames), and leaks attributed to
// whoever allocated them.
const fs = require('node:fs');
const path = require('node:path');
const [dir, addon] = process.argv.slice(2);

const OURS = (f) => f.includes('../native/') || f.includes(addon) || f.includes('nfct.node') || f.includes('node-addon-api/napi');
const NETFILTER = (f) => /libnetfilter_|libmnl|libnftnl|libnfnetlink/.test(f);
// Frames that only pass an allocation along (the allocator, the C++ and C libraries).
const PLUMBING = (f) =>
  /libsanitizer|asan_(malloc|new_delete)|in (operator new|malloc|calloc|realloc|strdup|__interceptor_)|in (std::|__gnu_cxx::|__cxxabiv1)|libstdc\+\+|libc\.so|\/usr\/include\/c\+\+\//.test(f);

/** Who made the allocation: the first frame past the allocator. */
function owner(frames) {
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (PLUMBING(f)) continue;
    if (OURS(f)) return 'ours';
    if (NETFILTER(f)) {
      // A netfilter library allocating on our behalf is ours to free.
      const caller = frames.slice(i + 1).find((g) => !NETFILTER(g) && !PLUMBING(g));
      return caller && OURS(caller) ? 'ours' : 'netfilter';
    }
    if (f.includes('/usr/bin/node') || /in (v8::|node::|uv_|uv__|napi_|v8impl::|Builtins_|cppgc::|heap::)/.test(f)) return 'node';
    return 'other';
  }
  return 'other';
}
const short = (f) => f.replace(/^\s*#\d+ 0x[0-9a-f]+ in /, '').replace(/\(\/[^)]*\+0x[0-9a-f]+\)/, '').trim();

const status = Object.fromEntries(
  (fs.existsSync(path.join(dir, 'status')) ? fs.readFileSync(path.join(dir, 'status'), 'utf8') : '')
    .trim().split('\n').filter(Boolean).map((l) => l.split(' ')),
);
const failures = [];
const errors = new Map(); // signature -> { count, text }
const lines = [];
for (const phase of fs.readdirSync(dir).filter((d) => fs.statSync(path.join(dir, d)).isDirectory()).sort()) {
  const direct = {};
  const indirect = {};
  let suppressed = 0;
  let nerrors = 0;
  let files = 0;
  // The report files, and the run's own output: UBSan, loaded with the addon after startup,
  // writes its reports to stderr whatever log_path says.
  const sources = fs.readdirSync(path.join(dir, phase)).sort().map((n) => [n, path.join(dir, phase, n)]);
  if (fs.existsSync(path.join(dir, `${phase}.out`))) sources.push([`ubsan.node.stderr`, path.join(dir, `${phase}.out`)]);
  for (const [name, file] of sources) {
    let text = fs.readFileSync(file, 'utf8');
    if (name === 'ubsan.node.stderr') {
      // Only the UBSan reports of the output.
      text = (text.match(/^\S+:\d+:\d+: runtime error:.*\n(?:\s+#\d+ .*\n?)*/gm) ?? []).join('\n');
      if (!text) continue;
    }
    files++;
    const exe = name.replace(/^(asan|ubsan)\./, '').replace(/\.(\d+|stderr)$/, '');
    const isNode = exe === 'node';
    const blocks = text.split(/\n(?=Direct leak|Indirect leak|=+\n==\S+==ERROR|\S+:\d+:\d+: runtime error)/);
    for (const b of blocks) {
      const frames = b.split('\n').filter((l) => /^\s+#\d+ /.test(l));
      const err = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)[^\n]*|runtime error:[^\n]*/.exec(b);
      if (err && !/detected memory leaks/.test(err[0])) {
        nerrors++;
        const ours = frames.some(OURS);
        const kind = err[0].replace(/ on address.*| at pc.*/, '');
        const sig = `${kind} @ ${frames.slice(0, 3).map(short).join(' < ')}`;
        const key = `${phase}: ${sig}`;
        const e = errors.get(key) ?? { count: 0, phase, exe, ours, text: `${err[0]}\n${b.split('\n').filter((l) => /^(READ|WRITE)|#\d+ |located|allocated by/.test(l.trim())).slice(0, 24).join('\n')}` };
        e.count++;
        e.sig = sig;
        errors.set(key, e);
        if (!(isNode || ours)) lines.push(`[asan] ${phase}: an error in ${exe}, not in our code: ${kind}`);
        continue;
      }
      const leak = /^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object/.exec(b.trimStart());
      if (!leak) continue;
      const who = isNode ? owner(frames) : `program ${exe}`;
      const into = leak[1] === 'Direct' ? direct : indirect;
      into[who] ??= { count: 0, bytes: 0 };
      into[who].count++;
      into[who].bytes += Number(leak[2]);
      if (isNode && leak[1] === 'Direct' && who === 'ours') {
        failures.push(`${phase}: definite leak allocated by our code: ${leak[0]}\n${frames.slice(0, 16).join('\n')}`);
      }
    }
    const used = /Suppressions used:\n\s*count\s+bytes\s+template\n([\s\S]*?)\n-{5,}/.exec(text);
    if (used) for (const m of used[1].matchAll(/^\s*(\d+)\s+\d+\s+\S+/gm)) suppressed += Number(m[1]);
  }
  const fmt = (o) => Object.entries(o).map(([k, v]) => `${k} ${v.count} (${v.bytes} bytes)`).join(', ') || 'none';
  lines.push(`[asan] ${phase}: exit ${status[phase] ?? '?'}, ${files} report files, ${nerrors} errors; definite leaks: ${fmt(direct)}; indirect: ${fmt(indirect)}; suppressed leaks: ${suppressed}`);
}
for (const e of errors.values()) {
  if (e.exe === 'node' || e.ours) failures.push(`${e.phase}: ${e.count} x ${e.sig}\n${e.text}`);
}
console.log('\n[asan] ==== sanitizer reports ====');
for (const l of lines) console.log(l);
console.log(`[asan] distinct errors: ${errors.size}`);
for (const f of failures) console.log(`\n[asan] FAILURE ${f}`);
process.exit(failures.length > 0 ? 1 : 0);
EOF

bad=0
while read -r name st; do
  if [ "$st" != 0 ]; then
    log "$name failed (exit $st)"
    bad=1
  fi
done <"$LOGS/status"
if [ "$verdict" -ne 0 ] || [ "$bad" -ne 0 ]; then
  log "problems above; reports in ${LOGS#"$ROOT"/}/<phase>/"
  exit 1
fi
log "clean: no sanitizer error, no definite leak allocated by the addon"
