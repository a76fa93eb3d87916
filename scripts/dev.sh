#!/usr/bin/env bash
# Set up and run a single-node dev chain with a compute worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "${VCOIN_EXTRAS:-worker}"
exec .venv/bin/vcoin node --dev --worker "$@"
