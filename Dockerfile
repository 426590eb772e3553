# hotpull next to uWSGI under Supervisor: the image carries the infrastructure (Python, uWSGI, Supervisor, git,
# hotpull), the code lives on a volume at /app and is kept on the branch head by hotpull.
#
#   docker build -t myapp-runtime .
#   docker run -d --name myapp -v /srv/myapp:/app -p 8000:8000 myapp-runtime
#
# /srv/myapp is a git checkout of the app (with its uwsgi.ini) writable by uid 10001, the image's user; or run
# with --user "$(id -u):$(id -g)" to keep the host's owner (everything else the container writes is in /tmp).
#
# Offline, from locally prepared bases (no image registry): docker/offline-bases.sh makes them with debootstrap +
# docker import and prints the build args:
#   docker build --pull=false --network host $(docker/offline-bases.sh) -t myapp-runtime .
# NODE_BASE needs node and npm on PATH (npm ci reads the npm registry); APP_BASE needs no Node: the runtime
# stage copies the node binary from the build stage, so both must be glibc (Debian) images. NODE_BASE's node is
# the image's node: a supported LTS line (Node 20 reached its end of life on 2026-04-30; CI runs the tests on 22
# and 24). An app on python:3.x-slim (Python in /usr/local, pip's uWSGI or gunicorn): examples/python-slim.
# docker stop gives 10 s by default; supervisord stops hotpull, then uWSGI (up to 15 s each): --stop-timeout 30
# for slow requests.
ARG NODE_BASE=node:24-bookworm-slim
ARG APP_BASE=debian:bookworm-slim

FROM ${NODE_BASE} AS build
WORKDIR /build
# Dependencies first: this layer is reused until package.json or the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=warn
# The node binary of NODE_BASE, wherever it keeps it, for the runtime stage (APP_BASE needs no Node).
RUN install -D -m 0755 "$(readlink -f "$(command -v node)")" /opt/node/bin/node
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --loglevel=warn

FROM ${APP_BASE} AS runtime
# Skipped when APP_BASE already has them (a base prepared offline); else from the Debian archive.
RUN set -eu; \
    if ! command -v python3 >/dev/null || ! command -v uwsgi >/dev/null || ! command -v supervisord >/dev/null \
       || ! command -v git >/dev/null || ! [ -e /usr/lib/uwsgi/plugins/python3_plugin.so ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 uwsgi uwsgi-plugin-python3 supervisor git ca-certificates; \
      rm -rf /var/lib/apt/lists/*; \
    fi
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /app && chown app:app /app \
 && printf '#!/bin/sh\nexec /opt/hotpull/bin/hotpull "$@"\n' >/usr/local/bin/hotpull \
 && chmod 0755 /usr/local/bin/hotpull
# From the least to the most often changed, so a code change rebuilds (and ships) only the last layer.
COPY --from=build /opt/node/bin/node /usr/local/bin/node
COPY --from=build /build/package.json /opt/hotpull/package.json
COPY bin/hotpull /opt/hotpull/bin/hotpull
COPY --from=build /build/node_modules /opt/hotpull/node_modules
COPY docker/supervisord.conf /etc/hotpull/supervisord.conf
COPY docker/app-server.sh /usr/local/bin/hotpull-app-server
COPY docker/healthcheck.mjs /opt/hotpull/healthcheck.mjs
COPY docker/k8s-lease.mjs /opt/hotpull/k8s-lease.mjs
COPY --from=build /build/dist /opt/hotpull/dist

# hotpull's /healthz, /status, /metrics and /webhook (HOTPULL_LISTEN=0.0.0.0:9300 to reach it from outside the
# container; set HOTPULL_WEBHOOK_SECRET for webhooks). Every other option: HOTPULL_* variables or
# /app/hotpull.config.yaml (docs/operating.md, Options).
ENV HOTPULL_LISTEN=127.0.0.1:9300 \
    PYTHONUNBUFFERED=1
USER app
WORKDIR /app
# 8000: the app, as its own uwsgi.ini says (http-socket = :8000 in the examples); 9300: hotpull.
EXPOSE 8000 9300
# Healthy when supervisord's programs run (the app server; hotpull, unless it stopped on bad configuration), the
# app answers APP_HEALTH_URL (else HOTPULL_HEALTH_URL) when one is set, and hotpull's /healthz answers 200 when
# HOTPULL_LISTEN is set (docker/healthcheck.mjs; its output is in docker inspect).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["/usr/local/bin/node", "/opt/hotpull/healthcheck.mjs"]
# OCI annotations (docker inspect, registries), last: a new REVISION or CREATED changes no layer above. For the
# build to fill in:
#   --build-arg VERSION=$(node -p 'require("./package.json").version') --build-arg REVISION=$(git rev-parse HEAD) \
#   --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE=<the repository's URL>
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="hotpull runtime" \
      org.opencontainers.image.description="Python, uWSGI, Supervisor, git and hotpull: the app's code on a volume at /app, kept on its branch head" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
CMD ["supervisord", "-n", "-c", "/etc/hotpull/supervisord.conf"]
