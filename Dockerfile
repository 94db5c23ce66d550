# syntax=docker/dockerfile:1
# One image for every service of a mesh node; the command picks the service:
#   node services/api/dist/main.js | services/rooms/... | services/dht/... |
#   services/turn/... | apps/embedded/dist/main.js (the default: all in one).
# Built by `docker compose build`; see README.md, "Run a node".

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: dev dependencies, TypeScript compile ---------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests first so the dependency layer is cached across source edits.
COPY package.json package-lock.json ./
COPY libs/shared/package.json libs/shared/
COPY libs/sigmesh/package.json libs/sigmesh/
COPY services/api/package.json services/api/
COPY services/rooms/package.json services/rooms/
COPY services/dht/package.json services/dht/
COPY services/turn/package.json services/turn/
COPY apps/embedded/package.json apps/embedded/
# Install scripts stay off, as on the dev machines (npm 11 skips them too).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY libs libs
COPY services services
COPY apps apps
RUN npx tsc -b tsconfig.build.json \
 && npm run build:browser -w @mesh/sigmesh

# ---- deps: production dependencies only -------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/libs/shared/package.json libs/shared/
COPY --from=build /src/libs/sigmesh/package.json libs/sigmesh/
COPY --from=build /src/services/api/package.json services/api/
COPY --from=build /src/services/rooms/package.json services/rooms/
COPY --from=build /src/services/dht/package.json services/dht/
COPY --from=build /src/services/turn/package.json services/turn/
COPY --from=build /src/apps/embedded/package.json apps/embedded/
# Workspaces become symlinks in node_modules/@mesh, resolved against the
# package.json + dist copied into the runtime stage below.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini: PID 1 that forwards SIGTERM to node (so rooms can drain) and reaps
# the coturn child of the turn service. coturn: the turn service's preferred
# backend (TURN_BACKEND=auto picks it when `turnserver` is on the PATH).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini coturn \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production \
    METRICS_HOST=0.0.0.0
# Code and dependencies stay owned by root: the service user cannot alter them.
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules node_modules
COPY --from=build /src/libs/shared/package.json libs/shared/
COPY --from=build /src/libs/shared/dist libs/shared/dist
COPY --from=build /src/libs/sigmesh/package.json libs/sigmesh/
COPY --from=build /src/libs/sigmesh/dist libs/sigmesh/dist
COPY --from=build /src/services/api/package.json services/api/
COPY --from=build /src/services/api/dist services/api/dist
COPY --from=build /src/services/rooms/package.json services/rooms/
COPY --from=build /src/services/rooms/dist services/rooms/dist
COPY --from=build /src/services/dht/package.json services/dht/
COPY --from=build /src/services/dht/dist services/dht/dist
COPY --from=build /src/services/turn/package.json services/turn/
COPY --from=build /src/services/turn/dist services/turn/dist
COPY --from=build /src/apps/embedded/package.json apps/embedded/
COPY --from=build /src/apps/embedded/dist apps/embedded/dist
COPY infra/healthcheck.mjs infra/healthcheck.mjs

# The node image's unprivileged user (uid 1000). Every port used is > 1024.
USER node
EXPOSE 8080 3478/udp 3478/tcp 6881/udp
# Liveness of the default command (embedded, metrics on 9100); compose
# overrides the URL per service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "infra/healthcheck.mjs", "http://127.0.0.1:9100/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "apps/embedded/dist/main.js"]
