/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: any bytes must either
 * open cleanly (and then every accessor stays inside the buffer) or fail
 * with an error, never crash or read out of bounds (run under ASan/UBSan).
 */
#include "desk.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    desk_gguf *g;
    desk_error err;
    if (desk_gguf_open_memory(data, size, "fuzz.gguf", &g, &err) != DESK_OK) return 0;
    char buf[256];
    volatile uint64_t sink = 0;
    for (int64_t i = 0; i < desk_gguf_n_kv(g); i++) {
        desk_gguf_kv_format(g, i, buf, sizeof buf);
        uint64_t n = desk_gguf_arr_n(g, i);
        for (uint64_t j = 0; j < n && j < 64; j++) {
            const char *s;
            uint64_t l;
            if (desk_gguf_arr_str(g, i, j, &s, &l) && l) sink += (uint8_t)s[l - 1];
        }
    }
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_tensor_info *t = desk_gguf_tensor(g, i);
        if (t->nbytes) sink += ((const uint8_t *)t->data)[t->nbytes - 1];
        /* dequantize the first row: must stay inside the tensor */
        if (t->ne[0] <= 4096) {
            float row[4096];
            desk_dequantize_row(t->type, t->data, row, t->ne[0]);
        }
    }
    desk_gguf_close(g);
    (void)sink;
    return 0;
}
