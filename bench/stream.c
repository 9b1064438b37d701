/*
 * stream.c - how close the decode matrix products come to this machine's
 * read bandwidth, measured so that the memory's phase does not matter.
 *
 * Builds the matrices of a model shape (random weights, quantized and packed
 * as desk packs them for one thread: one run of memory per matrix, where
 * with more threads desk stripes them by thread, llama.c) and runs them in
 * decode order, as desk_ctx_decode does
 * (Q/K/V in one job, O, gate/up with SwiGLU, down; then the output matrix),
 * alternating pass by pass with a plain read pass over a separate buffer on
 * the same threads (desk_read_pass: the bandwidth probe's loop, 8 KiB
 * prefetch).
 * One pass of either takes milliseconds, while this machine's memory switches
 * between a slow and a fast phase every few seconds, so both see the same
 * phases and their ratio is steady where separate runs scatter by 10%.
 * Attention, norms and the rest of a decode step are left out: this is the
 * matrix products' share of the decode goal.
 *
 * usage: build/bench/stream [-v] [-t THREADS] [-n PASSES] [-T TOKENS] SHAPE TYPE
 *        -v: also print each pass's read and product GB/s ("pass READ PRODUCTS")
 * It reports the ratio over all passes, then over the passes whose read
 * pass was below and above the median read pass (the memory's slow and fast
 * phases).
 *        SHAPE: 1b (Llama-3.2-1B) or 05b (Qwen2.5-0.5B); TYPE: Q4_0 Q5_0 Q8_0
 *        Q4_K Q6_K (every matrix that type; K-quants need the 1b shape)
 */
#include "base/base.h"
#include "kernels/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float rand_weight(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((int64_t)(rng % 2001) - 1000) / 500.0f;
}

/* one matrix: random rows, quantized, packed in pairs or x8 groups like llama.c */
static int make_mat(desk_mat *w, int type, int64_t rows, int64_t cols) {
    size_t rb = desk_type_row_size(type, cols);
    uint8_t *data = desk_aligned_alloc(rb * (size_t)rows);
    float *x = malloc((size_t)cols * sizeof *x);
    if (!data || !x) return -1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) x[i] = rand_weight();
        desk_quantize_row(type, x, data + (size_t)r * rb, cols);
    }
    free(x);
    *w = (desk_mat){.type = type, .data = data, .rows = rows, .cols = cols, .row_bytes = rb};
    if (!desk_repack8_supported(type) || !desk_gemv8(type)) return 0;
    size_t group = desk_repack8_bytes(type, cols);
    uint8_t *packed = desk_aligned_alloc(group * (size_t)(rows / 8));
    if (!packed) return -1;
    for (int64_t r = 0; r + 8 <= rows; r += 16) /* units of 16 rows: pairs where the set reads them (ops.h) */
        desk_repack_unit(type, data + (size_t)r * rb, rb, cols, r + 16 <= rows ? 2 : 1, desk_pairs(type),
                         packed + (size_t)(r / 8) * group);
    w->packed = packed;
    w->packed_group = group;
    w->pairs = desk_pairs(type);
    return 0; /* the rows stay too: rows past the last whole group of 8 are read from them */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int type_by_name(const char *s) {
    static const struct { const char *name; int type; } T[] = {{"Q4_0", DESK_TYPE_Q4_0}, {"Q5_0", DESK_TYPE_Q5_0},
                                                              {"Q8_0", DESK_TYPE_Q8_0}, {"Q4_K", DESK_TYPE_Q4_K},
                                                              {"Q6_K", DESK_TYPE_Q6_K}};
    for (size_t i = 0; i < sizeof T / sizeof *T; i++)
        if (!strcmp(s, T[i].name)) return T[i].type;
    return -1;
}

int main(int argc, char **argv) {
    int threads = desk_n_cores(), passes = 100, T = 1, a = 1;
    bool verbose = false;
    for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
        if (!strcmp(argv[a], "-v")) { verbose = true; a--; continue; }
        if (!strcmp(argv[a], "-t")) threads = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "-n")) passes = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "-T")) T = atoi(argv[a + 1]);
        else break;
    }
    if (argc - a != 2 || threads < 1 || passes < 1 || T < 1 || T > 64) {
        fprintf(stderr, "usage: %s [-v] [-t THREADS] [-n PASSES] [-T TOKENS] 1b|05b Q4_0|Q5_0|Q8_0|Q4_K|Q6_K\n", argv[0]);
        return 2;
    }
    bool big = !strcmp(argv[a], "1b");
    int type = type_by_name(argv[a + 1]);
    if ((!big && strcmp(argv[a], "05b")) || type < 0) { fprintf(stderr, "stream: unknown shape or type\n"); return 2; }
    int64_t d = big ? 2048 : 896, ff = big ? 8192 : 4864, kv = big ? 512 : 128, layers = big ? 16 : 24,
            vocab = big ? 128256 : 151936;
    if (d % desk_traits(type)->blck) { fprintf(stderr, "stream: %s rows of %lld do not fit its blocks\n", argv[a + 1], (long long)d); return 2; }
    int nm = (int)(7 * layers + 1);
    desk_mat *W = calloc((size_t)nm, sizeof *W);
    if (!W) return 1;
    double bytes = 0;
    for (int l = 0; l < layers; l++) {
        const int64_t shape[7][2] = {{d, d}, {kv, d}, {kv, d}, {d, d}, {ff, d}, {ff, d}, {d, ff}};
        for (int k = 0; k < 7; k++)
            if (make_mat(&W[7 * l + k], type, shape[k][0], shape[k][1])) { fprintf(stderr, "stream: out of memory\n"); return 1; }
    }
    if (make_mat(&W[nm - 1], type, vocab, d)) { fprintf(stderr, "stream: out of memory\n"); return 1; }
    for (int m = 0; m < nm; m++) bytes += (double)W[m].rows * (double)W[m].row_bytes;
    float *X = malloc((size_t)(ff * T) * sizeof *X), *Y[4];
    for (int k = 0; k < 4; k++) Y[k] = malloc((size_t)(vocab * T) * sizeof(float));
    void *act = desk_aligned_alloc((size_t)T * ((size_t)ff * 4 + 4096));
    /* four 256 MiB regions read in turn: the L3 keeps lines of the last pass,
     * and a read pass that came back to them would run partly from cache */
    size_t read_bytes = (size_t)256 << 20;
    char *rbuf = desk_aligned_alloc(4 * read_bytes);
    desk_pool *pool = desk_pool_new(threads);
    if (!X || !Y[0] || !Y[1] || !Y[2] || !Y[3] || !act || !rbuf || !pool) { fprintf(stderr, "stream: out of memory\n"); return 1; }
    for (int64_t i = 0; i < ff * T; i++) X[i] = rand_weight();
    double t_mm = 0, t_read = 0;
    double *pass_read = calloc((size_t)passes, sizeof(double)), *pass_mm = calloc((size_t)passes, sizeof(double));
    if (!pass_read || !pass_mm) { fprintf(stderr, "stream: out of memory\n"); return 1; }
    for (int p = -1; p < passes; p++) { /* p = -1 warms both up */
        double t_pass = desk_read_pass(pool, rbuf + (size_t)(p + 1) % 4 * read_bytes, read_bytes, 8192);
        double t1 = now();
        for (int l = 0; l < layers; l++) {
            const desk_mat *L = &W[7 * l];
            const desk_mat *qkv[3] = {&L[0], &L[1], &L[2]}, *glu[2] = {&L[4], &L[5]};
            float *qkv_out[3] = {Y[0], Y[1], Y[2]}, *glu_out[2] = {Y[0], Y[1]};
            desk_matmul_n(pool, 3, qkv, qkv_out, X, T, act, false);
            desk_matmul(pool, &L[3], X, T, Y[3], act);
            desk_matmul_n(pool, 2, glu, glu_out, X, T, act, true);
            desk_matmul(pool, &L[6], X, T, Y[3], act);
        }
        desk_matmul(pool, &W[nm - 1], X, T, Y[0], act);
        double t2 = now();
        if (p >= 0) {
            t_read += t_pass;
            t_mm += t2 - t1;
            pass_read[p] = (double)read_bytes / t_pass / 1e9;
            pass_mm[p] = bytes / (t2 - t1) / 1e9;
        }
    }
    double gb_read = (double)read_bytes * passes / t_read / 1e9, gb_mm = bytes * passes / t_mm / 1e9;
    printf("%s %s, %d thread%s, %d token%s, %d passes: weights %.1f MiB, read pass %.1f GB/s, "
           "matrix products %.1f GB/s of weights = %.1f%% of the read pass\n",
           argv[a], argv[a + 1], threads, threads > 1 ? "s" : "", T, T > 1 ? "s" : "", passes, bytes / 1048576.0, gb_read,
           gb_mm, 100.0 * gb_mm / gb_read);
    if (verbose)
        for (int i = 0; i < passes; i++) printf("pass %.2f %.2f\n", pass_read[i], pass_mm[i]);
    /* the passes by their read pass's speed: the memory's slow and fast
     * halves (the kernels may keep up with one and not the other) */
    double *sorted = malloc((size_t)passes * sizeof *sorted);
    if (!sorted) { fprintf(stderr, "stream: out of memory\n"); return 1; }
    memcpy(sorted, pass_read, (size_t)passes * sizeof *sorted);
    qsort(sorted, (size_t)passes, sizeof *sorted, cmp_double);
    double med = sorted[passes / 2], f[2] = {0, 0}, r[2] = {0, 0}, m[2] = {0, 0};
    int c[2] = {0, 0};
    for (int i = 0; i < passes; i++) {
        int h = pass_read[i] >= med;
        r[h] += pass_read[i]; m[h] += pass_mm[i]; f[h] += pass_mm[i] / pass_read[i]; c[h]++;
    }
    for (int h = 0; h < 2; h++)
        if (c[h]) printf("  %s half: read %.1f GB/s, products %.1f GB/s, mean fraction %.1f%%\n", h ? "fast" : "slow", r[h] / c[h], m[h] / c[h], 100 * f[h] / c[h]);
    free(sorted);
    free(pass_read);
    free(pass_mm);
    desk_pool_free(pool);
    return 0;
}
