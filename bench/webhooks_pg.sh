#!/usr/bin/env bash
# Webhook gateway on PostgreSQL beside SQLite: accepted events/s and p99 ack
# latency, one `ferry serve` on SQLite, one on PostgreSQL, two on one
# PostgreSQL database (the load split over both). See bench/README.md.
#   bench/webhooks_pg.sh [RUNS]
# Each figure is the median of RUNS runs (default 3). CONNS (total keep-alive
# connections, default 64), DURATION (s, default 10), BODY (bytes, default 256).
# The cluster is a throwaway one (scripts/pg-test-cluster) with fsync turned
# back on: commits are as durable as a production server's.
set -uo pipefail
cd "$(dirname "$0")"
. ./lib.sh
RUNS=${1:-3}
LOADGEN=${LOADGEN:-$(dirname "$FERRY")/ferry-loadgen}
CLUSTER=../scripts/pg-test-cluster
CONNS=${CONNS:-64}
DURATION=${DURATION:-10}
BODY=${BODY:-256}
PIDS=()
BENCH_WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
export BENCH_WEBHOOK_SECRET

for tool in "$FERRY" "$LOADGEN" psql sqlite3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "${PGDIR:-}" ] && "$CLUSTER" stop "$PGDIR"
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PGDIR="$WORK/pg"
# As root the cluster runs as the postgres user, which must reach its directory.
chmod 755 "$WORK"
BASE_URL=$("$CLUSTER" start "$PGDIR") || exit 1
psql -q "$BASE_URL" -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET full_page_writes = on" \
    -c "SELECT pg_reload_conf()" >/dev/null

# serve DIR STORE: starts ferry serve (delivery parked, as in webhooks.sh); sets SERVE_URL.
# Not called in $(...): its PID must reach PIDS in this shell, or it is never stopped.
serve() {
    local dir=$1 store=$2
    mkdir -p "$dir"
    cat >"$dir/ferry.yaml" <<YAML
store: $store
webhooks:
  listen: 127.0.0.1:0
  max_body: 64KB
  timeout: 30s
  sources:
    bench:
      path: /hooks/bench
      verify: { scheme: standard, secrets: ["\${BENCH_WEBHOOK_SECRET}"], tolerance: 5m }
      deliver: { exec: "sleep 3600", timeout: 2h, max_attempts: 1 }
YAML
    "$FERRY" serve -c "$dir/ferry.yaml" --workers 1 >"$dir/serve.out" 2>"$dir/serve.log" &
    PIDS+=($!)
    for _ in $(seq 1 200); do
        grep -q '^listening on ' "$dir/serve.out" && break
        sleep 0.05
    done
    local url
    url=$(sed -n 's/^listening on //p' "$dir/serve.out")
    [ -n "$url" ] || { echo "bench: ferry serve did not start" >&2; tail -5 "$dir/serve.log" >&2; exit 1; }
    SERVE_URL="$url/hooks/bench"
}

stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    PIDS=()
}

get() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$2"; }

sqlite_rps=() sqlite_p99=() pg1_rps=() pg1_p99=() pg2_rps=() pg2_p99=()
MISSING=0
echo "webhooks on PostgreSQL: $RUNS runs, $CONNS connections, ${DURATION}s each, ${BODY}-byte events"
for i in $(seq "$RUNS"); do
    d="$WORK/sqlite-$i"
    serve "$d" "sqlite:ferry.db"; url=$SERVE_URL
    "$LOADGEN" --url "$url" --connections "$CONNS" --duration "$DURATION" --body-size "$BODY" \
        >"$d/load.txt" 2>&1
    stop_all
    sqlite_rps+=("$(get ok_per_s "$d/load.txt")")
    sqlite_p99+=("$(get lat_p99_ms "$d/load.txt")")

    db="bench_${i}_1"
    psql -q "$BASE_URL" -c "CREATE DATABASE $db" >/dev/null
    store="${BASE_URL%/*}/$db"
    d="$WORK/pg1-$i"
    serve "$d" "$store"; url=$SERVE_URL
    "$LOADGEN" --url "$url" --connections "$CONNS" --duration "$DURATION" --body-size "$BODY" \
        --acked "$d/acked.txt" >"$d/load.txt" 2>&1
    stop_all
    acked=$(wc -l <"$d/acked.txt")
    stored=$(psql -tA "$store" -c "SELECT count(*) FROM events")
    MISSING=$((MISSING + (acked > stored ? acked - stored : 0)))
    pg1_rps+=("$(get ok_per_s "$d/load.txt")")
    pg1_p99+=("$(get lat_p99_ms "$d/load.txt")")

    db="bench_${i}_2"
    psql -q "$BASE_URL" -c "CREATE DATABASE $db" >/dev/null
    store="${BASE_URL%/*}/$db"
    serve "$WORK/pg2a-$i" "$store"; urla=$SERVE_URL
    serve "$WORK/pg2b-$i" "$store"; urlb=$SERVE_URL
    "$LOADGEN" --url "$urla" --connections $((CONNS / 2)) --duration "$DURATION" --body-size "$BODY" \
        --acked "$WORK/pg2a-$i/acked.txt" >"$WORK/pg2a-$i/load.txt" 2>&1 &
    la=$!
    "$LOADGEN" --url "$urlb" --connections $((CONNS / 2)) --duration "$DURATION" --body-size "$BODY" \
        --acked "$WORK/pg2b-$i/acked.txt" >"$WORK/pg2b-$i/load.txt" 2>&1
    wait "$la"
    stop_all
    acked=$(cat "$WORK/pg2a-$i/acked.txt" "$WORK/pg2b-$i/acked.txt" | wc -l)
    stored=$(psql -tA "$store" -c "SELECT count(*) FROM events")
    MISSING=$((MISSING + (acked > stored ? acked - stored : 0)))
    pg2_rps+=("$(awk -v a="$(get ok_per_s "$WORK/pg2a-$i/load.txt")" -v b="$(get ok_per_s "$WORK/pg2b-$i/load.txt")" 'BEGIN { printf "%.0f", a + b }')")
    pg2_p99+=("$(awk -v a="$(get lat_p99_ms "$WORK/pg2a-$i/load.txt")" -v b="$(get lat_p99_ms "$WORK/pg2b-$i/load.txt")" 'BEGIN { print (a > b ? a : b) }')")
    echo "  run $i: sqlite ${sqlite_rps[-1]}/s p99 ${sqlite_p99[-1]} ms;" \
        "postgresql x1 ${pg1_rps[-1]}/s p99 ${pg1_p99[-1]} ms;" \
        "postgresql x2 ${pg2_rps[-1]}/s p99 ${pg2_p99[-1]} ms"
done
echo "medians of $RUNS (closed loop, $CONNS connections in total):"
echo "  sqlite, 1 instance:     $(median "${sqlite_rps[@]}")/s  p99 $(median "${sqlite_p99[@]}") ms"
echo "  postgresql, 1 instance: $(median "${pg1_rps[@]}")/s  p99 $(median "${pg1_p99[@]}") ms"
echo "  postgresql, 2 instances: $(median "${pg2_rps[@]}")/s  p99 $(median "${pg2_p99[@]}") ms (the slower instance's)"
echo "  acknowledged but not stored (postgresql): $MISSING"
