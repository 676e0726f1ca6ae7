#!/usr/bin/env bash
# Applies the formatters: dprint to the TypeScript and JavaScript (dprint.json), clang-format to
# the C++ of native/ (.clang-format). `npm run lint` checks that nothing is left to change.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install dprint fmt
git ls-files -z 'native/*.cc' 'native/*.h' | xargs -0 clang-format -i
