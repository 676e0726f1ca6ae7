#!/usr/bin/env bash
# Writes scripts/lint-undocumented.txt: the exported symbols TypeDoc finds without a doc comment,
# as `Name (Kind)`, which `npm run lint` lets pass (any other one fails it). With --keep-listed,
# only listed symbols are kept (those documented since drop out; nothing is added).
set -euo pipefail
cd "$(dirname "$0")/.."
list=scripts/lint-undocumented.txt
now=$(npx --no-install typedoc --emit none --validation.notDocumented --treatWarningsAsErrors false --logLevel Warn 2>&1 |
  sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^\[warning\] \(.*\), defined in .*, does not have any documentation$/\1/p' | sort -u)
if [ "${1:-}" = --keep-listed ] && [ -f "$list" ]; then
  now=$(comm -12 <(printf '%s\n' "$now") <(grep -v '^#' "$list" | sort -u))
fi
{
  echo "# Exported symbols without a doc comment, as TypeDoc names them. Each one is a debt: write"
  echo "# its comment (what it is for, in the user's terms) and run scripts/undocumented.sh"
  echo "# --keep-listed. \`npm run lint\` fails on any symbol without a comment that is not here."
  printf '%s\n' "$now" | grep . || true
} >"$list"
echo "scripts/lint-undocumented.txt: $(grep -vc '^#' "$list" || true) symbols"
