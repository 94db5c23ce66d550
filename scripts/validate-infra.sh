#!/usr/bin/env bash
# Validates the deployment files without a Docker engine:
#   docker-compose config -q        (Debian's docker-compose 1.29)
#   promtool check config           (Debian's prometheus)
#   caddy validate                  (Debian's caddy), both rooms discovery modes
# Usage: scripts/validate-infra.sh [repo-root]   (default: this script's repo)
# A missing tool is skipped with a message; VALIDATE_INFRA_STRICT=1 (set by
# test/infra.test.ts, so `make test`, which installs the tools) makes it fail.
# Exits non-zero when any check fails.
set -uo pipefail

root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
strict="${VALIDATE_INFRA_STRICT:-0}"
failed=0

# caddy writes its storage under XDG dirs even when only validating.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

have() {
  if command -v "$1" >/dev/null 2>&1; then return 0; fi
  if [ "$strict" = "1" ]; then
    echo "FAIL: $1 not found (install: apt-get install $2)" >&2
    failed=1
  else
    echo "SKIP: $1 not found (install: apt-get install $2)" >&2
  fi
  return 1
}

check() {
  local name="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then
    echo "ok: $name"
  else
    echo "FAIL: $name" >&2
    echo "$out" >&2
    failed=1
  fi
}

if have docker-compose docker-compose; then
  # .env.example stands in for the operator's .env.
  check "docker-compose config" \
    docker-compose --project-directory "$root" --env-file "$root/.env.example" \
      -f "$root/docker-compose.yml" config -q
fi

if have promtool prometheus; then
  check "promtool check config" promtool check config "$root/infra/prometheus/prometheus.yml"
fi

if have caddy caddy; then
  caddyfile="$root/infra/caddy/Caddyfile"
  check "caddy validate (compose: DNS discovery)" \
    env XDG_DATA_HOME="$scratch" XDG_CONFIG_HOME="$scratch" \
      caddy validate --config "$caddyfile" --adapter caddyfile
  check "caddy validate (static upstreams, TLS site)" \
    env XDG_DATA_HOME="$scratch" XDG_CONFIG_HOME="$scratch" \
      ROOMS_DISCOVERY=static ROOMS_UPSTREAMS="127.0.0.1:18081 127.0.0.1:18082" \
      PROXY_SITE=node.example.org API_UPSTREAM=127.0.0.1:18090 \
      caddy validate --config "$caddyfile" --adapter caddyfile
fi

exit "$failed"
