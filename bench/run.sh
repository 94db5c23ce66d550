#!/usr/bin/env bash
# Runs every compiled benchmark in bench/dist, one after the other.
# BENCH_QUICK=1 shortens each (CI smoke); each bench reads it through its argv.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
for b in bench/dist/*.bench.js; do
  echo "== $b"
  node "$b" ${BENCH_QUICK:+--quick}
done
