/*
 * ops.c - the matrix product driver and RMSNorm.
 *
 * desk_matmul_n multiplies one batch of activations by up to three matrices
 * (Q, K and V; or gate and up, with the SwiGLU product fused in) in a single
 * job on the thread pool: each distinct activation format is quantized once,
 * then each thread works through its own contiguous share of the output rows
 * (in units of 16; a model lays each thread's share out as one run of
 * memory, ops.h) and, when done, steals from the back of the largest share
 * left, so they finish together. Which thread computes a row never changes
 * its value: every row is one kernel call whose summation order is fixed
 * (quant.h).
 */
#include "kernels/ops.h"

#include <stdatomic.h>

#define ROW_TILE 8        /* the row count of an x8 packed group */
#define UNIT_ROWS DESK_UNIT_ROWS /* rows per unit of work: a pair of groups, one gemm16 call where the set has one */
#define MAX_MATS 3

/* A thread's share of the units, [lo, hi) packed into one word (lo in the
 * low half) so that its owner, taking from the front, and a thief, taking
 * from the back, never both get a unit. One cache line each. */
typedef struct { _Alignas(64) _Atomic uint64_t range; } unit_share;
#define SHARE(lo, hi) ((uint64_t)(uint32_t)(lo) | (uint64_t)(hi) << 32)
#define SHARE_LO(v) ((int64_t)(uint32_t)(v))
#define SHARE_HI(v) ((int64_t)((v) >> 32))

typedef struct {
    int n, T;
    bool glu;                      /* W[0] gate, W[1] up: Y[0] = silu(Y[0]) * Y[1] */
    desk_glu_fn glu_fn;
    const desk_mat *W[MAX_MATS];
    float *Y[MAX_MATS];
    const void *act[MAX_MATS];     /* each matrix's activation rows */
    size_t act_row[MAX_MATS];
    desk_vec_dot_fn dot[MAX_MATS];
    desk_gemv8_fn gemv8[MAX_MATS];   /* set when W has a packed copy this kernel set can use */
    desk_gemm16_fn gemm16[MAX_MATS]; /* whole units: pairs (x16) for any number of tokens, two groups for batches */
    int64_t first_unit[MAX_MATS + 1];/* units are numbered across the matrices */
    int64_t min_chunk;             /* units a thread takes at a time from its own share */
    unit_share *shares;            /* one per thread (dot_job) */
    /* activation quantization */
    const float *X;
    int q_kind[2], n_kinds;
    void *q_out[2];
} matmul_job;

static void quantize_job(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    int64_t cols = j->W[0]->cols;
    size_t row = 0;
    for (int k = 0; k < j->n_kinds; k++) {
        row = desk_act_row_size((desk_act_kind)j->q_kind[k], cols);
        for (int t = ith; t < j->T; t += nth)
            desk_act_quantize((desk_act_kind)j->q_kind[k], j->X + (size_t)t * (size_t)cols, (char *)j->q_out[k] + (size_t)t * row, cols);
    }
}

/* The packed group holding row r (a multiple of 8) of W, the bytes from one
 * unit's groups to the next unit's, and the row where the run of memory it
 * is in ends (a stripe's end, ops.h). */
static const char *packed_rows(const desk_mat *W, int64_t r, size_t *stride, int64_t *run_end) {
    if (W->stripes == 0) {
        *stride = 2 * W->packed_group;
        *run_end = W->rows;
        return (const char *)W->packed + (size_t)(r / ROW_TILE) * W->packed_group;
    }
    int64_t u = r / UNIT_ROWS;
    int s = 0;
    while (s + 1 < W->stripes && u >= W->stripe_unit[s + 1]) s++;
    *stride = W->unit_stride;
    *run_end = W->stripe_unit[s + 1] * UNIT_ROWS;
    return W->stripe_at[s] + (size_t)(u - W->stripe_unit[s]) * W->unit_stride + (size_t)(r / ROW_TILE % 2) * W->packed_group;
}

/* rows [r0, r1) of matrix m for every token; r0 is a unit's first row.
 * With prefetch_start, the first DESK_DECODE_PREFETCH bytes of each run of
 * memory are prefetched before the kernels start on it (single tokens), into
 * L2 (T1): the kernels leave the streaming to the hardware prefetchers
 * (dot_x86.h), which take a few misses to find a new run. Against no
 * prefetch at all, `desk bench` alternating builds came out even. A chunk
 * that continues its thread's last one is no new run (dot_job): until the
 * nineteenth session every chunk of ~64 KiB began with this burst, which
 * stalls until the miss buffers drain; without it a decode step got 1.4-2.1%
 * faster (1B Q4_0), 1.2% (1B Q8_0), 0.7% (1B Q4_K_M), 1.8% (0.5B Q4_0), in
 * tokens alternated between the two ways in one process, medians of 400-500
 * pairs, where the same way against itself read 0.9975-1.0007
 * (bench/RESULTS.md). Never prefetching gained a little less. */
static void matmul_rows(const matmul_job *j, int m, int64_t r0, int64_t r1, bool prefetch_start) {
    const desk_mat *W = j->W[m];
    float *Y = j->Y[m];
    int64_t packed_end = j->gemv8[m] ? W->rows / ROW_TILE * ROW_TILE : 0;
    if (packed_end > r1) packed_end = r1 / ROW_TILE * ROW_TILE;
    int64_t r = r0;
    while (r < packed_end) { /* one run of packed memory at a time */
        size_t stride;
        int64_t run_end;
        const char *g = packed_rows(W, r, &stride, &run_end);
        int64_t e = run_end < packed_end ? run_end : packed_end; /* a multiple of 8 */
        if (prefetch_start && j->T == 1) {
            size_t span = (size_t)((e - r + UNIT_ROWS - 1) / UNIT_ROWS) * stride;
            for (size_t o = 0; o < span && o < DESK_DECODE_PREFETCH; o += 64) __builtin_prefetch(g + o, 0, 2); /* T1 */
        }
        for (; r < e; r += UNIT_ROWS, g += stride) { /* a unit: a pair, two groups, or one group at the end */
            if (j->gemm16[m] && r + UNIT_ROWS <= e) { /* a pair (x16, quant.h) or two groups */
                j->gemm16[m](W->cols, g, W->packed_group, j->act[m], j->act_row[m], j->T, Y + r, (size_t)W->rows);
                continue;
            }
            for (int64_t q = r; q < r + UNIT_ROWS && q < e; q += ROW_TILE)
                j->gemv8[m](W->cols, g + (size_t)((q - r) / ROW_TILE) * W->packed_group, j->act[m], j->act_row[m], j->T,
                            Y + q, (size_t)W->rows);
        }
        r = e;
    }
    for (int t = 0; t < j->T && r < r1; t++) {
        const void *a = (const char *)j->act[m] + (size_t)t * j->act_row[m];
        float *y = Y + (size_t)t * (size_t)W->rows;
        for (int64_t i = r; i < r1; i++) y[i] = j->dot[m](W->cols, (const char *)W->data + (size_t)i * W->row_bytes, a);
    }
}

/* units [u0, u1): split where one matrix ends and the next begins. `cont`:
 * they continue the thread's last chunk, so their first run of memory is
 * already streaming and gets no start-of-run prefetch (matmul_rows). */
static void run_units(const matmul_job *j, int64_t u0, int64_t u1, bool cont) {
    int nm = j->glu ? 1 : j->n;
    for (int m = 0; m < nm && u0 < u1; m++) {
        int64_t a = u0 > j->first_unit[m] ? u0 : j->first_unit[m], b = u1 < j->first_unit[m + 1] ? u1 : j->first_unit[m + 1];
        if (a >= b) continue;
        int64_t rows = j->W[m]->rows, r0 = (a - j->first_unit[m]) * UNIT_ROWS;
        int64_t r1 = (b - j->first_unit[m]) * UNIT_ROWS < rows ? (b - j->first_unit[m]) * UNIT_ROWS : rows;
        bool start = !cont || a != u0; /* a new run: not this thread's last one continued */
        if (!j->glu) {
            matmul_rows(j, m, r0, r1, start);
        } else {
            /* unit by unit, gate then up: the order the model lays them out in
             * (llama.c). Up's first bytes need their own prefetch only when
             * they are not interleaved with gate's (4 groups a unit) */
            bool up_apart = j->W[1]->unit_stride != 4 * j->W[1]->packed_group;
            for (int64_t r = r0; r < r1; r += UNIT_ROWS) {
                int64_t re = r + UNIT_ROWS < r1 ? r + UNIT_ROWS : r1;
                matmul_rows(j, 0, r, re, start && r == r0);
                matmul_rows(j, 1, r, re, start && r == r0 && up_apart);
            }
            for (int t = 0; t < j->T; t++) {
                float *g = j->Y[0] + (size_t)t * (size_t)rows;
                const float *u = j->Y[1] + (size_t)t * (size_t)rows;
                j->glu_fn(g + r0, u + r0, r1 - r0);
            }
        }
    }
}

/* Each thread starts with an equal contiguous share of the units and works
 * through it front to back, min_chunk units at a time, so its reads form one
 * stream that the kernels' prefetching carries across chunk boundaries (a
 * shared counter handing out chunks instead restarted the stream at every
 * chunk: short-rowed matrices then streamed at 82% of the read bandwidth).
 * A thread that runs out steals the back half of the largest share left.
 * Only the first chunk of a share (the thread's own, or a stolen one) gets
 * the start-of-run prefetch (run_units). */
static void dot_job(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    unit_share *own = &j->shares[ith];
    int64_t last_end = -1; /* where this thread's last chunk ended */
    for (;;) {
        uint64_t v = atomic_load_explicit(&own->range, memory_order_relaxed);
        int64_t lo = SHARE_LO(v), hi = SHARE_HI(v);
        if (lo < hi) {
            int64_t take = hi - lo < j->min_chunk ? hi - lo : j->min_chunk;
            if (atomic_compare_exchange_weak_explicit(&own->range, &v, SHARE(lo + take, hi), memory_order_relaxed,
                                                      memory_order_relaxed)) {
                run_units(j, lo, lo + take, lo == last_end);
                last_end = lo + take;
            }
            continue;
        }
        /* steal: the back half (at least min_chunk units) of the largest share */
        int victim = -1;
        int64_t most = 0;
        for (int i = 0; i < nth; i++) {
            uint64_t w = atomic_load_explicit(&j->shares[i].range, memory_order_relaxed);
            if (SHARE_HI(w) - SHARE_LO(w) > most) { most = SHARE_HI(w) - SHARE_LO(w); victim = i; }
        }
        if (victim < 0) return;
        uint64_t w = atomic_load_explicit(&j->shares[victim].range, memory_order_relaxed);
        int64_t vlo = SHARE_LO(w), vhi = SHARE_HI(w), left = vhi - vlo;
        if (left <= 0) continue;
        int64_t take = left / 2 > j->min_chunk ? left / 2 : (left < j->min_chunk ? left : j->min_chunk);
        if (!atomic_compare_exchange_strong_explicit(&j->shares[victim].range, &w, SHARE(vlo, vhi - take),
                                                     memory_order_relaxed, memory_order_relaxed))
            continue;
        /* the stolen units become this thread's share, open to thieves in turn */
        atomic_store_explicit(&own->range, SHARE(vhi - take, vhi), memory_order_relaxed);
    }
}

void desk_matmul_n(desk_pool *pool, int n, const desk_mat *const W[], float *const Y[], const float *X, int T, void *act,
                   bool glu) {
    matmul_job j = {.n = n, .T = T, .glu = glu, .glu_fn = glu ? desk_glu() : NULL, .X = X};
    int64_t cols = W[0]->cols;
    size_t act_bytes = 0;
    for (int m = 0; m < n; m++) {
        const desk_type_traits *tr = desk_traits(W[m]->type);
        j.W[m] = W[m];
        j.Y[m] = Y[m];
        j.dot[m] = desk_vec_dot(W[m]->type);
        j.gemv8[m] = W[m]->packed_group ? desk_gemv8(W[m]->type) : NULL;
        /* pairs for every batch size, two groups for batches; packed for
         * another kernel set (desk_set_kernels after the load), the rows as
         * they are in the file */
        bool pairs = W[m]->pairs;
        j.gemm16[m] = j.gemv8[m] && (pairs || T >= 2) && pairs == desk_pairs(W[m]->type) ? desk_gemm16(W[m]->type) : NULL;
        if (pairs && !j.gemm16[m]) j.gemv8[m] = NULL;
        j.act_row[m] = desk_act_row_size(tr->act, cols);
        j.first_unit[m + 1] = j.first_unit[m] + (W[m]->rows + UNIT_ROWS - 1) / UNIT_ROWS;
        if (tr->act == ACT_F32) {
            j.act[m] = X; /* float weights read the activations as they are */
            continue;
        }
        int k = 0;
        while (k < j.n_kinds && j.q_kind[k] != (int)tr->act) k++;
        if (k == j.n_kinds) { /* a new format: the next free part of the scratch, 64-byte aligned */
            j.q_kind[k] = (int)tr->act;
            j.q_out[k] = (char *)act + act_bytes;
            act_bytes += ((size_t)T * j.act_row[m] + 63) / 64 * 64;
            j.n_kinds++;
        }
        j.act[m] = j.q_out[k];
    }
    /* chunks of ~64 KiB of weights when decoding, single units for batches */
    uint64_t unit_bytes = (uint64_t)UNIT_ROWS * W[0]->row_bytes;
    j.min_chunk = T >= 2 ? 1 : (int64_t)(65536 / (unit_bytes ? unit_bytes : 1)) + 1;
    if (j.n_kinds) {
        if (T == 1) quantize_job(&j, 0, 1);
        else desk_pool_run(pool, quantize_job, &j);
    }
    int nth = desk_pool_size(pool);
    unit_share shares[nth];
    int64_t total = j.first_unit[glu ? 1 : n];
    for (int i = 0; i < nth; i++)
        atomic_init(&shares[i].range, SHARE(desk_share_start(total, i, nth), desk_share_start(total, i + 1, nth)));
    j.shares = shares;
    desk_pool_run(pool, dot_job, &j);
}

void desk_matmul(desk_pool *pool, const desk_mat *W, const float *X, int T, float *Y, void *act) {
    desk_matmul_n(pool, 1, &W, &Y, X, T, act, false);
}

void desk_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps) {
    float l[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) l[k] += x[i + k] * x[i + k];
    for (; i < n; i++) l[i % 8] += x[i] * x[i];
    float ss = desk_reduce8(l) / (float)n;
    float s = 1.0f / sqrtf(ss + eps);
    for (i = 0; i < n; i++) y[i] = (x[i] * s) * w[i];
}
