#!/usr/bin/env bash
# Install what the js-libp2p interop test (tests/interop/test_js_peer.py) needs:
# Node.js >= 22 (js-libp2p 3.x uses Promise.withResolvers; its p-retry asks for
# node >= 22) and the peer's packages, `npm ci` from the committed lock file.
# A node older than 22 is left alone: Node.js 22 comes from the npm registry
# (the `node-linux-<arch>` package) into jspeer/.node/. Quick when done already;
# after it the test needs no network.
#
# Without npm it only warns (the test then skips), unless
# VCOIN_INTEROP_REQUIRED=1 (CI sets it): then it fails.
set -euo pipefail
cd "$(dirname "$0")/jspeer"

NODE_VERSION=22.23.3
LOCAL_NODE=.node/bin/node

missing() {
    if [ "${VCOIN_INTEROP_REQUIRED:-0}" = 1 ]; then
        echo "interop setup: $1" >&2
        exit 1
    fi
    echo "interop setup: $1; the js-libp2p interop test will be skipped" >&2
    exit 0
}

node_major() {
    "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

if [ -x "$LOCAL_NODE" ] && [ "$(node_major "$LOCAL_NODE")" -ge 22 ]; then
    node_bin=$PWD/$LOCAL_NODE
elif command -v node >/dev/null && [ "$(node_major node)" -ge 22 ]; then
    node_bin=$(command -v node)
else
    command -v npm >/dev/null || missing "neither Node.js >= 22 nor npm to fetch it is installed"
    case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64 | arm64) arch=arm64 ;;
        *) missing "no Node.js package for $(uname -m)" ;;
    esac
    echo "interop setup: fetching Node.js $NODE_VERSION (node-linux-$arch) into $PWD/.node"
    rm -rf .node
    npm install --prefix .node --no-save --no-audit --no-fund --ignore-scripts \
        "node-linux-$arch@$NODE_VERSION"
    mkdir -p .node/bin
    ln -sf "../node_modules/node-linux-$arch/bin/node" "$LOCAL_NODE"
    node_bin=$PWD/$LOCAL_NODE
fi
command -v npm >/dev/null || missing "npm is not installed"

# npm ci wipes node_modules; skip it while the lock file is what was installed.
stamp=node_modules/.vcoin-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    PATH="$(dirname "$node_bin"):$PATH" npm ci --no-audit --no-fund --ignore-scripts
    echo "$want" >"$stamp"
fi
echo "interop setup: node $("$node_bin" --version) at $node_bin, packages installed"
