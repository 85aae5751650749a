# syntax=docker/dockerfile:1
# push-notification-exporter: multi-stage build. The build stage has the compiler toolchain (for
# better-sqlite3's native addon) and dev dependencies; the final stage has neither.
# test/deploy/install.test.ts runs every step below in a clean folder (without a Docker engine).

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# python3, make and g++ build better-sqlite3 when no prebuilt binary matches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# Production dependencies only (the native addon was built above, with the toolchain at hand).
RUN npm prune --omit=dev
# Of better-sqlite3 the runtime loads lib/ and the compiled addon only: its C++ sources, the SQLite
# amalgamation (deps/) and the object files of the build are tens of MB nobody reads.
RUN cd node_modules/better-sqlite3 \
 && mv build/Release/better_sqlite3.node . \
 && rm -rf build deps src binding.gyp \
 && mkdir -p build/Release \
 && mv better_sqlite3.node build/Release/

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="push-notification-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Azure Notification Hubs per-message telemetry and Telerik Everlive push feedback" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/push-notification-exporter/push-notification-exporter"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Served at /readme: the runbooks the alerts link to.
COPY README.md ./README.md
# State lives on a volume; the official image's unprivileged "node" user owns it.
RUN mkdir -p /data /etc/push-notification-exporter && chown node:node /data
VOLUME ["/data"]
USER node
# From /, the default storage.path ./data/state.db is /data/state.db: on the volume. (The demo's
# default --data-dir ./data/demo is /data/demo.)
WORKDIR /
EXPOSE 10130
# Asks the port the exporter really listens on (its command line and config), not a fixed one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "/app/dist/healthcheck.js"]
# A young generation of 2 x 8 MB instead of V8's 2 x 16 MB: 16 MB less RSS for a few percent more
# scavenges (README "Node.js flags"); the same flags as npm start and the systemd unit.
ENTRYPOINT ["node", "--max-semi-space-size=8", "/app/dist/main.js"]
# Mount a config at this path, or run "--demo --listen 0.0.0.0:10130".
CMD ["--config", "/etc/push-notification-exporter/config.yaml"]
