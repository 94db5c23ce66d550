#!/usr/bin/env bash
# Runs every compiled benchmark in bench/dist, one after the other, then
# prints the digest of their JSON lines (bench/dist/summary.js) with every
# figure as a ratio to the peer measured in the same run.
# BENCH_QUICK=1 shortens each (CI smoke); each bench reads it through its argv.
# A failing bench is reported and the others still run; the exit code says so.
set -uo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob

# 10 000 idle connections: the load generator and the server each hold one socket per connection.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The peers (y-webrtc, bittorrent-tracker, ws) live in their own npm prefix, not in the
# workspaces: bittorrent-tracker pulls a native WebRTC module that only its client uses.
# --ignore-scripts: nothing is compiled; only the servers and the ws client are loaded.
if [ ! -f bench/peers/node_modules/.package-lock.json ] || [ bench/peers/package-lock.json -nt bench/peers/node_modules/.package-lock.json ]; then
  npm ci --prefix bench/peers --ignore-scripts --no-audit --no-fund || { echo "bench: could not install bench/peers" >&2; exit 1; }
fi

mkdir -p bench/dist/results
log="bench/dist/results/run-$(date -u +%Y%m%dT%H%M%SZ)${BENCH_QUICK:+-quick}.log"
failed=()
start=$SECONDS
for b in bench/dist/*.bench.js; do
  echo "== $b"
  t0=$SECONDS
  if ! node "$b" ${BENCH_QUICK:+--quick} | tee -a "$log"; then failed+=("$b"); fi
  echo "== $b: $((SECONDS - t0)) s"
done
echo "== all benches: $((SECONDS - start)) s; raw output in $log"
node bench/dist/summary.js "$log" | tee "${log%.log}.md"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
