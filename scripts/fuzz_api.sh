#!/usr/bin/env bash
# A longer schemathesis campaign than CI's: every operation of the OpenAPI document, as the
# public and with a token of each role, on SQLite and PostgreSQL. No 5xx, every response as
# documented. Usage: scripts/fuzz_api.sh [EXAMPLES per operation, default 200] [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${1:-200}"
shift || true
FUZZ_EXAMPLES="$EXAMPLES" exec .venv/bin/python -m pytest tests/test_schemathesis.py \
    -n "${TEST_WORKERS:-2}" -q -p no:cacheprovider "$@"
