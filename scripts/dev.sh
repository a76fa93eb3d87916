#!/usr/bin/env bash
# Set up and run a single-node dev chain with a compute worker.
set -euo pipefail
cd "$(dirname "$0")/.."
# The worker extra (torch, transformers, peft) is only needed once the compute
# worker lands; set VCOIN_EXTRAS=worker to install it now.
scripts/setup.sh "${VCOIN_EXTRAS:-}"
exec .venv/bin/vcoin node --dev --worker "$@"
