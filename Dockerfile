# syntax=docker/dockerfile:1
# push-notification-exporter: multi-stage build. The build stage has the compiler toolchain (for
# better-sqlite3's native addon) and dev dependencies; the final stage has neither.

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
# Production dependencies only (the native addon is built here, with the toolchain at hand).
RUN npm ci --omit=dev && npm cache clean --force

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
# State lives on a volume; the official image's unprivileged "node" user owns it.
RUN mkdir -p /data /etc/push-notification-exporter && chown node:node /data
VOLUME ["/data"]
USER node
WORKDIR /data
EXPOSE 10130
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:10130/-/healthy').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/main.js"]
# Mount a config at this path (set storage.path: /data/state.db), or run "--demo --listen 0.0.0.0:10130".
CMD ["--config", "/etc/push-notification-exporter/config.yaml"]
