#!/usr/bin/env bash
# Push-job benchmarks against `ferry mock` on loopback (see bench/README.md).
#   bench/push.sh [throughput|cpu|rss|latency|rate|all] [RUNS]
# Each figure is the median of RUNS runs (default 3).
set -uo pipefail
cd "$(dirname "$0")"
. ./lib.sh
which=${1:-all}
RUNS=${2:-3}
REFPUSH=${REFPUSH:-$(dirname "$FERRY")/ferry-refpush}

throughput() {
    local n=100000 rates=() cpus=() batches tokens
    gen_csv $n "$WORK/orders.csv"
    for _ in $(seq "$RUNS"); do
        start_mock
        write_config "$WORK" "$WORK/orders.csv"
        run_ferry "$WORK"
        batches=$(mock_stat '.requests["POST /credits/batch"]["200"]')
        tokens=$(mock_stat '.requests["POST /oauth/token"]["200"]')
        stop_mock
        rates+=("$(awk -v n=$n -v w="$WALL" 'BEGIN { printf "%.0f", n / w }')")
        cpus+=("$(awk -v n=$n -v u="$USER" -v s="$SYS" 'BEGIN { printf "%.2f", (u + s) * 1e6 / n }')")
    done
    echo "throughput: $n records, batch 100, max_in_flight 8, no faults"
    echo "  records/s (median of $RUNS): $(median "${rates[@]}")   CPU us/record: $(median "${cpus[@]}")"
    echo "  batch requests: $batches (ceil(N/100) = $(( (n + 99) / 100 )))   token requests: $tokens"
}

cpu() {
    local n=100000 ferry_cpu=() py_cpu=() c_cpu=() t_cpu=() created secs
    gen_csv $n "$WORK/orders.csv"
    for _ in $(seq "$RUNS"); do
        start_mock
        write_config "$WORK" "$WORK/orders.csv"
        run_ferry "$WORK"
        stop_mock
        ferry_cpu+=("$(awk -v n=$n -v u="$USER" -v s="$SYS" 'BEGIN { printf "%.2f", (u + s) * 1e6 / n }')")
        start_mock
        read -r created secs < <(/usr/bin/python3 reference_push.py "$MOCK_URL" "$WORK/orders.csv")
        stop_mock
        [ "$created" = "$n" ] || { echo "bench: the Python script created $created of $n" >&2; exit 1; }
        py_cpu+=("$(awk -v n=$n -v c="$secs" 'BEGIN { printf "%.2f", c * 1e6 / n }')")
        start_mock
        read -r created secs < <("$REFPUSH" "$MOCK_URL" "$WORK/orders.csv")
        stop_mock
        [ "$created" = "$n" ] || { echo "bench: ferry-refpush created $created of $n" >&2; exit 1; }
        c_cpu+=("$(awk -v n=$n -v c="$secs" 'BEGIN { printf "%.2f", c * 1e6 / n }')")
        start_mock
        read -r created secs < <("$REFPUSH" --text "$MOCK_URL" "$WORK/orders.csv")
        stop_mock
        [ "$created" = "$n" ] || { echo "bench: ferry-refpush --text created $created of $n" >&2; exit 1; }
        t_cpu+=("$(awk -v n=$n -v c="$secs" 'BEGIN { printf "%.2f", c * 1e6 / n }')")
    done
    local f p c t
    f=$(median "${ferry_cpu[@]}")
    p=$(median "${py_cpu[@]}")
    c=$(median "${c_cpu[@]}")
    t=$(median "${t_cpu[@]}")
    echo "cpu: $n records, user+sys per record (median of $RUNS, side by side)"
    echo "  ferry $f us   python requests script $p us   ratio $(awk -v f="$f" -v p="$p" 'BEGIN { printf "%.2f", f / p }')"
    echo "  the script's loop in C (ferry-refpush: libcsv, jansson, libcurl; no journal) $c us   ratio to the script $(awk -v c="$c" -v p="$p" 'BEGIN { printf "%.2f", c / p }')"
    echo "  the same with printf payloads (--text: no escaping, a lower bound) $t us   ratio to the script $(awk -v t="$t" -v p="$p" 'BEGIN { printf "%.2f", t / p }')"
    echo "  per run: ferry ${ferry_cpu[*]}   python ${py_cpu[*]}   C ${c_cpu[*]}   C --text ${t_cpu[*]}"
}

rss() {
    echo "rss: peak RSS of ferry run by input size"
    for n in 100000 300000 1000000; do
        gen_csv $n "$WORK/orders.csv"
        local peaks=()
        for _ in $(seq "$RUNS"); do
            start_mock
            write_config "$WORK" "$WORK/orders.csv"
            run_ferry "$WORK"
            stop_mock
            peaks+=("$RSS_KB")
        done
        echo "  $n records: $(( $(median "${peaks[@]}") / 1024 )) MB (median of $RUNS; exit $STATUS)"
    done
}

latency() {
    local n=20000 rates=()
    gen_csv $n "$WORK/orders.csv"
    for _ in $(seq "$RUNS"); do
        start_mock "slow=1:100ms"
        write_config "$WORK" "$WORK/orders.csv"
        run_ferry "$WORK"
        stop_mock
        rates+=("$(awk -v n=$n -v w="$WALL" 'BEGIN { printf "%.0f", n / w }')")
    done
    local r
    r=$(median "${rates[@]}")
    echo "latency-bound: every answer takes 100 ms, $n records, 8 x 100 in flight"
    echo "  records/s $r   bound 8000   $(awk -v r="$r" 'BEGIN { printf "%.1f%%", r / 80 }') of it"
}

rate() {
    local n=10000 walls=() n429
    gen_csv $n "$WORK/orders.csv"
    for _ in $(seq "$RUNS"); do
        start_mock "rate=600/min"
        write_config "$WORK" "$WORK/orders.csv" "    rate_limit: 600/min"
        run_ferry "$WORK"
        n429=$(mock_stat '.requests["POST /credits/batch"]["429"]')
        stop_mock
        walls+=("$WALL")
    done
    local w ideal
    w=$(median "${walls[@]}")
    ideal=$(awk -v n=$n 'BEGIN { print (n / 100) / 10 }')
    echo "rate-bound: mock rate=600/min, rate_limit 600/min, $n records = $((n / 100)) batches"
    echo "  wall $w s   ideal $ideal s (batches / rate)   $(awk -v w="$w" -v i="$ideal" 'BEGIN { printf "%+.1f%%", (w - i) * 100 / i }')   429s: $n429"
}

case $which in
throughput | cpu | rss | latency | rate) $which ;;
all) throughput; cpu; rss; latency; rate ;;
*) echo "usage: bench/push.sh [throughput|cpu|rss|latency|rate|all] [RUNS]" >&2; exit 2 ;;
esac
