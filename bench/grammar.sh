#!/bin/sh
# grammar.sh - decode speed with and without a JSON Schema constraint (issue
# 6's goal: at most +10% per token), on a model with a large vocabulary (by
# default the issue-3 1B Q4_0 shape from bench/models.sh: 128,256 tokens).
# Runs alternate (unconstrained, constrained) REPS times, so that both see
# the same phases of this machine's memory bandwidth; prints the medians.
# Sampling is at temperature 1 on random weights: the model almost never
# draws what the schema allows by itself, so every step needs the full mask.
#
# usage: bench/grammar.sh [MODEL.gguf] [TOKENS=64] [THREADS=2] [REPS=5]
set -eu
cd "$(dirname "$0")/.."
M=${1:-${TMPDIR:-/tmp}/desk-bench-models/llama1b-Q4_0.gguf}
N=${2:-64}
T=${3:-2}
R=${4:-5}
W=$(mktemp -d "${TMPDIR:-/tmp}/desk-grammar.XXXXXX")
trap 'rm -rf "$W"' EXIT
cat > "$W/schema.json" <<'JSON'
{"type": "object", "additionalProperties": false, "required": ["ticker", "sentiment", "score"],
 "properties": {"ticker": {"type": "string", "pattern": "^[A-Z]{1,5}$"},
                "sentiment": {"enum": ["positive", "negative", "neutral"]},
                "score": {"type": "number", "minimum": -1, "maximum": 1},
                "reason": {"type": "string", "maxLength": 200}}}
JSON
rate() { sed -n 's/.*decode \([0-9.]*\) tok\/s.*/\1/p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
i=0
while [ $i -lt "$R" ]; do
    build/desk run -m "$M" -p "x" -n "$N" --temp 1 --seed $((i + 1)) -t "$T" --ignore-eos 2>&1 > /dev/null | rate >> "$W/free"
    build/desk run -m "$M" -p "x" -n "$N" --temp 1 --seed $((i + 1)) -t "$T" --json-schema "$W/schema.json" \
        2> "$W/err" > "$W/out"
    rate < "$W/err" >> "$W/cons"
    i=$((i + 1))
done
free=$(median < "$W/free")
cons=$(median < "$W/cons")
echo "model $(basename "$M"), $R runs each of $N tokens: decode $(tr '\n' ' ' < "$W/free")tok/s unconstrained,"
echo "  $(tr '\n' ' ' < "$W/cons")tok/s with a JSON Schema; last output: $(head -c 160 "$W/out")"
echo "median: $free tok/s unconstrained, $cons tok/s constrained"
awk -v a="$free" -v b="$cons" 'BEGIN { printf "time per token: %+.1f%% (goal: at most +10%%)\n", (a / b - 1) * 100 }'
