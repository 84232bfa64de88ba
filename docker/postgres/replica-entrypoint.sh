#!/bin/sh
# Streaming replica: clone the primary once (pg_basebackup -R writes standby.signal and
# primary_conninfo), then run as a hot standby.
set -eu
until pg_isready -h postgres-primary -p 5432 -U replicator -d postgres >/dev/null 2>&1; do
  echo "waiting for postgres-primary"; sleep 2
done
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pg_basebackup -h postgres-primary -p 5432 -U replicator -D "$PGDATA" \
    --slot=replica1 -R -X stream --checkpoint=fast --progress
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on
