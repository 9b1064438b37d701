#!/bin/sh
# run.sh - runs each fuzz target for a bounded time from a seed corpus made
# on the spot (small valid GGUF files and text), under ASan + UBSan.
# usage: fuzz/run.sh FUZZ_BUILD_DIR SECONDS
# FUZZ_SEED (default 1) fixes libFuzzer's random stream so that a CI run
# explores the same inputs each time; FUZZ_SEED=0 picks a new one per run.
set -eu
F=$1 S=$2
R="-seed=${FUZZ_SEED:-1}"
B=${BUILD:-build}/tests   # make_model for the seed corpus
W=$(mktemp -d "${TMPDIR:-/tmp}/desk-fuzz.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/gguf" "$W/text" "$W/json" "$W/tmpl" "$W/gbnf" "$W/schema"
printf '{"type":"object","required":["a"],"properties":{"a":{"type":"integer","minimum":0,"maximum":9},"b":{"anyOf":[{"type":"string","pattern":"^[A-Z]{2}$"},{"type":"null"}]},"c":{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}},"$defs":{"n":{"type":"number","minimum":-1,"maximum":1}}}' > "$W/schema/a"
# a self-referencing $ref (once converted to a left-recursive grammar: fuzz_schema aborted on it)
printf '{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/n"},"maxItems":2}},"$defs":{"n":{"$ref":"#/$defs/n"}}}' > "$W/schema/b"
printf 'root ::= "[" (value ("," value)*)? "]"\nvalue ::= [0-9]+ | root' > "$W/gbnf/a"
printf 'root ::= ("ab" | [^a-c\\n]){2,4} "\\u20ac"? # c\n' > "$W/gbnf/b"
# a nullable repetition of a recursive rule: tens of thousands of stacks per
# character (took 34 s here when the stack tables hashed poorly; now ~3 s)
printf 'root ::= ( [ba" |0"^a^p\000\000\000\000\000\000\000\000\000\000c\000-} ",\000\\n])root {0,24} "\\u20ac"? # c\n' > "$W/gbnf/c"
# templates: the test suite's feature templates and, when present, the published ones
cp tests/chat/features/*.jinja "$W/tmpl/"
[ -d "${DESK_SHARED:-../shared}/data/chat-templates" ] && cp "${DESK_SHARED:-../shared}"/data/chat-templates/*.jinja "$W/tmpl/"
$B/make_model "$W/q.gguf" qwen2 Q4_0 1
$B/make_model "$W/l.gguf" llama2 Q2_K 1
# keep seeds small: the reader gets the headers (tensor data is cut off), plus one whole small file
head -c 8192 "$W/q.gguf" > "$W/gguf/q-head"
head -c 8192 "$W/l.gguf" > "$W/gguf/l-head"
printf 'GGUF\003\000\000\000' > "$W/gguf/magic"
printf 'Hello world, it'"'"'s 2024!\n\tcaf\303\251 <|im_end|> \360\237\232\200 \377\376' > "$W/text/a"
printf '<s>the market up \342\226\201\n\n  x' > "$W/text/b"
printf '{"prompt": "hi", "max_tokens": 5, "temperature": 0.2, "stop": ["a", "b"], "stream": true, "stream_options": {"include_usage": true}}' > "$W/json/a"
printf '{"model": "model.gguf", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "caf\303\251 \\u00e9"}], "seed": 7, "top_p": 0.5, "n": 1}' > "$W/json/b"
printf '{"prompt": ["x"], "logprobs": 3, "top_k": -1, "stop": "\\n"}' > "$W/json/c"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
$F/fuzz_gguf $R -max_total_time="$S" -max_len=16384 -rss_limit_mb=2048 -artifact_prefix="$W/" "$W/gguf" > "$W/log1" 2>&1 || rc=1
grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "$W/log1" || true
DESK_FUZZ_VOCABS="$W/q.gguf:$W/l.gguf" $F/fuzz_tokenize $R -max_total_time="$S" -max_len=512 -artifact_prefix="$W/" "$W/text" > "$W/log2" 2>&1 || rc=1
grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "$W/log2" || true
$F/fuzz_request $R -max_total_time="$S" -max_len=4096 -artifact_prefix="$W/" "$W/json" > "$W/log3" 2>&1 || rc=1
grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "$W/log3" || true
$F/fuzz_template $R -max_total_time="$S" -max_len=8192 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$W/" "$W/tmpl" > "$W/log4" 2>&1 || rc=1
grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "$W/log4" || true
$F/fuzz_grammar $R -max_total_time="$S" -max_len=2048 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$W/" "$W/gbnf" > "$W/log5" 2>&1 || rc=1
grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "$W/log5" || true
$F/fuzz_schema $R -max_total_time="$S" -max_len=2048 -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$W/" "$W/schema" > "$W/log6" 2>&1 || rc=1
grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "$W/log6" || true
if [ $rc -ne 0 ]; then
    grep -h -A30 -e "ERROR" -e "runtime error" -e "deadly signal" -e "timeout" "$W/log1" "$W/log2" "$W/log3" "$W/log4" "$W/log5" "$W/log6" | head -60
    for f in "$W"/crash-* "$W"/timeout-* "$W"/leak-*; do [ -f "$f" ] && { echo "input of $f (base64):"; base64 -w0 "$f" | head -c 4000; echo; }; done
fi
exit $rc
