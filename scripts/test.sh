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
.venv/bin/python -m pytest "$@"
