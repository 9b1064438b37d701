/*
 * ops.h - the non-matmul operations of a transformer layer and the
 * matrix product driver. All of them have a fixed summation order, so their
 * results do not depend on threads or batch composition.
 */
#ifndef DESK_OPS_H
#define DESK_OPS_H

#include "kernels/quant.h"
#include <math.h>

#define DESK_UNIT_ROWS 16   /* rows per unit of work of the matrix product driver */
#define DESK_MAX_STRIPES 16

/* A weight matrix as found in the file: rows x cols, row-major, each row
 * row_bytes long; data points into the mapping. Its packed copy (each unit
 * of 16 rows as a pair, x16, where the kernel set wants the type so
 * (desk_pairs), else as two groups in the x8 layout; a last unit of 8 rows as
 * one x8 group; quant.h) is either one run of memory from
 * `packed` (stripes 0), or one run per stripe: stripe s holds units
 * [stripe_unit[s], stripe_unit[s + 1]) of DESK_UNIT_ROWS rows from
 * stripe_at[s], unit_stride bytes apart. The model lays stripe s of every matrix out one after
 * another in decode order, so the thread that starts a job on stripe s
 * (desk_share_start) reads one run of memory through a whole step. */
typedef struct {
    int type;
    const void *data;
    int64_t rows, cols;
    uint64_t row_bytes;
    const void *packed;   /* the packed copy as one run, when stripes is 0 (bench/stream.c) */
    uint64_t packed_group;/* bytes of one packed group of 8 rows (0: not packed) */
    bool pairs;           /* whole units are x16 pairs (desk_pairs of the set it was packed for) */
    int stripes;
    const char *stripe_at[DESK_MAX_STRIPES];
    int64_t stripe_unit[DESK_MAX_STRIPES + 1];
    uint64_t unit_stride; /* bytes from a unit's groups to the next unit's in a stripe: 2 groups, or 4
                           * where the gate and up matrices alternate unit by unit (llama.c) */
} desk_mat;

/* Where thread i of n starts in a job of `units` units: the driver's first
 * split, and the model's stripe boundaries (llama.c). */
static inline int64_t desk_share_start(int64_t units, int i, int n) { return units * i / n; }

/* Y[t][r] = dot(W row r, X[t]) for t < T. `act` is scratch of at least
 * desk_act_row_size(kind, cols) * T bytes (64-byte aligned) for each
 * activation format the matrices use. Work is split by rows of W. */
void desk_matmul(desk_pool *pool, const desk_mat *W, const float *X, int T, float *Y, void *act);
/* The same for n <= 3 matrices of equal width in one job. With glu, W[0] and
 * W[1] are the gate and up matrices (equal shapes) and Y[0] receives
 * silu(gate) * up; Y[1] is scratch. */
void desk_matmul_n(desk_pool *pool, int n, const desk_mat *const W[], float *const Y[], const float *X, int T, void *act,
                   bool glu);

/* y = x / rms(x) * w, per row of n */
void desk_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);


#endif
