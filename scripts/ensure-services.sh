#!/usr/bin/env bash
# Makes sure what the tests need is on this machine: a NATS server with
# JetStream and a Redis server on their standard loopback ports (started if
# installed, installed from Debian packages when missing and root), and the
# Debian tools the integration tests drive (coturn's clients, chromium, caddy,
# docker-compose, promtool).
set -euo pipefail

log() { printf 'ensure-services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "missing $*; not root, cannot install: install them with apt-get"
    return 1
  fi
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_port() {
  for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done
  log "nothing listens on 127.0.0.1:$1 after 10 s"; return 1
}

# Debian tools used by tests: binary -> package.
missing=()
for pair in nats-server:nats-server redis-server:redis-server turnserver:coturn turnutils_uclient:coturn \
            chromium:chromium caddy:caddy docker-compose:docker-compose promtool:prometheus; do
  bin=${pair%%:*}; pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  # The Debian packages start their own daemons on some systems; ours are started below.
fi

if ! port_open 4222; then
  log "starting nats-server with JetStream on 127.0.0.1:4222"
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222
fi

if ! port_open 6379; then
  log "starting redis-server on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379
fi
log "NATS and Redis are up"
