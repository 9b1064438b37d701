/*
 * test_gguf.c - the GGUF writer and reader agree, and every kind of bad file
 * is refused with a one-line error naming the file and the problem, never a
 * crash: truncation at every byte of the header region, bad magic and
 * version, absurd counts and lengths, bad dimensions and types, misaligned,
 * out-of-range and overlapping tensors; and, at the model level, missing
 * tensors, wrong shapes, unknown architectures and missing tokenizers.
 *
 * usage: test_gguf TMPDIR
 */
#include "testutil.h"

static char dir[512];

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* a small file with three KV types and two tensors */
static uint8_t *make_file(size_t *len, const char *path) {
    desk_gguf_writer *w = desk_gguf_writer_new();
    desk_gguf_set_str(w, "general.architecture", "llama");
    desk_gguf_set_u32(w, "llama.block_count", 3);
    desk_gguf_set_f32(w, "x.f", 1.5f);
    const char *strs[] = {"a", "bc", ""};
    desk_gguf_set_arr_str(w, "x.strs", strs, NULL, 3);
    int32_t ints[] = {1, -2, 3};
    desk_gguf_set_arr(w, "x.ints", DESK_GGUF_INT32, ints, 3);
    float data[64 * 2];
    for (int i = 0; i < 128; i++) data[i] = (float)i;
    uint8_t q[4 * 34];
    desk_quantize_row(DESK_TYPE_Q8_0, data, q, 128);
    int64_t ne1[2] = {64, 2}, ne2[1] = {128};
    desk_gguf_add_tensor(w, "t.f32", DESK_TYPE_F32, 2, ne1, data);
    desk_gguf_add_tensor(w, "t.q80", DESK_TYPE_Q8_0, 1, ne2, q);
    desk_error err;
    CHECK(desk_gguf_write(w, path, &err) == DESK_OK, "write: %s", err.msg);
    desk_gguf_writer_free(w);
    return (uint8_t *)t_read(path, len);
}

/* Opening must fail with a message naming the file. */
static void expect_bad(const uint8_t *buf, size_t len, const char *what) {
    desk_gguf *g = NULL;
    desk_error err = {0};
    desk_status s = desk_gguf_open_memory(buf, len, "bad.gguf", &g, &err);
    CHECK(s != DESK_OK && g == NULL, "%s: accepted", what);
    if (s != DESK_OK) {
        CHECK(strstr(err.msg, "bad.gguf") != NULL && !strchr(err.msg, '\n'), "%s: message '%s'", what, err.msg);
    }
    desk_gguf_close(g);
}

/* offsets within the file written by make_file, found by scanning */
static size_t find(const uint8_t *b, size_t n, const char *s) {
    size_t l = strlen(s);
    for (size_t i = 0; i + l <= n; i++)
        if (!memcmp(b + i, s, l)) return i;
    return 0;
}

static void model_errors(void);

int main(int argc, char **argv) {
    snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : "/tmp");
    char path[600];
    snprintf(path, sizeof path, "%s/good.gguf", dir);
    size_t len;
    uint8_t *good = make_file(&len, path);
    CHECK(good != NULL, "read back");
    if (!good) return t_done("gguf");

    /* round trip */
    desk_gguf *g;
    desk_error err;
    CHECK(desk_gguf_open(path, &g, &err) == DESK_OK, "open: %s", err.msg);
    uint64_t u; float f; const char *s; uint64_t sl;
    CHECK(desk_gguf_version(g) == 3 && desk_gguf_n_kv(g) == 5 && desk_gguf_n_tensors(g) == 2, "counts");
    CHECK(desk_gguf_get_u64(g, "llama.block_count", &u) && u == 3, "u32 value");
    CHECK(desk_gguf_get_f32(g, "x.f", &f) && f == 1.5f, "f32 value");
    CHECK(desk_gguf_get_str(g, "general.architecture", &s, &sl) && sl == 5 && !memcmp(s, "llama", 5), "string value");
    int64_t ai = desk_gguf_find(g, "x.strs");
    CHECK(ai >= 0 && desk_gguf_arr_n(g, ai) == 3 && desk_gguf_arr_str(g, ai, 1, &s, &sl) && sl == 2 && !memcmp(s, "bc", 2), "string array");
    CHECK(desk_gguf_arr_str(g, ai, 2, &s, &sl) && sl == 0, "empty string element");
    CHECK(!desk_gguf_arr_str(g, ai, 3, &s, &sl), "index past the end refused");
    int64_t ii = desk_gguf_find(g, "x.ints");
    CHECK(ii >= 0 && ((const int32_t *)desk_gguf_arr_data(g, ii))[1] == -2, "int array");
    const desk_tensor_info *t = desk_gguf_find_tensor(g, "t.f32");
    CHECK(t && t->ne[0] == 64 && t->ne[1] == 2 && ((const float *)t->data)[127] == 127.0f, "f32 tensor");
    t = desk_gguf_find_tensor(g, "t.q80");
    CHECK(t && t->type == DESK_TYPE_Q8_0 && t->nbytes == 4 * 34 && ((uintptr_t)t->data % 32) == 0, "q8 tensor aligned");
    CHECK(!desk_gguf_get_u64(g, "x.f", &u), "type mismatch refused");
    desk_gguf_close(g);

    /* truncation at every length up to the end of the header, then at a few data lengths */
    size_t data_start = len - (64 * 2 * 4) - 160; /* roughly where tensor data starts */
    for (size_t n = 0; n < data_start; n++) expect_bad(good, n, "truncated header");
    expect_bad(good, len - 25, "truncated data"); /* the last 24 bytes are alignment padding */
    expect_bad(good, len - 200, "truncated data");

    uint8_t *b = malloc(len);
#define MUTATE(what, code) do { memcpy(b, good, len); code; expect_bad(b, len, what); } while (0)
    MUTATE("bad magic", b[0] = 'X');
    MUTATE("version 1", put_u32(b + 4, 1));
    MUTATE("version 99", put_u32(b + 4, 99));
    MUTATE("huge tensor count", put_u64(b + 8, 1ull << 60));
    MUTATE("huge kv count", put_u64(b + 16, UINT64_MAX));
    MUTATE("kv count + 1", put_u64(b + 16, 6));
    MUTATE("key length huge", put_u64(b + 24, 1ull << 62));
    MUTATE("key length past end", put_u64(b + 24, len));
    size_t k = find(good, len, "llama.block_count");
    MUTATE("unknown value type", put_u32(b + k + 17, 77));
    k = find(good, len, "x.strs");
    MUTATE("array of huge length", put_u64(b + k + 6 + 4 + 4, 1ull << 61));
    MUTATE("array element type unknown", put_u32(b + k + 6 + 4, 99));
    MUTATE("nested array", put_u32(b + k + 6 + 4, 9));
    MUTATE("string in array too long", put_u64(b + k + 6 + 4 + 4 + 8, 1ull << 40));
    k = find(good, len, "t.f32");
    MUTATE("n_dims 5", put_u32(b + k + 5, 5));
    MUTATE("n_dims 0", put_u32(b + k + 5, 0));
    MUTATE("dimension 0", put_u64(b + k + 9, 0));
    MUTATE("dimension overflow", (put_u64(b + k + 9, 1ull << 40), put_u64(b + k + 17, 1ull << 40)));
    MUTATE("unknown tensor type", put_u32(b + k + 25, 99));
    MUTATE("unsupported IQ2_XXS type", put_u32(b + k + 25, 16));
    MUTATE("offset misaligned", put_u64(b + k + 29, 4));
    MUTATE("offset past end", put_u64(b + k + 29, 1ull << 40));
    MUTATE("offset wraps", put_u64(b + k + 29, UINT64_MAX - 31));
    k = find(good, len, "t.q80");
    MUTATE("row not a block multiple", put_u64(b + k + 5 + 4, 100));
    MUTATE("overlapping tensors", put_u64(b + k + 5 + 4 + 8 + 4, 0));
    MUTATE("duplicate tensor name", memcpy(b + k, "t.f32", 5));
    MUTATE("duplicate key", memcpy(b + find(good, len, "x.ints"), "x.strs", 6));
    free(b);

    /* a file that does not exist, and a directory */
    CHECK(desk_gguf_open("/nonexistent/x.gguf", &g, &err) == DESK_EIO && strstr(err.msg, "/nonexistent/x.gguf"), "missing file: %s", err.msg);
    CHECK(desk_gguf_open(dir, &g, &err) != DESK_OK, "directory refused");
    free(good);

    /* model-level errors */
    model_errors();
    return t_done("gguf");
}

/* ---- model-level checks: build variants of a valid model with one thing wrong */

static void write_model(const char *path, const char *arch, bool tokenizer, const char *skip, int64_t bad_rows, int type) {
    desk_gguf_writer *w = desk_gguf_writer_new();
    char key[128];
    desk_gguf_set_str(w, "general.architecture", arch);
#define K(x) (snprintf(key, sizeof key, "%s." x, arch), key)
    desk_gguf_set_u32(w, K("embedding_length"), 64);
    desk_gguf_set_u32(w, K("block_count"), 1);
    desk_gguf_set_u32(w, K("feed_forward_length"), 128);
    desk_gguf_set_u32(w, K("attention.head_count"), 4);
    desk_gguf_set_u32(w, K("attention.head_count_kv"), 2);
    if (tokenizer) {
        const char *toks[300];
        char buf[300][8];
        for (int i = 0; i < 300; i++) { snprintf(buf[i], 8, "<0x%02X>", i % 256); toks[i] = buf[i]; }
        toks[0] = "<unk>"; toks[1] = "<s>"; toks[2] = "</s>";
        desk_gguf_set_str(w, "tokenizer.ggml.model", "llama");
        desk_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 300);
    }
    static float z[300 * 128];
    struct { const char *n; int64_t r, c; } ts[] = {
        {"token_embd.weight", 300, 64}, {"output_norm.weight", 1, 64}, {"blk.0.attn_norm.weight", 1, 64},
        {"blk.0.ffn_norm.weight", 1, 64}, {"blk.0.attn_q.weight", 64, 64}, {"blk.0.attn_k.weight", 32, 64},
        {"blk.0.attn_v.weight", 32, 64}, {"blk.0.attn_output.weight", 64, 64}, {"blk.0.ffn_gate.weight", 128, 64},
        {"blk.0.ffn_up.weight", 128, 64}, {"blk.0.ffn_down.weight", 64, 128}};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        if (skip && !strcmp(skip, ts[i].n)) continue;
        int64_t rows = ts[i].r;
        if (skip && bad_rows && !strcmp(ts[i].n, "blk.0.attn_k.weight")) rows = bad_rows;
        int64_t ne[2] = {ts[i].c, rows};
        static uint8_t q[300 * 128 * 4];
        int ty = rows == 1 ? DESK_TYPE_F32 : type;
        for (int64_t r = 0; r < rows; r++) desk_quantize_row(ty, z, q + r * desk_type_row_size(ty, ts[i].c), ts[i].c);
        desk_gguf_add_tensor(w, ts[i].n, ty, rows == 1 ? 1 : 2, ne, q);
    }
    desk_error err;
    desk_gguf_write(w, path, &err);
    desk_gguf_writer_free(w);
}

static void expect_model(const char *path, desk_status want, const char *needle) {
    desk_model *m = NULL;
    desk_error err = {0};
    desk_status s = desk_model_load(path, &m, &err);
    CHECK(s == want, "%s: status %d (%s), want %d", path, s, err.msg, want);
    if (want != DESK_OK) CHECK(strstr(err.msg, needle) && strstr(err.msg, path), "%s: message '%s' lacks '%s'", path, err.msg, needle);
    desk_model_free(m);
}

static void model_errors(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/m-ok.gguf", dir);
    write_model(p, "llama", true, NULL, 0, DESK_TYPE_F16);
    expect_model(p, DESK_OK, "");
    snprintf(p, sizeof p, "%s/m-arch.gguf", dir);
    write_model(p, "gpt-neox", true, NULL, 0, DESK_TYPE_F16);
    expect_model(p, DESK_EUNSUPPORTED, "architecture 'gpt-neox'");
    snprintf(p, sizeof p, "%s/m-notok.gguf", dir);
    write_model(p, "llama", false, NULL, 0, DESK_TYPE_F16);
    expect_model(p, DESK_EFORMAT, "tokenizer");
    snprintf(p, sizeof p, "%s/m-missing.gguf", dir);
    write_model(p, "llama", true, "blk.0.ffn_up.weight", 0, DESK_TYPE_F16);
    expect_model(p, DESK_EFORMAT, "'blk.0.ffn_up.weight' is missing");
    snprintf(p, sizeof p, "%s/m-shape.gguf", dir);
    write_model(p, "llama", true, "none", 48, DESK_TYPE_F16);
    expect_model(p, DESK_EFORMAT, "'blk.0.attn_k.weight' has shape [64, 48]");
    snprintf(p, sizeof p, "%s/m-qwen.gguf", dir);
    write_model(p, "qwen2", true, NULL, 0, DESK_TYPE_F16);
    expect_model(p, DESK_EFORMAT, "'blk.0.attn_q.bias' is missing");
}
