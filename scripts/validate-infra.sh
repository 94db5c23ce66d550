#!/usr/bin/env bash
# Validates the deployment files without a Docker engine:
#   docker-compose config -q        (Debian's docker-compose 1.29)
#   promtool check config           (Debian's prometheus)
#   caddy validate                  (Debian's caddy), both rooms discovery modes
#   the rendered compose file: Redis and NATS require credentials, every
#   service's NATS_URL / REDIS_URL carries them, Redis never evicts (replay
#   guard), and without scripts/gen-secrets.sh's values compose refuses to run
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

# Greps the rendered compose file ($rendered) for a fixed string; a message on failure.
expect_in() {
  local what="$1" needle="$2"
  # Long strings are folded over lines in the rendering: compare with whitespace collapsed.
  if tr -s ' \n' '  ' < "$rendered" | grep -qF -- "$needle"; then echo "ok: $what"; else echo "FAIL: $what (no '$needle')" >&2; failed=1; fi
}
expect_not_in() {
  local what="$1" pattern="$2"
  if grep -qE -- "$pattern" "$rendered"; then echo "FAIL: $what (found /$pattern/)" >&2; failed=1; else echo "ok: $what"; fi
}

if have docker-compose docker-compose; then
  compose() {
    docker-compose --project-directory "$root" --env-file "$1" -f "$root/docker-compose.yml" "${@:2}"
  }
  # Without the credentials compose must refuse (never an unauthenticated stack).
  if compose "$root/.env.example" config -q >/dev/null 2>&1; then
    echo "FAIL: docker-compose config accepts a .env without NATS/Redis credentials" >&2
    failed=1
  else
    echo "ok: docker-compose config refuses a .env without credentials"
  fi
  # .env.example plus scripts/gen-secrets.sh stands in for the operator's .env.
  envfile="$scratch/env"
  "$root/scripts/gen-secrets.sh" "$envfile" >/dev/null
  check "docker-compose config" compose "$envfile" config -q
  rendered="$scratch/compose.yml"
  if compose "$envfile" config > "$rendered" 2>"$scratch/compose.err"; then
    # shellcheck disable=SC1090
    set -a; . "$envfile"; set +a
    expect_in "redis requires a password" '--requirepass "$$REDISCLI_AUTH"'
    expect_in "redis password from .env" "REDISCLI_AUTH: $REDIS_PASSWORD"
    expect_in "redis never evicts (replay guard)" "--maxmemory-policy noeviction"
    expect_not_in "redis protected mode stays on" "protected-mode"
    expect_not_in "no evicting policy" "maxmemory-policy (volatile|allkeys)-"
    expect_in "nats requires a user and password" '--user "$$NATS_USER" --pass "$$NATS_PASSWORD"'
    expect_in "nats credentials from .env" "NATS_PASSWORD: $NATS_PASSWORD"
    expect_in "services connect to NATS with credentials" "NATS_URL: nats://$NATS_USER:$NATS_PASSWORD@nats:4222"
    expect_in "services connect to Redis with the password" "REDIS_URL: redis://default:$REDIS_PASSWORD@redis:6379"
    expect_in "turn connects to NATS with credentials" "NATS_URL: nats://$NATS_USER:$NATS_PASSWORD@127.0.0.1:"
    expect_in "turn connects to Redis with the password" "REDIS_URL: redis://default:$REDIS_PASSWORD@127.0.0.1:"
    expect_not_in "no NATS_URL without credentials" "NATS_URL: nats://[^@]*$"
    expect_not_in "no REDIS_URL without a password" "REDIS_URL: redis://[^@]*$"
  else
    echo "FAIL: docker-compose config (rendering)" >&2
    cat "$scratch/compose.err" >&2
    failed=1
  fi
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
