#!/usr/bin/env bash
# Set up and run every check: lint, types, layer rules, and the test suite
# (the worker extra too: the compute-market tests run real models on the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test,worker
tests/interop/setup.sh  # Node.js and packages of the js-libp2p interop test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy runtime consensus node offchain agent genesis tools tests
.venv/bin/lint-imports
if [ "$#" -gt 0 ]; then  # a selection of one's own: as asked
  exec .venv/bin/python -m pytest "$@"
fi
# The whole suite as two processes, one per core: the heavy tests (models
# against deadlines, Docker, the browser; marked in tests/conftest.py) one at
# a time here, the rest beside them, their report printed after.
light_log=$(mktemp)
# its own ports (tools/testnet.py), and Ctrl-C reaches it too (bash starts a
# background job with SIGINT ignored)
(trap - INT; VCOIN_PORT_RANGE=26000-31999 exec .venv/bin/python -m pytest -m "not heavy" -p no:cacheprovider) \
  > "$light_log" 2>&1 &
light=$!
trap 'kill -INT "$light" 2>/dev/null || true; wait "$light" 2>/dev/null || true; rm -f "$light_log"' EXIT
heavy_rc=0
VCOIN_PORT_RANGE=20000-25999 .venv/bin/python -m pytest -m heavy || heavy_rc=$?
light_rc=0
wait "$light" || light_rc=$?
trap 'rm -f "$light_log"' EXIT  # reaped: its pid may be another process's now
echo "==== the other tests, run beside the heavy ones (exit $light_rc) ===="
cat "$light_log"
echo "==== heavy tests exit $heavy_rc, the others exit $light_rc ===="
[ "$heavy_rc" -eq 0 ] && [ "$light_rc" -eq 0 ]
