#!/usr/bin/env bash
# Mutation testing of lib/ with Stryker (stryker.config.mjs), then the scores per folder
# (scripts/mutation-scores.mjs), which fail below the targets. Reports: reports/mutation/
# (index.html, mutation.json, scores.md).
#
#   bash scripts/mutation.sh                      incremental run over lib/: re-tests only the
#                                                 mutants whose code or covering tests changed
#                                                 since test/mutation/stryker-incremental.json
#   bash scripts/mutation.sh lib/a.ts lib/b/      the same for those files only (the results of
#                                                 the others are kept: scripts/mutation-merge.mjs)
#   bash scripts/mutation.sh --tests 'test/nflog/*.test.ts' lib/nflog/logline-format.ts
#                                                 a quick look: those test files only (a lower
#                                                 bound of the score), results kept apart in
#                                                 reports/mutation/, never in the committed file
#   bash scripts/mutation.sh --refresh            the incremental run over lib/, under the heavy
#                                                 lock: brings the committed file up to date
#   bash scripts/mutation.sh --full               every mutant again (--force), under the lock
#   bash scripts/mutation.sh --ci                 what CI does (a run is hours here, beyond CI's
#                                                 budget): no mutant is run; the committed results
#                                                 are checked against lib/ and test/ as they are
#                                                 now and scored where current
#                                                 (scripts/mutation-check.mjs)
#
# A run stopped before its end (SIGINT, SIGTERM, a failure) keeps what it measured: the results
# so far go into the committed file (scripts/mutation-checkpoint.mjs), and the next run over the
# same files tests only the mutants left.
#
# Niced: it runs beside other work on the machine. NFCT_MUTATION_CONCURRENCY sets the number
# of Stryker's workers (default 2, one per core): half are type checkers until every mutant has
# been checked, then all run tests.
set -uo pipefail
cd "$(dirname "$0")/.."

mode=run
files=()
tests=
while [ $# -gt 0 ]; do
  a=$1
  shift
  case "$a" in
    --tests) tests=${1:?--tests needs test file globs, comma-separated}; shift ;;
    --refresh) mode=refresh ;;
    --full) mode=full ;;
    --ci) mode=ci ;;
    -*) echo "mutation.sh: unknown option $a" >&2; exit 2 ;;
    *) files+=("$a") ;;
  esac
done
if [ -n "$tests" ]; then
  [ "$mode" = run ] || { echo "mutation.sh: --tests is for a quick look, not with --$mode" >&2; exit 2; }
  export NFCT_MUTATION_TESTS=$tests
fi

[ "$mode" = ci ] && exec node scripts/mutation-check.mjs

bash scripts/setup.sh >&2 || exit 1

args=(run stryker.config.mjs)
if [ ${#files[@]} -gt 0 ]; then
  scope=()
  for f in "${files[@]}"; do
    f=${f%/}
    if [ -d "$f" ]; then scope+=("$f/**/*.ts"); else scope+=("$f"); fi
  done
  NFCT_MUTATE=$(IFS=,; echo "${scope[*]}")
  export NFCT_MUTATE
fi

lock=()
[ -e /work/wt/heavy.lock ] && lock=(flock /work/wt/heavy.lock)
[ "$mode" = full ] && args+=(--force)

committed=test/mutation/stryker-incremental.json
ran=reports/mutation/stryker-incremental-run.json
# What the run has measured so far (scripts/mutation-checkpoint.mjs): kept if it stops early.
checkpoint=reports/mutation/checkpoint.json
if [ -z "$tests" ]; then
  mkdir -p reports/mutation
  if [ -e "$committed" ]; then cp "$committed" "$ran"; else rm -f "$ran"; fi
fi
rm -f "$checkpoint"

# Stryker runs in a process group of its own; SIGINT or SIGTERM to this script stops it (its
# test runners too) and lets the script go on to keep what the run measured.
child=
stop() { [ -n "$child" ] && kill -INT -- "-$child" 2>/dev/null; }
trap stop INT TERM
run() {
  setsid nice -n 19 "$@" &
  child=$!
  local s=0
  wait "$child" || s=$?
  while kill -0 "$child" 2>/dev/null; do
    s=0
    wait "$child" || s=$?
  done
  child=
  return "$s"
}
# Stryker, the sources it reads copied just before it starts (after the heavy lock, where one is
# taken): the checkpoint reporter records those, not a file edited while the run goes on (which
# would pass for measured).
[ -z "$tests" ] && export NFCT_MUTATION_SOURCES=reports/mutation/sources
stryker=(bash -c 'if [ -n "${NFCT_MUTATION_SOURCES:-}" ]; then
    rm -rf "$NFCT_MUTATION_SOURCES" && mkdir -p "$NFCT_MUTATION_SOURCES" && cp -r lib test "$NFCT_MUTATION_SOURCES"/ ||
      exit 1
  fi
  exec npx --no-install stryker "$@"' stryker "${args[@]}")
status=0
case "$mode" in
  refresh | full) run "${lock[@]}" "${stryker[@]}" || status=$? ;;
  *) run "${stryker[@]}" || status=$? ;;
esac
trap - INT TERM
if [ "$status" -ne 0 ]; then
  echo "stryker failed or was stopped (exit status $status)" >&2
  # A run stopped before its end: what it measured goes into the committed results, each file
  # not finished marked with the mutants left (the next run over it tests those only).
  if [ -z "$tests" ] && [ -s "$checkpoint" ]; then node scripts/mutation-merge.mjs "$committed" "$checkpoint"; fi
  exit "$status"
fi
# The run's files into the committed results, the other files' kept (scripts/mutation-merge.mjs).
if [ -z "$tests" ]; then node scripts/mutation-merge.mjs "$committed" "$ran" || exit 1; fi

[ -n "$tests" ] && echo "mutation scores with $tests only: a lower bound of what the whole suite kills"
node scripts/mutation-scores.mjs reports/mutation/mutation.json test/mutation/equivalent.json reports/mutation/scores.md
