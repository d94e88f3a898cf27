#!/usr/bin/env bash
# Webhook gateway benchmark: ferry serve against nginx-light answering a fixed
# 200, both driven by build/ferry-loadgen on loopback (see bench/README.md).
#   bench/webhooks.sh [RUNS]
# Each figure is the median of RUNS runs (default 3). Tunables (environment):
# CONNS (keep-alive connections, default 64), DURATION (seconds per
# measurement, default 10), BODY (bytes per event, default 256), LOG_LEVEL
# (ferry serve's, default info: one log line per event, as deployed), IDLE
# (slow connections bench/holdconns.py holds open against each ferry serve
# while it is measured, from many addresses; default 0).
set -uo pipefail
cd "$(dirname "$0")"
. ./lib.sh
RUNS=${1:-3}
LOADGEN=${LOADGEN:-$(dirname "$FERRY")/ferry-loadgen}
NGINX=${NGINX:-/usr/sbin/nginx}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10}
BODY=${BODY:-256}
LOG_LEVEL=${LOG_LEVEL:-info}
IDLE=${IDLE:-0}
SERVE_PID=""
HOLD_PID=""
NGINX_PID=""
SERVE_DIR=""
TOTAL_ACCEPTED=0
TOTAL_STORED=0
TOTAL_MISSING=0

for tool in "$FERRY" "$LOADGEN" "$NGINX" sqlite3 ss; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (see bench/README.md)" >&2; exit 2; }
done

# A fresh random secret for this run; never printed.
BENCH_WEBHOOK_SECRET="whsec_$(head -c 24 /dev/urandom | base64)"
export BENCH_WEBHOOK_SECRET

cleanup() {
    stop_serve
    stop_nginx
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A loopback port nothing listens on (nginx needs one given; ferry binds port 0).
free_port() {
    local p
    for p in $(shuf -i 20000-60999 -n 100); do
        [ -z "$(ss -Hltn "sport = :$p")" ] && { echo "$p"; return 0; }
    done
    return 1
}

# start_serve [SERVE OPTIONS]: a fresh store in a new directory; sets SERVE_PID, SERVE_URL.
# Delivery is parked (one worker, blocked in a handler that sleeps) so that
# acceptance, not delivery, is what is measured.
start_serve() {
    SERVE_DIR=$(mktemp -d "$WORK/serve-XXXXXX")
    cat >"$SERVE_DIR/ferry.yaml" <<'YAML'
store: sqlite:ferry.db
webhooks:
  listen: 127.0.0.1:0
  max_body: 64KB
  timeout: 30s
  sources:
    bench:
      path: /hooks/bench
      verify: { scheme: standard, secrets: ["${BENCH_WEBHOOK_SECRET}"], tolerance: 5m }
      deliver: { exec: "sleep 3600", timeout: 2h, max_attempts: 1 }
YAML
    "$FERRY" serve -c "$SERVE_DIR/ferry.yaml" --workers 1 --log-level "$LOG_LEVEL" "$@" \
        >"$SERVE_DIR/serve.out" 2>"$SERVE_DIR/serve.log" &
    SERVE_PID=$!
    SERVE_URL=$(wait_listening "$SERVE_DIR/serve.out")
    [ -n "$SERVE_URL" ] || { echo "bench: ferry serve did not start" >&2; tail -5 "$SERVE_DIR/serve.log" >&2; exit 1; }
    if [ "$IDLE" -gt 0 ]; then
        python3 ./holdconns.py --port "${SERVE_URL##*:}" --connections "$IDLE" --seconds 600 \
            >"$SERVE_DIR/hold.out" 2>&1 &
        HOLD_PID=$!
        for _ in $(seq 1 600); do
            grep -q '^holding ' "$SERVE_DIR/hold.out" && break
            sleep 0.05
        done
        grep -q '^holding ' "$SERVE_DIR/hold.out" || { echo "bench: holdconns.py did not start" >&2; cat "$SERVE_DIR/hold.out" >&2; exit 1; }
    fi
    SERVE_URL="$SERVE_URL/hooks/bench"
}

# stop_serve: SIGTERM, then checks that every acknowledged event is stored.
stop_serve() {
    if [ -n "$HOLD_PID" ]; then
        kill "$HOLD_PID" 2>/dev/null || true
        wait "$HOLD_PID" 2>/dev/null || true
        HOLD_PID=""
    fi
    [ -n "$SERVE_PID" ] || return 0
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
    SERVE_PID=""
}

# check_stored ACKED_FILE: adds to TOTAL_ACCEPTED / TOTAL_STORED / TOTAL_MISSING.
check_stored() {
    local acked stored missing
    acked=$(wc -l <"$1")
    stored=$(sqlite3 "$SERVE_DIR/ferry.db" "SELECT count(*) FROM events WHERE source = 'bench'")
    missing=$(sqlite3 "$SERVE_DIR/check.db" <<SQL
CREATE TABLE acked(id TEXT);
.import $1 acked
ATTACH '$SERVE_DIR/ferry.db' AS f;
SELECT count(*) FROM acked WHERE id NOT IN (SELECT event_id FROM f.events WHERE source = 'bench');
SQL
)
    TOTAL_ACCEPTED=$((TOTAL_ACCEPTED + acked))
    TOTAL_STORED=$((TOTAL_STORED + stored))
    TOTAL_MISSING=$((TOTAL_MISSING + missing))
}

start_nginx() {
    local dir="$WORK/nginx" port
    mkdir -p "$dir/tmp"
    port=$(free_port) || { echo "bench: no free port" >&2; exit 1; }
    cat >"$dir/nginx.conf" <<CONF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        location = /hooks/bench {
            default_type application/json;
            return 200 '{"status":"accepted"}\n';
        }
    }
}
CONF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/out" 2>&1 &
    NGINX_PID=$!
    NGINX_URL="http://127.0.0.1:$port/hooks/bench"
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$NGINX_URL")" = 200 ] && return 0
        sleep 0.05
    done
    echo "bench: nginx did not start" >&2
    cat "$dir/out" "$dir/error.log" >&2
    exit 1
}

stop_nginx() {
    [ -n "$NGINX_PID" ] || return 0
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
}

# load URL OUT [LOADGEN OPTIONS]: runs the load generator, its report in OUT.
load() {
    local url=$1 out=$2
    shift 2
    "$LOADGEN" --url "$url" --connections "$CONNS" --duration "$DURATION" --body-size "$BODY" \
        "$@" >"$out" 2>&1
}

# get KEY FILE: a figure of a load generator report (0 when absent).
get() {
    awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$2"
}

# others FILE: the non-2xx answers, errors and timeouts of a report, as "status_401=3 ..." or "none".
others() {
    awk '$1 ~ /^status_/ || (($1 == "errors" || $1 == "timeouts") && $2 > 0) { printf "%s%s=%s", s, $1, $2; s = " " }
         END { if (!s) printf "none" }' "$1"
}

nginx_rps=() ferry_rps=() one_rps=() ferry_p50=() ferry_p99=() one_p99=() lg_cpu=()
echo "webhooks: $RUNS runs, $CONNS connections, ${DURATION}s each, ${BODY}-byte events, ferry log level $LOG_LEVEL, $IDLE slow connections held against ferry"
start_nginx
for i in $(seq "$RUNS"); do
    load "$NGINX_URL" "$WORK/nginx-$i.txt"
    nginx_rps+=("$(get ok_per_s "$WORK/nginx-$i.txt")")
    lg_cpu+=("$(awk -v c="$(get cpu_s "$WORK/nginx-$i.txt")" -v d="$(get elapsed_s "$WORK/nginx-$i.txt")" 'BEGIN { printf "%.0f", 100 * c / d }')")

    start_serve
    load "$SERVE_URL" "$WORK/ferry-$i.txt" --acked "$SERVE_DIR/acked.txt"
    stop_serve
    check_stored "$SERVE_DIR/acked.txt"
    ferry_rps+=("$(get ok_per_s "$WORK/ferry-$i.txt")")
    ferry_p50+=("$(get lat_p50_ms "$WORK/ferry-$i.txt")")
    ferry_p99+=("$(get lat_p99_ms "$WORK/ferry-$i.txt")")

    start_serve --commit-batch 1 --commit-interval 0
    load "$SERVE_URL" "$WORK/one-$i.txt" --acked "$SERVE_DIR/acked.txt"
    stop_serve
    check_stored "$SERVE_DIR/acked.txt"
    one_rps+=("$(get ok_per_s "$WORK/one-$i.txt")")
    one_p99+=("$(get lat_p99_ms "$WORK/one-$i.txt")")
    echo "  run $i: nginx $(get ok_per_s "$WORK/nginx-$i.txt")/s ($(others "$WORK/nginx-$i.txt"))" \
        " ferry $(get ok_per_s "$WORK/ferry-$i.txt")/s ($(others "$WORK/ferry-$i.txt"))" \
        " ferry --commit-batch 1 --commit-interval 0 $(get ok_per_s "$WORK/one-$i.txt")/s ($(others "$WORK/one-$i.txt"))"
done
stop_nginx

peak=$(median "${ferry_rps[@]}")
half=$(awk -v p="$peak" 'BEGIN { printf "%.0f", p / 2 }')
half_p50=() half_p99=() half_ok=() unpaced_p50=() unpaced_p99=()
# The same open loop with the default commit pacing and without it
# (--commit-interval 0), interleaved.
for i in $(seq "$RUNS"); do
    for mode in half unpaced; do
        if [ "$mode" = half ]; then start_serve; else start_serve --commit-interval 0; fi
        load "$SERVE_URL" "$WORK/$mode-$i.txt" --rate "$half" --acked "$SERVE_DIR/acked.txt"
        stop_serve
        check_stored "$SERVE_DIR/acked.txt"
        echo "  run $i: open loop at $half/s$([ "$mode" = unpaced ] && echo ", --commit-interval 0"):" \
            "$(get ok_per_s "$WORK/$mode-$i.txt")/s, p50 $(get lat_p50_ms "$WORK/$mode-$i.txt") ms," \
            "p99 $(get lat_p99_ms "$WORK/$mode-$i.txt") ms, max $(get lat_max_ms "$WORK/$mode-$i.txt") ms ($(others "$WORK/$mode-$i.txt"))"
    done
    half_ok+=("$(get ok_per_s "$WORK/half-$i.txt")")
    half_p50+=("$(get lat_p50_ms "$WORK/half-$i.txt")")
    half_p99+=("$(get lat_p99_ms "$WORK/half-$i.txt")")
    unpaced_p50+=("$(get lat_p50_ms "$WORK/unpaced-$i.txt")")
    unpaced_p99+=("$(get lat_p99_ms "$WORK/unpaced-$i.txt")")
done

n=$(median "${nginx_rps[@]}")
o=$(median "${one_rps[@]}")
p99=$(median "${half_p99[@]}")
echo "medians of $RUNS runs:"
echo "  nginx-light fixed 200:      $n req/s (load generator CPU $(median "${lg_cpu[@]}")% of one core)"
echo "  ferry serve, group commit:  $peak accepted/s = $(awk -v f="$peak" -v n="$n" 'BEGIN { printf "%.1f%%", 100 * f / n }') of nginx (goal >= 40%)," \
    "closed-loop p50 $(median "${ferry_p50[@]}") ms p99 $(median "${ferry_p99[@]}") ms"
echo "  ferry --commit-batch 1 --commit-interval 0: $o accepted/s ($(awk -v f="$peak" -v o="$o" 'BEGIN { printf "%.1fx", f / o }') less than group commit)," \
    "closed-loop p99 $(median "${one_p99[@]}") ms"
echo "  open loop at $half/s (half of ferry's peak): $(median "${half_ok[@]}") accepted/s," \
    "p50 $(median "${half_p50[@]}") ms, p99 $p99 ms (goal < 10 ms)"
echo "    the same with --commit-interval 0 (no pacing): p50 $(median "${unpaced_p50[@]}") ms, p99 $(median "${unpaced_p99[@]}") ms"
echo "  stored vs accepted (all ferry runs): $TOTAL_STORED stored, $TOTAL_ACCEPTED answered 2xx, $TOTAL_MISSING 2xx-answered ids missing from the store"
[ "$TOTAL_MISSING" -eq 0 ] && [ "$TOTAL_STORED" -eq "$TOTAL_ACCEPTED" ]
