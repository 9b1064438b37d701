/*
 * cmd_doctor.c - `desk doctor`: what this machine is (cores, SIMD, memory,
 * measured read bandwidth) and what the models the desk plans to run would
 * need here: weight bytes read per generated token, whether weights plus KV
 * cache fit in memory at a context length, and the decode ceiling
 * (bandwidth / bytes per token) that no engine can beat on this machine.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name, *mix;
    int64_t layers, d, ff, heads, kv_heads, vocab;
    bool tied;
} planned;

static const planned PLANNED[] = {
    {"Llama 3.2 1B Instruct", "Q4_K_M", 16, 2048, 8192, 32, 8, 128256, true},
    {"Llama 3.2 3B Instruct", "Q4_K_M", 28, 3072, 8192, 24, 8, 128256, true},
    {"Llama 3.1 8B Instruct", "Q4_K_M", 32, 4096, 14336, 32, 8, 128256, false},
    {"Llama 3.1 8B Instruct", "Q8_0", 32, 4096, 14336, 32, 8, 128256, false},
    {"Llama 3.1 70B Instruct", "Q4_K_M", 80, 8192, 28672, 64, 8, 128256, false},
    {"Qwen2.5 0.5B Instruct", "Q8_0", 24, 896, 4864, 14, 2, 151936, true},
    {"Qwen2.5 7B Instruct", "Q4_K_M", 28, 3584, 18944, 28, 4, 152064, false},
    {"Qwen2.5-Coder 7B Instruct", "Q8_0", 28, 3584, 18944, 28, 4, 152064, false},
    {"Qwen2.5-Coder 32B Instruct", "Q8_0", 64, 5120, 27648, 40, 8, 152064, false},
    {"Mistral 7B Instruct v0.3", "Q4_K_M", 32, 4096, 14336, 32, 8, 32768, false},
};

static uint64_t mat_bytes(const planned *p, const char *name, int64_t rows, int64_t cols) {
    int t = desk_quant_mix_type(p->mix, name, 2, cols, p->layers, p->tied);
    return desk_type_row_size(t, cols) * (uint64_t)rows;
}

/* weight bytes read per token, and the whole file's weight bytes */
static void model_bytes(const planned *p, uint64_t *per_token, uint64_t *total) {
    int64_t hd = p->d / p->heads, q = p->heads * hd, kv = p->kv_heads * hd;
    uint64_t b = 0;
    char n[64];
    for (int64_t l = 0; l < p->layers; l++) {
        struct { const char *s; int64_t r, c; } m[] = {{"attn_q", q, p->d}, {"attn_k", kv, p->d}, {"attn_v", kv, p->d},
                                                         {"attn_output", p->d, q}, {"ffn_gate", p->ff, p->d},
                                                         {"ffn_up", p->ff, p->d}, {"ffn_down", p->d, p->ff}};
        for (int k = 0; k < 7; k++) {
            snprintf(n, sizeof n, "blk.%lld.%s.weight", (long long)l, m[k].s);
            b += mat_bytes(p, n, m[k].r, m[k].c);
        }
    }
    uint64_t out = mat_bytes(p, p->tied ? "token_embd.weight" : "output.weight", p->vocab, p->d);
    *per_token = b + out;
    *total = b + out + (p->tied ? 0 : mat_bytes(p, "token_embd.weight", p->vocab, p->d));
}

static uint64_t mem_total(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

static uint64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

int cmd_doctor(int argc, char **argv) {
    const char *C = "doctor", *val;
    long ctx = 8192, threads = 0;
    bool probe = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { if (!(val = cli_value(C, argc, argv, &i)) || !cli_int(C, a, val, 1, 1 << 22, &ctx)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!(val = cli_value(C, argc, argv, &i)) || !cli_int(C, a, val, 1, 512, &threads)) return 2; }
        else if (!strcmp(a, "--no-probe")) probe = false;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: desk doctor [-c CTX] [-t THREADS] [--no-probe]\n"
                   "  -c CTX      context length for the KV cache in the fit column (default 8192)\n"
                   "  --no-probe  skip the bandwidth measurement (about a second)\n");
            return 0;
        } else { fprintf(stderr, "desk doctor: unknown option '%s'\n", a); return 2; }
    }
    desk_cpu_info ci;
    desk_cpu_features(&ci);
    char b1[32], b2[32], b3[32];
    printf("cores         %d\n", ci.n_cores);
    printf("SIMD          %s%s%s%s%s%s%s%s-> kernels: %s\n", ci.avx2 ? "avx2 " : "", ci.fma ? "fma " : "", ci.f16c ? "f16c " : "",
           ci.avx512f ? "avx512f " : "", ci.avx512bw ? "avx512bw " : "", ci.avx512vnni ? "avx512vnni " : "",
           ci.neon ? "neon " : "", ci.dotprod ? "dotprod " : "", ci.kernel);
    uint64_t total = mem_total(), avail = mem_available();
    printf("memory        %s total", cli_bytes(total, b1, sizeof b1));
    if (avail) printf(", %s available", cli_bytes(avail, b2, sizeof b2));
    printf("\n");
    double bw = 0;
    if (probe) {
        double bw1 = desk_probe_bandwidth(1, (size_t)512 << 20, 5);
        bw = desk_probe_bandwidth((int)threads, (size_t)512 << 20, 5);
        printf("bandwidth     %.1f GB/s read with 1 thread, %.1f GB/s with %d (measured now: best of 20 passes over 512 MiB, 5 in each of 4 ways)\n", bw1, bw,
               threads ? (int)threads : ci.n_cores);
    }
    printf("\nplanned models at %ld tokens of context (KV cache F16):\n", ctx);
    printf("%-28s %-7s %10s %10s %10s %6s %14s\n", "model", "type", "weights", "per token", "KV cache", "fits", "decode ceiling");
    for (size_t i = 0; i < sizeof PLANNED / sizeof *PLANNED; i++) {
        const planned *p = &PLANNED[i];
        uint64_t per_tok, w;
        model_bytes(p, &per_tok, &w);
        uint64_t kv = 2ull * (uint64_t)p->layers * (uint64_t)ctx * (uint64_t)(p->kv_heads * (p->d / p->heads)) * 2ull;
        bool fits = total && w + kv + (512ull << 20) <= total;
        char ceil[32] = "-";
        if (bw > 0) snprintf(ceil, sizeof ceil, "%.1f tok/s", bw * 1e9 / (double)per_tok);
        printf("%-28s %-7s %10s %10s %10s %6s %14s\n", p->name, p->mix, cli_bytes(w, b1, sizeof b1), cli_bytes(per_tok, b2, sizeof b2),
               cli_bytes(kv, b3, sizeof b3), fits ? "yes" : "no", ceil);
    }
    printf("\n'per token' is the weight bytes one generated token reads; the decode ceiling is the measured\n"
           "bandwidth divided by it. 'fits' leaves 512 MiB for the system on top of weights and KV cache.\n");
    return 0;
}
