#!/usr/bin/env bash
# Set up a virtual environment, build a demo market on SQLite and serve it on http://127.0.0.1:5000/
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
export MARKETPLACE_DATABASE_URL="${MARKETPLACE_DATABASE_URL:-sqlite:///$(pwd)/instance/demo.sqlite3}"
mkdir -p instance
.venv/bin/marketplace db upgrade
.venv/bin/marketplace demo
exec .venv/bin/marketplace serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
