#!/usr/bin/env bash
# `npm run lint`: every check of the code's form, each run whatever the one before found, and a
# count of findings per tool at the end; the exit status is 1 when any tool found anything.
#   eslint        typescript-eslint's strict type-checked rules (eslint.config.mjs); what the
#                 code held when the rules came is listed in eslint-suppressions.json
#   dprint        TypeScript and JavaScript formatted as dprint.json says (npm run format fixes it)
#   clang-format  the C++ of native/ formatted as .clang-format says (npm run format fixes it)
#   typedoc       every exported symbol has a doc comment (the missing-docs check); the symbols
#                 that had none when the check came are listed in scripts/lint-undocumented.txt
# `bash scripts/tidy.sh` applies every mechanical fix at once and shortens both lists.
set -uo pipefail
cd "$(dirname "$0")/.."
declare -A found
status=0

# The formatters are checked once the whole tree has been formatted in one commit
# (scripts/tidy.sh sets this to 1 in that commit).
FORMAT_CHECKED=1

# One line per finding (file:line:col rule: message), counted; an ESLint that cannot run counts 1.
eslint_out=$(npx --no-install eslint --pass-on-unpruned-suppressions --format json . 2>/dev/null | node -e '
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

if [ "$FORMAT_CHECKED" = 1 ]; then
  # The files it lists on stdout; stderr has its progress ("Compiling ... plugin.wasm" on a first
  # run), shown only when dprint failed without listing a file.
  dprint_err=$(mktemp)
  dprint_status=0
  dprint_out=$(npx --yes dprint@0.57.4 check --list-different 2>"$dprint_err") || dprint_status=$?
  found[dprint]=$(grep -c . <<<"$dprint_out" || true)
  [ -n "$dprint_out" ] && sed 's/^/not formatted (dprint): /' <<<"$dprint_out"
  if [ "$dprint_status" != 0 ] && [ -z "$dprint_out" ]; then
    echo "dprint failed (exit status $dprint_status): $(cat "$dprint_err")"
    found[dprint]=1
  fi
  rm -f "$dprint_err"

  clang=0
  while IFS= read -r -d '' f; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
      echo "not formatted (clang-format): $f"
      clang=$((clang + 1))
    fi
  done < <(git ls-files -z 'native/*.cc' 'native/*.h')
  found[clang-format]=$clang
fi

# TypeDoc names a symbol without documentation as `Name (Kind), defined in ...`: a name not in
# the list is a finding; a listed one that has a comment now is only counted (tidy.sh drops it).
undocumented=$(npx --no-install typedoc --emit none --validation.notDocumented --treatWarningsAsErrors false --logLevel Warn 2>&1 |
  sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^\[warning\] \(.*\), defined in .*, does not have any documentation$/\1/p' | sort -u)
new_undocumented=$(comm -23 <(printf '%s\n' "$undocumented" | grep .) <(grep -v '^#' scripts/lint-undocumented.txt | sort -u))
found[typedoc]=$(grep -c . <<<"$new_undocumented" || true)
[ -n "$new_undocumented" ] && sed 's/^/no doc comment (typedoc): /' <<<"$new_undocumented"
listed=$(grep -vc '^#' scripts/lint-undocumented.txt || true)
documented_since=$(comm -13 <(printf '%s\n' "$undocumented" | grep .) <(grep -v '^#' scripts/lint-undocumented.txt | sort -u) | grep -c . || true)

echo
for tool in eslint dprint clang-format typedoc; do
  if [ -z "${found[$tool]:-}" ]; then
    echo "lint: $tool: not checked until scripts/tidy.sh has formatted the tree"
    continue
  fi
  echo "lint: $tool: ${found[$tool]} findings"
  [ "${found[$tool]}" -eq 0 ] || status=1
done
echo "lint: still without a doc comment (scripts/lint-undocumented.txt): $((listed - documented_since)) symbols"
exit "$status"
