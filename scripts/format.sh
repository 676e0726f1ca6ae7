#!/usr/bin/env bash
# Applies the formatters: dprint to the TypeScript and JavaScript (dprint.json), clang-format to
# the C++ of native/ (.clang-format). `npm run lint` checks that nothing is left to change.
# dprint itself is fetched by npx at its pinned version: the registry serves only some of its
# platform packages, which npm ci would otherwise require in the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --yes dprint@0.57.4 fmt
git ls-files -z 'native/*.cc' 'native/*.h' | xargs -0 clang-format -i
