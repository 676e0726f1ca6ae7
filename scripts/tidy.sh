#!/usr/bin/env bash
# Applies every mechanical change the linters ask for, in one go, for one commit of its own:
#   1. ESLint's automatic fixes (eslint --fix), the suppressions they made unused pruned from
#      eslint-suppressions.json
#   2. dprint over lib/ test/ bench/ scripts/ examples/ and the root's .mjs/.mts (dprint.json),
#      clang-format over native/ (.clang-format)
#   3. the formatters' checks turned on in scripts/lint.sh (FORMAT_CHECKED=1)
#   4. what ESLint still finds recorded in eslint-suppressions.json, and the symbols without a
#      doc comment in scripts/lint-undocumented.txt; each addition is printed (a fix can leave
#      a finding of another rule behind, such as an import only a removed cast used; code
#      merged since the lists were made can add its own)
#   5. `npm run typecheck` and `npm run lint`, which must then pass
# Then: review the additions and `git diff --stat`, `npm run build`, run the suite, and commit
# (`style: ...`). It takes a few minutes (ESLint reads the whole tree three times).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
suppressions=eslint-suppressions.json

echo "tidy: eslint --fix"
npx --no-install eslint --fix --prune-suppressions . >/dev/null || true

echo "tidy: dprint, clang-format"
npx --yes dprint@0.57.4 fmt >/dev/null
git ls-files -z 'native/*.cc' 'native/*.h' | xargs -0 clang-format -i
sed -i 's/^FORMAT_CHECKED=0$/FORMAT_CHECKED=1/' scripts/lint.sh

echo "tidy: recording what ESLint still finds"
before=$(mktemp)
trap 'rm -f "$before"' EXIT
cp "$suppressions" "$before"
npx --no-install eslint --suppress-all --pass-on-unpruned-suppressions . >/dev/null || true
node -e '
  const fs = require("node:fs");
  const [was, now] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
  for (const [file, rules] of Object.entries(now)) {
    for (const [rule, { count }] of Object.entries(rules)) {
      const old = was[file]?.[rule]?.count ?? 0;
      if (count > old) console.log(`tidy: added to ${process.argv[2]}: ${file} ${rule} +${count - old}`);
    }
  }' "$before" "$suppressions"

echo "tidy: recording the symbols without a doc comment"
listed=$(grep -v '^#' scripts/lint-undocumented.txt | sort -u)
bash scripts/undocumented.sh
comm -13 <(printf '%s\n' "$listed") <(grep -v '^#' scripts/lint-undocumented.txt | sort -u) | sed 's/^/tidy: added to scripts\/lint-undocumented.txt: /'

echo "tidy: npm run typecheck"
npm run --silent typecheck
echo "tidy: npm run lint"
lint=0
bash scripts/lint.sh || lint=$?
echo "tidy: done in $((SECONDS - start)) s; $(git diff --shortstat)"
exit "$lint"
