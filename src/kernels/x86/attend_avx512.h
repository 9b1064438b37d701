/*
 * attend_avx512.h - the attention kernel with 16-float registers: the
 * contract's 16 score lanes (quant.h) are exactly one zmm register, and the
 * weighted sum covers 16 output elements per instruction. Same results as
 * the scalar reference; included only by avx512.c, after dot_x86.h (whose
 * softmax16 and element accessors it shares).
 */

static inline __m512 kv_load16_f16(const void *row, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
}
/* Q8_0: d * q for 16 elements i..i+15 (i a multiple of 16, inside one block) */
static inline __m512 kv_load16_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + i % QK))));
    return _mm512_mul_ps(_mm512_set1_ps(desk_h2f(b->d)), q);
}

/* Up to four heads per pass, as in dot_x86.h; here a head's 16 score lanes
 * are one register, folded to 8 (lanes i + lanes i + 8) before the hadd tree.
 * A pass is compiled for each head count 1-4 (NH, a constant after
 * inlining), so the last pass of a group that is not a multiple of 4 (5 heads
 * per KV head in Qwen2.5-32B, 7 in Qwen2.5-0.5B and 7B) multiplies only its
 * real heads; the registers of the missing ones repeat head 0's sums through
 * the reduction and are not stored. */
#define KV_ATTEND16(NAME, LOAD16, ELEM)                                                                       \
    /* the scaled scores of one row for NH heads (head size a multiple of 16) */                             \
    static inline __attribute__((always_inline)) __m128 NAME##_quad(const float *const qh[4], const void *row,    \
                                                                    int64_t hd16, float scale, const int NH) { \
        __m512 l[4];                                                                                           \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) l[j] = _mm512_setzero_ps();                        \
        _Pragma("GCC unroll 8") for (int64_t i = 0; i < hd16; i += 16) {                                       \
            __m512 kk = LOAD16(row, i);                                                                        \
            _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++)                                               \
                l[j] = _mm512_add_ps(l[j], _mm512_mul_ps(_mm512_loadu_ps(qh[j] + i), kk));                     \
        }                                                                                                      \
        _Pragma("GCC unroll 4") for (int j = NH; j < 4; j++) l[j] = l[0];                                      \
        __m256 f[4];                                                                                           \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                                    \
            f[j] = _mm256_add_ps(_mm512_castps512_ps256(l[j]), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(l[j]), 1))); \
        __m256 h3 = _mm256_hadd_ps(_mm256_hadd_ps(f[0], f[1]), _mm256_hadd_ps(f[2], f[3]));                    \
        return _mm_mul_ps(_mm_add_ps(_mm256_castps256_ps128(h3), _mm256_extractf128_ps(h3, 1)), _mm_set1_ps(scale)); \
    }                                                                                                          \
    /* heads h0 .. h0 + NH - 1: scores, softmax, weighted sum of the V rows */                               \
    static inline __attribute__((always_inline)) void NAME##_pass(const float *q, int h0, const int NH, int64_t hd, \
                                                                  const void *k, const void *v, size_t stride, \
                                                                  int n_pos, float scale, float *sc, float *out) { \
        int64_t hd16 = hd / 16 * 16;                                                                           \
        const float *qh[4];                                                                                    \
        for (int j = 0; j < 4; j++) qh[j] = q + (size_t)(h0 + (j < NH ? j : 0)) * hd;                          \
        int p = 0;                                                                                             \
        if (hd16 == hd) /* four positions at a time: their 4 x 4 scores transpose into the head rows */      \
            for (; p + 4 <= n_pos; p += 4) {                                                                   \
                __m128 r0 = NAME##_quad(qh, (const char *)k + (size_t)p * stride, hd16, scale, NH);            \
                __m128 r1 = NAME##_quad(qh, (const char *)k + (size_t)(p + 1) * stride, hd16, scale, NH);      \
                __m128 r2 = NAME##_quad(qh, (const char *)k + (size_t)(p + 2) * stride, hd16, scale, NH);      \
                __m128 r3 = NAME##_quad(qh, (const char *)k + (size_t)(p + 3) * stride, hd16, scale, NH);      \
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);                                                             \
                __m128 rows[4] = {r0, r1, r2, r3};                                                             \
                for (int j = 0; j < NH; j++) _mm_storeu_ps(sc + (size_t)(h0 + j) * n_pos + p, rows[j]);        \
            }                                                                                                  \
        for (; p < n_pos; p++) {                                                                               \
            const void *row = (const char *)k + (size_t)p * stride;                                            \
            if (hd16 == hd) {                                                                                  \
                float rr[4];                                                                                   \
                _mm_storeu_ps(rr, NAME##_quad(qh, row, hd16, scale, NH));                                      \
                for (int j = 0; j < NH; j++) sc[(size_t)(h0 + j) * n_pos + p] = rr[j];                         \
                continue;                                                                                      \
            }                                                                                                  \
            __m512 l[4];                                                                                       \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) l[j] = _mm512_setzero_ps();                    \
            for (int64_t i = 0; i < hd16; i += 16) {                                                           \
                __m512 kk = LOAD16(row, i);                                                                    \
                _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++)                                           \
                    l[j] = _mm512_add_ps(l[j], _mm512_mul_ps(_mm512_loadu_ps(qh[j] + i), kk));                 \
            }                                                                                                  \
            for (int j = 0; j < NH; j++) {                                                                     \
                float ll[16];                                                                                  \
                _mm512_storeu_ps(ll, l[j]);                                                                    \
                for (int64_t i = hd16; i < hd; i++) ll[i % 16] += qh[j][i] * ELEM(row, i);                     \
                sc[(size_t)(h0 + j) * n_pos + p] = desk_reduce16(ll) * scale;                                  \
            }                                                                                                  \
        }                                                                                                      \
        for (int j = 0; j < NH; j++) softmax16(sc + (size_t)(h0 + j) * n_pos, n_pos);                          \
        const float *w[4];                                                                                     \
        for (int j = 0; j < 4; j++) w[j] = sc + (size_t)(h0 + (j < NH ? j : 0)) * n_pos;                       \
        int64_t e = 0;                                                                                         \
        for (; e + 64 <= hd16; e += 64) { /* NH heads x 4 registers of 16 outputs */                          \
            __m512 a[4][4];                                                                                    \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                                \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) a[j][c] = _mm512_setzero_ps();             \
            for (int p2 = 0; p2 < n_pos; p2++) {                                                               \
                const void *row = (const char *)v + (size_t)p2 * stride;                                       \
                __m512 vv[4];                                                                                  \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) vv[c] = LOAD16(row, e + 16 * c);           \
                _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {                                         \
                    __m512 wp = _mm512_set1_ps(w[j][p2]);                                                      \
                    _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)                                        \
                        a[j][c] = _mm512_add_ps(a[j][c], _mm512_mul_ps(wp, vv[c]));                            \
                }                                                                                              \
            }                                                                                                  \
            for (int j = 0; j < NH; j++)                                                                       \
                for (int c = 0; c < 4; c++) _mm512_storeu_ps(out + (size_t)(h0 + j) * hd + e + 16 * c, a[j][c]); \
        }                                                                                                      \
        for (; e < hd16; e += 16) {                                                                            \
            __m512 a[4];                                                                                       \
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) a[j] = _mm512_setzero_ps();                    \
            for (int p2 = 0; p2 < n_pos; p2++) {                                                               \
                __m512 vv = LOAD16((const char *)v + (size_t)p2 * stride, e);                                  \
                _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++)                                           \
                    a[j] = _mm512_add_ps(a[j], _mm512_mul_ps(_mm512_set1_ps(w[j][p2]), vv));                   \
            }                                                                                                  \
            for (int j = 0; j < NH; j++) _mm512_storeu_ps(out + (size_t)(h0 + j) * hd + e, a[j]);              \
        }                                                                                                      \
        KV_ATTEND_TAIL(NH, ELEM)                                                                               \
    }                                                                                                          \
    KV_ATTEND_ENTRY(NAME)
KV_ATTEND16(attend16_f16, kv_load16_f16, kv_elem_f16)
KV_ATTEND16(attend16_q8, kv_load16_q8, kv_elem_q8)
#define AVX512_KV {attend16_f16, attend16_q8}
