#!/usr/bin/env bash
# Install Careerlog (with its sync server) into .venv and run the guided demo:
# a career plan on a throwaway home, then a server on the embedded SQLite
# default and a second device that syncs with it.
# Afterwards, `.venv/bin/careerlog --help` is yours to explore.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[server]"
# Bytecode now, so every command starts fast even where PYTHONDONTWRITEBYTECODE is set.
.venv/bin/python -m compileall -q shared client server
exec .venv/bin/careerlog demo "$@"
