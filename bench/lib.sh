# Shared helpers for the benchmarks: a ferry mock on a free loopback port,
# sample data, configs, and medians. Sourced, not run.

FERRY=${FERRY:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/ferry}
WORK=$(mktemp -d /tmp/ferry-bench-XXXXXX)
MOCK_PID=""

cleanup() {
    stop_mock
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# wait_listening FILE: the URL of the "listening on URL" line a ferry mock or
# serve writes to FILE (its stdout), waiting up to 10 s; empty if none came.
wait_listening() {
    for _ in $(seq 1 200); do
        grep -q '^listening on ' "$1" && break
        sleep 0.05
    done
    sed -n 's/^listening on //p' "$1"
}

# start_mock [FAULTS]: sets MOCK_PID and MOCK_URL.
start_mock() {
    local faults=${1:-}
    : >"$WORK/mock.out"
    if [ -n "$faults" ]; then
        "$FERRY" mock --listen 127.0.0.1:0 --faults "$faults" --seed 1 \
            >"$WORK/mock.out" 2>"$WORK/mock.log" &
    else
        "$FERRY" mock --listen 127.0.0.1:0 >"$WORK/mock.out" 2>"$WORK/mock.log" &
    fi
    MOCK_PID=$!
    MOCK_URL=$(wait_listening "$WORK/mock.out")
    [ -n "$MOCK_URL" ] || { echo "bench: mock did not start" >&2; cat "$WORK/mock.log" >&2; exit 1; }
}

stop_mock() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
        MOCK_PID=""
    fi
}

# mock_stat JQ: a number from /mock/stats (0 when absent).
mock_stat() {
    curl -s "$MOCK_URL/mock/stats" | jq -r "($1) // 0"
}

# gen_csv N FILE: N valid orders.
gen_csv() {
    awk -v n="$1" 'BEGIN {
        print "order_id,participant_id,order_date,amount"
        for (i = 1; i <= n; i++)
            printf "SO-%d,P%06d,2026-11-%02d,%d.%02d\n", i, 1 + i % 1000, 1 + i % 28, i % 5000, i % 100
    }' >"$2"
}

# write_config DIR CSV [TARGET_EXTRA] [RESULTS_EXTRA]: a push job for the running mock.
write_config() {
    cat >"$1/ferry.yaml" <<YAML
store: sqlite:ferry.db
targets:
  im:
    base_url: $MOCK_URL
    auth:
      type: oauth2_client_credentials
      token_url: $MOCK_URL/oauth/token
      client_id: demo
      client_secret: \${BENCH_SECRET}
    max_in_flight: 8
${3:-}
jobs:
  credits:
    kind: push
    target: im
    source: { type: csv, path: $2 }
    request: { method: POST, path: /credits/batch, batch_size: 100 }
    key: sourceRef
    map:
      participantId: participant_id
      transactionDate: { from: order_date, type: date }
      amount: { from: amount, type: number, required: true }
      currencyCode: { value: USD }
      periodId: { value: "2026-11" }
      sourceRef: { from: order_id, required: true }
    results: { path: /results, key: sourceRef${4:-} }
YAML
}

# run_ferry DIR: runs the job; sets WALL USER SYS RSS_KB STATUS.
run_ferry() {
    rm -f "$1"/ferry.db*
    BENCH_SECRET=demo-secret /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.txt" \
        "$FERRY" run credits -c "$1/ferry.yaml" --no-progress --log-level warn \
        >"$WORK/run.out" 2>"$WORK/run.log"
    STATUS=$?
    read -r WALL USER SYS RSS_KB <"$WORK/time.txt"
}

# median of the arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
