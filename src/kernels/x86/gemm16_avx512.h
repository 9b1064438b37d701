/*
 * gemm16_avx512.h - AVX-512 matrix-matrix kernels for prefill: two x8 row
 * groups (16 rows, one per 32-bit lane of a zmm register) times a tile of up
 * to 8 tokens. Each block's weights are loaded and unpacked once per tile and
 * then multiplied with every token of it, so the unpacking and the weight
 * loads are shared by the tile and the vpdpbusd instructions (64 products
 * each) dominate. Included only by avx512.c.
 *
 * Bit-exactness: a row's result is the same sequence of float operations as
 * the scalar reference (quant.h). Block b goes into lane b % 8 in block
 * order; the loops below run lane by lane (blocks L, L + 8, L + 16, ...), which
 * keeps one accumulator per token instead of eight but adds the same values
 * in the same order to each lane. The integer sums are exact, so their order
 * is free.
 */

#define GEMM_TILE 8 /* tokens per tile */

/* 32 bytes at p (rows 0-7) and at p + gb (rows 8-15) */
static inline __m512i ld16(const uint8_t *p, size_t gb) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                              _mm256_loadu_si256((const __m256i *)(p + gb)), 1);
}
/* the 8 fp16 values at p and the 8 at p + gb, as 16 floats */
static inline __m512 h2f16(const uint8_t *p, size_t gb) {
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                        _mm_loadu_si128((const __m128i *)(p + gb)), 1);
    return _mm512_cvtph_ps(h);
}
/* the 8 bytes at p and at p + gb, zero- or sign-extended to 16 int32 */
static inline __m128i ld8x2(const uint8_t *p, size_t gb) {
    uint64_t lo, hi;
    memcpy(&lo, p, 8);
    memcpy(&hi, p + gb, 8);
    return _mm_set_epi64x((long long)hi, (long long)lo);
}
static inline int32_t ld_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The 8 per-lane partial results of each token -> y: the reference's
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) for all 16 rows at once. */
static inline void store_lanes16(__m512 lanes[8], float *y) {
    __m512 a = _mm512_add_ps(_mm512_add_ps(lanes[0], lanes[1]), _mm512_add_ps(lanes[2], lanes[3]));
    __m512 b = _mm512_add_ps(_mm512_add_ps(lanes[4], lanes[5]), _mm512_add_ps(lanes[6], lanes[7]));
    _mm512_storeu_ps(y, _mm512_add_ps(a, b));
}

/* One tile of `tt` tokens for the simple 32-element formats. UNPACK fills
 * w[0..NW-1] for a block (from `wp`, this block's bytes in group 0); each
 * vpdpbusd pairs w[k] with the activation's 4-byte group k. OFF is the
 * weight offset (the integer sum starts at -OFF * sum(a)). */
#define GEMM16_BLOCK32(NAME, BLOCK_BYTES, NW, OFF, UNPACK)                                                  \
    static inline __attribute__((always_inline)) void NAME##_tile(int64_t nb, const uint8_t *w8, size_t gb,  \
                                                                  const char *act, size_t act_row, int tt,   \
                                                                  float *y, size_t ys) {                     \
        __m512 lanes[GEMM_TILE][8];                                                                          \
        for (int L = 0; L < 8; L++) {                                                                        \
            __m512 acc[GEMM_TILE];                                                                           \
            _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) acc[t] = _mm512_setzero_ps();               \
            for (int64_t b = L; b < nb; b += 8) {                                                            \
                const uint8_t *wp = w8 + (size_t)b * (BLOCK_BYTES);                                          \
                __m512i w[NW];                                                                               \
                UNPACK;                                                                                      \
                __m512 dw = h2f16(wp, gb);                                                                   \
                _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {                                       \
                    const desk_q8a *a = (const desk_q8a *)(act + (size_t)t * act_row) + b;                   \
                    __m512i s = _mm512_set1_epi32(-(OFF) * a->sum);                                          \
                    _Pragma("GCC unroll 8") for (int k = 0; k < (NW); k++)                                   \
                        s = _mm512_dpbusd_epi32(s, w[k], _mm512_set1_epi32(ld_i32(a->qs + 4 * (k % 8)))); \
                    __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a->d));                                  \
                    acc[t] = _mm512_add_ps(acc[t], _mm512_mul_ps(scale, _mm512_cvtepi32_ps(s)));             \
                }                                                                                            \
            }                                                                                                \
            _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) lanes[t][L] = acc[t];                       \
        }                                                                                                    \
        for (int t = 0; t < tt; t++) store_lanes16(lanes[t], y + (size_t)t * ys);                            \
    }                                                                                                        \
    static void NAME(int64_t n, const void *w8, size_t gb, const void *act, size_t act_row, int T, float *y,  \
                     size_t ys) {                                                                            \
        int64_t nb = n / QK;                                                                                 \
        int t = 0;                                                                                           \
        for (; t + GEMM_TILE <= T; t += GEMM_TILE)                                                           \
            NAME##_tile(nb, w8, gb, (const char *)act + (size_t)t * act_row, act_row, GEMM_TILE, y + (size_t)t * ys, ys); \
        for (; t + 2 <= T; t += 2)                                                                           \
            NAME##_tile(nb, w8, gb, (const char *)act + (size_t)t * act_row, act_row, 2, y + (size_t)t * ys, ys); \
        if (t < T) NAME##_tile(nb, w8, gb, (const char *)act + (size_t)t * act_row, act_row, 1, y + (size_t)t * ys, ys); \
    }

/* Q4_0 x8: per block 16 scale bytes, then 4 x 32 bytes of packed nibbles;
 * low nibbles pair with activation groups 0-3, high nibbles with 4-7 */
#define UNPACK_Q4_0                                                                 \
    for (int k = 0; k < 4; k++) {                                                   \
        __m512i v = ld16(wp + 16 + 32 * k, gb);                                     \
        w[k] = _mm512_and_si512(v, _mm512_set1_epi8(0xF));                          \
        w[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0xF)); \
    }
/* Q8_0 x8: 8 x 32 bytes of w + 128 */
#define UNPACK_Q8_0 \
    for (int k = 0; k < 8; k++) w[k] = ld16(wp + 16 + 32 * k, gb);

GEMM16_BLOCK32(gemm16_q4_0, 144, 8, 8, UNPACK_Q4_0)
GEMM16_BLOCK32(gemm16_q8_0, 272, 8, 128, UNPACK_Q8_0)

#define GEMM16_TABLE {[DESK_TYPE_Q4_0] = gemm16_q4_0, [DESK_TYPE_Q8_0] = gemm16_q8_0}
