#!/bin/sh
# run_arm64.sh - the arm64 build (NEON kernels) cross-compiled with
# gcc-aarch64-linux-gnu and run under qemu-user: kernels bit-exact against
# the scalar reference, reproducibility, and real-model / tokenizer checks.
# `make test-arm64` runs it. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-aarch64-linux-gnu}
B=$BUILD/tests
SHARED=${DESK_SHARED:-../shared}
# the Debian multiarch arm64 libc (libc6:arm64) under /, with the libraries' arm64 packages
export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/}
Q="qemu-aarch64"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/desk-arm64.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
suite() {
    name=$1; shift
    if "$@" > "$TMP/log" 2>&1; then pass=$((pass + 1)); printf 'ok    arm64 %s\n' "$name"; tail -n 2 "$TMP/log" | sed 's/^/        /'
    else fail=$((fail + 1)); printf 'FAIL  arm64 %s\n' "$name"; tail -n 30 "$TMP/log" | sed 's/^/        /'; fi
}
suite "kernels: NEON vs scalar reference" $Q $B/test_kernels
repro() {
    for spec in llama3:Q4_0 qwen2:Q8_0 mistral:Q4_K_M llama2:F16; do
        $Q $B/make_model "$TMP/r.gguf" ${spec%%:*} ${spec##*:} 7 || return 1
        $Q $B/test_repro "$TMP/r.gguf" || return 1
        $Q $B/test_repro "$TMP/r.gguf" Q8_0 || return 1
    done
}
suite "reproducibility: threads, batching, NEON vs scalar, F16 and Q8_0 KV cache" repro
if [ -d "$SHARED/data" ]; then
    greedy() {
        $Q $BUILD/desk run -m "$SHARED/data/models/stories260K.gguf" -p "" -n 256 --temp 0 > "$TMP/s.txt" &&
        cmp "$TMP/s.txt" "$SHARED/data/models/stories260K.greedy.txt"
    }
    suite "stories260K greedy output" greedy
    T=$SHARED/data/tokenizers
    suite "tokenizer cases (SPM, GPT-2)" $Q $B/test_tokenizer_cases \
        $T/ggml-vocab-llama-spm.gguf $T/ggml-vocab-llama-spm.gguf.inp $T/ggml-vocab-llama-spm.gguf.out \
        $T/ggml-vocab-gpt-2.gguf $T/ggml-vocab-gpt-2.gguf.inp $T/ggml-vocab-gpt-2.gguf.out
fi
templates() {
    TZ=UTC $Q $B/test_template || return 1
    python3 -c 'import jinja2' 2> /dev/null || { echo "no python3 jinja2: differential part skipped"; return 0; }
    dirs="tests/chat/features"
    [ -d "$SHARED/data/chat-templates" ] && dirs="$dirs $SHARED/data/chat-templates"
    # shellcheck disable=SC2086
    DESK_RUNNER=$Q python3 tests/chat/diff_templates.py $B/render_template "$TMP" $dirs
}
suite "chat templates: unit tests and Jinja2 differential" templates
suite "grammar: GBNF recognizer vs PCRE2" $Q $B/test_grammar
suite "grammar masks: trie walks vs brute force (synthetic vocabulary)" $Q $B/test_grammar_mask
echo "arm64: $pass passed, $fail failed"
[ $fail -eq 0 ]
