#!/usr/bin/env bash
# Writes the NATS and Redis credentials of the compose stack into .env:
# NATS_USER, NATS_PASSWORD, REDIS_PASSWORD (random hex, so they need no
# escaping inside NATS_URL / REDIS_URL). Creates .env from .env.example when
# it is missing; a variable that already has a value is kept, so running it
# again changes nothing (rotating: empty the value, run it, restart the stack).
# Usage: scripts/gen-secrets.sh [env-file]   (default: .env next to docker-compose.yml)
# Prints the names it set, never the values.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
env_file="${1:-$root/.env}"

if [ ! -e "$env_file" ]; then
  cp "$root/.env.example" "$env_file"
  echo "created $env_file from .env.example"
fi
# Secrets inside: readable by the owner only.
chmod 600 "$env_file"

rand_hex() {
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

set_if_empty() {
  local name="$1" value="$2" current
  current="$(grep -E "^${name}=" "$env_file" | tail -n 1 | cut -d= -f2- || true)"
  if [ -n "$current" ]; then
    echo "kept $name"
    return
  fi
  if grep -qE "^${name}=" "$env_file"; then
    # Replace the empty assignment in place (no value is passed through sed's pattern).
    local tmp
    tmp="$(mktemp "${env_file}.XXXXXX")"
    awk -v n="$name" -v v="$value" 'BEGIN { done = 0 } $0 == n "=" && !done { print n "=" v; done = 1; next } { print }' "$env_file" > "$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$env_file"
  else
    printf '%s=%s\n' "$name" "$value" >> "$env_file"
  fi
  echo "set $name"
}

set_if_empty NATS_USER "mesh-$(rand_hex 4)"
set_if_empty NATS_PASSWORD "$(rand_hex 24)"
set_if_empty REDIS_PASSWORD "$(rand_hex 24)"
