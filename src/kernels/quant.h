/*
 * quant.h - quantized block formats, activation formats, and the kernel table.
 *
 * Weight blocks are the GGML formats found in GGUF files (one struct and a
 * static_assert on its size each). Activations are quantized per token to
 * one of two internal formats before a matrix product:
 *   desk_q8a  32 values, float scale, int8 quants, their integer sum (for Q4_0..Q8_0)
 *   desk_q8k 256 values, float scale, int8 quants, sums of each 16 (for the K-quants)
 *
 * Determinism contract shared by every kernel variant (scalar, AVX2, AVX-512,
 * NEON): a dot product of a weight row with an activation row is
 *   - for quantized types: an exact integer dot per block, turned into one
 *     float per block by a fixed sequence of float multiplies and adds, and
 *     block b added into accumulator lane b % 8; the 8 lanes are then summed
 *     as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7));
 *   - for float types: element i multiplied and added (no FMA) into lane
 *     i % 16, lanes summed pairwise in the same tree shape.
 * So every variant gives bit-identical results, whatever the thread count or
 * batch size, and the scalar code below is the reference each SIMD variant is
 * tested against.
 */
#ifndef DESK_QUANT_H
#define DESK_QUANT_H

#include "base/base.h"
#include <assert.h>

#define QK 32   /* elements per block of the simple formats */
#define QKK 256 /* elements per K-quant super-block */

typedef struct { uint16_t d; uint8_t qs[QK / 2]; } block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
typedef struct { uint16_t d, m; uint8_t qs[QK / 2]; } block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; } block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
typedef struct { uint16_t d; int8_t qs[QK]; } block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

typedef struct { uint8_t scales[QKK / 16]; uint8_t qs[QKK / 4]; uint16_t d, dmin; } block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
typedef struct { uint8_t hmask[QKK / 8]; uint8_t qs[QKK / 4]; uint8_t scales[12]; uint16_t d; } block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QKK / 2]; } block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QKK / 8]; uint8_t qs[QKK / 2]; } block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
typedef struct { uint8_t ql[QKK / 2]; uint8_t qh[QKK / 4]; int8_t scales[QKK / 16]; uint16_t d; } block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* activation blocks */
typedef struct { float d; int32_t sum; int8_t qs[QK]; } desk_q8a;
static_assert(sizeof(desk_q8a) == 40, "desk_q8a size");
typedef struct { float d; int16_t bsums[QKK / 16]; int8_t qs[QKK]; } desk_q8k;
static_assert(sizeof(desk_q8k) == 292, "desk_q8k size");

typedef enum { ACT_F32, ACT_Q8A, ACT_Q8K } desk_act_kind;

/* dot of one weight row (n elements) with one quantized/float activation row */
typedef float (*desk_vec_dot_fn)(int64_t n, const void *w, const void *act);

typedef struct {
    const char *name;
    int64_t blck, bytes;      /* elements and bytes per block */
    desk_act_kind act;
    desk_vec_dot_fn dot_ref;  /* scalar reference */
} desk_type_traits;

const desk_type_traits *desk_traits(int type);   /* NULL for unsupported types */

/* Activation row size in bytes for n elements of the given kind. */
size_t desk_act_row_size(desk_act_kind k, int64_t n);
/* Quantize a float row into activation format (the active kernel set's
 * version where it has one, bit-identical to the scalar reference). */
void desk_act_quantize(desk_act_kind k, const float *x, void *out, int64_t n);
/* One activation row of n floats into a quantized format. */
typedef void (*desk_act_fn)(const float *x, void *out, int64_t n);
/* Q8A rows (n a multiple of 32): per block d = amax / 127, q = the float
 * x * (127 / amax) rounded half to even, sum = the sum of q. */
desk_act_fn desk_act_q8a_for(const char *kernels);   /* "scalar" or a built set; NULL if not runnable */
/* Q8K rows (n a multiple of 256), the same per 256-value block, with sums per 16 */
desk_act_fn desk_act_q8k_for(const char *kernels);   /* "scalar" or a built set; NULL if not runnable */

/* The vec_dot in use for a type (chosen by CPU features / desk_set_kernels). */
desk_vec_dot_fn desk_vec_dot(int type);
/* The vec_dot of a named kernel set, or NULL if not built / not runnable. */
desk_vec_dot_fn desk_vec_dot_for(const char *kernels, int type);

const char *desk_kernels_active(void);   /* name of the kernel set in use */
#if defined(__x86_64__) || defined(__i386__)
bool desk_x86_f16c(void);                /* CPUID leaf 1: F16C (not every compiler's builtin knows it) */
#endif

/* Fixed-order lane reductions of the contract above. */
static inline float desk_reduce8(const float l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
static inline float desk_reduce16(const float l[16]) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = l[i] + l[i + 8];
    return desk_reduce8(a);
}

/* K-quant scale unpacking shared by the reference and SIMD variants */
static inline void desk_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}
/* Q4_K/Q5_K: a super-block's contribution from its scaled integer sum and
 * the mins against the activation block sums (the reference's float order) */
static inline float desk_q45k_combine(uint16_t d, uint16_t dmin, const uint8_t *mn, const desk_q8k *a, int sumi) {
    int summ = 0;
    for (int j = 0; j < 8; j++) summ += mn[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
    return (desk_h2f(d) * a->d) * (float)sumi - (desk_h2f(dmin) * a->d) * (float)summ;
}
/* The Q4_K / Q5_K vec_dot loop every kernel set shares; SUMI(qs, qh, sc, aq)
 * is the set's scaled integer sum of one super-block (qh NULL for Q4_K). */
#define DESK_DOT_Q45K(NAME, BLOCK, QH, SUMI)                                                          \
    static float NAME(int64_t n, const void *vw, const void *va) {                                    \
        const BLOCK *w = vw;                                                                          \
        const desk_q8k *a = va;                                                                       \
        float l[8] = {0};                                                                             \
        for (int64_t b = 0; b < n / QKK; b++) {                                                       \
            uint8_t sc[8], mn[8];                                                                     \
            for (int j = 0; j < 8; j++) desk_q4k_scale_min(j, w[b].scales, &sc[j], &mn[j]);           \
            l[b % 8] += desk_q45k_combine(w[b].d, w[b].dmin, mn, &a[b], SUMI(w[b].qs, QH, sc, a[b].qs)); \
        }                                                                                             \
        return desk_reduce8(l);                                                                       \
    }

static inline int desk_q3k_scale(int i, const uint8_t *s) {
    int low = i < 8 ? (s[i] & 0xF) : (s[i - 8] >> 4);
    int high = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
    return (low | (high << 4)) - 32;
}

/* 8-row interleaved layouts ("x8") for row-group kernels, the same size as
 * the 8 rows they replace. Per block: the 8 rows' fp16 scales (16 bytes),
 * then for each 4-byte group k the 8 rows' 4 bytes side by side (32 bytes):
 *   Q4_0: k = 0..3, the packed bytes qs[4k..4k+3] (low nibbles are elements
 *         4k..4k+3, high nibbles 16+4k..16+4k+3);
 *   Q8_0: k = 0..7, the quants xor 0x80 (w + 128 as unsigned bytes);
 *   Q5_0: as Q4_0, then the fifth bits as eight 32-bit masks, for each
 *         k the one for the low nibbles then the one for the high nibbles:
 *         bit 4i + e is row i's bit for element 4k + e (16 + 4k + e), so
 *         mask bit j belongs to byte j of qs group k (32 bytes).
 * Q4_K (per 256-element super-block, 1184 bytes for 8 rows): the 8 rows'
 * d, then dmin (fp16), then the unpacked 6-bit sub-block scales as bytes
 * [sub-block j][row], then the mins likewise, then for each 32-byte chunk c
 * of qs and 4-byte group k the 8 rows' qs[32c + 4k .. +3] (low nibbles:
 * sub-block 2c, high nibbles: sub-block 2c+1).
 * Q6_K (per super-block, 1680 bytes for 8 rows, the same as the rows): the 8
 * rows' d (fp16), the int8 scales as [sub-block][row], then for each half h
 * and 4-byte group k the 8 rows' ql[64h + 4k ..], ql[64h + 32 + 4k ..] and
 * qh[32h + 4k ..] (32 bytes each).
 * A lane of a 256-bit register then holds one row, so an integer dot of
 * unsigned weights with a broadcast 4-byte activation group accumulates all
 * 8 rows at once, and a block's 8 scales convert in one instruction. */
bool desk_repack8_supported(int type);
uint64_t desk_repack8_bytes(int type, int64_t n);    /* bytes of one packed group of 8 rows */
void desk_repack8(int type, const void *rows, size_t row_bytes, int64_t n, void *dst);
/* Pairs ("x16") of the 32-element formats (Q4_0, Q5_0, Q8_0): 16 rows, a
 * run of memory per two blocks (the last block alone when the count is
 * odd), made of the two x8 groups' blocks (rows 0-7 = G0, rows 8-15 = G1)
 * regrouped so that every 64-byte piece is one 512-bit load:
 *   for each block j of the two, each 4-byte group k: G0's 32 bytes, then G1's;
 *   Q5_0: for each block j, each of its 8 masks: G0's 4 bytes, then G1's
 *         (one 64-bit mask, bit i for byte i of the 64 above);
 *   for each block j: G0's 8 scales, then G1's (16 fp16).
 * The same bytes as the two groups: 576 bytes per two Q4_0 blocks, 704 Q5_0,
 * 1088 Q8_0, so with an even block count every piece is 64-byte aligned.
 * A kernel that computes all 16 rows at once (desk_gemm16_fn) reads one
 * stream of memory instead of two that are a group apart. Other types are
 * never read as pairs; for them this is the two groups interleaved block by
 * block. 2 * desk_repack8_bytes(type, n) bytes. */
void desk_repack16(int type, const void *rows, size_t row_bytes, int64_t n, void *dst);
/* One unit of the matrix product driver (ops.h): `groups` (1 or 2) whole
 * groups of 8 rows from `rows`, as a pair when `pairs` and there are two,
 * else as x8 groups one after the other (none when groups is 0). */
void desk_repack_unit(int type, const void *rows, size_t row_bytes, int64_t n, int groups, bool pairs, void *dst);
/* The bytes the matmul driver prefetches at the start of every run of
 * packed memory it hands to the single-token kernels (ops.c); the kernels
 * themselves leave the rest to the hardware prefetchers (dot_x86.h). */
#define DESK_DECODE_PREFETCH 8192

/* y[t * y_stride + i] = vec_dot(row i, act row t) for the 8 rows of a packed
 * group and T activation rows: bit-identical to the type's reference. */
typedef void (*desk_gemv8_fn)(int64_t n, const void *w8, const void *act, size_t act_row, int T, float *y,
                              size_t y_stride);
desk_gemv8_fn desk_gemv8(int type);                     /* the active set's, or NULL */
desk_gemv8_fn desk_gemv8_for(const char *kernels, int type);

/* 16 rows at once (y[t * y_stride + i], i < 16) for any number of tokens:
 * a pair (x16) where the set packs the type in pairs (desk_pairs;
 * group_bytes unused), else two x8 groups, the second group_bytes after the
 * first (for batches: single tokens then use gemv8 on each group). */
typedef void (*desk_gemm16_fn)(int64_t n, const void *w, size_t group_bytes, const void *act, size_t act_row, int T,
                               float *y, size_t y_stride);
desk_gemm16_fn desk_gemm16(int type);                   /* the active set's, or NULL */
desk_gemm16_fn desk_gemm16_for(const char *kernels, int type);
/* whether the active set (a named set) wants whole units of 16 rows of this
 * type packed as pairs for its gemm16 kernel; the last 8 rows of a matrix
 * whose row count is 8 more than a multiple of 16 stay one x8 group */
bool desk_pairs(int type);
bool desk_pairs_for(const char *kernels, int type);

/* e^x for x <= 0 (softmax arguments), the same operations in every kernel
 * set: x = n ln2 + r with n = round(x / ln2) (by the 1.5 * 2^23 trick), a
 * degree-7 Taylor polynomial of e^r in Horner form (multiply, then add), and
 * 2^n from the exponent bits. Below -87 it is 0. Within 2 ulp of e^x, and the
 * same bits on every platform (libm's expf differs between C libraries). */
#define DESK_EXP_MAGIC 12582912.0f
#define DESK_EXP_LOG2E 1.44269504f
#define DESK_EXP_LN2_HI 0.693145751953125f
#define DESK_EXP_LN2_LO 1.428606765330187e-06f
#define DESK_EXP_C7 1.98412698e-4f
#define DESK_EXP_C6 1.38888889e-3f
#define DESK_EXP_C5 8.33333333e-3f
#define DESK_EXP_C4 4.16666667e-2f
#define DESK_EXP_C3 1.66666667e-1f
#define DESK_EXP_MIN -87.0f
static inline float desk_expf(float x) {
    if (!(x >= DESK_EXP_MIN)) return 0.0f;
    float n = (x * DESK_EXP_LOG2E + DESK_EXP_MAGIC) - DESK_EXP_MAGIC;
    float r = (x - n * DESK_EXP_LN2_HI) - n * DESK_EXP_LN2_LO;
    float p = DESK_EXP_C7;
    p = p * r + DESK_EXP_C6;
    p = p * r + DESK_EXP_C5;
    p = p * r + DESK_EXP_C4;
    p = p * r + DESK_EXP_C3;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

/* The KV cache of one KV head. V is stored by position: rows of hd
 * elements `v_stride` bytes apart (F16, or Q8_0 blocks). K is stored
 * transposed in tiles of 16 positions, so the score of 16 positions is one
 * vertical sum with no reduction across a vector. Tile t (positions 16t ..
 * 16t + 15) starts desk_kv_tile_bytes(type, hd) * t bytes into the head's
 * K and holds
 *   F16:  hd x 16 halves, element i of position 16t + j at [i][j];
 *   Q8_0: the scales, (hd / 32) x 16 halves, scale of block b of position
 *         16t + j at [b][j]; then hd x 16 bytes, the int8 value q of element
 *         i of position 16t + j as the byte q + 128 at [i / 4][j][i % 4]:
 *         4 elements of one position make one 32-bit lane, as vpdpbusd
 *         (unsigned x signed bytes) and sdot take them.
 * desk_kv_store_k writes one position's row (quantized as desk_quantize_row
 * would) into its tile, touching nothing else: stores of other positions
 * may run at the same time on other threads. A tile's positions past the
 * last one stored hold whatever the memory held; SIMD kernels compute them
 * as whole tiles and never store their results. */
#define DESK_MAX_HEAD 512 /* the largest head size a model may have (llama.c checks) */
size_t desk_kv_tile_bytes(int type, int64_t hd);
void desk_kv_store_k(int type, const float *k, void *tiles, int pos, int64_t hd);

/* Attention of n_head query vectors (hd floats each, one after another)
 * that share one KV head, over its first n_pos cached positions (K tiles
 * and V rows as above; a Q8_0 V element's value is d * q in float, exact).
 * K must hold whole tiles: kernels read all 16 positions of the last one.
 * Bit-identical in every kernel set:
 *   scores, F16 cache:  s[h][p] = reduce16(l) * scale, where element i
 *           adds q[h][i] * K[p][i] into lane l[i % 16] in order of i;
 *   scores, Q8_0 cache: integer products, as llama.cpp's also are for
 *           this cache (the query is rounded to 8 bits per block of 32: the
 *           price of 64 products an instruction). (qd[b], qq[i]) is q[h] quantized
 *           as desk_q8a blocks (desk_act_quantize ACT_Q8A, the same bytes
 *           in every set), (dk[p][b], kq[p][i]) the cache's scales and
 *           values; per block b, n_b = sum of qq[i] * kq[p][i] over its 32
 *           elements (exact in int32, and in float: |n_b| < 2^24) and
 *           u_b = (float)n_b * (qd[b] * dk[p][b]); s[h][p] = (u_0 + u_1 +
 *           ...) * scale, added in order of b;
 *   softmax per head: m = max_p s[h][p]; e[p] = desk_expf(s[h][p] - m) added
 *           into lane p % 16 in order of p; w[p] = e[p] * (1 / reduce16);
 *   output  out[h][e] = sum over p = 0, 1, ... in order of w[p] * V[p][e],
 *           starting from 0.
 * (A SIMD set may start a score lane from its first product instead of
 * 0 + product: that can change only the sign of a zero score, which leaves
 * the softmax's results unchanged.)
 * `scores` is scratch of n_head * n_pos floats; `out` is n_head * hd. */
typedef void (*desk_kv_attend_fn)(const float *q, int n_head, int64_t hd, const void *k, const void *v, size_t v_stride,
                                  int n_pos, float scale, float *scores, float *out);
typedef struct { desk_kv_attend_fn f16, q8_0; } desk_kv_fns;
desk_kv_fns desk_kv_kernels(void);                 /* the active set's, or the scalar ones */
desk_kv_fns desk_kv_kernels_for(const char *kernels); /* a named set's; .f16 NULL if not runnable */

/* SwiGLU: g[i] = silu(g[i]) * u[i] with silu(x) = x / (1 + e), e = desk_expf(-x)
 * (infinite where -x > 88), lane by lane in every set: the same bits on
 * every platform. */
typedef void (*desk_glu_fn)(float *g, const float *u, int64_t n);
desk_glu_fn desk_glu(void);                        /* the active set's, or the scalar one */
desk_glu_fn desk_glu_for(const char *kernels);     /* "scalar" or a built set; NULL if not runnable */

/* SIMD variant tables (defined in x86/ and arm/ when built) */
typedef struct {
    const char *name;
    bool (*usable)(void);
    desk_vec_dot_fn dot[DESK_TYPE_COUNT];
    desk_gemv8_fn gemv8[DESK_TYPE_COUNT];
    desk_kv_fns kv;
    desk_gemm16_fn gemm16[DESK_TYPE_COUNT];
    desk_act_fn act_q8a;          /* NULL: the scalar reference */
    desk_act_fn act_q8k;          /* NULL: the scalar reference */
    desk_glu_fn glu;                  /* NULL: the scalar reference */
    bool pairs[DESK_TYPE_COUNT];      /* types whose gemm16 reads pairs (x16) and also decodes */
} desk_kernel_set;
extern const desk_kernel_set desk_kernels_avx2, desk_kernels_avx512, desk_kernels_neon;

#endif
