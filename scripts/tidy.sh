#!/usr/bin/env bash
# Applies every mechanical change the linters ask for, in one go, for one commit of its own:
#   1. ESLint's automatic fixes (eslint --fix), then the suppressions they made unused pruned
#      from eslint-suppressions.json
#   2. dprint over lib/ test/ bench/ scripts/ examples/ and the root's .mjs/.mts (dprint.json),
#      clang-format over native/ (.clang-format)
#   3. the formatters' checks turned on in scripts/lint.sh (FORMAT_CHECKED=1)
#   4. scripts/lint-undocumented.txt shortened to the symbols that still have no doc comment
#   5. `npm run typecheck` and `npm run lint`, which must then pass
# With --accept, what the lint still finds after that (code that came since the lists were
# made) is added to the lists, so that the commit passes; the counts are printed.
# Then: review `git diff --stat`, `npm run build`, run the suite, commit (`style: ...`).
set -euo pipefail
cd "$(dirname "$0")/.."
accept=0
[ "${1:-}" = --accept ] && accept=1
start=$SECONDS

echo "tidy: eslint --fix"
npx --no-install eslint --fix --prune-suppressions . >/dev/null || true

echo "tidy: dprint, clang-format"
npx --no-install dprint fmt >/dev/null
git ls-files -z 'native/*.cc' 'native/*.h' | xargs -0 clang-format -i

sed -i 's/^FORMAT_CHECKED=0$/FORMAT_CHECKED=1/' scripts/lint.sh

echo "tidy: the symbols still without a doc comment"
bash scripts/undocumented.sh --keep-listed

if [ "$accept" = 1 ]; then
  echo "tidy: recording what the lint still finds (--accept)"
  npx --no-install eslint --suppress-all --pass-on-unpruned-suppressions . >/dev/null || true
  bash scripts/undocumented.sh
fi

echo "tidy: npm run typecheck"
npm run --silent typecheck
echo "tidy: npm run lint"
lint=0
bash scripts/lint.sh || lint=$?
echo "tidy: done in $((SECONDS - start)) s; $(git diff --shortstat)"
exit "$lint"
