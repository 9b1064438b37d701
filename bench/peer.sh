#!/bin/sh
# peer.sh - desk against llama.cpp on the same files, with the same threads,
# in the same minutes: issue 3 compares desk with a widely used C/C++ engine,
# and on this shared machine figures from another day say little. For each
# of the issue's six files (bench/models.sh makes them) and each round, the
# two engines run back to back, in alternating order:
#   desk:      desk bench -p 512 -n 64 -r REPS           (pp512; tg64 after it)
#   llama.cpp: llama-bench -p 512 -n 0 -r REPS, then llama-bench -p 0 -n 64 -d 512 -r REPS
#              (pp512 from an empty context; tg64 at positions 512-575, as desk's)
# Each engine's figure is its own mean over the repetitions, each after its
# own warm-up. (With -r 1, llama-bench's decode read 21-28 tok/s where -r 2
# read 34 on 1B Q4_0: its first timed run is slower.)
# Each row gets the bytes one decoded token reads (desk bench's count of the
# weights) and the read bandwidth desk bench probed around its repetition in
# that round, so both engines' decode is also a fraction of the same probe.
# Rows go to OUT (CSV); a table of medians over the rounds, and desk's ratio
# to llama.cpp, to standard output.
#
# usage: bench/peer.sh LLAMA_BENCH [THREADS] [ROUNDS] [REPS] [OUT.csv] [WORKDIR]
#   LLAMA_BENCH  a llama-bench binary (llama.cpp's tools/llama-bench); llama.cpp's
#                source comes with npm's node-llama-cpp package, as a git bundle:
#                  npm install --ignore-scripts node-llama-cpp
#                  git clone node_modules/node-llama-cpp/llama/gitRelease.bundle llama.cpp
#                  cmake -S llama.cpp -B llama.cpp/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF
#                  cmake --build llama.cpp/build --target llama-bench -j
#   (llama1b files made before bench/peer.sh existed carry "llama3" RoPE-scaling
#   metadata, which llama.cpp refuses with an assertion: delete llama1b-*.gguf in
#   WORKDIR and run bench/models.sh again; the files now carry rope_freqs.weight.)
set -eu
cd "$(dirname "$0")/.."
LB=${1:?usage: bench/peer.sh LLAMA_BENCH [THREADS] [ROUNDS] [REPS] [OUT.csv] [WORKDIR]}
T=${2:-2}
R=${3:-2}
N=${4:-3}
OUT=${5:-bench/peer.csv}
W=${6:-${TMPDIR:-/tmp}/desk-bench-models}
[ -x "$LB" ] || { echo "peer.sh: $LB is not an executable llama-bench" >&2; exit 2; }
[ -x build/desk ] || { echo "peer.sh: build/desk is missing: run make first" >&2; exit 2; }
FILES="llama1b-Q4_0 llama1b-Q8_0 llama1b-Q4_K_M qwen05b-Q4_0 qwen05b-Q8_0 qwen05b-Q4_K_M"
for m in $FILES; do
    [ -f "$W/$m.gguf" ] || { echo "peer.sh: $W/$m.gguf is missing: run bench/models.sh first" >&2; exit 2; }
done
[ -f "$OUT" ] || echo "date,round,engine,model,threads,pp512_tok_s,tg64_tok_s,bytes_per_token,probe_gb_s,tg_fraction" > "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# the value of column NAME in the last row of CSV text on stdin
col() { awk -F, -v n="$1" 'NR == 1 { for (i = 1; i <= NF; i++) { h = $i; gsub(/"/, "", h); if (h == n) c = i } }
                            END { v = $c; gsub(/"/, "", v); print v }'; }

run_desk() { # file
    build/desk bench -m "$W/$1.gguf" -p 512 -n 64 -r "$N" -t "$T" --csv > "$TMP/d.csv"
    d_pp=$(col prefill_tok_s < "$TMP/d.csv")
    d_tg=$(col decode_tok_s < "$TMP/d.csv")
    probe=$(col read_bandwidth_gb_s < "$TMP/d.csv")
    bytes=$(awk -v g="$(col decode_gb_s < "$TMP/d.csv")" -v t="$d_tg" 'BEGIN { printf "%.0f", g * 1e9 / t }')
}

run_llama() { # file
    for args in "-p 512 -n 0" "-p 0 -n 64 -d 512"; do
        # shellcheck disable=SC2086
        "$LB" -m "$W/$1.gguf" -t "$T" $args -r "$N" -o csv > "$TMP/l.csv" 2> "$TMP/l.err" || { cat "$TMP/l.err" >&2; exit 1; }
        case $args in -p\ 512*) l_pp=$(col avg_ts < "$TMP/l.csv") ;; *) l_tg=$(col avg_ts < "$TMP/l.csv") ;; esac
    done
}

row() { # round engine file pp tg
    f=$(awk -v b="$bytes" -v t="$5" -v p="$probe" 'BEGIN { printf "%.4f", b * t / 1e9 / p }')
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ),$1,$2,$3,$T,$4,$5,$bytes,$probe,$f" | tee -a "$TMP/rows.csv" >> "$OUT"
    awk -v r="$1" -v e="$2" -v m="$3" -v pp="$4" -v tg="$5" -v f="$f" -v p="$probe" \
        'BEGIN { printf "round %s  %-10s %-15s pp512 %7.1f  tg64 %6.1f tok/s  %5.1f%% of %.1f GB/s\n", r, e, m, pp, tg, 100 * f, p }'
}

for r in $(seq 1 "$R"); do
    for m in $FILES; do
        if [ $((r % 2)) = 1 ]; then run_desk "$m"; run_llama "$m"; else run_llama "$m"; run_desk "$m"; fi
        row "$r" desk "$m" "$d_pp" "$d_tg"
        row "$r" llama.cpp "$m" "$l_pp" "$l_tg"
    done
done

echo
echo "medians over $R rounds of $N repetitions, $T threads (decode: fraction of the read bandwidth desk bench probed in the same round)"
printf "%-15s %9s %9s %6s   %8s %8s %6s   %7s %7s\n" file "desk pp" "llama pp" ratio "desk tg" "llama tg" ratio "desk %" "llama %"
for m in $FILES; do
    med() { awk -F, -v e="$1" -v m="$m" -v c="$2" '$3 == e && $4 == m { print $c }' "$TMP/rows.csv" | sort -g |
            awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    dp=$(med desk 6); lp=$(med llama.cpp 6); dt=$(med desk 7); lt=$(med llama.cpp 7)
    awk -v m="$m" -v dp="$dp" -v lp="$lp" -v dt="$dt" -v lt="$lt" -v df="$(med desk 10)" -v lf="$(med llama.cpp 10)" \
        'BEGIN { printf "%-15s %9.1f %9.1f %5.2fx   %8.1f %8.1f %5.2fx   %6.1f%% %6.1f%%\n", m, dp, lp, dp / lp, dt, lt, dt / lt, 100 * df, 100 * lf }'
done
