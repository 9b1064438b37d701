/*
 * neon_count.c - one 16-row product of the matrix kernels, for counting the
 * instructions it executes under qemu (bench/neon_count.sh): the arm64
 * kernels' speed cannot be timed on this project's x86 machines, but the
 * number of instructions a product takes can be counted exactly.
 *
 * Builds 16 random rows of 2048 columns of TYPE, packs them as two x8
 * groups (quant.h), quantizes T random activation rows, then runs one of:
 *   0  nothing more (the setup, to subtract)
 *   1  the single-token kernel (gemv8) on each group, T tokens
 *   2  the batch kernel (gemm16) on both groups, T tokens; without one for
 *      this type, gemv8 on each group, as the matrix product driver does
 *   3  the scalar reference's row dot products, 16 rows x T tokens
 * (1 and 2 run the set's row dot products where it has no gemv8 for the
 * type, as the driver does)
 * and prints one result, so that nothing is optimized away.
 *
 * usage: neon_count TYPE MODE T   (TYPE: the GGUF type number, e.g. 2 = Q4_0)
 */
#include "kernels/quant.h"
#include "kernels/ops.h"

#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float rand_value(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((int64_t)(rng % 2001) - 1000) / 300.0f;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: neon_count TYPE MODE T\n"); return 2; }
    int type = atoi(argv[1]), mode = atoi(argv[2]), T = atoi(argv[3]);
    const int64_t n = 2048;
    desk_base_init();
    const desk_type_traits *tr = desk_traits(type);
    if (!tr || !desk_repack8_supported(type) || T < 1 || T > 64) {
        fprintf(stderr, "neon_count: unsupported type or T\n");
        return 2;
    }
    const char *set = getenv("DESK_KERNELS") ? getenv("DESK_KERNELS") : "neon";
    size_t rs = desk_type_row_size(type, n), gb = desk_repack8_bytes(type, n), ar = desk_act_row_size(tr->act, n);
    uint8_t *rows = malloc(16 * rs), *packed = malloc(2 * gb), *acts = malloc((size_t)T * ar);
    float *x = malloc((size_t)n * sizeof *x), *y = calloc((size_t)T * 16, sizeof *y);
    if (!rows || !packed || !acts || !x || !y) return 1;
    for (int r = 0; r < 16; r++) {
        for (int64_t e = 0; e < n; e++) x[e] = rand_value();
        desk_quantize_row(type, x, rows + (size_t)r * rs, n);
    }
    for (int t = 0; t < T; t++) {
        for (int64_t e = 0; e < n; e++) x[e] = rand_value();
        desk_act_quantize(tr->act, x, acts + (size_t)t * ar, n);
    }
    desk_repack8(type, rows, rs, n, packed);
    desk_repack8(type, rows + 8 * rs, rs, n, packed + gb);
    if (!desk_vec_dot_for(set, type)) { fprintf(stderr, "neon_count: this CPU cannot run the %s kernels\n", set); return 2; }
    desk_gemv8_fn g8 = desk_gemv8_for(set, type);
    desk_gemm16_fn g16 = desk_gemm16_for(set, type);
    if ((mode == 1 || mode == 2) && !g8) mode = 4; /* the set's row dot products, as the driver would run */
    if (mode == 1 || (mode == 2 && !g16)) {
        g8(n, packed, acts, ar, T, y, 16);
        g8(n, packed + gb, acts, ar, T, y + 8, 16);
    } else if (mode == 2) {
        g16(n, packed, gb, acts, ar, T, y, 16);
    } else if (mode == 3 || mode == 4) {
        desk_vec_dot_fn dot = desk_vec_dot_for(mode == 3 ? "scalar" : set, type);
        for (int t = 0; t < T; t++)
            for (int r = 0; r < 16; r++) y[t * 16 + r] = dot(n, rows + (size_t)r * rs, acts + (size_t)t * ar);
    }
    printf("%s %s: %g\n", set, tr->name, (double)y[5]);
    return 0;
}
