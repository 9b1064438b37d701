#!/bin/sh
# serve.sh - desk serve throughput: one stream against N concurrent streams
# on a model (by default the issue-3 1B Q4_0 shape made by bench/models.sh).
#
# usage: bench/serve.sh [MODEL.gguf] [N=8] [TOKENS=64] [THREADS=2] [REPS=5]
set -eu
cd "$(dirname "$0")/.."
M=${1:-${TMPDIR:-/tmp}/desk-bench-models/llama1b-Q4_0.gguf}
N=${2:-8}
T=${3:-64}
TH=${4:-2}
REPS=${5:-5}
PORT=$((30000 + $$ % 20000))
build/desk serve -m "$M" --port $PORT --parallel "$N" -c 512 -t "$TH" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null' EXIT
for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && break
    sleep 0.2
done
echo "model $(basename "$M"), $TH threads, $N slots"
node bench/serve_throughput.mjs "http://127.0.0.1:$PORT" "$N" "$T" "$REPS"
