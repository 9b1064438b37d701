/*
 * quantize.c - rewrites a model file with quantized matrices
 * (desk_quantize_file): chooses each tensor's type by name (the Q4_K_M mix
 * follows llama.cpp's rule), then streams the output one tensor at a time,
 * rows split over the thread pool, so memory stays at one tensor.
 */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const desk_gguf *in;
    int *types;           /* output type per input tensor */
    desk_pool *pool;
    float *rowbuf;        /* [threads][widest row] */
    int64_t widest;
    /* current tensor, for the pool job */
    const desk_tensor_info *t;
    void *out;
    int type;
} quant_job;

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and
 * every third layer between */
static bool more_bits(int64_t i, int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* K-quants need rows that are a multiple of 256: fall back as llama.cpp does */
static int fit_type(int type, int64_t ne0) {
    if (ne0 % desk_type_block_elems(type) == 0) return type;
    switch (type) {
    case DESK_TYPE_Q4_K: return ne0 % 32 == 0 ? DESK_TYPE_Q5_0 : DESK_TYPE_F16;
    case DESK_TYPE_Q5_K: return ne0 % 32 == 0 ? DESK_TYPE_Q5_1 : DESK_TYPE_F16;
    case DESK_TYPE_Q6_K: return ne0 % 32 == 0 ? DESK_TYPE_Q8_0 : DESK_TYPE_F16;
    default: return DESK_TYPE_F16;
    }
}

int desk_quant_mix_type(const char *mix, const char *name, int n_dims, int64_t ne0, int64_t n_layer, bool tied) {
    if (n_dims == 1 || strcmp(name, "rope_freqs.weight") == 0) return DESK_TYPE_F32;
    if (strcmp(mix, "Q4_K_M")) {
        int t = desk_type_from_name(mix);
        return t < 0 ? -1 : fit_type(t, ne0);
    }
    int type = DESK_TYPE_Q4_K;
    long layer = -1;
    char rest[64];
    if (sscanf(name, "blk.%ld.%63s", &layer, rest) != 2) layer = -1;
    if (!strcmp(name, "output.weight") || (tied && !strcmp(name, "token_embd.weight"))) type = DESK_TYPE_Q6_K;
    else if (layer >= 0 && (!strcmp(rest, "attn_v.weight") || !strcmp(rest, "ffn_down.weight")) && more_bits(layer, n_layer))
        type = DESK_TYPE_Q6_K;
    return fit_type(type, ne0);
}

static void quant_rows(void *arg, int ith, int nth) {
    quant_job *j = arg;
    const desk_tensor_info *t = j->t;
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    int64_t r0 = rows * ith / nth, r1 = rows * (ith + 1) / nth;
    uint64_t in_rs = desk_type_row_size(t->type, t->ne[0]), out_rs = desk_type_row_size(j->type, t->ne[0]);
    float *buf = j->rowbuf + (size_t)ith * (size_t)j->widest;
    for (int64_t r = r0; r < r1; r++) {
        desk_dequantize_row(t->type, (const char *)t->data + (size_t)r * in_rs, buf, t->ne[0]);
        desk_quantize_row(j->type, buf, (char *)j->out + (size_t)r * out_rs, t->ne[0]);
    }
}

static desk_status fill(void *ctx, int64_t i, const char *name, void *out, uint64_t nbytes, desk_error *err) {
    quant_job *j = ctx;
    (void)name; (void)nbytes; (void)err;
    j->t = desk_gguf_tensor(j->in, i);
    j->type = j->types[i];
    j->out = out;
    desk_pool_run(j->pool, quant_rows, j);
    return DESK_OK;
}

desk_status desk_quantize_file(const char *in, const char *out, const char *mix, int n_threads, bool allow_requantize,
                               desk_error *err) {
    int ftype;
    if (!strcmp(mix, "Q8_0")) ftype = 7;
    else if (!strcmp(mix, "Q4_0")) ftype = 2;
    else if (!strcmp(mix, "Q4_K_M")) ftype = 15;
    else return desk_fail(err, DESK_EUNSUPPORTED, "quantization type '%s' is not supported (Q8_0, Q4_0, Q4_K_M are)", mix);
    desk_gguf *g;
    desk_status s = desk_gguf_open(in, &g, err);
    if (s) return s;
    int64_t nt = desk_gguf_n_tensors(g);
    quant_job j = {.in = g};
    j.types = calloc((size_t)(nt ? nt : 1), sizeof *j.types);
    desk_gguf_writer *w = desk_gguf_writer_new();
    if (!j.types || !w) { s = desk_fail(err, DESK_ENOMEM, "out of memory"); goto done; }
    const char *arch = "llama";
    uint64_t al;
    char key[96];
    desk_gguf_get_str(g, "general.architecture", &arch, &al);
    snprintf(key, sizeof key, "%.*s.block_count", (int)(al < 40 ? al : 40), arch);
    int64_t n_layer = 1;
    desk_gguf_get_i64(g, key, &n_layer);
    bool tied = desk_gguf_find_tensor(g, "output.weight") == NULL;
    for (int64_t i = 0; i < nt; i++) {
        const desk_tensor_info *t = desk_gguf_tensor(g, i);
        bool is_float = t->type == DESK_TYPE_F32 || t->type == DESK_TYPE_F16 || t->type == DESK_TYPE_BF16;
        if (!is_float && !allow_requantize) {
            s = desk_fail(err, DESK_EINVAL, "%s: tensor '%s' is already %s; quantize from an F32/F16/BF16 file (or allow requantizing)",
                          in, t->name, desk_type_name(t->type));
            goto done;
        }
        j.types[i] = desk_quant_mix_type(mix, t->name, t->n_dims, t->ne[0], n_layer, tied);
        if (t->ne[0] > j.widest) j.widest = t->ne[0];
        if ((s = desk_gguf_add_tensor(w, t->name, j.types[i], t->n_dims, t->ne, NULL))) {
            desk_fail(err, s, "%s: cannot add tensor '%s'", out, t->name);
            goto done;
        }
    }
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++)
        if ((s = desk_gguf_copy_kv(w, g, i))) { desk_fail(err, s, "out of memory"); goto done; }
    desk_gguf_set_u32(w, "general.file_type", (uint32_t)ftype);
    desk_gguf_set_u32(w, "general.quantization_version", 2);
    j.pool = desk_pool_new(n_threads > 0 ? n_threads : desk_n_cores());
    j.rowbuf = malloc((size_t)desk_pool_size(j.pool) * (size_t)(j.widest ? j.widest : 1) * sizeof(float));
    if (!j.pool || !j.rowbuf) { s = desk_fail(err, DESK_ENOMEM, "out of memory"); goto done; }
    s = desk_gguf_write_with(w, out, fill, &j, err);
done:
    desk_pool_free(j.pool);
    free(j.rowbuf);
    free(j.types);
    desk_gguf_writer_free(w);
    desk_gguf_close(g);
    return s;
}
