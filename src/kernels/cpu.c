/*
 * cpu.c - what this CPU can do, for dispatch and for `desk info`/`doctor`.
 */
#include "kernels/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
bool desk_x86_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif

void desk_cpu_features(desk_cpu_info *info) {
    memset(info, 0, sizeof *info);
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    info->avx2 = __builtin_cpu_supports("avx2");
    info->fma = __builtin_cpu_supports("fma");
    info->f16c = desk_x86_f16c();
    info->avx512f = __builtin_cpu_supports("avx512f");
    info->avx512bw = __builtin_cpu_supports("avx512bw");
    info->avx512vnni = __builtin_cpu_supports("avx512vnni");
    unsigned a, b, c, d; /* AVX-VNNI: CPUID leaf 7 subleaf 1, EAX bit 4 */
    info->avxvnni = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
#elif defined(__aarch64__)
    info->neon = true;
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
    info->dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    info->dotprod = true; /* every Apple arm64 CPU has it */
#endif
#endif
    info->n_cores = desk_n_cores();
    info->kernel = desk_kernels_active();
}
