/*
 * dump_logits.c - runs a model over a token sequence in one batch and writes
 * the logits of every position (float32, row-major [n_tokens][n_vocab]) for
 * comparison with the numpy reference.
 *
 * usage: dump_logits MODEL.gguf OUT.f32 TOK,TOK,... [THREADS [KV_TYPE]]
 */
#include "testutil.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.gguf OUT.f32 TOK,TOK,... [THREADS]\n", argv[0]);
        return 2;
    }
    int32_t toks[1024], pos[1024], seq[1024];
    bool want[1024];
    int n = 0;
    for (char *p = argv[3]; *p && n < 1024;) {
        char *e;
        toks[n] = (int32_t)strtol(p, &e, 10);
        pos[n] = n;
        seq[n] = 0;
        want[n] = true;
        n++;
        p = *e ? e + 1 : e;
    }
    desk_error err;
    desk_model *m;
    desk_ctx *c;
    if (desk_model_load(argv[1], &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = n;
    cp.n_batch = n;
    cp.n_outputs = n;
    cp.n_threads = argc > 4 ? atoi(argv[4]) : 0;
    if (argc > 5) cp.kv_type = desk_type_from_name(argv[5]);
    if (desk_ctx_new(m, &cp, &c, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    desk_batch b = {n, toks, pos, seq, want};
    if (desk_ctx_decode(c, &b, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    FILE *f = fopen(argv[2], "wb");
    int32_t V = desk_vocab_size(m);
    for (int i = 0; i < n; i++) fwrite(desk_ctx_batch_logits(c, i), 4, (size_t)V, f);
    fclose(f);
    desk_ctx_free(c);
    desk_model_free(m);
    return 0;
}
