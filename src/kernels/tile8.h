/*
 * tile8.h - the batch kernels' shared frame (avx2.c, neon.c): 16 rows (two
 * x8 groups `gb` bytes apart) x any number of tokens, each group in tiles
 * of GEMM8_TILE tokens and the rest as one tile of a constant size, so the
 * tile's loops unroll. Within a tile a set's TILE_BLOCK(wp, ab, act_row,
 * tt, acc, lane) takes one block of the group through every token at once
 * (the weights unpacked once for all of them): TILE8_ACT(ACT, t) is token
 * t's activation block, acc[t * 8 + lane] its accumulator for block lane
 * b % 8, as in the
 * single-token kernels, so the float steps per row and the bits are the
 * reference's (quant.h).
 *
 * The including file defines LANES8 (one token's float accumulator of the
 * 8 rows), LANES8_ZERO(l) and LANES8_STORE(l8, y) (desk_reduce8 of each
 * row's 8 lanes into y[0..7]).
 */
#ifndef DESK_TILE8_H
#define DESK_TILE8_H

#define GEMM8_TILE 8
#define TILE8_ACT(ACT, t) ((const ACT *)(ab + (size_t)(t) * act_row))
#define GEMM8_TILE_FN(NAME, BYTES, ACT, TILE_BLOCK)                                                               \
    static inline __attribute__((always_inline)) void NAME##_tile(int64_t nb, const uint8_t *w, const char *act,  \
                                                                  size_t act_row, int tt, float *y, size_t ys) {  \
        LANES8 lanes[GEMM8_TILE][8];                                                                              \
        for (int t = 0; t < tt; t++)                                                                              \
            for (int j = 0; j < 8; j++) LANES8_ZERO(lanes[t][j]);                                                 \
        for (int64_t b = 0; b < nb; b++)                                                                          \
            TILE_BLOCK(w + (size_t)b * (BYTES), act + (size_t)b * sizeof(ACT), act_row, tt, &lanes[0][0],         \
                       (int)(b % 8));                                                                             \
        for (int t = 0; t < tt; t++) LANES8_STORE(lanes[t], y + (size_t)t * ys);                                  \
    }                                                                                                             \
    GEMM8_DRIVER(NAME, ACT)
#define GEMM8_TAIL(NAME, K)                                                                                       \
    case K:                                                                                                       \
        NAME##_tile(nb, w, a + (size_t)t * act_row, act_row, K, y + (size_t)t * ys + 8 * g, ys);                 \
        break;
#define GEMM8_DRIVER(NAME, ACT)                                                                                   \
    static void NAME(int64_t n, const void *w8, size_t gb, const void *act, size_t act_row, int T, float *y,      \
                     size_t ys) {                                                                                 \
        const char *a = act;                                                                                      \
        int64_t nb = n / (int64_t)(sizeof(((ACT *)0)->qs));                                                       \
        for (int g = 0; g < 2; g++) {                                                                             \
            const uint8_t *w = (const uint8_t *)w8 + (size_t)g * gb;                                              \
            int t = 0;                                                                                            \
            for (; t + GEMM8_TILE <= T; t += GEMM8_TILE)                                                          \
                NAME##_tile(nb, w, a + (size_t)t * act_row, act_row, GEMM8_TILE, y + (size_t)t * ys + 8 * g, ys); \
            _Static_assert(GEMM8_TILE == 8, "the cases below cover 1..7 tokens");                                 \
            switch (T - t) { /* a constant token count each, so the tile's loop unrolls */                        \
                GEMM8_TAIL(NAME, 7) GEMM8_TAIL(NAME, 6) GEMM8_TAIL(NAME, 5) GEMM8_TAIL(NAME, 4)                   \
                GEMM8_TAIL(NAME, 3) GEMM8_TAIL(NAME, 2) GEMM8_TAIL(NAME, 1)                                       \
            default: break;                                                                                       \
            }                                                                                                     \
        }                                                                                                         \
    }
/* single tokens as tiles of one, for a set whose tile beats its gemv8 */
#define GEMV8_AS_TILE(GEMV8, NAME, ACT)                                                                           \
    static void GEMV8(int64_t n, const void *w8, const void *act, size_t act_row, int T, float *y, size_t ys) {   \
        for (int t = 0; t < T; t++)                                                                               \
            NAME##_tile(n / (int64_t)(sizeof(((ACT *)0)->qs)), w8, (const char *)act + (size_t)t * act_row,      \
                        act_row, 1, y + (size_t)t * ys, ys);                                                      \
    }

#endif
