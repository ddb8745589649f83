# syntax=docker/dockerfile:1
#
# mcpwatch container image.
#
#   docker build -t mcpwatch:0.1.0 .
#   docker run --rm --init --read-only --tmpfs /tmp -v mcpwatch-state:/var/lib/mcpwatch \
#     -p 4317:4317 -p 4318:4318 -p 9464:9464 -p 13133:13133 mcpwatch:0.1.0
#
# Two stages: `build` compiles TypeScript and the native better-sqlite3 module with the full Debian
# toolchain; the runtime stage gets only dist/src, the production node_modules and the default
# configuration, and runs as uid 10001 with nothing to write outside /var/lib/mcpwatch and /tmp.
# Both stages are Debian bookworm, so the compiled better_sqlite3.node links against the same glibc.
# Node 22 is an LTS line with support until April 2027 (Node 20's ended in April 2026); package.json
# still allows Node >= 20.18.1 for `npm install -g`.

ARG NODE_IMAGE=node:22-bookworm
ARG NODE_RUNTIME_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build

# node-gyp needs these when no prebuilt better-sqlite3 binary can be downloaded.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so editing the sources does not reinstall them. --ignore-scripts keeps the
# root `prepare` script (a build) from running before the sources are here; the one dependency with
# an install script that matters, better-sqlite3, is then built explicitly.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && chmod 0755 dist/src/cli/main.js \
 && rm -rf /root/.npm

# ---------------------------------------------------------------------------------------------------
FROM ${NODE_RUNTIME_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown

LABEL org.opencontainers.image.title="mcpwatch" \
      org.opencontainers.image.description="Monitoring agent for MCP servers: synthetic probes, OTLP tool-call metrics, alerts." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/${NODE_RUNTIME_IMAGE}"

# HOME=/tmp: nothing the agent or a stdio MCP server (npx caches) writes lands on the root
# filesystem, which can then be mounted read-only (`--read-only --tmpfs /tmp`, or Kubernetes
# readOnlyRootFilesystem with an emptyDir on /tmp). MCPWATCH_HEALTHCHECK_URL is read by HEALTHCHECK
# only: change it together with `health.endpoint` in the configuration.
# NODE_OPTIONS sizes V8's heap when the process starts, the supported way (docs/deployment.md has
# what each flag costs and saves): without it Node derives both sizes from the container's memory
# limit, so the agent's footprint and its out-of-memory point would move with the limit. Override it
# with `-e NODE_OPTIONS=...`; an empty value gives V8's defaults. stdio MCP servers do not inherit it.
ENV NODE_ENV=production \
    HOME=/tmp \
    MCPWATCH_HEALTHCHECK_URL=http://127.0.0.1:13133/healthz \
    NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=4"

RUN groupadd --system --gid 10001 mcpwatch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/mcpwatch --no-create-home \
      --shell /usr/sbin/nologin mcpwatch \
 && mkdir -p /var/lib/mcpwatch /etc/mcpwatch \
 && chown 10001:10001 /var/lib/mcpwatch \
 && chmod 0750 /var/lib/mcpwatch

# Everything under /app stays owned by root: the agent can read its code but not change it.
COPY --from=build /app/package.json /app/package.json
COPY --from=build /app/node_modules /app/node_modules
COPY --from=build /app/dist/src /app/dist/src
COPY deploy/docker/mcpwatch.yaml /etc/mcpwatch/mcpwatch.yaml

# `mcpwatch` on PATH, as `npm install -g` would do. Node follows the symlink to /app/dist/src, so the
# relative ESM imports and /app/package.json ("type": "module", and the version the agent reports,
# read by dist/src/wire/version.js) resolve as in the source tree.
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/mcpwatch \
 && mcpwatch --version

USER 10001:10001
# Relative paths (a config without state.path) resolve inside the state volume, not in /app.
WORKDIR /var/lib/mcpwatch
VOLUME ["/var/lib/mcpwatch"]

# 4317 OTLP/gRPC, 4318 OTLP/HTTP, 9464 Prometheus /metrics, 13133 health (/healthz, /readyz).
EXPOSE 4317 4318 9464 13133

# The slim image has no curl or wget: ask node. Exit 0 only for a 2xx answer within 4 s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const r=require('node:http').get(process.env.MCPWATCH_HEALTHCHECK_URL,{timeout:4000},(res)=>{res.resume();process.exit(res.statusCode>=200&&res.statusCode<300?0:1)});r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.exit(1))"]

ENTRYPOINT ["mcpwatch"]
CMD ["run", "-c", "/etc/mcpwatch/mcpwatch.yaml"]
