#!/usr/bin/env bash
# Install Careerlog into .venv and run the guided demo on a throwaway home.
# Afterwards, `.venv/bin/careerlog --help` is yours to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/careerlog demo "$@"
