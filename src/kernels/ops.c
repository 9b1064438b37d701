/*
 * ops.c - matrix product driver (activation quantization + row-split
 * vec_dot or row-group kernels over the thread pool) and RMSNorm.
 */
#include "kernels/ops.h"

typedef struct {
    const desk_mat *W;
    const float *X;
    int T;
    float *Y;
    void *act;
    size_t act_row;
    desk_act_kind kind;
    desk_vec_dot_fn dot;
    desk_gemv8_fn gemv8;  /* set when W has a packed copy this kernel set can use */
    desk_gemm16_fn gemm16;/* two groups at once, for batches of tokens */
} matmul_job;

static void quantize_job(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    for (int t = ith; t < j->T; t += nth)
        desk_act_quantize(j->kind, j->X + (size_t)t * j->W->cols, (char *)j->act + (size_t)t * j->act_row, j->W->cols);
}

#define ROW_TILE 8 /* also the row count of an x8 packed group */
#define GEMM_MIN_TOKENS 2 /* batches from this size use the two-group kernels */

static void dot_job(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    const desk_mat *W = j->W;
    /* contiguous row range per thread, in whole tiles */
    int64_t tiles = (W->rows + ROW_TILE - 1) / ROW_TILE;
    int64_t t0 = tiles * ith / nth, t1 = tiles * (ith + 1) / nth;
    for (int64_t tile = t0; tile < t1; tile++) {
        int64_t r0 = tile * ROW_TILE, r1 = r0 + ROW_TILE < W->rows ? r0 + ROW_TILE : W->rows;
        if (j->gemm16 && tile + 1 < t1 && r0 + 2 * ROW_TILE <= W->rows / ROW_TILE * ROW_TILE) {
            j->gemm16(W->cols, (const char *)W->packed + (size_t)tile * W->packed_group, W->packed_group, j->act,
                      j->act_row, j->T, j->Y + r0, (size_t)W->rows);
            tile++;
            continue;
        }
        if (j->gemv8 && r1 - r0 == ROW_TILE) { /* a whole packed group */
            j->gemv8(W->cols, (const char *)W->packed + (size_t)tile * W->packed_group, j->act, j->act_row, j->T,
                     j->Y + r0, (size_t)W->rows);
            continue;
        }
        for (int t = 0; t < j->T; t++) {
            const void *a = (const char *)j->act + (size_t)t * j->act_row;
            float *y = j->Y + (size_t)t * W->rows;
            for (int64_t r = r0; r < r1; r++)
                y[r] = j->dot(W->cols, (const char *)W->data + (size_t)r * W->row_bytes, a);
        }
    }
}

void desk_matmul(desk_pool *pool, const desk_mat *W, const float *X, int T, float *Y, void *act) {
    const desk_type_traits *tr = desk_traits(W->type);
    matmul_job j = {W, X, T, Y, act, desk_act_row_size(tr->act, W->cols), tr->act, desk_vec_dot(W->type),
                    W->packed ? desk_gemv8(W->type) : NULL, NULL};
    if (W->packed && T >= GEMM_MIN_TOKENS) j.gemm16 = desk_gemm16(W->type);
    if (tr->act == ACT_F32) {
        j.act = (void *)X; /* float weights read the activations as they are */
    } else if (T == 1) {
        quantize_job(&j, 0, 1);
    } else {
        desk_pool_run(pool, quantize_job, &j);
    }
    desk_pool_run(pool, dot_job, &j);
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
