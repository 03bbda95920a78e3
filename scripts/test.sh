#!/usr/bin/env bash
# Install Careerlog with its server and dev extras into .venv, then run the
# whole test suite: ruff (lint + format check), mypy --strict, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
# Browser tests drive Debian's Chromium; install it when missing and we can.
if [ -f scripts/install-browser.sh ]; then
    bash scripts/install-browser.sh
fi
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"
