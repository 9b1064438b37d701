#!/bin/sh
# load.sh - a bounded load test of desk serve: wrk with 64 connections for
# LOAD_SECONDS (default 20) against loopback, mixing good and bad requests
# (tests/load/mix.lua). Passes when the server answers every good request
# with 200 and every bad one with a 4xx (except those wrk had prepared or
# in flight when it stopped: at most two per connection), nothing gets a 5xx, no socket
# errors, and the server then still answers and exits cleanly on SIGTERM
# (under AddressSanitizer in `make test SAN=1`, that includes no leaks).
#
# usage: tests/load.sh BUILD_DIR MODEL.gguf PORT
set -eu
B=$1 M=$2 PORT=$3
S=${LOAD_SECONDS:-20}
LOG=$(mktemp)
"$B/desk" serve -m "$M" --port "$PORT" --parallel 4 --queue 80 -c 256 -t 2 2> "$LOG" &
PID=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && break; sleep 0.2; done
OUT=$(wrk -t2 -c64 -d"${S}s" --timeout 30s -s tests/load/mix.lua "http://127.0.0.1:$PORT" 2>&1 || true)
LINE=$(echo "$OUT" | grep '^mix:' || true)
echo "$OUT" | grep -E "Requests/sec|requests in" || true
echo "$LINE"
ok=1
val() { echo "$LINE" | tr ' ' '\n' | grep "^$1=" | cut -d= -f2; }
[ -n "$LINE" ] || { echo "load: wrk printed no summary"; ok=0; }
if [ $ok -eq 1 ]; then
    g=$(val sent_good) b=$(val sent_bad) g2=$(val got_2xx) b4=$(val got_4xx)
    [ "$(val got_5xx)" -eq 0 ] && [ "$(val got_other)" -eq 0 ] || { echo "load: 5xx or unexpected statuses"; ok=0; }
    [ "$(val connect_errors)" -eq 0 ] && [ "$(val read_errors)" -eq 0 ] && [ "$(val write_errors)" -eq 0 ] &&
        [ "$(val timeouts)" -eq 0 ] || { echo "load: socket errors or timeouts"; ok=0; }
    [ "$g2" -le "$g" ] && [ $((g - g2)) -le 128 ] || { echo "load: $((g - g2)) good requests unanswered"; ok=0; }
    [ "$b4" -le "$b" ] && [ $((b - b4)) -le 128 ] || { echo "load: $((b - b4)) bad requests without a 4xx"; ok=0; }
    [ "$g2" -gt 0 ] && [ "$b4" -gt 0 ] || { echo "load: nothing answered"; ok=0; }
fi
curl -sf "http://127.0.0.1:$PORT/health" > /dev/null || { echo "load: the server stopped answering"; ok=0; }
kill -TERM $PID
if wait $PID; then :; else echo "load: desk serve exited with $? after SIGTERM"; tail -20 "$LOG"; ok=0; fi
rm -f "$LOG"
[ $ok -eq 1 ] && echo "load: ok"
[ $ok -eq 1 ]
