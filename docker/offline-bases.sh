#!/usr/bin/env bash
# Makes the two base images the Dockerfile builds from when no image registry is reachable, each only when its
# tag is missing, and prints them as build arguments:
#   APP_BASE   Debian 12 (debootstrap minbase) with python3, uWSGI + its python3 plugin, Supervisor, git
#   NODE_BASE  APP_BASE plus this machine's node and npm, and the CA bundle this machine's npm trusts
#              (NODE_EXTRA_CA_CERTS, else npm's cafile), so `npm ci` in the build reaches the registry the way
#              the host does, e.g. through a TLS-inspecting proxy
# Then:  docker build --pull=false --network host $(docker/offline-bases.sh) -t myapp-runtime .
#
# Needs root (debootstrap), docker, the Debian mirror, and a glibc node (Debian's or nodesource's; not musl).
# Environment: TAG_PREFIX (default hotpull-local), APP_BASE_TAG (default $TAG_PREFIX/debian-app:bookworm),
# NODE_BASE_TAG (default $TAG_PREFIX/node:<node version>-<hash of the CA bundle>, so a new node or CA bundle
# makes a new base), DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Progress goes to stderr; stdout is only the two --build-arg pairs.
set -euo pipefail

TAG_PREFIX=${TAG_PREFIX:-hotpull-local}
APP_BASE_TAG=${APP_BASE_TAG:-$TAG_PREFIX/debian-app:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,uwsgi,uwsgi-plugin-python3,supervisor,git,ca-certificates

say() { echo "offline-bases: $*" >&2; }
have_image() { docker image inspect --format '{{.Id}}' "$1" >/dev/null 2>&1; }

# One maker at a time (a test run and a bench may start together); the second finds the tags made.
exec 9>"${TMPDIR:-/tmp}/hotpull-offline-bases.lock"
flock 9

work=$(mktemp -d "${TMPDIR:-/tmp}/hotpull-offline-bases.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! have_image "$APP_BASE_TAG"; then
  command -v debootstrap >/dev/null || { say "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  [ "$(id -u)" = 0 ] || { say "debootstrap needs root to make $APP_BASE_TAG"; exit 1; }
  say "debootstrap bookworm ($PACKAGES) into $APP_BASE_TAG, about a minute"
  started=$SECONDS
  if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    exit 1
  fi
  # The .debs and package lists are 120 MB the image does not need; apt-get update brings the lists back.
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
  tar -C "$work/rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$APP_BASE_TAG" >/dev/null
  rm -rf "$work/rootfs"
  say "made $APP_BASE_TAG in $((SECONDS - started)) s"
fi

node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(readlink -f "$(npm root -g)/npm")
ca=${NODE_EXTRA_CA_CERTS:-}
if [ -z "$ca" ]; then
  ca=$(npm config get cafile 2>/dev/null || true)
  [ "$ca" = null ] || [ "$ca" = undefined ] && ca=
fi
[ -z "$ca" ] || [ -r "$ca" ] || { say "CA bundle $ca is not readable; going without"; ca=; }
ca_hash=$( { [ -n "$ca" ] && sha256sum "$ca" || echo none; } | cut -c1-8)
NODE_BASE_TAG=${NODE_BASE_TAG:-$TAG_PREFIX/node:$(node --version)-$ca_hash}

if ! have_image "$NODE_BASE_TAG"; then
  say "making $NODE_BASE_TAG from $APP_BASE_TAG with $node_bin and $npm_dir${ca:+ and CA bundle $ca}"
  ctx="$work/node"
  mkdir -p "$ctx"
  cp "$node_bin" "$ctx/node"
  cp -a "$npm_dir" "$ctx/npm"
  if [ -n "$ca" ]; then cp "$ca" "$ctx/ca.crt"; else : >"$ctx/ca.crt"; fi
  cat >"$ctx/Dockerfile" <<EOF
FROM $APP_BASE_TAG
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca.crt /usr/local/share/hotpull-local/ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
EOF
  if [ -n "$ca" ]; then
    printf 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/hotpull-local/ca.crt npm_config_cafile=/usr/local/share/hotpull-local/ca.crt\n' >>"$ctx/Dockerfile"
  fi
  docker build --quiet --pull=false --network host -t "$NODE_BASE_TAG" "$ctx" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
fi

echo "--build-arg APP_BASE=$APP_BASE_TAG --build-arg NODE_BASE=$NODE_BASE_TAG"
