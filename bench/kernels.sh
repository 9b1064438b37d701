#!/bin/sh
# kernels.sh - decode and prefill speed of each kernel set on models with the
# Llama-3.2-1B layer shape (dim 2048, 32/8 heads, FFN 8192; 2 layers and a
# small vocabulary, so the files stay small), made with desk's GGUF writer.
# Prints a markdown table; bench/RESULTS.md keeps the latest run.
#
# usage: bench/kernels.sh [THREADS] [REPS]     (after `make tests`)
set -eu
cd "$(dirname "$0")/.."
T=${1:-$(nproc 2>/dev/null || sysctl -n hw.ncpu)}
R=${2:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/desk-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
PROMPT="the market the market the market the market the market the market the market the market"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| type | kernels | prefill tok/s | decode tok/s | decode GB/s of weights |"
echo "|---|---|---|---|---|"
for ty in Q4_0 Q8_0 Q4_K_M; do
    m=$W/wide-$ty.gguf
    build/tests/make_model "$m" wide $ty
    # weight bytes read per decoded token: every matrix once (the embedding row is negligible)
    bytes=$(stat -c %s "$m" 2>/dev/null || stat -f %z "$m")
    for k in scalar avx2 avx512 neon; do
        DESK_KERNELS=$k build/desk run -m "$m" -p x -n 1 > /dev/null 2>&1 || continue
        [ "$(DESK_KERNELS=$k build/tests/test_kernels 2>/dev/null | grep -o 'in use: [a-z0-9]*' | cut -d' ' -f3)" = "$k" ] || continue
        : > "$W/p"; : > "$W/d"
        for r in $(seq "$R"); do
            DESK_KERNELS=$k build/desk run -m "$m" -p "$PROMPT" -n 64 --temp 0 -t "$T" 2> "$W/s" > /dev/null
            sed -n 's/.*prefill \([0-9.]*\) tok\/s, decode \([0-9.]*\) tok\/s.*/\1 \2/p' "$W/s" > "$W/x"
            cut -d' ' -f1 "$W/x" >> "$W/p"; cut -d' ' -f2 "$W/x" >> "$W/d"
        done
        p=$(median < "$W/p"); d=$(median < "$W/d")
        gbs=$(awk -v d="$d" -v b="$bytes" 'BEGIN {printf "%.1f", d * b / 1e9}')
        echo "| $ty | $k | $p | $d | $gbs |"
    done
done
