/*
 * avx512.c - AVX-512 vec_dot variants: VNNI (vpdpbusd) for the 8-bit
 * products and one 16-wide register for the float lanes. Same kernels
 * (dot_x86.h) and the same bit-exact contract as avx2.c.
 */
#include "kernels/quant.h"

#define DOT_PAIRS_I32(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))
#define FLOAT_LANES_DECL __m512 acc = _mm512_setzero_ps()
#define FLOAT_LANES_STEP(LOAD8, LOAD16) (acc = _mm512_add_ps(acc, _mm512_mul_ps(LOAD16(i), _mm512_loadu_ps(a + i))))
#define FLOAT_LANES_STORE(l) _mm512_storeu_ps((l), acc)
#define ACC_U8S8(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define ACC_U8S8_FULL 1
#define ACC_U8S8_SHORT(acc, u, s) ACC_U8S8((acc), (u), (s))
#define ACC_SHORT_END(acc) (acc)
/* bit 4 into byte j of v where bit j of the 32-bit mask m is set (AVX-512BW) */
#define Q5_SET_BIT4(v, m) _mm256_mask_add_epi8((v), _cvtu32_mask32(m), (v), _mm256_set1_epi8(0x10))
#define GEMV8_Q4_K gemv8_q4_K_zmm
#define GEMV8_Q6_K gemv8_q6_K_zmm
#include "kernels/x86/dot_x86.h"
#include "kernels/x86/gemm16_avx512.h"
#include "kernels/x86/attend_avx512.h"

/* 8 int32 lanes x (lo | hi): a in lanes 0-7, b in lanes 8-15 */
static inline __m512i halves_epi32(int a, int b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(a)), _mm256_set1_epi32(b), 1);
}

/* Q4_K x8 (quant.h) with two 4-byte groups per 512-bit register: lanes
 * 0-7 hold group k of the 8 rows, lanes 8-15 group k + 1 (the layout's 64
 * contiguous bytes), and a permute of the chunk's 64 activation bytes puts
 * each half's 4-byte activation group in front of it. Half the products,
 * unpacking and loads of the 256-bit kernel (dot_x86.h); the two halves'
 * integer sums are added before the scales, so the result is the same.
 * One core, weights in L2: 50-52 -> 64-68 GB/s. */
static inline __m256 q4_K_block8_zmm(const uint8_t *wp, const desk_q8k *a, __m256 acc) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const uint8_t *qp = wp + 160;
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m512i A = _mm512_loadu_si512((const void *)(a->qs + 64 * c)); /* groups 0-7: low nibbles', 8-15: high */
        __m512i plo = _mm512_setzero_si512(), phi = _mm512_setzero_si512();
        _Pragma("GCC unroll 4") for (int k = 0; k < 8; k += 2, qp += 64) {
            __m512i v = _mm512_loadu_si512((const void *)qp);
            __m512i ilo = halves_epi32(k, k + 1), ihi = halves_epi32(8 + k, 9 + k);
            plo = _mm512_dpbusd_epi32(plo, _mm512_and_si512(v, m4), _mm512_permutexvar_epi32(ilo, A));
            phi = _mm512_dpbusd_epi32(phi, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4), _mm512_permutexvar_epi32(ihi, A));
        }
        __m256i pl = _mm256_add_epi32(_mm512_castsi512_si256(plo), _mm512_extracti64x4_epi64(plo, 1));
        __m256i ph = _mm256_add_epi32(_mm512_castsi512_si256(phi), _mm512_extracti64x4_epi64(phi, 1));
        sumi = _mm256_add_epi32(sumi, q4_K_scaled(wp, c, pl, ph));
    }
    return q4_K_finish(wp, a, sumi, acc);
}
GEMV8_LOOP_K(gemv8_q4_K_zmm, 1184, q4_K_block8_zmm)


/* Q6_K x8 (quant.h) the same way: a 512-bit load of group k's ql bytes
 * gives quarters 0 and 1 (low nibbles) and 2 and 3 (high nibbles) of the
 * 8 rows in its two halves; the qh bytes, in both halves, are masked and
 * shifted by a different amount in each (bits 0-1, 2-3, 4-5 and 6-7 of a
 * byte to bits 4-5), and one ternary-logic op merges them with the nibbles.
 * A half is one 16-element sub-block, so its scale is applied per half
 * before the halves are added, and the -32 offset of every quant comes off
 * once per super-block (q6_K_offset8, dot_x86.h). One core, weights in L2:
 * 43-46 -> 54-56 GB/s (the 512-bit registers), -> 62-64 (the merge and the
 * offset). */
static inline __m256 q6_K_block8_zmm(const uint8_t *wp, const desk_q8k *a, __m256 acc) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const __m512i mk01 = halves_epi32(0x03030303, 0x0C0C0C0C), mk23 = halves_epi32(0x30303030, (int)0xC0C0C0C0);
    const __m512i sl01 = halves_epi32(0x00040004, 0x00020002), sr23 = halves_epi32(0, 0x00020002); /* 16-bit counts */
    const uint8_t *qp = wp + 144;
    __m512i isum = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const int8_t *g = a->qs + 128 * h;
        __m512i A01 = _mm512_loadu_si512((const void *)g), A23 = _mm512_loadu_si512((const void *)(g + 64));
        for (int kk = 0; kk < 2; kk++) { /* k = 4kk..4kk+3: one sub-block per quarter */
            __m512i p01 = _mm512_setzero_si512(), p23 = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int k = 4 * kk; k < 4 * kk + 4; k++) {
                const uint8_t *gp = qp + 96 * (8 * h + k);
                __m512i v = _mm512_loadu_si512((const void *)gp); /* ql0 | ql1 */
                __m512i hh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(gp + 64)));
                __m512i t01 = _mm512_sllv_epi16(_mm512_and_si512(hh, mk01), sl01);
                __m512i t23 = _mm512_srlv_epi16(_mm512_and_si512(hh, mk23), sr23);
                __m512i q01 = _mm512_ternarylogic_epi32(v, m4, t01, 0xEA); /* (v & m4) | t01 */
                __m512i q23 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4), m4, t23, 0xEA);
                __m512i idx = halves_epi32(k, 8 + k);
                p01 = _mm512_dpbusd_epi32(p01, q01, _mm512_permutexvar_epi32(idx, A01));
                p23 = _mm512_dpbusd_epi32(p23, q23, _mm512_permutexvar_epi32(idx, A23));
            }
            const uint8_t *sp = wp + 16 + 8 * (8 * h + kk); /* quarter q's sub-block: 8h + kk + 2q */
            __m512i sc01 = _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)sp),
                                                                   _mm_loadl_epi64((const __m128i *)(sp + 16))));
            __m512i sc23 = _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(sp + 32)),
                                                                   _mm_loadl_epi64((const __m128i *)(sp + 48))));
            isum = _mm512_add_epi32(isum, _mm512_add_epi32(_mm512_mullo_epi32(p01, sc01), _mm512_mullo_epi32(p23, sc23)));
        }
    }
    __m256i is = _mm256_add_epi32(_mm512_castsi512_si256(isum), _mm512_extracti64x4_epi64(isum, 1));
    is = _mm256_sub_epi32(is, _mm256_slli_epi32(q6_K_offset8(wp, a), 5));
    __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wp)), _mm256_set1_ps(a->d));
    return _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(is)));
}
GEMV8_LOOP_K(gemv8_q6_K_zmm, 1680, q6_K_block8_zmm)

static bool avx512_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
           desk_x86_f16c() && __builtin_cpu_supports("fma");
}

/* Activation rows to Q8A, two zmm registers per block: the same float
 * operations as the scalar reference (quant.c), so the same bytes. The
 * block's max |x| is exact in any order (and NaN never wins, as there). */
static void act_q8a_avx512(const float *x, void *out, int64_t n) {
    desk_q8a *y = out;
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        __m512 m = _mm512_max_ps(_mm512_abs_ps(v1), _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps()));
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f, id = amax ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i q0 = _mm512_cvttps_epi32(_mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(v0, vid), magic), magic));
        __m512i q1 = _mm512_cvttps_epi32(_mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(v1, vid), magic), magic));
        q0 = _mm512_max_epi32(_mm512_min_epi32(q0, hi), lo);
        q1 = _mm512_max_epi32(_mm512_min_epi32(q1, hi), lo);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(q1));
        y[b].d = d;
        y[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

/* the same for Q8K: 256-value blocks, one scale, sums of each 16 */
static void act_q8k_avx512(const float *x, void *out, int64_t n) {
    desk_q8k *y = out;
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        __m512 m = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)), m);
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f, id = amax ? 127.0f / amax : 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        for (int g = 0; g < 16; g++) {
            __m512i q = _mm512_cvttps_epi32(_mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vid), magic), magic));
            q = _mm512_max_epi32(_mm512_min_epi32(q, hi), lo);
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            y[b].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[b].d = d;
    }
}

const desk_kernel_set desk_kernels_avx512 = {"avx512", avx512_usable, X86_KERNEL_TABLE, X86_GEMV8_TABLE, AVX512_KV,
                                           GEMM16_TABLE, act_q8a_avx512, act_q8k_avx512, glu_x86, PAIRS_TABLE};
