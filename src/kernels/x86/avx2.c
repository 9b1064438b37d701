/*
 * avx2.c - AVX2 (+FMA, F16C) vec_dot variants and batch kernels (16 rows x
 * a tile of tokens). Built with -mavx2 and only
 * called after the CPU reported AVX2. The kernels live in dot_x86.h; each
 * reproduces the scalar reference in quant.c bit for bit.
 */
#include "kernels/quant.h"

#define DOT_PAIRS_I32(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1))
/* 16 float lanes as two 8-wide accumulators */
#define FLOAT_LANES_DECL __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
#define FLOAT_LANES_STEP(LOAD8, LOAD16)                                              \
    do {                                                                             \
        acc0 = _mm256_add_ps(acc0, _mm256_mul_ps(LOAD8(i), _mm256_loadu_ps(a + i)));  \
        acc1 = _mm256_add_ps(acc1, _mm256_mul_ps(LOAD8(i + 8), _mm256_loadu_ps(a + i + 8))); \
    } while (0)
#define FLOAT_LANES_STORE(l) (_mm256_storeu_ps((l), acc0), _mm256_storeu_ps((l) + 8, acc1))
/* u8 (at most 63 here: Q6_K) x s8 pairs stay below int16 saturation */
#define ACC_U8S8(acc, u, s) _mm256_add_epi32((acc), DOT_PAIRS_I32((u), (s)))
#define ACC_U8S8_SHORT(acc, u, s) _mm256_add_epi16((acc), _mm256_maddubs_epi16((u), (s)))
#define ACC_SHORT_END(acc) _mm256_madd_epi16((acc), _mm256_set1_epi16(1))
#include "kernels/x86/dot_x86.h"

/* ---- batches (tile8.h) ----
 * The single-token kernels above, called once per token, load and unpack
 * every block again for each token. In a tile the 32-element formats'
 * BLOCK calls for the tile's tokens are inlined one after another on the
 * same bytes, so the compiler loads and unpacks them once (the unpacking is
 * the same pure function of the same loads; Q4_0, Q5_0 and Q8_0, whose
 * blocks unroll fully) and only the products differ. Each token's eight
 * lane accumulators live in memory (they change once per block). */
#define LANES8 __m256
#define LANES8_ZERO(l) ((l) = _mm256_setzero_ps())
#define LANES8_STORE(l8, y) store_rows8((l8), (y))
#include "kernels/tile8.h"
#define Q32_TILE_BLOCK(NAME, BLOCK)                                                                               \
    static inline __attribute__((always_inline)) void NAME(const uint8_t *wp, const char *ab, size_t act_row,    \
                                                           int tt, __m256 *acc, int lane) {                       \
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++)                                                      \
            acc[t * 8 + lane] = BLOCK(wp, TILE8_ACT(desk_q8a, t), acc[t * 8 + lane]);                             \
    }
Q32_TILE_BLOCK(q4_0_tile_block, q4_0_block8)
Q32_TILE_BLOCK(q5_0_tile_block, q5_0_block8)
Q32_TILE_BLOCK(q8_0_tile_block, q8_0_block8)
GEMM8_TILE_FN(gemm16_q4_0_avx2, 144, desk_q8a, q4_0_tile_block)
GEMM8_TILE_FN(gemm16_q5_0_avx2, 176, desk_q8a, q5_0_tile_block)
GEMM8_TILE_FN(gemm16_q8_0_avx2, 272, desk_q8a, q8_0_tile_block)

/* Q4_K: the inlined super-block is a loop the compiler does not unpack
 * once for the tile, so this does: each 32-byte chunk's nibbles of the 8
 * rows are unpacked into registers spilled to L1 once, then every token
 * takes them through maddubs (16-bit chains of 8, ACC_U8S8_SHORT). The same
 * integer sums and float steps as q4_K_block8. */
static inline __attribute__((always_inline)) void q4_K_tile_block(const uint8_t *wp, const char *ab, size_t act_row, int tt,
                                                                  __m256 *acc, int lane) {
    const desk_q8k *a[GEMM8_TILE];
    for (int t = 0; t < tt; t++) a[t] = TILE8_ACT(desk_q8k, t);
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const uint8_t *qp = wp + 160;
    __m256i sumi[GEMM8_TILE];
    for (int t = 0; t < tt; t++) sumi[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++, qp += 256) {
        __m256i lo[8], hi[8];
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(qp + 32 * k));
            lo[k] = _mm256_and_si256(v, m4);
            hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
            const int8_t *aq = a[t]->qs + 64 * c;
            __m256i plo = _mm256_setzero_si256(), phi = _mm256_setzero_si256();
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                plo = ACC_U8S8_SHORT(plo, lo[k], _mm256_set1_epi32(ld_i32(aq + 4 * k)));
                phi = ACC_U8S8_SHORT(phi, hi[k], _mm256_set1_epi32(ld_i32(aq + 32 + 4 * k)));
            }
            sumi[t] = _mm256_add_epi32(sumi[t], q4_K_scaled(wp, c, ACC_SHORT_END(plo), ACC_SHORT_END(phi)));
        }
    }
    for (int t = 0; t < tt; t++) acc[t * 8 + lane] = q4_K_finish(wp, a[t], sumi[t], acc[t * 8 + lane]);
}
GEMM8_TILE_FN(gemm16_q4_K_avx2, 1184, desk_q8k, q4_K_tile_block)
/* Q6_K the same way: for each half h and each of its two sub-block
 * columns kk, the four groups' quants of all four quarters (16 registers,
 * spilled to L1) are unpacked once, and every token multiplies them
 * (pairs at most 2 * 63 * 127, so 32-bit sums as in q6_K_block8) and
 * scales its four sub-block sums. The same integer sums and float steps. */
static inline __attribute__((always_inline)) void q6_K_tile_block(const uint8_t *wp, const char *ab, size_t act_row, int tt,
                                                                  __m256 *acc, int lane) {
    const desk_q8k *a[GEMM8_TILE];
    for (int t = 0; t < tt; t++) a[t] = TILE8_ACT(desk_q8k, t);
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    const uint8_t *qp = wp + 144;
    __m256i isum[GEMM8_TILE];
    for (int t = 0; t < tt; t++) isum[t] = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++)
        for (int kk = 0; kk < 2; kk++) {
            __m256i q[4][4], sc[4]; /* [group k - 4kk][quarter] */
            _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                const uint8_t *gp = qp + 96 * (8 * h + 4 * kk + j);
                __m256i l0 = _mm256_loadu_si256((const __m256i *)gp), l1 = _mm256_loadu_si256((const __m256i *)(gp + 32));
                __m256i hh = _mm256_loadu_si256((const __m256i *)(gp + 64));
                q[j][0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
                q[j][1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
                q[j][2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
                q[j][3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
            }
            _Pragma("GCC unroll 4") for (int qu = 0; qu < 4; qu++) /* sub-block 8h + 2qu + kk */
                sc[qu] = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(wp + 16 + 8 * (8 * h + 2 * qu + kk))));
            _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
                const int8_t *g = a[t]->qs + 128 * h;
                _Pragma("GCC unroll 4") for (int qu = 0; qu < 4; qu++) {
                    __m256i p = _mm256_setzero_si256();
                    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
                        p = ACC_U8S8(p, q[j][qu], _mm256_set1_epi32(ld_i32(g + 32 * qu + 4 * (4 * kk + j))));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(p, sc[qu]));
                }
            }
        }
    for (int t = 0; t < tt; t++) {
        __m256i is = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(q6_K_offset8(wp, a[t]), 5));
        __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wp)), _mm256_set1_ps(a[t]->d));
        acc[t * 8 + lane] = _mm256_add_ps(acc[t * 8 + lane], _mm256_mul_ps(d, _mm256_cvtepi32_ps(is)));
    }
}
GEMM8_TILE_FN(gemm16_q6_K_avx2, 1680, desk_q8k, q6_K_tile_block)

static bool avx2_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && desk_x86_f16c();
}

const desk_kernel_set desk_kernels_avx2 = {"avx2", avx2_usable, X86_KERNEL_TABLE, X86_GEMV8_TABLE, X86_KV,
                                         {[DESK_TYPE_Q4_0] = gemm16_q4_0_avx2, [DESK_TYPE_Q5_0] = gemm16_q5_0_avx2, [DESK_TYPE_Q8_0] = gemm16_q8_0_avx2,
                                          [DESK_TYPE_Q4_K] = gemm16_q4_K_avx2, [DESK_TYPE_Q6_K] = gemm16_q6_K_avx2},
                                         NULL, NULL, glu_x86, {0}};
