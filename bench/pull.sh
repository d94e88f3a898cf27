#!/usr/bin/env bash
# Pull-job benchmarks against `ferry mock` on loopback (see bench/README.md).
#   bench/pull.sh [throughput|rss|all] [RUNS]
# Each figure is the median of RUNS runs (default 3).
set -uo pipefail
cd "$(dirname "$0")"
. ./lib.sh
which=${1:-all}
RUNS=${2:-3}

# start_participants N: a mock serving N participants; sets MOCK_PID and MOCK_URL.
start_participants() {
    : >"$WORK/mock.out"
    "$FERRY" mock --listen 127.0.0.1:0 --participants "$1" >"$WORK/mock.out" 2>"$WORK/mock.log" &
    MOCK_PID=$!
    MOCK_URL=$(wait_listening "$WORK/mock.out")
    [ -n "$MOCK_URL" ] || { echo "bench: mock did not start" >&2; cat "$WORK/mock.log" >&2; exit 1; }
}

# write_pull_config DIR: the issue's participants job (OData, $top 100, watermark, schema, jsonl).
write_pull_config() {
    mkdir -p "$1/out"
    cat >"$1/participant.json" <<'JSON'
{"type": "object", "required": ["participantId", "email", "lastModified"],
 "properties": {"participantId": {"type": "string", "pattern": "^P\\d{6}$"},
                "name": {"type": "string", "maxLength": 100},
                "email": {"type": "string", "pattern": "@"},
                "lastModified": {"type": "string", "format": "date-time"}}}
JSON
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
jobs:
  participants:
    kind: pull
    target: im
    request:
      path: /participants
      params: { \$orderby: participantId, \$top: 100, \$filter: "lastModified gt {{watermark}}" }
    paging: odata
    records: /value
    key: participantId
    watermark: { field: lastModified, initial: "1970-01-01T00:00:00Z" }
    schema: participant.json
    sink: { type: jsonl, path: out/participants.jsonl }
    rejects: out/participants.rejects.jsonl
YAML
}

# run_pull DIR: runs the job from scratch; sets WALL USER SYS RSS_KB STATUS.
run_pull() {
    rm -f "$1"/ferry.db* "$1"/out/*
    BENCH_SECRET=demo-secret /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.txt" \
        "$FERRY" run participants -c "$1/ferry.yaml" --no-progress --log-level warn \
        >"$WORK/run.out" 2>"$WORK/run.log"
    STATUS=$?
    read -r WALL USER SYS RSS_KB <"$WORK/time.txt"
}

throughput() {
    local n=100000 rates=() pages_s=() cpus=() pages lines
    start_participants $n
    write_pull_config "$WORK"
    for _ in $(seq "$RUNS"); do
        curl -s -X POST "$MOCK_URL/mock/reset" >/dev/null
        run_pull "$WORK"
        pages=$(mock_stat '.requests["GET /participants"]["200"]')
        lines=$(wc -l <"$WORK/out/participants.jsonl")
        rates+=("$(awk -v n="$lines" -v w="$WALL" 'BEGIN { printf "%.0f", n / w }')")
        pages_s+=("$(awk -v p="$pages" -v w="$WALL" 'BEGIN { printf "%.0f", p / w }')")
        cpus+=("$(awk -v n="$lines" -v u="$USER" -v s="$SYS" 'BEGIN { printf "%.2f", (u + s) * 1e6 / n }')")
    done
    stop_mock
    echo "throughput: $n participants, \$top 100, OData, schema + jsonl sink, no faults (exit $STATUS)"
    echo "  records/s (median of $RUNS): $(median "${rates[@]}")   pages/s: $(median "${pages_s[@]}")   ferry CPU us/record: $(median "${cpus[@]}")"
    echo "  pages fetched: $pages   records written: $lines"
}

rss() {
    echo "rss: peak RSS of ferry run (pull) by number of participants"
    for n in 10000 100000 500000; do
        local peaks=()
        start_participants "$n"
        write_pull_config "$WORK"
        for _ in $(seq "$RUNS"); do
            run_pull "$WORK"
            peaks+=("$RSS_KB")
        done
        stop_mock
        echo "  $n records: $(( $(median "${peaks[@]}") / 1024 )) MB (median of $RUNS; exit $STATUS; $(wc -l <"$WORK/out/participants.jsonl") written)"
    done
}

case $which in
throughput | rss) $which ;;
all) throughput; rss ;;
*) echo "usage: bench/pull.sh [throughput|rss|all] [RUNS]" >&2; exit 2 ;;
esac
