#!/bin/sh
# Reproduces the BENCHMARKS.md figures for one backend: fresh database, seed, start a release
# server, raw baseline, then every scenario, each run 3 times; JSON reports land in $OUT.
#   scripts/bench-run.sh sqlite|postgres [PATIENTS] [DURATION]
# Needs a release build (cargo build --release -p hms) and, for postgres, a server at
# 127.0.0.1:5432 that accepts user postgres (the database hms_bench is dropped and recreated).
# PRESEEDED=URL skips the fresh database and the seed and runs against that (already seeded)
# database, e.g. a 1M-resource one made once with `hms bench seed --patients 66667`.
set -eu
BACKEND=${1:?sqlite or postgres}
PATIENTS=${2:-667}          # 15 resources per patient: 667 -> 10,005 resources
DURATION=${3:-10s}
RUNS=${RUNS:-3}
CONC=${CONC:-64}
HMS=${HMS:-${CARGO_TARGET_DIR:-target}/release/hms}
OUT=${OUT:-bench-results/$BACKEND}
PORT=${PORT:-18080}
mkdir -p "$OUT"
DATA=$(mktemp -d)
if [ -n "${PRESEEDED:-}" ]; then DB=$PRESEEDED; else
case $BACKEND in
  sqlite) DB="sqlite://$DATA/hms.db" ;;
  postgres)
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS hms_bench" -c "CREATE DATABASE hms_bench"
    DB="postgres://postgres@127.0.0.1:5432/hms_bench" ;;
  *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac
fi
uptime | tee "$OUT/uptime-start.txt"
[ -n "${PRESEEDED:-}" ] || "$HMS" bench seed --patients "$PATIENTS" --database-url "$DB" | tee "$OUT/seed.txt"
# No MLLP listener: these scenarios are HTTP, and a second run must not find port 2575 still taken.
HMS_LOG=warn "$HMS" serve --database-url "$DB" --data-dir "$DATA" --http "127.0.0.1:$PORT" --no-mllp \
  2>"$OUT/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health/ready" >/dev/null && break; sleep 0.2; done
for i in $(seq 1 "$RUNS"); do
  "$HMS" bench baseline --database-url "$DB" --duration "$DURATION" --concurrency 8 --json > "$OUT/baseline-$i.json"
done
for s in read create update crud-mix search-mix transaction; do
  for i in $(seq 1 "$RUNS"); do
    "$HMS" bench --server "http://127.0.0.1:$PORT" --scenario "$s" --duration "$DURATION" \
      --concurrency "$CONC" --warm 0 --server-pid "$PID" --baseline-file "$OUT/baseline-$i.json" \
      --json > "$OUT/$s-$i.json"
  done
done
"$HMS" bench --server "http://127.0.0.1:$PORT" --scenario connections --concurrency "${CONNS:-10000}" \
  --duration 3s --server-pid "$PID" --json > "$OUT/connections.json" || true
uptime | tee "$OUT/uptime-end.txt"
