/*
 * bandwidth.c - a short memory read-bandwidth probe: every thread streams
 * through its share of a buffer much larger than the caches; the best of a
 * few passes is reported. `desk doctor` and `desk bench` use it to express
 * decode speed as a fraction of what this machine's memory can deliver.
 */
#include "base/base.h"

#include <stdlib.h>
#include <time.h>

typedef struct {
    const uint64_t *buf;
    size_t words;
    uint64_t sink[64];
} probe_job;

static void probe_read(void *arg, int ith, int nth) {
    probe_job *j = arg;
    size_t w0 = j->words * (size_t)ith / (size_t)nth, w1 = j->words * (size_t)(ith + 1) / (size_t)nth;
    const uint64_t *p = j->buf;
    /* eight independent chains so the loads, not the adds, set the pace */
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = w0;
    for (; i + 8 <= w1; i += 8) {
        a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
    }
    for (; i < w1; i++) a0 += p[i];
    j->sink[ith % 64] = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double desk_probe_bandwidth(int n_threads, size_t bytes, int passes) {
    if (bytes < ((size_t)64 << 20)) bytes = (size_t)64 << 20;
    if (passes < 1) passes = 1;
    uint64_t *buf = desk_aligned_alloc(bytes); /* zeroed: pages are really mapped */
    desk_pool *pool = desk_pool_new(n_threads > 0 ? n_threads : desk_n_cores());
    if (!buf || !pool) {
        desk_aligned_free(buf);
        desk_pool_free(pool);
        return 0;
    }
    for (size_t i = 0; i < bytes / 8; i += 512) buf[i] = i;
    probe_job j = {buf, bytes / 8, {0}};
    desk_pool_run(pool, probe_read, &j); /* warm the threads */
    double best = 0;
    for (int k = 0; k < passes; k++) {
        double t0 = now();
        desk_pool_run(pool, probe_read, &j);
        double gbs = (double)bytes / (now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    desk_pool_free(pool);
    desk_aligned_free(buf);
    return best;
}
