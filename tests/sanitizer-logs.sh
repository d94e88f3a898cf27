#!/bin/sh
# Fails when a sanitizer wrote a report into DIR: tests/sanitizer-logs.sh DIR
#
# make test-san runs the tests with ASAN_OPTIONS/UBSAN_OPTIONS log_path=DIR/...,
# and make test-tsan with TSAN_OPTIONS log_path=DIR/tsan, so that every
# process writes its report to DIR/asan.PID, DIR/ubsan.PID or DIR/tsan.PID:
# the test binaries, and also the ferry processes they spawn. A report from a
# `ferry serve` or `ferry mock` that a test stops with SIGTERM (a leak found
# by LeakSanitizer at exit, a data race in a thread the test never waits
# for) would otherwise go unseen, since no test reads their exit status.
set -eu
dir=${1:?usage: sanitizer-logs.sh DIR}
[ -d "$dir" ] || { echo "sanitizer-logs: no directory $dir" >&2; exit 1; }
found=0
for f in "$dir"/*; do
    [ -e "$f" ] || continue
    [ -s "$f" ] || continue
    found=$((found + 1))
    echo "==== sanitizer report $f" >&2
    cat "$f" >&2
done
if [ "$found" -gt 0 ]; then
    echo "sanitizer-logs: $found report(s) in $dir" >&2
    exit 1
fi
echo "sanitizer-logs: no sanitizer report (leak, race or other) from any process"
