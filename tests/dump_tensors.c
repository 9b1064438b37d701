/*
 * dump_tensors.c - writes every tensor of a GGUF file dequantized by desk's
 * reference dequantizers (float32, file order), for comparison with the
 * numpy reference's own dequantizers (tests/ref/reference.py dequant).
 *
 * usage: dump_tensors MODEL.gguf OUT.f32
 */
#include "testutil.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf OUT.f32\n", argv[0]);
        return 2;
    }
    desk_error err;
    desk_gguf *g;
    if (desk_gguf_open(argv[1], &g, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    FILE *f = fopen(argv[2], "wb");
    if (!f) { perror(argv[2]); return 1; }
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_tensor_info *t = desk_gguf_tensor(g, i);
        int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        uint64_t rs = desk_type_row_size(t->type, t->ne[0]);
        float *y = malloc((size_t)t->ne[0] * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            desk_dequantize_row(t->type, (const char *)t->data + (size_t)r * rs, y, t->ne[0]);
            fwrite(y, 4, (size_t)t->ne[0], f);
        }
        free(y);
    }
    fclose(f);
    desk_gguf_close(g);
    return 0;
}
