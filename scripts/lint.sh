#!/usr/bin/env bash
# `npm run lint`: every check of the code's form, each run whatever the one before found, and a
# count of findings per tool at the end; the exit status is 1 when any tool found anything.
#   eslint      typescript-eslint's strict type-checked rules (eslint.config.mjs)
#   dprint      TypeScript and JavaScript formatted as dprint.json says (npm run format fixes it)
#   clang-format  the C++ of native/ formatted as .clang-format says (npm run format fixes it)
#   typedoc     every exported symbol has a doc comment (the missing-docs check)
set -uo pipefail
cd "$(dirname "$0")/.."
declare -A found
status=0

# One line per finding (file:line:col rule: message), counted; an ESLint that cannot run counts 1.
eslint_out=$(npx --no-install eslint --format json . 2>/dev/null | node -e '
  let text = "";
  process.stdin.on("data", (d) => (text += d)).on("end", () => {
    let results;
    try {
      results = JSON.parse(text);
    } catch {
      console.log("eslint did not run (npx eslint . says why)");
      return;
    }
    for (const r of results) for (const m of r.messages) console.log(`${r.filePath}:${m.line}:${m.column} ${m.ruleId ?? "error"}: ${m.message}`);
  });')
found[eslint]=$(grep -c . <<<"$eslint_out" || true)
[ -n "$eslint_out" ] && printf '%s\n' "$eslint_out"

dprint_out=$(npx --no-install dprint check --list-different 2>&1)
found[dprint]=$(grep -c . <<<"$dprint_out" || true)
[ -n "$dprint_out" ] && printf 'not formatted (dprint): %s\n' $dprint_out

clang=0
while IFS= read -r -d '' f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted (clang-format): $f"
    clang=$((clang + 1))
  fi
done < <(git ls-files -z 'native/*.cc' 'native/*.h')
found[clang-format]=$clang

typedoc_out=$(npx --no-install typedoc --emit none --validation.notDocumented --treatWarningsAsErrors false --logLevel Warn 2>&1)
found[typedoc]=$(grep -c 'does not have any documentation' <<<"$typedoc_out" || true)
grep 'does not have any documentation' <<<"$typedoc_out" | sed 's/\x1b\[[0-9;]*m//g' || true

echo
for tool in eslint dprint clang-format typedoc; do
  echo "lint: $tool: ${found[$tool]} findings"
  [ "${found[$tool]}" -eq 0 ] || status=1
done
exit "$status"
