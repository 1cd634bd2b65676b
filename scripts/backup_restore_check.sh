#!/usr/bin/env bash
# Dump a market database, restore it into a scratch database, and check that it is whole:
# the same row count in every table and an intact audit chain.
# Usage: scripts/backup_restore_check.sh [DBNAME]   (default: marketplace; local server, trust auth)
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE="${1:-marketplace}"
SCRATCH="${SOURCE}_restore_check"
HOST="${PGHOST:-127.0.0.1}"
DUMP="$(mktemp -d)/market.dump"
pg_dump -h "$HOST" -U postgres --format=custom --file="$DUMP" "$SOURCE"
psql -h "$HOST" -U postgres -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS \"$SCRATCH\" WITH (FORCE)" \
     -c "CREATE DATABASE \"$SCRATCH\""
pg_restore -h "$HOST" -U postgres --no-owner --dbname="$SCRATCH" "$DUMP"
counts() {
    psql -h "$HOST" -U postgres -At -d "$1" -c "SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' ORDER BY 1" | while read -r t; do
        echo "$t $(psql -h "$HOST" -U postgres -At -d "$1" -c "SELECT count(*) FROM \"$t\"")"
    done
}
diff <(counts "$SOURCE") <(counts "$SCRATCH") && echo "row counts match ($(counts "$SOURCE" | wc -l) tables)"
MARKETPLACE_DATABASE_URL="postgresql+psycopg://postgres@$HOST/$SCRATCH" .venv/bin/marketplace audit verify
psql -h "$HOST" -U postgres -q -d postgres -c "DROP DATABASE \"$SCRATCH\" WITH (FORCE)"
echo "backup of $SOURCE restores whole: $(du -h "$DUMP" | cut -f1)"
