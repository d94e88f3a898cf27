#!/usr/bin/env bash
# What a GET /metrics and a GET /api/status cost a `ferry serve` whose SQLite
# store holds many delivered webhook events (as it does after days of
# traffic within webhooks.retention). See bench/README.md.
#   bench/scrape.sh [EVENTS] [RUNS]
# EVENTS delivered events of 600 random bytes (default 1000000), plus 1,000
# pending and 100 dead; each figure is the median of RUNS requests (default 7).
# FERRY=path/to/another/build/ferry measures another build on the same data.
set -uo pipefail
cd "$(dirname "$0")"
. ./lib.sh
EVENTS=${1:-1000000}
RUNS=${2:-7}
SERVE_PID=""

for tool in "$FERRY" sqlite3 curl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 2; }
done

cleanup() {
    [ -n "$SERVE_PID" ] && { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; }
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

export BENCH_WEBHOOK_SECRET="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$WORK/ferry.yaml" <<'YAML'
store: sqlite:ferry.db
webhooks:
  listen: 127.0.0.1:0
  sources:
    crm:
      path: /hooks/crm
      verify: { scheme: github, secrets: ["${BENCH_WEBHOOK_SECRET}"] }
      deliver: { url: "http://127.0.0.1:9/unused" }
YAML
"$FERRY" migrate -c "$WORK/ferry.yaml" >/dev/null || exit 1
# Delivered a minute ago (well within the default retention of 7 days), so
# the purge the serve starts with deletes none of them.
now=$(($(date +%s) * 1000 - 60000))
sqlite3 "$WORK/ferry.db" <<SQL || exit 1
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $EVENTS + 1100)
INSERT INTO events (source, event_id, content_type, body, state, attempts, received_ms,
                    next_attempt_ms, updated_ms)
SELECT 'crm', 'e' || i, 'application/json', randomblob(600),
       CASE WHEN i <= $EVENTS THEN 'delivered' WHEN i <= $EVENTS + 100 THEN 'dead'
            ELSE 'pending' END,
       1, $now, $now + 86400000, $now
FROM c;
SQL
echo "store: $EVENTS delivered, 100 dead, 1000 pending events;" \
    "$(du -m "$WORK/ferry.db" | cut -f1) MB"

(cd "$WORK" && exec "$FERRY" serve -c ferry.yaml >serve.out 2>serve.log) &
SERVE_PID=$!
URL=$(wait_listening "$WORK/serve.out")
[ -n "$URL" ] || { echo "bench: ferry serve did not start" >&2; cat "$WORK/serve.log" >&2; exit 1; }

for path in /metrics /api/status; do
    times=()
    for _ in $(seq 1 "$RUNS"); do
        t=$(curl -s -o /dev/null -w '%{time_total}' "$URL$path") || exit 1
        times+=("$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')")
    done
    printf '%-12s median %s ms  (runs: %s)\n' "GET $path" "$(median "${times[@]}")" "${times[*]}"
done
