/*
 * avx2.c - AVX2 (+FMA, F16C) vec_dot variants. Built with -mavx2 and only
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
/* u8 (at most 15 here) x s8 pairs stay far from int16 saturation */
#define ACC_U8S8(acc, u, s) _mm256_add_epi32((acc), DOT_PAIRS_I32((u), (s)))
#include "kernels/x86/dot_x86.h"

static bool avx2_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && desk_x86_f16c();
}

const desk_kernel_set desk_kernels_avx2 = {"avx2", avx2_usable, X86_KERNEL_TABLE, X86_GEMV8_TABLE, X86_KV, {0}, NULL, NULL, glu_x86, {0}};
