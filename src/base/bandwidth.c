/*
 * bandwidth.c - a short memory read-bandwidth probe: every thread streams
 * through its share of a buffer much larger than the caches, with and
 * without software prefetch at several distances; the best pass is
 * reported. `desk doctor` and `desk bench` use it to express decode speed as
 * a fraction of what this machine's memory can deliver. Also single read passes
 * and their buffers, for benchmarks that pair reads with decode steps.
 */
#include "base/base.h"

#include <stdlib.h>
#include <time.h>

typedef uint64_t probe_vec __attribute__((vector_size(32)));

typedef struct {
    const probe_vec *buf;
    size_t vecs;
    size_t prefetch;   /* bytes ahead, or 0 */
    uint64_t sink[64];
} probe_job;

static void probe_read(void *arg, int ith, int nth) {
    probe_job *j = arg;
    size_t v0 = j->vecs * (size_t)ith / (size_t)nth, v1 = j->vecs * (size_t)(ith + 1) / (size_t)nth;
    const probe_vec *p = j->buf;
    /* four independent chains so the loads, not the adds, set the pace */
    probe_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    size_t i = v0;
    if (j->prefetch)
        for (; i + 4 <= v1; i += 4) {
            __builtin_prefetch((const char *)(p + i) + j->prefetch);
            __builtin_prefetch((const char *)(p + i) + j->prefetch + 64);
            a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        }
    else
        for (; i + 4 <= v1; i += 4) {
            a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        }
    for (; i < v1; i++) a0 += p[i];
    probe_vec a = a0 ^ a1 ^ a2 ^ a3;
    j->sink[ith % 64] = a[0] ^ a[1] ^ a[2] ^ a[3];
}

double desk_read_pass(desk_pool *pool, const void *buf, size_t bytes, size_t prefetch) {
    probe_job j = {buf, bytes / sizeof(probe_vec), prefetch, {0}};
    double t0 = desk_now_s();
    desk_pool_run(pool, probe_read, &j);
    return desk_now_s() - t0;
}

void *desk_read_buffer_alloc(size_t bytes) { return desk_aligned_alloc(bytes); }
void desk_read_buffer_free(void *p) { desk_aligned_free(p); }

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
    desk_read_pass(pool, buf, bytes, 0); /* warm the threads */
    /* Software prefetch distances: 8 KiB is what desk's kernels use. When
     * this machine's memory is in its fast phase (about 75-80 GB/s on 2
     * threads) only the far prefetch reaches it; with at most 2 KiB the probe
     * read 60-65 GB/s there while the kernels streamed at 70-77, so decode
     * looked closer to the limit than it was. */
    static const size_t prefetch[4] = {0, 2048, 4096, 8192};
    double best = 0;
    for (int k = 0; k < passes; k++)
        for (int v = 0; v < 4; v++) {
            double gbs = (double)bytes / desk_read_pass(pool, buf, bytes, prefetch[v]) / 1e9;
            if (gbs > best) best = gbs;
        }
    desk_pool_free(pool);
    desk_aligned_free(buf);
    return best;
}
