# syntax=docker/dockerfile:1
# The relay (sync-server) as an image: `docker build -t tribalmemory-relay .`
# Node 24 runs the TypeScript sources directly (type stripping), so "building" is installing
# and type-checking; the runtime image holds the sources and production dependencies only.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# pmOnFail/confirm_modules_purge: as in scripts/bootstrap.sh (pnpm 12 without a TTY).
ENV CI=true PNPM_CONFIG_PM_ON_FAIL=ignore npm_config_confirm_modules_purge=false
RUN npm install -g --no-audit --no-fund pnpm@12.21.0
# Manifests first: the dependency layer is rebuilt only when they change.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY shared/package.json shared/
COPY daemon/package.json daemon/
COPY sync-server/package.json sync-server/
COPY cli/package.json cli/
COPY test/package.json test/
# The dashboard's prepare script runs at install; with no sources yet it builds nothing.
COPY dashboard/package.json dashboard/build.ts dashboard/
RUN pnpm install --frozen-lockfile
COPY . .
# The web dashboard the relay serves at / (dashboard/dist).
RUN cd dashboard && node build.ts
RUN pnpm -s typecheck

FROM build AS prod-deps
# The CLI and the workspace packages it uses, production dependencies only (no tests, no tooling).
RUN rm -rf node_modules shared/node_modules daemon/node_modules sync-server/node_modules \
      cli/node_modules test/node_modules dashboard/node_modules \
 && pnpm --filter "tribalmemory..." install --frozen-lockfile --prod

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    TRIBAL_MEMORY_HOME=/data \
    TRIBAL_MEMORY_BIN=/app/cli/bin/tribalmemory.js
WORKDIR /app
# Owned by root, run as an unprivileged user: the code cannot be rewritten by the process.
RUN groupadd --system --gid 10001 tribal \
 && useradd --system --uid 10001 --gid tribal --home-dir /data --no-create-home tribal \
 && mkdir -p /data && chown tribal:tribal /data
COPY --from=prod-deps /app/package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=prod-deps /app/shared ./shared
COPY --from=prod-deps /app/daemon ./daemon
COPY --from=prod-deps /app/sync-server ./sync-server
COPY --from=prod-deps /app/cli ./cli
COPY --from=prod-deps /app/dashboard/dist ./dashboard/dist
COPY --chmod=755 deploy/entrypoint.sh ./deploy/entrypoint.sh
USER tribal
EXPOSE 18800
# Liveness: the process answers (readiness, /v1/ready, is for load balancers). HTTPS when the
# relay serves TLS itself; its certificate is for the public name, not 127.0.0.1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "const s=!!process.env.TRIBAL_MEMORY_TLS_CERT;require(s?'node:https':'node:http').get({host:'127.0.0.1',port:process.env.PORT||18800,path:'/v1/health',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["start"]
