#!/usr/bin/env bash
# Runs the whole test suite against the real kernel (as root), after setting up whatever is
# missing. Extra arguments go to vitest (a file name, -t PATTERN, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx --no-install vitest run "$@"
