/*
 * cmd_info.c - `desk info`: what a model file is and what it takes to run.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv) {
    const char *C = "info", *path = NULL;
    long n_ctx = 0, n_seq = 1;
    int kv_type = DESK_TYPE_F16;
    bool meta = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { if (!(val = cli_value(C, argc, argv, &i)) || !cli_int(C, a, val, 1, 1 << 22, &n_ctx)) return 2; }
        else if (!strcmp(a, "--parallel")) { if (!(val = cli_value(C, argc, argv, &i)) || !cli_int(C, a, val, 1, 4096, &n_seq)) return 2; }
        else if (!strcmp(a, "--metadata")) meta = true;
        else if (!strcmp(a, "--kv-type")) { if (!(val = cli_value(C, argc, argv, &i)) || !cli_kv_type(C, a, val, &kv_type)) return 2; }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: desk info MODEL.gguf [-c CTX] [--parallel N] [--kv-type f16|q8_0] [--metadata]\n"
                   "  -c CTX        context length to size the KV cache for (default: model's, at most 4096)\n"
                   "  --kv-type T   KV cache element type (default f16)\n"
                   "  --parallel N  sequences held at once (default 1)\n"
                   "  --metadata    also list every metadata key\n");
            return 0;
        } else if (a[0] == '-') { fprintf(stderr, "desk info: unknown option '%s'\n", a); return 2; }
        else path = a;
    }
    if (!path) { fprintf(stderr, "usage: desk info MODEL.gguf [-c CTX]\n"); return 2; }
    desk_error err;
    desk_model *m;
    if (desk_model_load(path, &m, &err)) { fprintf(stderr, "desk info: %s\n", err.msg); return 1; }
    desk_model_info in;
    desk_model_get_info(m, &in);
    char b1[32], b2[32], b3[32], b4[32];
    printf("file          %s (%s, GGUF v%u)\n", path, cli_bytes(in.file_size, b1, sizeof b1), desk_gguf_version(desk_model_gguf(m)));
    if (in.name[0]) printf("name          %s\n", in.name);
    printf("architecture  %s\n", in.arch);
    if (in.n_params >= 1000000000) printf("parameters    %lld (%.2f B)\n", (long long)in.n_params, (double)in.n_params / 1e9);
    else printf("parameters    %lld (%.2f M)\n", (long long)in.n_params, (double)in.n_params / 1e6);
    printf("layers        %lld, embedding %lld, feed-forward %lld\n", (long long)in.n_layer, (long long)in.n_embd, (long long)in.n_ff);
    printf("heads         %lld query, %lld key/value, head size %lld\n", (long long)in.n_head, (long long)in.n_head_kv, (long long)in.head_dim);
    printf("vocabulary    %lld tokens%s\n", (long long)in.n_vocab, in.tied_embeddings ? ", output tied to the embedding" : "");
    printf("context       %lld trained; rope base %g\n", (long long)in.n_ctx_train, in.rope_base);
    printf("tensor types ");
    for (int t = 0; t < DESK_TYPE_COUNT; t++)
        if (in.type_count[t]) printf(" %s: %lld tensors (%.1f%% of parameters);", desk_type_name(t), (long long)in.type_count[t],
                                     100.0 * (double)in.type_params[t] / (double)in.n_params);
    printf("\n");
    printf("bits/weight   %.2f\n", 8.0 * (double)in.weight_bytes / (double)in.n_params);
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = (int)n_ctx;
    cp.n_seq = (int)n_seq;
    cp.kv_type = kv_type;
    if (!n_ctx) cp.n_ctx = (int)(in.n_ctx_train < 4096 ? in.n_ctx_train : 4096);
    uint64_t kv = desk_model_kv_bytes(m, cp.n_ctx, kv_type) * (uint64_t)n_seq, total = desk_ctx_estimate_memory(m, &cp);
    if (!total) { fprintf(stderr, "desk info: this KV cache type does not fit the model (head size %lld)\n", (long long)in.head_dim); desk_model_free(m); return 1; }
    printf("memory        weights %s (mapped from the file) + KV cache %s (%s, %d x %d positions) + scratch %s = %s\n",
           cli_bytes(in.weight_bytes, b1, sizeof b1), cli_bytes(kv, b2, sizeof b2), desk_type_name(kv_type), (int)n_seq, cp.n_ctx,
           cli_bytes(total - kv, b3, sizeof b3), cli_bytes(in.weight_bytes + total, b4, sizeof b4));
    if (meta) {
        const desk_gguf *g = desk_model_gguf(m);
        for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
            char buf[256];
            desk_gguf_kv_format(g, i, buf, sizeof buf);
            printf("  %-44s %s\n", desk_gguf_key(g, i), buf);
        }
    }
    desk_model_free(m);
    return 0;
}
