#!/bin/sh
# test_cli.sh - the desk command end to end: each subcommand on a generated
# model, the summary line, reproducibility of seeded sampling through the CLI,
# and bad flags / bad files: a one-line error naming the problem, exit code
# 1 or 2, never a crash (exit codes >= 128 are signals).
# usage: test_cli.sh BUILD TMPDIR
set -u
BUILD=$1 TMP=$2
D=$BUILD/desk
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_fail CODE NEEDLE CMD... : exits with CODE, stderr has NEEDLE on its first line
expect_fail() {
    code=$1 needle=$2; shift 2
    "$@" > "$TMP/out" 2> "$TMP/err"; rc=$?
    if [ $rc -ne "$code" ]; then bad "$* -> exit $rc, want $code: $(head -c 300 "$TMP/err")"; return; fi
    if ! head -n 1 "$TMP/err" | grep -q -- "$needle"; then bad "$*: stderr lacks '$needle': $(head -c 300 "$TMP/err")"; return; fi
    ok
}

M=$TMP/cli.gguf
$BUILD/tests/make_model "$M" qwen2 Q4_K_M 3 || { echo "cannot make model"; exit 1; }

# run: output, summary line
$D run -m "$M" -p "the market" -n 12 --temp 0.7 --seed 5 > "$TMP/a" 2> "$TMP/sum" && ok || bad "run failed: $(cat "$TMP/sum")"
grep -Eq '^desk: prompt [0-9]+ tokens, generated 12 tokens \(length\); prefill [0-9.]+ tok/s, decode [0-9.]+ tok/s$' "$TMP/sum" && ok || bad "summary line: $(cat "$TMP/sum")"
$D run -m "$M" -p "the market" -n 12 --temp 0.7 --seed 5 -t 1 > "$TMP/b" 2>/dev/null
cmp -s "$TMP/a" "$TMP/b" && ok || bad "same seed, different output (1 vs all threads)"
M2=$TMP/cli-mistral.gguf  # untied output: a flatter distribution than the tied model's
$BUILD/tests/make_model "$M2" mistral Q4_K_M 3
$D run -m "$M2" -p "the market" -n 24 --temp 1.5 --top-k 0 --min-p 0 --seed 5 > "$TMP/c1" 2>/dev/null
$D run -m "$M2" -p "the market" -n 24 --temp 1.5 --top-k 0 --min-p 0 --seed 6 > "$TMP/c2" 2>/dev/null
cmp -s "$TMP/c1" "$TMP/c2" && bad "seeds 5 and 6 gave identical output" || ok
printf 'the market' > "$TMP/prompt.txt"
$D run -m "$M" -f "$TMP/prompt.txt" -n 12 --temp 0.7 --seed 5 > "$TMP/d" 2>/dev/null
cmp -s "$TMP/a" "$TMP/d" && ok || bad "-f PATH differs from -p TEXT"
printf 'the market' | $D run -m "$M" -f - -n 12 --temp 0.7 --seed 5 > "$TMP/e" 2>/dev/null
cmp -s "$TMP/a" "$TMP/e" && ok || bad "-f - (stdin) differs from -p TEXT"
$D run -m "$M" -p "x" -n 300 --temp 0 -c 64 > /dev/null 2> "$TMP/sum"
grep -q "context full" "$TMP/sum" && ok || bad "a full context should end generation: $(cat "$TMP/sum")"

# info and tokenize
$D info "$M" > "$TMP/info" && ok || bad "info failed"
for k in "architecture  qwen2" "Q4_K:" "Q6_K:" "KV cache" "parameters"; do grep -q "$k" "$TMP/info" && ok || bad "info lacks '$k'"; done
$D info "$M" -c 128 --parallel 2 | grep -q "2 x 128 positions" && ok || bad "info -c/--parallel"
[ "$($D tokenize -m "$M" -p "the<|im_end|>" --ids 2>/dev/null)" = "256 101 262" ] && ok || bad "tokenize --ids with a special token: $($D tokenize -m "$M" -p "the<|im_end|>" --ids 2>&1)"
[ "$($D tokenize -m "$M" -p "ab" --ids 2>&1 >/dev/null)" = "2 tokens" ] && ok || bad "tokenize count on stderr"
$D tokenize -m "$M" -p "the" | grep -q "^2 tokens" && ok || bad "tokenize listing count"

# KV cache type
$D info "$M" -c 1024 --kv-type q8_0 | grep -q "KV cache 544.0 KiB (Q8_0, 1 x 1024" && ok || bad "info --kv-type q8_0: $($D info "$M" -c 1024 --kv-type q8_0 | grep memory)"
$D info "$M" -c 1024 | grep -q "KV cache 1.0 MiB (F16, 1 x 1024" && ok || bad "info f16 KV size: $($D info "$M" -c 1024 | grep memory)"
$D run -m "$M2" -p "the market" -n 8 --kv-type q8_0 --temp 0 > /dev/null 2>&1 && ok || bad "run --kv-type q8_0"
expect_fail 2 "'q4_0' is not a KV cache type" $D run -m "$M" -p x --kv-type q4_0
$D bench -m "$M2" -p 8 -n 4 -r 1 --json --kv-type q8_0 | grep -q '"kv_type":"Q8_0"' && ok || bad "bench --kv-type"

# bench and doctor
$D bench -m "$M2" -p 16 -n 8 -r 2 -t 1 --json > "$TMP/bench.json" 2> "$TMP/err" && ok || bad "bench failed: $(cat "$TMP/err")"
for k in '"prefill_tok_s":{"mean":' '"decode_tok_s":{"mean":' '"ttft_ms"' '"bandwidth_fraction":' '"peak_rss_bytes":' '"reps":2'; do
    grep -q "$k" "$TMP/bench.json" && ok || bad "bench --json lacks $k: $(cat "$TMP/bench.json")"
done
# KV cache read per decoded token: M2 has 2 layers, 2 KV heads of 32 (F16). Decoded token k attends over
# 17 + k positions (k = 0..7): K in whole tiles of 16 positions, 2 tiles x 16 x 32 x 2 bytes per head and
# layer = 8192 bytes; V 2 x 2 x 32 x 2 = 256 bytes per position, 20.5 positions on average = 5248 bytes.
grep -q '"kv_bytes_per_token":13440,' "$TMP/bench.json" && ok || bad "bench --json kv_bytes_per_token: $(cat "$TMP/bench.json")"
$D bench -m "$M2" -p 8 -n 4 -r 1 --csv | head -1 | grep -q '^model,threads,kernels,prompt_tokens' && ok || bad "bench --csv header"
# the table gives one fraction per repetition, each against the probes around it
$D bench -m "$M2" -p 8 -n 4 -r 2 > "$TMP/bench.txt" && grep -Eq \
    "median [0-9]+% of the read bandwidth probed around each repetition \([0-9]+% of [0-9.]+, [0-9]+% of [0-9.]+\)$" \
    "$TMP/bench.txt" && ok || bad "bench table: $(cat "$TMP/bench.txt")"
awk -F'"bandwidth_fraction":' 'NF == 2 { split($2, v, /[,}]/); exit !(v[1] > 0 && v[1] < 3) } NF != 2 { exit 1 }' \
    "$TMP/bench.json" && ok || bad "bench --json bandwidth_fraction out of range: $(cat "$TMP/bench.json")"
# the decode paired token by token with read passes: a fraction, and the passes' GB/s
for k in paired_fraction paired_read_gb_s; do
    awk -F"\"$k\":" 'NF == 2 { split($2, v, /[,}]/); exit !(v[1] > 0 && v[1] < 1000) } NF != 2 { exit 1 }' \
        "$TMP/bench.json" && ok || bad "bench --json $k missing or not positive: $(cat "$TMP/bench.json")"
done
grep -Eq "^decode paired +median [0-9]+% of the read passes either side of each token" "$TMP/bench.txt" && ok || bad "bench table: paired line"
# attention's share of the prefill and decode time (desk_ctx_timing): some, never all of it
for k in prefill_attention_fraction decode_attention_fraction; do
    awk -F"\"$k\":" 'NF == 2 { split($2, v, /[,}]/); exit !(v[1] > 0 && v[1] < 1) } NF != 2 { exit 1 }' \
        "$TMP/bench.json" && ok || bad "bench --json $k missing or out of (0, 1): $(cat "$TMP/bench.json")"
done
grep -Eq "^attention +[0-9]+% of prefill time, [0-9]+% of decode time" "$TMP/bench.txt" && ok || bad "bench table: attention line"
$D doctor --no-probe -c 4096 > "$TMP/doc" && grep -q "Llama 3.1 70B Instruct" "$TMP/doc" && grep -q "Qwen2.5-Coder 32B" "$TMP/doc" && ok || bad "doctor table"
expect_fail 2 "-m MODEL is required" $D bench -p 8
expect_fail 2 "-r: '0'" $D bench -m "$M2" -r 0
expect_fail 2 "unknown option" $D doctor --frob
expect_fail 1 "'Q9_9' is not supported" $D quantize "$M2" "$TMP/x.gguf" Q9_9
expect_fail 2 "same file" $D quantize "$M2" "$M2" Q8_0
expect_fail 1 "cannot open" $D quantize "$TMP/nope.gguf" "$TMP/x.gguf" Q8_0

# bad flags
expect_fail 2 "unknown command" $D frobnicate
expect_fail 2 "unknown option '--bogus'" $D run -m "$M" -p x --bogus
expect_fail 2 "-m MODEL is required" $D run -p x
expect_fail 2 "exactly one of -p" $D run -m "$M"
expect_fail 2 "exactly one of -p" $D run -m "$M" -p x -f y
expect_fail 2 "'abc' is not an integer" $D run -m "$M" -p x -n abc
expect_fail 2 "-n: '-5' is not an integer" $D run -m "$M" -p x -n -5
expect_fail 2 "--temp: 'nan' is not a number" $D run -m "$M" -p x --temp nan
expect_fail 2 "--top-p: '0' is not a number" $D run -m "$M" -p x --top-p 0
expect_fail 2 "--seed: '-1' is not an unsigned" $D run -m "$M" -p x --seed -1
expect_fail 2 "-t needs a value" $D run -m "$M" -p x -t
expect_fail 2 "-c: '0'" $D run -m "$M" -p x -c 0

# bad files
expect_fail 1 "$TMP/none.gguf: cannot open" $D run -m "$TMP/none.gguf" -p x
head -c 2000 "$0" > "$TMP/text.txt"
expect_fail 1 "$TMP/text.txt: not a GGUF file" $D info "$TMP/text.txt"
: > "$TMP/empty.gguf"
expect_fail 1 "empty" $D info "$TMP/empty.gguf"
head -c 100000 "$M" > "$TMP/trunc.gguf"
expect_fail 1 "runs past the end of the file" $D run -m "$TMP/trunc.gguf" -p x
head -c 400 "$M" > "$TMP/trunc2.gguf"
expect_fail 1 "$TMP/trunc2.gguf: tensor count 26 is impossible for a 400-byte file" $D info "$TMP/trunc2.gguf"
expect_fail 1 "no such file\|No such file" $D run -m "$M" -f "$TMP/missing.txt"
expect_fail 1 "the prompt has" $D run -m "$M" -p "$(head -c 3000 /dev/zero | tr '\0' 'a')" -c 64

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
