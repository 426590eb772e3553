#!/bin/sh
# examples/docker-fleet: three replicas of a small uWSGI app on one Docker host, each started by `hotpull host up`
# with hotpull inside (the project image): a canary, and two replicas that apply a revision only once it has been
# live and verified on the canary for 10 s (HOTPULL_AFTER, HOTPULL_AFTER_BAKE). `hotpull fleet` finds them by
# their label. Every container uses the host's network: the app on 127.0.0.1:8101-8103, hotpull on 9301-9303.
#
#   ./fleet.sh up            make the demo remote (DIR/remote.git) from app/, start the three, show the fleet
#   ./fleet.sh push [N]      commit VERSION = N to the remote: live on the canary first, on the others 10 s later
#   ./fleet.sh push-broken   commit an app that fails at import: the canary rolls it back, the others hold it
#   ./fleet.sh fleet [ARGS]  hotpull fleet over the three (e.g. ./fleet.sh fleet --watch --interval 1s)
#   ./fleet.sh down          remove the three containers (DIR stays; rm -rf it to start afresh)
#
# Environment: IMAGE, the project image (default hotpull-runtime: `docker build -t hotpull-runtime .` at the top of
# this repository; without a registry see docs/containers.md); DIR (default /tmp/hotpull-fleet-demo); HOTPULL, how
# to run hotpull on the host (default hotpull; e.g. "node /path/to/hotpull/dist/bin.js").
# test/examples.test.ts reads the `hotpull …` lines below with hotpull's own parser: keep them literal.
set -eu
IMAGE=${IMAGE:-hotpull-runtime}
DIR=${DIR:-/tmp/hotpull-fleet-demo}
HOTPULL=${HOTPULL:-hotpull}
HERE=$(cd "$(dirname "$0")" && pwd)
# word-split on purpose: HOTPULL may be "node …/dist/bin.js"
hotpull() { $HOTPULL "$@"; }

remote() {
  [ -d "$DIR/remote.git" ] && return
  mkdir -p "$DIR"
  git init -q --bare -b main "$DIR/remote.git"
  git clone -q "$DIR/remote.git" "$DIR/seed" 2>/dev/null
  cp "$HERE/app/app.py" "$HERE/app/uwsgi.ini" "$DIR/seed/"
  git -C "$DIR/seed" add -A
  git -C "$DIR/seed" -c user.name=demo -c user.email=demo@example.com commit -q -m "version 1"
  git -C "$DIR/seed" push -q origin HEAD:main
}

commit() {
  git -C "$DIR/seed" -c user.name=demo -c user.email=demo@example.com commit -q -am "$1"
  git -C "$DIR/seed" push -q origin HEAD:main
  echo "pushed $(git -C "$DIR/seed" rev-parse --short HEAD) ($1)"
}

case "${1:-up}" in
up)
  remote
  # The code is cloned on the host into DIR/NAME and mounted at /app; the container runs as its owner. The remote
  # is mounted at its own path, so the checkout's origin works inside too.
  hotpull host up --name fleet-canary --image "$IMAGE" --code "$DIR/canary:/app" --repo "$DIR/remote.git" \
    --branch main --health-url http://127.0.0.1:8101/health \
    -e APP_PORT=8101 -e HOTPULL_LISTEN=127.0.0.1:9301 -e HOTPULL_INTERVAL=2s \
    -e HOTPULL_HEALTH_URL=http://127.0.0.1:8101/health -e HOTPULL_HEALTH_EXPECT={short_sha} -e HOTPULL_HEALTH_TIMEOUT=10s \
    -- --network host --user "$(id -u):$(id -g)" -v "$DIR/remote.git:$DIR/remote.git:ro" --health-interval 2s \
    --label hotpull.fleet=demo --label hotpull.listen=9301
  hotpull host up --name fleet-web-1 --image "$IMAGE" --code "$DIR/web-1:/app" --repo "$DIR/remote.git" \
    --branch main --health-url http://127.0.0.1:8102/health \
    -e APP_PORT=8102 -e HOTPULL_LISTEN=127.0.0.1:9302 -e HOTPULL_INTERVAL=2s \
    -e HOTPULL_HEALTH_URL=http://127.0.0.1:8102/health -e HOTPULL_HEALTH_EXPECT={short_sha} -e HOTPULL_HEALTH_TIMEOUT=10s \
    -e HOTPULL_AFTER=http://127.0.0.1:9301 -e HOTPULL_AFTER_BAKE=10s \
    -- --network host --user "$(id -u):$(id -g)" -v "$DIR/remote.git:$DIR/remote.git:ro" --health-interval 2s \
    --label hotpull.fleet=demo --label hotpull.listen=9302
  hotpull host up --name fleet-web-2 --image "$IMAGE" --code "$DIR/web-2:/app" --repo "$DIR/remote.git" \
    --branch main --health-url http://127.0.0.1:8103/health \
    -e APP_PORT=8103 -e HOTPULL_LISTEN=127.0.0.1:9303 -e HOTPULL_INTERVAL=2s \
    -e HOTPULL_HEALTH_URL=http://127.0.0.1:8103/health -e HOTPULL_HEALTH_EXPECT={short_sha} -e HOTPULL_HEALTH_TIMEOUT=10s \
    -e HOTPULL_AFTER=http://127.0.0.1:9301 -e HOTPULL_AFTER_BAKE=10s \
    -- --network host --user "$(id -u):$(id -g)" -v "$DIR/remote.git:$DIR/remote.git:ro" --health-interval 2s \
    --label hotpull.fleet=demo --label hotpull.listen=9303
  hotpull fleet --peers docker:hotpull.fleet=demo
  ;;
push)
  sed -i "s/^VERSION = .*/VERSION = \"${2:-2}\"/" "$DIR/seed/app.py"
  commit "version ${2:-2}"
  ;;
push-broken)
  sed -i 's/^VERSION = \(.*\)/VERSION = \1\nraise RuntimeError("broken on purpose")/' "$DIR/seed/app.py"
  commit "broken at import"
  # the next push starts from a working app again
  sed -i '/^raise RuntimeError/d' "$DIR/seed/app.py"
  ;;
fleet)
  shift
  hotpull fleet --peers docker:hotpull.fleet=demo "$@"
  ;;
down)
  docker rm -f fleet-canary fleet-web-1 fleet-web-2
  ;;
*)
  echo "usage: $0 up|push [N]|push-broken|fleet [ARGS]|down" >&2
  exit 2
  ;;
esac
