#!/bin/sh
# grammar.sh - decode speed with and without a JSON Schema constraint (issue
# 6's goal: at most +10% per token), on a model with a large vocabulary (by
# default the issue-3 1B Q4_0 shape from bench/models.sh: 128,256 tokens).
#
# usage: bench/grammar.sh [MODEL.gguf] [TOKENS=48] [THREADS=2]
set -eu
cd "$(dirname "$0")/.."
M=${1:-${TMPDIR:-/tmp}/desk-bench-models/llama1b-Q4_0.gguf}
N=${2:-48}
T=${3:-2}
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
free=$(build/desk run -m "$M" -p "x" -n "$N" --temp 1 --seed 1 -t "$T" --ignore-eos 2>&1 > /dev/null | rate)
cons=$(build/desk run -m "$M" -p "x" -n "$N" --temp 1 --seed 1 -t "$T" --json-schema "$W/schema.json" 2>&1 > /dev/null | rate)
echo "model $(basename "$M"): decode $free tok/s unconstrained, $cons tok/s with a JSON Schema"
awk -v a="$free" -v b="$cons" 'BEGIN { printf "time per token: %+.0f%%\n", (a / b - 1) * 100 }'
