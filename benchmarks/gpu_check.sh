#!/usr/bin/env bash
# One short device check: CCGM fit and sampling at 1M rows on CUDA against the
# CPU, with the accuracy of each. Run from the repository root on a machine with a GPU:
#   bash benchmarks/gpu_check.sh [--n 1000000] [--json gpu.json]
# Needs the package's environment (the README's install command; on a CUDA machine
# install a CUDA build of torch instead of the constraints file's CPU wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && PY=.venv/bin/python
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" benchmarks/gpu_check.py "$@"
