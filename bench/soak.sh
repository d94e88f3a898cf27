#!/usr/bin/env bash
# Soak: ferry serve receiving signed webhooks while push jobs run against
# ferry mock with every fault on, for a while; samples the RSS and open file
# descriptors of every ferry process and checks that nothing is lost
# (see the Soak section of bench/README.md).
#   bench/soak.sh [SECONDS]        (default 600)
# Tunables (environment): SAMPLE (seconds between samples, default 10),
# WARMUP (seconds before RSS and descriptors must be flat, default 60),
# RATE (webhooks per second, default 50), CONNS (loadgen connections,
# default 8), CHUNK (records per push job, default 20000), FAULTS (the
# mock's faults; default below).
set -uo pipefail
cd "$(dirname "$0")"
. ./lib.sh
DURATION=${1:-600}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-60}
RATE=${RATE:-50}
CONNS=${CONNS:-8}
CHUNK=${CHUNK:-20000}
# Every fault of docs/mock.md but no_dedupe: a batch whose answer was reset
# or truncated after the mock stored it is sent again, and only the mock's
# de-duplication (counted as duplicate_attempts) keeps it stored once. The
# rate is per second because the mock is reset after every job (which also
# clears its rate window): a job of CHUNK records is CHUNK/100 batches.
FAULTS=${FAULTS:-rate=20/s,reset=0.02,error5xx=0.05,body_error=0.02,truncate=0.02,slow=0.02:300ms,record_error=0.02,token_ttl=20s,revoke_every=45s}
LOADGEN=${LOADGEN:-$(dirname "$FERRY")/ferry-loadgen}
SERVE_PID="" LOADGEN_PID="" SAMPLER_PID="" RUN_PID=""

for tool in "$FERRY" "$LOADGEN" sqlite3 curl jq /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "soak: $tool not found (see bench/README.md)" >&2; exit 2; }
done

# A fresh random webhook secret for this run; never printed.
BENCH_WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
export BENCH_WEBHOOK_SECRET

stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop_pid "$RUN_PID"
    stop_pid "$LOADGEN_PID"
    stop_pid "$SAMPLER_PID"
    stop_pid "$SERVE_PID"
    stop_mock
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The processes to sample, "NAME PID" a line; the sampler rereads it each time.
PIDS=$WORK/pids
: >"$PIDS"
track() { echo "$1 $2" >>"$PIDS"; }
untrack() { sed -i "/ $1\$/d" "$PIDS"; }

# sampler: "SECONDS NAME PID RSS_KB FDS" lines in $WORK/samples until $WORK/stop exists.
sampler() {
    local start=$SECONDS name pid rss fds
    while [ ! -e "$WORK/stop" ]; do
        while read -r name pid; do
            rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
            fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
            [ -n "$rss" ] && echo "$((SECONDS - start)) $name $pid $rss $fds"
        done <"$PIDS"
        sleep "$SAMPLE"
    done >"$WORK/samples"
}

start_serve() {
    mkdir -p "$WORK/serve"
    cat >"$WORK/serve/ferry.yaml" <<'YAML'
store: sqlite:ferry.db
webhooks:
  listen: 127.0.0.1:0
  max_body: 64KB
  sources:
    soak:
      path: /hooks/soak
      verify: { scheme: standard, secrets: ["${BENCH_WEBHOOK_SECRET}"], tolerance: 5m }
      deliver: { exec: "cat >/dev/null", timeout: 10s, max_attempts: 5, base: 100ms, cap: 2s }
YAML
    "$FERRY" serve -c "$WORK/serve/ferry.yaml" --log-level warn \
        >"$WORK/serve/serve.out" 2>"$WORK/serve/serve.log" &
    SERVE_PID=$!
    SERVE_URL=$(wait_listening "$WORK/serve/serve.out")
    [ -n "$SERVE_URL" ] || { echo "soak: ferry serve did not start" >&2; tail -5 "$WORK/serve/serve.log" >&2; exit 1; }
    track serve "$SERVE_PID"
}

# The push job: every fault the mock injects has its answer in the config.
write_push_config() {
    write_config "$WORK/push" orders.csv \
        "    retry: { max_attempts: 8, base: 100ms, cap: 2s, max_elapsed: 2m, budget: 50% }
    timeout: { connect: 2s, total: 10s }
    body_errors:
      - { path: /success, equals: false, message: /error }" \
        ", retry: [ERROR]"
}

# push_chunk N: a job of CHUNK new records, run again until every record is
# accepted (at most 10 runs), then checked against the mock's stats and the
# mock reset (so that its memory measures leaks, not the stored credits).
CHUNKS=0 PUSHED=0 CREATED=0 SHORT=0 DOUBLE=0 RUNS=0 DEDUPED=0 RUN_RSS_MAX=0 UNFINISHED=0
push_chunk() {
    local n=$1 status=1 stats stored maxc dup
    rm -f "$WORK/push"/ferry.db*
    awk -v n="$CHUNK" -v c="$n" 'BEGIN {
        print "order_id,participant_id,order_date,amount"
        for (i = 1; i <= n; i++)
            printf "SO-%d-%d,P%06d,2026-11-%02d,%d.%02d\n", c, i, 1 + i % 1000, 1 + i % 28, i % 5000, i % 100
    }' >"$WORK/push/orders.csv"
    for _ in $(seq 1 10); do
        (cd "$WORK/push" && BENCH_SECRET=demo-secret exec /usr/bin/time -f "%M" -o "$WORK/push/time.txt" \
            "$FERRY" run credits -c ferry.yaml --no-progress --log-level warn \
            >>"$WORK/push/run.out" 2>>"$WORK/push/run.log") &
        RUN_PID=$!
        # /usr/bin/time's child is the ferry process to sample.
        sleep 0.2
        local fpid
        fpid=$(pgrep -P "$RUN_PID" -x ferry || true)
        [ -n "$fpid" ] && track run "$fpid"
        wait "$RUN_PID"
        status=$?
        [ -n "$fpid" ] && untrack "$fpid"
        RUN_PID=""
        RUNS=$((RUNS + 1))
        local rss
        rss=$(tail -n 1 "$WORK/push/time.txt" 2>/dev/null)
        [[ "$rss" =~ ^[0-9]+$ ]] && [ "$rss" -gt "$RUN_RSS_MAX" ] && RUN_RSS_MAX=$rss
        [ "$status" -eq 0 ] && break
    done
    [ "$status" -eq 0 ] || UNFINISHED=$((UNFINISHED + 1))
    stats=$(curl -s "$MOCK_URL/mock/stats")
    stored=$(jq -r '.credits.stored' <<<"$stats")
    maxc=$(jq -r '.credits.max_store_count' <<<"$stats")
    dup=$(jq -r '.credits.duplicate_attempts' <<<"$stats")
    CHUNKS=$((CHUNKS + 1))
    PUSHED=$((PUSHED + CHUNK))
    CREATED=$((CREATED + stored))
    DEDUPED=$((DEDUPED + dup))
    [ "$stored" -lt "$CHUNK" ] && SHORT=$((SHORT + CHUNK - stored))
    [ "$maxc" -gt 1 ] && DOUBLE=$((DOUBLE + 1))
    jq -c '.faults' <<<"$stats" >>"$WORK/faults.jsonl"
    curl -s -X POST "$MOCK_URL/mock/reset" >/dev/null
}

echo "soak: ${DURATION}s; webhooks at ${RATE}/s over $CONNS connections; push jobs of $CHUNK records; faults $FAULTS"
start_serve
start_mock "$FAULTS"
track mock "$MOCK_PID"
mkdir -p "$WORK/push"
write_push_config
sampler &
SAMPLER_PID=$!

"$LOADGEN" --url "$SERVE_URL/hooks/soak" --connections "$CONNS" --rate "$RATE" --duration "$DURATION" \
    --body-size 512 --acked "$WORK/acked.txt" >"$WORK/loadgen.txt" 2>&1 &
LOADGEN_PID=$!

deadline=$((SECONDS + DURATION))
while [ "$SECONDS" -lt "$deadline" ]; do
    push_chunk $((CHUNKS + 1))
done
wait "$LOADGEN_PID"
LOADGEN_PID=""

# Let the workers deliver what is pending (at most a minute), then one last sample.
db=$WORK/serve/ferry.db
for _ in $(seq 1 60); do
    [ "$(sqlite3 "$db" "SELECT count(*) FROM events WHERE state = 'pending'" 2>/dev/null)" = 0 ] && break
    sleep 1
done
sleep "$SAMPLE"
touch "$WORK/stop"
wait "$SAMPLER_PID"
SAMPLER_PID=""
stop_pid "$SERVE_PID"
SERVE_PID=""

acked=$(wc -l <"$WORK/acked.txt")
read -r stored delivered dead pending < <(sqlite3 -separator ' ' "$db" \
    "SELECT count(*), sum(state = 'delivered'), sum(state = 'dead'), sum(state = 'pending') FROM events WHERE source = 'soak'")
missing=$(sqlite3 "$WORK/check.db" <<SQL
CREATE TABLE acked(id TEXT);
.import $WORK/acked.txt acked
ATTACH '$db' AS f;
SELECT count(*) FROM acked WHERE id NOT IN (SELECT event_id FROM f.events WHERE source = 'soak');
SQL
)

echo "samples every ${SAMPLE}s (RSS MB / open descriptors):"
awk -v every=60 '
    { key = $2; if (!(key in first)) { first[key] = $1; order[++n] = key }
      if ($1 >= next_t[key]) { line[key] = line[key] sprintf(" %ds:%.1f/%d", $1, $4 / 1024, $5); next_t[key] = $1 + every } }
    END { for (i = 1; i <= n; i++) printf "  %-5s%s\n", order[i], line[order[i]] }' "$WORK/samples"
echo "after ${WARMUP}s of warm-up (min .. max):"
awk -v w="$WARMUP" '
    $1 >= w && $2 != "run" { k = $2; if (!(k in lo)) { lo[k] = hi[k] = $4; flo[k] = fhi[k] = $5; fr[k] = $4 }
      if ($4 < lo[k]) lo[k] = $4; if ($4 > hi[k]) hi[k] = $4; if ($5 < flo[k]) flo[k] = $5; if ($5 > fhi[k]) fhi[k] = $5; la[k] = $4 }
    $2 == "run" { if ($4 > rh) rh = $4; if ($5 > rf) rf = $5 }
    END { for (k in lo) printf "  %-5s RSS %.1f .. %.1f MB (first %.1f, last %.1f), descriptors %d .. %d\n", k, lo[k] / 1024, hi[k] / 1024, fr[k] / 1024, la[k] / 1024, flo[k], fhi[k]
          if (rh) printf "  run   sampled RSS at most %.1f MB, descriptors at most %d\n", rh / 1024, rf }' "$WORK/samples"
echo "webhooks: $(awk '$1 == "sent" || $1 == "ok_2xx" || $1 ~ /^status_/ || $1 == "errors" || $1 == "timeouts" { printf "%s %s  ", $1, $2 }' "$WORK/loadgen.txt")"
echo "  2xx-acked $acked, stored $stored, acked but missing from the store $missing; delivered $delivered, dead $dead, pending $pending"
echo "push: $CHUNKS jobs of $CHUNK records in $RUNS runs (peak RSS of a run $((RUN_RSS_MAX / 1024)) MB)"
echo "  pushed $PUSHED, created in the mock $CREATED, short $SHORT, jobs with a record stored twice $DOUBLE, jobs not finished in 10 runs $UNFINISHED, resends the mock de-duplicated $DEDUPED"
echo "  faults injected: $(jq -s 'reduce .[] as $f ({}; reduce ($f | to_entries[]) as $e (.; .[$e.key] += $e.value))' -c "$WORK/faults.jsonl")"
[ "$missing" -eq 0 ] && [ "$SHORT" -eq 0 ] && [ "$DOUBLE" -eq 0 ] && [ "$CREATED" -eq "$PUSHED" ]
