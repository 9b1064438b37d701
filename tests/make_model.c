/*
 * make_model.c - writes tiny random-weight models with desk's GGUF writer,
 * one per architecture variant and tensor type, for the tests that compare
 * desk with the independent numpy reference (tests/ref/reference.py) and
 * for the reproducibility tests.
 *
 * usage: make_model OUT.gguf VARIANT TYPE [SEED [VOCAB.gguf]]
 *   VARIANT  llama2   MHA, untied output, SPM vocabulary
 *            llama3   GQA, tied embeddings, Llama 3.1 RoPE scaling from metadata
 *            llama31f GQA, RoPE scaling from a rope_freqs.weight tensor
 *            mistral  GQA, untied, rope base 1e6
 *            qwen2    GQA, q/k/v biases, NEOX RoPE, tied, byte-level BPE vocabulary
 *            wide     like llama3 at the Llama-3.2-1B layer shape, 2 layers (quick speed tests)
 *            llama1b  the Llama-3.2-1B shape: 16 layers, dim 2048, 32/8 heads, FFN 8192, tied, RoPE
 *                     scaling from rope_freqs.weight as llama.cpp's converter writes it (so
 *                     llama.cpp loads the file too: bench/peer.sh)
 *            qwen05b  the Qwen2.5-0.5B shape: 24 layers, dim 896, 14/2 heads, FFN 4864, tied, biases
 *   VOCAB    optional GGUF whose tokenizer.* metadata is copied (a real tokenizer, e.g. from
 *            make_vocab); the vocabulary size then follows it
 *   TYPE     F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K, or
 *            Q4_K_M (Q4_K with Q6_K for attn_v, ffn_down and the output, as llama.cpp does)
 * DESK_CHAT_TEMPLATE=FILE sets tokenizer.chat_template to that file's text
 * (otherwise BPE vocabularies get a plain ChatML template, VOCAB files keep theirs).
 */
#include "testutil.h"

#include <math.h>

typedef struct {
    const char *arch;
    int64_t vocab_extra, d, ff, layers, heads, kv_heads, ctx;
    float rope_base;
    bool tied, biases, bpe, scaling_meta, scaling_tensor;
} variant;

#define SP "\xE2\x96\x81" /* SentencePiece space */

static uint64_t rng;

static void add(desk_gguf_writer *w, const char *name, int type, int64_t rows, int64_t cols, float scale) {
    float *x = malloc((size_t)(rows * cols) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++) x[i] = t_randf(&rng) * scale;
    if (rows == 1) {
        /* 1-D vectors: norms around 1, biases small; always F32 as converters write them */
        if (strstr(name, "norm"))
            for (int64_t i = 0; i < cols; i++) x[i] = 1.0f + 0.2f * x[i] / scale;
        int64_t ne[1] = {cols};
        desk_gguf_add_tensor(w, name, DESK_TYPE_F32, 1, ne, x);
    } else {
        size_t rs = desk_type_row_size(type, cols);
        char *q = malloc(rs * (size_t)rows);
        for (int64_t r = 0; r < rows; r++) desk_quantize_row(type, x + r * cols, q + (size_t)r * rs, cols);
        int64_t ne[2] = {cols, rows};
        if (desk_gguf_add_tensor(w, name, type, 2, ne, q)) {
            fprintf(stderr, "cannot add %s\n", name);
            exit(1);
        }
        free(q);
    }
    free(x);
}

/* SPM vocabulary: <unk> <s> </s>, 256 byte tokens, then words with scores. */
static int64_t spm_vocab(desk_gguf_writer *w, int64_t extra) {
    static const char *words[] = {SP "the", SP "market", SP "a", SP "up",
                                  SP "down", "e", "t", "a", "\xE2\x96\x81", "th", "he", "in", "er", "an"};
    int64_t nw = (int64_t)(sizeof words / sizeof *words), n = 3 + 256 + nw + extra;
    char **tok = calloc((size_t)n, sizeof *tok);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    tok[0] = strdup("<unk>"); types[0] = 2;
    tok[1] = strdup("<s>"); types[1] = 3;
    tok[2] = strdup("</s>"); types[2] = 3;
    for (int b = 0; b < 256; b++) {
        tok[3 + b] = malloc(8);
        snprintf(tok[3 + b], 8, "<0x%02X>", b);
        types[3 + b] = 6;
    }
    for (int64_t i = 0; i < nw; i++) { tok[259 + i] = strdup(words[i]); scores[259 + i] = -(float)i; types[259 + i] = 1; }
    for (int64_t i = 0; i < extra; i++) {
        tok[259 + nw + i] = malloc(16);
        snprintf(tok[259 + nw + i], 16, "w%lld", (long long)i);
        scores[259 + nw + i] = -100.0f - (float)i;
        types[259 + nw + i] = 1;
    }
    desk_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    desk_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, (uint64_t)n);
    desk_gguf_set_arr(w, "tokenizer.ggml.scores", DESK_GGUF_FLOAT32, scores, (uint64_t)n);
    desk_gguf_set_arr(w, "tokenizer.ggml.token_type", DESK_GGUF_INT32, types, (uint64_t)n);
    desk_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    desk_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    desk_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    for (int64_t i = 0; i < n; i++) free(tok[i]);
    free(tok); free(scores); free(types);
    return n;
}

/* Byte-level BPE vocabulary: the 256 mapped bytes, a few merges, ChatML specials. */
static int64_t bpe_vocab(desk_gguf_writer *w, int64_t extra) {
    int64_t n = 256 + 4 + 3 + extra;
    char **tok = calloc((size_t)n, sizeof *tok);
    int32_t *types = calloc((size_t)n, sizeof *types);
    int k = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        uint32_t cp = keep ? (uint32_t)b : (uint32_t)(256 + k++);
        tok[b] = calloc(4, 1);
        if (cp < 0x80) tok[b][0] = (char)cp;
        else { tok[b][0] = (char)(0xC0 | (cp >> 6)); tok[b][1] = (char)(0x80 | (cp & 0x3F)); }
        types[b] = 1;
    }
    const char *merged[] = {"th", "\xC4\xA0t", "\xC4\xA0th", "he"};
    const char *merges[] = {"t h", "\xC4\xA0 t", "\xC4\xA0t h", "h e"};
    for (int i = 0; i < 4; i++) { tok[256 + i] = strdup(merged[i]); types[256 + i] = 1; }
    const char *sp[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; i++) { tok[260 + i] = strdup(sp[i]); types[260 + i] = 3; }
    for (int64_t i = 0; i < extra; i++) {
        tok[263 + i] = malloc(16);
        snprintf(tok[263 + i], 16, "w%lld", (long long)i);
        types[263 + i] = 1;
    }
    desk_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    desk_gguf_set_str(w, "tokenizer.ggml.pre", "qwen2");
    desk_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, (uint64_t)n);
    desk_gguf_set_arr(w, "tokenizer.ggml.token_type", DESK_GGUF_INT32, types, (uint64_t)n);
    desk_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 4);
    desk_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 262);
    desk_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 260);
    desk_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    /* the plain ChatML template, so desk serve's chat endpoint can be tested */
    if (!getenv("DESK_CHAT_TEMPLATE")) desk_gguf_set_str(w, "tokenizer.chat_template",
                      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                      "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
    for (int64_t i = 0; i < n; i++) free(tok[i]);
    free(tok); free(types);
    return n;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s OUT.gguf VARIANT TYPE [SEED [VOCAB.gguf]]\n", argv[0]);
        return 2;
    }
    const char *vname = argv[2], *tname = argv[3];
    rng = argc > 4 ? strtoull(argv[4], NULL, 10) * 2654435761u + 1 : 88172645463325252ull;
    variant v;
    if (!strcmp(vname, "llama2")) v = (variant){"llama", 45, 256, 512, 2, 4, 4, 256, 10000.0f, false, false, false, false, false};
    else if (!strcmp(vname, "llama3")) v = (variant){"llama", 45, 256, 512, 2, 4, 2, 256, 500000.0f, true, false, false, true, false};
    else if (!strcmp(vname, "llama31f")) v = (variant){"llama", 45, 256, 512, 2, 4, 2, 256, 500000.0f, true, false, false, false, true};
    else if (!strcmp(vname, "mistral")) v = (variant){"llama", 45, 256, 512, 2, 8, 2, 256, 1000000.0f, false, false, false, false, false};
    else if (!strcmp(vname, "qwen2")) v = (variant){"qwen2", 41, 256, 512, 2, 4, 2, 256, 1000000.0f, true, true, true, false, false};
    else if (!strcmp(vname, "wide")) v = (variant){"llama", 1742, 2048, 8192, 2, 32, 8, 4096, 500000.0f, true, false, false, true, false};
    else if (!strcmp(vname, "llama1b")) v = (variant){"llama", 127997, 2048, 8192, 16, 32, 8, 131072, 500000.0f, true, false, false, false, true};
    else if (!strcmp(vname, "qwen05b")) v = (variant){"qwen2", 151673, 896, 4864, 24, 14, 2, 32768, 1000000.0f, true, true, true, false, false};
    else { fprintf(stderr, "unknown variant %s\n", vname); return 2; }
    bool km = !strcmp(tname, "Q4_K_M");
    int type = km ? DESK_TYPE_Q4_K : desk_type_from_name(tname);
    if (type < 0) { fprintf(stderr, "unknown type %s\n", tname); return 2; }
    int big = km ? DESK_TYPE_Q6_K : type;

    desk_gguf_writer *w = desk_gguf_writer_new();
    const char *A = v.arch;
    char key[128];
#define K(s) (snprintf(key, sizeof key, "%s." s, A), key)
    desk_gguf_set_str(w, "general.architecture", A);
    desk_gguf_set_str(w, "general.name", vname);
    desk_gguf_set_u32(w, K("context_length"), (uint32_t)v.ctx);
    desk_gguf_set_u32(w, K("embedding_length"), (uint32_t)v.d);
    desk_gguf_set_u32(w, K("block_count"), (uint32_t)v.layers);
    desk_gguf_set_u32(w, K("feed_forward_length"), (uint32_t)v.ff);
    desk_gguf_set_u32(w, K("attention.head_count"), (uint32_t)v.heads);
    desk_gguf_set_u32(w, K("attention.head_count_kv"), (uint32_t)v.kv_heads);
    desk_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
    desk_gguf_set_f32(w, K("rope.freq_base"), v.rope_base);
    int64_t hd = v.d / v.heads;
    desk_gguf_set_u32(w, K("rope.dimension_count"), (uint32_t)hd);
    /* small original context so the scaling changes many frequencies at the positions tested */
    if (v.scaling_meta) {
        desk_gguf_set_str(w, K("rope.scaling.type"), "llama3");
        desk_gguf_set_f32(w, K("rope.scaling.factor"), 8.0f);
        desk_gguf_set_f32(w, K("rope.scaling.low_freq_factor"), 1.0f);
        desk_gguf_set_f32(w, K("rope.scaling.high_freq_factor"), 4.0f);
        desk_gguf_set_u32(w, K("rope.scaling.original_context_length"), 64);
    }
    int64_t n_vocab;
    if (argc > 5) { /* a real tokenizer: copy its metadata */
        desk_gguf *vg;
        desk_error verr;
        if (desk_gguf_open(argv[5], &vg, &verr)) { fprintf(stderr, "%s\n", verr.msg); return 1; }
        for (int64_t i = 0; i < desk_gguf_n_kv(vg); i++)
            if (!strncmp(desk_gguf_key(vg, i), "tokenizer.", 10) &&
                !(getenv("DESK_CHAT_TEMPLATE") && !strcmp(desk_gguf_key(vg, i), "tokenizer.chat_template")))
                desk_gguf_copy_kv(w, vg, i);
        n_vocab = (int64_t)desk_gguf_arr_n(vg, desk_gguf_find(vg, "tokenizer.ggml.tokens"));
        desk_gguf_close(vg);
    } else {
        n_vocab = v.bpe ? bpe_vocab(w, v.vocab_extra) : spm_vocab(w, v.vocab_extra);
    }
    if (getenv("DESK_CHAT_TEMPLATE")) {
        size_t tlen;
        char *tmpl = t_read(getenv("DESK_CHAT_TEMPLATE"), &tlen);
        if (!tmpl) { fprintf(stderr, "cannot read %s\n", getenv("DESK_CHAT_TEMPLATE")); return 1; }
        desk_gguf_set_str(w, "tokenizer.chat_template", tmpl);
        free(tmpl);
    }
    /* vocab must be a multiple of 256 rows for nothing: rows are free; cols are d */
    float s_in = 1.0f / sqrtf((float)v.d), s_ff = 1.0f / sqrtf((float)v.ff);
    add(w, "token_embd.weight", type, n_vocab, v.d, 1.0f);
    add(w, "output_norm.weight", DESK_TYPE_F32, 1, v.d, 1.0f);
    if (!v.tied) add(w, "output.weight", big, n_vocab, v.d, s_in);
    if (v.scaling_tensor) {
        float f[512];
        for (int64_t i = 0; i < hd / 2; i++) f[i] = 1.0f + (float)i * 0.25f; /* arbitrary positive factors */
        int64_t ne[1] = {hd / 2};
        desk_gguf_add_tensor(w, "rope_freqs.weight", DESK_TYPE_F32, 1, ne, f);
    }
    for (int64_t l = 0; l < v.layers; l++) {
        char n[96];
#define T(s) (snprintf(n, sizeof n, "blk.%lld." s, (long long)l), n)
        add(w, T("attn_norm.weight"), DESK_TYPE_F32, 1, v.d, 1.0f);
        add(w, T("attn_q.weight"), type, v.heads * hd, v.d, 2.0f * s_in);
        add(w, T("attn_k.weight"), type, v.kv_heads * hd, v.d, 2.0f * s_in);
        add(w, T("attn_v.weight"), big, v.kv_heads * hd, v.d, s_in);
        add(w, T("attn_output.weight"), type, v.d, v.heads * hd, s_in);
        if (v.biases) {
            add(w, T("attn_q.bias"), DESK_TYPE_F32, 1, v.heads * hd, 0.1f);
            add(w, T("attn_k.bias"), DESK_TYPE_F32, 1, v.kv_heads * hd, 0.1f);
            add(w, T("attn_v.bias"), DESK_TYPE_F32, 1, v.kv_heads * hd, 0.1f);
        }
        add(w, T("ffn_norm.weight"), DESK_TYPE_F32, 1, v.d, 1.0f);
        add(w, T("ffn_gate.weight"), type, v.ff, v.d, s_in);
        add(w, T("ffn_up.weight"), type, v.ff, v.d, s_in);
        add(w, T("ffn_down.weight"), big, v.d, v.ff, s_ff);
#undef T
    }
    desk_error err;
    if (desk_gguf_write(w, argv[1], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    desk_gguf_writer_free(w);
    return 0;
}
