#!/usr/bin/env bash
# Mutation testing of lib/ with Stryker (stryker.config.mjs), then the scores per folder
# (scripts/mutation-scores.mjs), which fail below the targets. Reports: reports/mutation/
# (index.html, mutation.json, scores.md).
#
#   bash scripts/mutation.sh                      incremental run over lib/: re-tests only the
#                                                 mutants whose code or covering tests changed
#                                                 since test/mutation/stryker-incremental.json
#   bash scripts/mutation.sh lib/a.ts lib/b/      the same for those files only (the results of
#                                                 the others are kept in the incremental file)
#   bash scripts/mutation.sh --refresh            the incremental run over lib/, under the heavy
#                                                 lock: brings the committed file up to date
#   bash scripts/mutation.sh --full               every mutant again (--force), under the lock
#   bash scripts/mutation.sh --ci                 what CI runs: the committed results when lib/
#                                                 and test/ are unchanged since they were made
#                                                 (stryker-incremental.sha256), else the
#                                                 incremental run, failing when it cannot finish
#                                                 in NFCT_MUTATION_CI_MINUTES (20)
#
# Niced: it runs beside other work on the machine. NFCT_MUTATION_CONCURRENCY sets the number
# of test runners (default 2, one per core).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=run
files=()
for a in "$@"; do
  case "$a" in
    --refresh) mode=refresh ;;
    --full) mode=full ;;
    --ci) mode=ci ;;
    -*) echo "mutation.sh: unknown option $a" >&2; exit 2 ;;
    *) files+=("$a") ;;
  esac
done

bash scripts/setup.sh >&2 || exit 1

incremental=test/mutation/stryker-incremental.json
stamp=test/mutation/stryker-incremental.sha256
# What the results depend on: the code mutated and the tests (and their configuration).
fingerprint() {
  find lib test vitest.config.mts stryker.config.mjs -type f ! -path "$incremental" ! -path "$stamp" -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

# CI: when lib/ and test/ are as they were when the committed results were made, those results
# are the report (a run would re-test nothing).
if [ "$mode" = ci ] && [ -s "$incremental" ] && [ -s "$stamp" ] && [ "$(cat "$stamp")" = "$(fingerprint)" ]; then
  echo "mutation testing: lib/ and test/ unchanged since $incremental was made: its results are the report"
  exec node scripts/mutation-scores.mjs "$incremental" test/mutation/equivalent.json
fi

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

run() { nice -n 19 "$@"; }
# Taken before the run: files changed while it runs are not what it tested.
made_from=$(fingerprint)
status=0
case "$mode" in
  refresh | full) run "${lock[@]}" npx --no-install stryker "${args[@]}" || status=$? ;;
  ci)
    minutes=${NFCT_MUTATION_CI_MINUTES:-20}
    run timeout --signal=INT --kill-after=60 "$((minutes * 60))" npx --no-install stryker "${args[@]}" || status=$?
    if [ "$status" -eq 124 ]; then
      echo "mutation testing did not finish in $minutes minutes: test/mutation/stryker-incremental.json is stale (npm run test:mutation:refresh)" >&2
      exit 1
    fi
    ;;
  *) run npx --no-install stryker "${args[@]}" || status=$? ;;
esac
[ "$status" -eq 0 ] || { echo "stryker failed (exit status $status)" >&2; exit "$status"; }
# A run over all of lib/ brings every result up to date: what they were made from is stamped.
[ ${#files[@]} -eq 0 ] && echo "$made_from" > "$stamp"

node scripts/mutation-scores.mjs reports/mutation/mutation.json test/mutation/equivalent.json reports/mutation/scores.md
