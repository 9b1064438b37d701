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
#include "kernels/x86/dot_x86.h"
#include "kernels/x86/gemm16_avx512.h"
#include "kernels/x86/attend_avx512.h"

static bool avx512_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
           desk_x86_f16c() && __builtin_cpu_supports("fma");
}

const desk_kernel_set desk_kernels_avx512 = {"avx512", avx512_usable, X86_KERNEL_TABLE, X86_GEMV8_TABLE, AVX512_KV,
                                           GEMM16_TABLE};
