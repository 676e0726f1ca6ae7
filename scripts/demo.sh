#!/usr/bin/env bash
# The Quick start demonstration: makes a throwaway network namespace, generates some traffic
# in it and prints its conntrack table through the library. Sets up whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/demo.mjs "$@"
