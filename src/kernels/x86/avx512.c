/*
 * avx512.c - AVX-512 (BW, VL, VNNI) vec_dot variants; same contract as avx2.c.
 */
#include "kernels/quant.h"

static bool avx512_usable(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

const desk_kernel_set desk_kernels_avx512 = {"avx512", avx512_usable, {0}};
