/*
 * ops.h - the non-matmul operations of a transformer layer and the
 * matrix product driver. All of them have a fixed summation order, so their
 * results do not depend on threads or batch composition.
 */
#ifndef DESK_OPS_H
#define DESK_OPS_H

#include "kernels/quant.h"
#include <math.h>

/* A weight matrix as found in the file: rows x cols, row-major, each row
 * row_bytes long; data points into the mapping. */
typedef struct {
    int type;
    const void *data;
    int64_t rows, cols;
    uint64_t row_bytes;
    const void *packed;   /* the same rows in the type's x8 layout (quant.h), or NULL */
    uint64_t packed_group;/* bytes of one packed group of 8 rows */
} desk_mat;

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
