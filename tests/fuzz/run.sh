#!/bin/sh
# Runs every libFuzzer target of a fuzz build for SECONDS each, one after the
# other: tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]
#
# Seeds come from tests/fuzz/corpus/<name>/ (never written to); what the
# fuzzer learns goes to BUILD_DIR/fuzz/work/<name>/, crashes to
# BUILD_DIR/fuzz/crashes/<name>-*, the log to BUILD_DIR/fuzz/logs/<name>.log.
# Exits 1 when any target found a crash, a leak, a timeout or a broken property.
set -eu

build=${1:?usage: run.sh BUILD_DIR SECONDS [NAME...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [NAME...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
bin=$build/fuzz

if [ $# -eq 0 ]; then
    for f in "$bin"/fuzz_*; do
        [ -x "$f" ] && set -- "$@" "${f##*/fuzz_}"
    done
fi
[ $# -gt 0 ] || { echo "run.sh: no fuzz targets in $bin" >&2; exit 1; }

mkdir -p "$bin/logs" "$bin/crashes"
failed=""
for name in "$@"; do
    seeds=$src/corpus/$name
    [ -d "$seeds" ] || { echo "run.sh: no seed corpus $seeds" >&2; exit 1; }
    work=$bin/work/$name
    mkdir -p "$work"
    log=$bin/logs/$name.log
    # -timeout: one input running longer is a hang; -rss_limit_mb: a leak or a blow-up.
    if "$bin/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$bin/crashes/$name-" -print_final_stats=1 \
        "$work" "$seeds" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        printf 'fuzz %-18s ok   %8s runs in %ss, %s\n' "$name" "${execs:-?}" "$seconds" "$cov"
    else
        printf 'fuzz %-18s FAILED (log: %s)\n' "$name" "$log"
        grep -E 'ERROR|property failed|SUMMARY|Test unit written' "$log" | head -n 20 || true
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzzing failed:$failed; reproduce with $bin/fuzz_NAME CRASH_FILE" >&2
    exit 1
fi
