/*
 * quant.c - the scalar reference for every block format: quantize,
 * dequantize, activation quantization and vec_dot, plus the per-type traits
 * table and run-time kernel dispatch.
 *
 * Nothing here is fast; everything here is the definition the SIMD variants
 * must reproduce bit for bit (see the determinism contract in quant.h).
 */
#include "quant.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static inline float h2f(uint16_t h) { return desk_h2f(h); }
static inline uint16_t f2h(float f) { return desk_fp32_to_fp16(f); }
/* round half to even, like the SIMD rounding instructions */
static inline int rnd(float x) { return (int)nearbyintf(x); }
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ================================================================ dequantize */

static void deq_f32(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }
static void deq_f16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = h2f(h[i]);
}
static void deq_bf16(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = desk_bf16_to_fp32(h[i]);
}

static void deq_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        float d = h2f(x[b].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[b].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}
static void deq_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        float d = h2f(x[b].d), m = h2f(x[b].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[b].qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}
static void deq_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        float d = h2f(x[b].d);
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < 16; j++) {
            int q0 = (x[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)(q0 - 16) * d;
            y[j + 16] = (float)(q1 - 16) * d;
        }
    }
}
static void deq_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        float d = h2f(x[b].d), m = h2f(x[b].m);
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < 16; j++) {
            int q0 = (x[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = (float)q0 * d + m;
            y[j + 16] = (float)q1 * d + m;
        }
    }
}
static void deq_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK; b++, y += QK) {
        float d = h2f(x[b].d);
        for (int j = 0; j < QK; j++) y[j] = (float)x[b].qs[j] * d;
    }
}

/* K-quants: each unpacks a super-block into integer quants q[256] and, per
 * sub-block, an integer scale (and min) - shared by dequantize and vec_dot. */
static void unpack_q2_K(const block_q2_K *x, int8_t *q, int *sc, int *mn) {
    for (int i = 0; i < 16; i++) { sc[i] = x->scales[i] & 0xF; mn[i] = x->scales[i] >> 4; }
    /* 2 halves of 128; in each, 4 shifts x 32 bytes */
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) q[h * 128 + s * 32 + l] = (int8_t)((x->qs[h * 32 + l] >> (2 * s)) & 3);
}
static void unpack_q3_K(const block_q3_K *x, int8_t *q, int *sc) {
    for (int i = 0; i < 16; i++) sc[i] = desk_q3k_scale(i, x->scales);
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                int idx = h * 128 + s * 32 + l;
                int lo = (x->qs[h * 32 + l] >> (2 * s)) & 3;
                int hb = (x->hmask[l] >> (h * 4 + s)) & 1;
                q[idx] = (int8_t)(lo - (hb ? 0 : 4));
            }
}
static void unpack_q4_K(const block_q4_K *x, int8_t *q, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 8; j++) desk_q4k_scale_min(j, x->scales, &sc[j], &mn[j]);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[c * 64 + l] = (int8_t)(x->qs[c * 32 + l] & 0xF);
            q[c * 64 + 32 + l] = (int8_t)(x->qs[c * 32 + l] >> 4);
        }
}
static void unpack_q5_K(const block_q5_K *x, int8_t *q, uint8_t *sc, uint8_t *mn) {
    for (int j = 0; j < 8; j++) desk_q4k_scale_min(j, x->scales, &sc[j], &mn[j]);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int h0 = (x->qh[l] >> (2 * c)) & 1, h1 = (x->qh[l] >> (2 * c + 1)) & 1;
            q[c * 64 + l] = (int8_t)((x->qs[c * 32 + l] & 0xF) | (h0 << 4));
            q[c * 64 + 32 + l] = (int8_t)((x->qs[c * 32 + l] >> 4) | (h1 << 4));
        }
}
static void unpack_q6_K(const block_q6_K *x, int8_t *q, int *sc) {
    for (int i = 0; i < 16; i++) sc[i] = x->scales[i];
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        int8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

static void deq_q2_K(const void *vx, float *y, int64_t n) {
    const block_q2_K *x = vx;
    int8_t q[QKK];
    int sc[16], mn[16];
    for (int64_t b = 0; b < n / QKK; b++, y += QKK) {
        unpack_q2_K(&x[b], q, sc, mn);
        float d = h2f(x[b].d), dm = h2f(x[b].dmin);
        for (int i = 0; i < QKK; i++) y[i] = d * (float)sc[i / 16] * (float)q[i] - dm * (float)mn[i / 16];
    }
}
static void deq_q3_K(const void *vx, float *y, int64_t n) {
    const block_q3_K *x = vx;
    int8_t q[QKK];
    int sc[16];
    for (int64_t b = 0; b < n / QKK; b++, y += QKK) {
        unpack_q3_K(&x[b], q, sc);
        float d = h2f(x[b].d);
        for (int i = 0; i < QKK; i++) y[i] = d * (float)sc[i / 16] * (float)q[i];
    }
}
static void deq_q4_K(const void *vx, float *y, int64_t n) {
    const block_q4_K *x = vx;
    int8_t q[QKK];
    uint8_t sc[8], mn[8];
    for (int64_t b = 0; b < n / QKK; b++, y += QKK) {
        unpack_q4_K(&x[b], q, sc, mn);
        float d = h2f(x[b].d), dm = h2f(x[b].dmin);
        for (int i = 0; i < QKK; i++) y[i] = d * (float)sc[i / 32] * (float)q[i] - dm * (float)mn[i / 32];
    }
}
static void deq_q5_K(const void *vx, float *y, int64_t n) {
    const block_q5_K *x = vx;
    int8_t q[QKK];
    uint8_t sc[8], mn[8];
    for (int64_t b = 0; b < n / QKK; b++, y += QKK) {
        unpack_q5_K(&x[b], q, sc, mn);
        float d = h2f(x[b].d), dm = h2f(x[b].dmin);
        for (int i = 0; i < QKK; i++) y[i] = d * (float)sc[i / 32] * (float)q[i] - dm * (float)mn[i / 32];
    }
}
static void deq_q6_K(const void *vx, float *y, int64_t n) {
    const block_q6_K *x = vx;
    int8_t q[QKK];
    int sc[16];
    for (int64_t b = 0; b < n / QKK; b++, y += QKK) {
        unpack_q6_K(&x[b], q, sc);
        float d = h2f(x[b].d);
        for (int i = 0; i < QKK; i++) y[i] = d * (float)sc[i / 16] * (float)q[i];
    }
}

/* ================================================================ quantize */

static void qz_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }
static void qz_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = f2h(x[i]);
}
static void qz_bf16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = desk_fp32_to_bf16(x[i]);
}

/* signed max-magnitude element of a block (keeps its sign) */
static float signed_absmax(const float *x, int n) {
    float amax = 0, mx = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); mx = x[i]; }
    return mx;
}
static void minmax(const float *x, int n, float *mn, float *mx) {
    *mn = *mx = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < *mn) *mn = x[i];
        if (x[i] > *mx) *mx = x[i];
    }
}

static void qz_q4_0(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float mx = signed_absmax(x, QK), d = mx / -8.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = f2h(d);
        for (int j = 0; j < 16; j++) {
            int q0 = clampi(rnd(x[j] * id) + 8, 0, 15), q1 = clampi(rnd(x[j + 16] * id) + 8, 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
static void qz_q4_1(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float mn, mx;
        minmax(x, QK, &mn, &mx);
        float d = (mx - mn) / 15.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = f2h(d);
        y[b].m = f2h(mn);
        for (int j = 0; j < 16; j++) {
            int q0 = clampi(rnd((x[j] - mn) * id), 0, 15), q1 = clampi(rnd((x[j + 16] - mn) * id), 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}
static void qz_q5_0(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float mx = signed_absmax(x, QK), d = mx / -16.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = f2h(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = clampi(rnd(x[j] * id) + 16, 0, 31), q1 = clampi(rnd(x[j + 16] * id) + 16, 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(y[b].qh, &qh, 4);
    }
}
static void qz_q5_1(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float mn, mx;
        minmax(x, QK, &mn, &mx);
        float d = (mx - mn) / 31.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = f2h(d);
        y[b].m = f2h(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = clampi(rnd((x[j] - mn) * id), 0, 31), q1 = clampi(rnd((x[j + 16] - mn) * id), 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(y[b].qh, &qh, 4);
    }
}
static void qz_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = f2h(d);
        for (int j = 0; j < QK; j++) y[b].qs[j] = (int8_t)clampi(rnd(x[j] * id), -127, 127);
    }
}

/* Asymmetric sub-block fit used by Q2_K/Q4_K/Q5_K: x ~ scale * q - min with
 * q in [0, qmax], min >= 0. Returns scale, stores min. */
static float fit_scale_min(const float *x, int n, int qmax, float *min_out) {
    float mn, mx;
    minmax(x, n, &mn, &mx);
    if (mn > 0) mn = 0;
    *min_out = -mn;
    return (mx - mn) / (float)qmax;
}

static void qz_q2_K(const float *x, void *vy, int64_t n) {
    block_q2_K *y = vy;
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        float sc[16], mn[16], msc = 0, mmn = 0;
        for (int i = 0; i < 16; i++) {
            sc[i] = fit_scale_min(x + 16 * i, 16, 3, &mn[i]);
            msc = fmaxf(msc, sc[i]);
            mmn = fmaxf(mmn, mn[i]);
        }
        float d = msc / 15.0f, dm = mmn / 15.0f;
        y[b].d = f2h(d);
        y[b].dmin = f2h(dm);
        d = h2f(y[b].d);
        dm = h2f(y[b].dmin);
        int L[QKK];
        for (int i = 0; i < 16; i++) {
            int ls = d ? clampi(rnd(sc[i] / d), 0, 15) : 0, lm = dm ? clampi(rnd(mn[i] / dm), 0, 15) : 0;
            y[b].scales[i] = (uint8_t)(ls | (lm << 4));
            float s = d * (float)ls, m = dm * (float)lm;
            for (int j = 0; j < 16; j++) L[16 * i + j] = s ? clampi(rnd((x[16 * i + j] + m) / s), 0, 3) : 0;
        }
        memset(y[b].qs, 0, sizeof y[b].qs);
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) y[b].qs[h * 32 + l] |= (uint8_t)(L[h * 128 + s * 32 + l] << (2 * s));
    }
}
static void qz_q3_K(const float *x, void *vy, int64_t n) {
    block_q3_K *y = vy;
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        float sc[16], mxs = 0, mxsv = 0;
        for (int i = 0; i < 16; i++) {
            sc[i] = signed_absmax(x + 16 * i, 16) / -4.0f;
            if (fabsf(sc[i]) > mxs) { mxs = fabsf(sc[i]); mxsv = sc[i]; }
        }
        float d = mxsv / -32.0f;
        y[b].d = f2h(d);
        d = h2f(y[b].d);
        int Ls[16], L[QKK];
        for (int i = 0; i < 16; i++) Ls[i] = d ? clampi(rnd(sc[i] / d), -32, 31) : 0;
        memset(y[b].scales, 0, 12);
        for (int i = 0; i < 16; i++) {
            int v = Ls[i] + 32;
            if (i < 8) y[b].scales[i] |= (uint8_t)(v & 0xF);
            else y[b].scales[i - 8] |= (uint8_t)((v & 0xF) << 4);
            y[b].scales[8 + i % 4] |= (uint8_t)(((v >> 4) & 3) << (2 * (i / 4)));
        }
        for (int i = 0; i < 16; i++) {
            float s = d * (float)Ls[i];
            for (int j = 0; j < 16; j++) L[16 * i + j] = (s ? clampi(rnd(x[16 * i + j] / s), -4, 3) : 0) + 4;
        }
        memset(y[b].qs, 0, sizeof y[b].qs);
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        for (int h = 0; h < 2; h++)
            for (int s = 0; s < 4; s++)
                for (int l = 0; l < 32; l++) {
                    int v = L[h * 128 + s * 32 + l];
                    y[b].qs[h * 32 + l] |= (uint8_t)((v & 3) << (2 * s));
                    if (v >> 2) y[b].hmask[l] |= (uint8_t)(1 << (h * 4 + s));
                }
    }
}
static void pack_k_scales(const int *ls, const int *lm, uint8_t *q) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}
static void qz_q45_K(const float *x, uint16_t *pd, uint16_t *pdmin, uint8_t *scales, int *L, int qmax) {
    float sc[8], mn[8], msc = 0, mmn = 0;
    for (int j = 0; j < 8; j++) {
        sc[j] = fit_scale_min(x + 32 * j, 32, qmax, &mn[j]);
        msc = fmaxf(msc, sc[j]);
        mmn = fmaxf(mmn, mn[j]);
    }
    *pd = f2h(msc / 63.0f);
    *pdmin = f2h(mmn / 63.0f);
    float d = h2f(*pd), dm = h2f(*pdmin);
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = d ? clampi(rnd(sc[j] / d), 0, 63) : 0;
        lm[j] = dm ? clampi(rnd(mn[j] / dm), 0, 63) : 0;
        float s = d * (float)ls[j], m = dm * (float)lm[j];
        for (int i = 0; i < 32; i++) L[32 * j + i] = s ? clampi(rnd((x[32 * j + i] + m) / s), 0, qmax) : 0;
    }
    pack_k_scales(ls, lm, scales);
}
static void qz_q4_K(const float *x, void *vy, int64_t n) {
    block_q4_K *y = vy;
    int L[QKK];
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        qz_q45_K(x, &y[b].d, &y[b].dmin, y[b].scales, L, 15);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) y[b].qs[c * 32 + l] = (uint8_t)(L[c * 64 + l] | (L[c * 64 + 32 + l] << 4));
    }
}
static void qz_q5_K(const float *x, void *vy, int64_t n) {
    block_q5_K *y = vy;
    int L[QKK];
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        qz_q45_K(x, &y[b].d, &y[b].dmin, y[b].scales, L, 31);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                int a = L[c * 64 + l], bb = L[c * 64 + 32 + l];
                y[b].qs[c * 32 + l] = (uint8_t)((a & 0xF) | ((bb & 0xF) << 4));
                y[b].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((bb >> 4) << (2 * c + 1)));
            }
    }
}
static void qz_q6_K(const float *x, void *vy, int64_t n) {
    block_q6_K *y = vy;
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        float sc[16], mxs = 0, mxsv = 0;
        for (int i = 0; i < 16; i++) {
            sc[i] = signed_absmax(x + 16 * i, 16) / -32.0f;
            if (fabsf(sc[i]) > mxs) { mxs = fabsf(sc[i]); mxsv = sc[i]; }
        }
        float d = mxsv / -128.0f;
        y[b].d = f2h(d);
        d = h2f(y[b].d);
        int L[QKK];
        for (int i = 0; i < 16; i++) {
            int ls = d ? clampi(rnd(sc[i] / d), -128, 127) : 0;
            y[b].scales[i] = (int8_t)ls;
            float s = d * (float)ls;
            for (int j = 0; j < 16; j++) L[16 * i + j] = (s ? clampi(rnd(x[16 * i + j] / s), -32, 31) : 0) + 32;
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            const int *o = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((o[l] & 0xF) | ((o[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((o[l + 32] & 0xF) | ((o[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((o[l] >> 4) | ((o[l + 32] >> 4) << 2) | ((o[l + 64] >> 4) << 4) | ((o[l + 96] >> 4) << 6));
            }
        }
    }
}

/* ================================================================ activations */

size_t desk_act_row_size(desk_act_kind k, int64_t n) {
    switch (k) {
    case ACT_F32: return (size_t)n * sizeof(float);
    case ACT_Q8A: return (size_t)(n / QK) * sizeof(desk_q8a);
    case ACT_Q8K: return (size_t)(n / QKK) * sizeof(desk_q8k);
    }
    return 0;
}

/* round half to even for |v| < 2^22: the same as nearbyintf in the default
 * rounding mode, and loops using it vectorize */
static inline int rnd_small(float v) { return (int)((v + 12582912.0f) - 12582912.0f); }
static inline float amax_of(const float *x, int n) {
    float m = 0;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        m = a > m ? a : m;
    }
    return m;
}

static void act_q8a_ref(const float *x, void *out, int64_t n) {
    desk_q8a *y = out;
    for (int64_t b = 0; b < n / QK; b++, x += QK) {
        float amax = amax_of(x, QK);
        float d = amax / 127.0f, id = amax ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            int q = clampi(rnd_small(x[j] * id), -127, 127);
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
        y[b].d = d;
        y[b].sum = sum;
    }
}

static void act_q8k_ref(const float *x, void *out, int64_t n) {
    desk_q8k *y = out;
    for (int64_t b = 0; b < n / QKK; b++, x += QKK) {
        float amax = amax_of(x, QKK);
        float d = amax / 127.0f, id = amax ? 127.0f / amax : 0.0f;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = clampi(rnd_small(x[16 * g + j] * id), -127, 127);
                y[b].qs[16 * g + j] = (int8_t)q;
                sum += q;
            }
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = d;
    }
}

static const desk_kernel_set *active_set;  /* NULL = scalar reference */
static void dispatch_init(void);

void desk_act_quantize(desk_act_kind k, const float *x, void *out, int64_t n) {
    if (k == ACT_F32) {
        memcpy(out, x, (size_t)n * 4);
    } else if (k == ACT_Q8A) {
        dispatch_init();
        (active_set && active_set->act_q8a ? active_set->act_q8a : act_q8a_ref)(x, out, n);
    } else {
        dispatch_init();
        (active_set && active_set->act_q8k ? active_set->act_q8k : act_q8k_ref)(x, out, n);
    }
}

/* ================================================================ vec_dot (reference) */

static float dot_f32(int64_t n, const void *vw, const void *va) {
    const float *w = vw, *a = va;
    float l[16] = {0};
    for (int64_t i = 0; i < n; i++) l[i % 16] = l[i % 16] + w[i] * a[i];
    return desk_reduce16(l);
}
static float dot_f16(int64_t n, const void *vw, const void *va) {
    const uint16_t *w = vw;
    const float *a = va;
    float l[16] = {0};
    for (int64_t i = 0; i < n; i++) l[i % 16] = l[i % 16] + h2f(w[i]) * a[i];
    return desk_reduce16(l);
}
static float dot_bf16(int64_t n, const void *vw, const void *va) {
    const uint16_t *w = vw;
    const float *a = va;
    float l[16] = {0};
    for (int64_t i = 0; i < n; i++) l[i % 16] = l[i % 16] + desk_bf16_to_fp32(w[i]) * a[i];
    return desk_reduce16(l);
}

static float dot_q4_0(int64_t n, const void *vw, const void *va) {
    const block_q4_0 *w = vw;
    const desk_q8a *a = va;
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j] + ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
        l[b % 8] += (h2f(w[b].d) * a[b].d) * (float)s;
    }
    return desk_reduce8(l);
}
static float dot_q4_1(int64_t n, const void *vw, const void *va) {
    const block_q4_1 *w = vw;
    const desk_q8a *a = va;
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
        float da = a[b].d;
        l[b % 8] += (h2f(w[b].d) * da) * (float)s + h2f(w[b].m) * (da * (float)a[b].sum);
    }
    return desk_reduce8(l);
}
static float dot_q5_0(int64_t n, const void *vw, const void *va) {
    const block_q5_0 *w = vw;
    const desk_q8a *a = va;
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((w[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - 16;
            int q1 = ((w[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            s += q0 * a[b].qs[j] + q1 * a[b].qs[j + 16];
        }
        l[b % 8] += (h2f(w[b].d) * a[b].d) * (float)s;
    }
    return desk_reduce8(l);
}
static float dot_q5_1(int64_t n, const void *vw, const void *va) {
    const block_q5_1 *w = vw;
    const desk_q8a *a = va;
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        int s = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (w[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int q1 = (w[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            s += q0 * a[b].qs[j] + q1 * a[b].qs[j + 16];
        }
        float da = a[b].d;
        l[b % 8] += (h2f(w[b].d) * da) * (float)s + h2f(w[b].m) * (da * (float)a[b].sum);
    }
    return desk_reduce8(l);
}
static float dot_q8_0(int64_t n, const void *vw, const void *va) {
    const block_q8_0 *w = vw;
    const desk_q8a *a = va;
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++) {
        int s = 0;
        for (int j = 0; j < QK; j++) s += w[b].qs[j] * a[b].qs[j];
        l[b % 8] += (h2f(w[b].d) * a[b].d) * (float)s;
    }
    return desk_reduce8(l);
}

static float dot_q2_K(int64_t n, const void *vw, const void *va) {
    const block_q2_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    int8_t q[QKK];
    int sc[16], mn[16];
    for (int64_t b = 0; b < n / QKK; b++) {
        unpack_q2_K(&w[b], q, sc, mn);
        int sumi = 0, summ = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += q[16 * g + j] * a[b].qs[16 * g + j];
            sumi += sc[g] * s;
            summ += mn[g] * a[b].bsums[g];
        }
        float da = a[b].d;
        l[b % 8] += (h2f(w[b].d) * da) * (float)sumi - (h2f(w[b].dmin) * da) * (float)summ;
    }
    return desk_reduce8(l);
}
static float dot_q3_K(int64_t n, const void *vw, const void *va) {
    const block_q3_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    int8_t q[QKK];
    int sc[16];
    for (int64_t b = 0; b < n / QKK; b++) {
        unpack_q3_K(&w[b], q, sc);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += q[16 * g + j] * a[b].qs[16 * g + j];
            sumi += sc[g] * s;
        }
        l[b % 8] += (h2f(w[b].d) * a[b].d) * (float)sumi;
    }
    return desk_reduce8(l);
}
static int sumi_q45_K(const int8_t *q, const uint8_t *sc, const desk_q8k *a) {
    int sumi = 0;
    for (int g = 0; g < 8; g++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += q[32 * g + j] * a->qs[32 * g + j];
        sumi += sc[g] * s;
    }
    return sumi;
}
static float dot_q4_K(int64_t n, const void *vw, const void *va) {
    const block_q4_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    int8_t q[QKK];
    uint8_t sc[8], mn[8];
    for (int64_t b = 0; b < n / QKK; b++) {
        unpack_q4_K(&w[b], q, sc, mn);
        l[b % 8] += desk_q45k_combine(w[b].d, w[b].dmin, mn, &a[b], sumi_q45_K(q, sc, &a[b]));
    }
    return desk_reduce8(l);
}
static float dot_q5_K(int64_t n, const void *vw, const void *va) {
    const block_q5_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    int8_t q[QKK];
    uint8_t sc[8], mn[8];
    for (int64_t b = 0; b < n / QKK; b++) {
        unpack_q5_K(&w[b], q, sc, mn);
        l[b % 8] += desk_q45k_combine(w[b].d, w[b].dmin, mn, &a[b], sumi_q45_K(q, sc, &a[b]));
    }
    return desk_reduce8(l);
}
static float dot_q6_K(int64_t n, const void *vw, const void *va) {
    const block_q6_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    int8_t q[QKK];
    int sc[16];
    for (int64_t b = 0; b < n / QKK; b++) {
        unpack_q6_K(&w[b], q, sc);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += q[16 * g + j] * a[b].qs[16 * g + j];
            sumi += sc[g] * s;
        }
        l[b % 8] += (h2f(w[b].d) * a[b].d) * (float)sumi;
    }
    return desk_reduce8(l);
}

/* ================================================================ traits */

typedef struct {
    desk_type_traits t;
    void (*quantize)(const float *, void *, int64_t);
    void (*dequantize)(const void *, float *, int64_t);
} type_entry;

static const type_entry TYPES[DESK_TYPE_COUNT] = {
    [DESK_TYPE_F32] = {{"F32", 1, 4, ACT_F32, dot_f32}, qz_f32, deq_f32},
    [DESK_TYPE_F16] = {{"F16", 1, 2, ACT_F32, dot_f16}, qz_f16, deq_f16},
    [DESK_TYPE_BF16] = {{"BF16", 1, 2, ACT_F32, dot_bf16}, qz_bf16, deq_bf16},
    [DESK_TYPE_Q4_0] = {{"Q4_0", QK, 18, ACT_Q8A, dot_q4_0}, qz_q4_0, deq_q4_0},
    [DESK_TYPE_Q4_1] = {{"Q4_1", QK, 20, ACT_Q8A, dot_q4_1}, qz_q4_1, deq_q4_1},
    [DESK_TYPE_Q5_0] = {{"Q5_0", QK, 22, ACT_Q8A, dot_q5_0}, qz_q5_0, deq_q5_0},
    [DESK_TYPE_Q5_1] = {{"Q5_1", QK, 24, ACT_Q8A, dot_q5_1}, qz_q5_1, deq_q5_1},
    [DESK_TYPE_Q8_0] = {{"Q8_0", QK, 34, ACT_Q8A, dot_q8_0}, qz_q8_0, deq_q8_0},
    [DESK_TYPE_Q2_K] = {{"Q2_K", QKK, 84, ACT_Q8K, dot_q2_K}, qz_q2_K, deq_q2_K},
    [DESK_TYPE_Q3_K] = {{"Q3_K", QKK, 110, ACT_Q8K, dot_q3_K}, qz_q3_K, deq_q3_K},
    [DESK_TYPE_Q4_K] = {{"Q4_K", QKK, 144, ACT_Q8K, dot_q4_K}, qz_q4_K, deq_q4_K},
    [DESK_TYPE_Q5_K] = {{"Q5_K", QKK, 176, ACT_Q8K, dot_q5_K}, qz_q5_K, deq_q5_K},
    [DESK_TYPE_Q6_K] = {{"Q6_K", QKK, 210, ACT_Q8K, dot_q6_K}, qz_q6_K, deq_q6_K},
};

const desk_type_traits *desk_traits(int type) {
    if (type < 0 || type >= DESK_TYPE_COUNT || !TYPES[type].t.name) return NULL;
    return &TYPES[type].t;
}
bool desk_type_supported(int type) { return desk_traits(type) != NULL; }

const char *desk_type_name(int type) {
    static const char *known_unsupported[] = {[4] = "Q4_2", [5] = "Q4_3", [9] = "Q8_1", [15] = "Q8_K",
                                              [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS",
                                              [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S",
                                              [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32",
                                              [27] = "I64", [28] = "F64", [29] = "IQ1_M"};
    const desk_type_traits *t = desk_traits(type);
    if (t) return t->name;
    if (type >= 0 && type < 30 && known_unsupported[type]) return known_unsupported[type];
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "unknown type id %d", type);
    return buf;
}
int desk_type_from_name(const char *name) {
    for (int i = 0; i < DESK_TYPE_COUNT; i++)
        if (TYPES[i].t.name && strcasecmp(name, TYPES[i].t.name) == 0) return i;
    return -1;
}
int64_t desk_type_block_elems(int type) { const desk_type_traits *t = desk_traits(type); return t ? t->blck : 0; }
int64_t desk_type_block_bytes(int type) { const desk_type_traits *t = desk_traits(type); return t ? t->bytes : 0; }
uint64_t desk_type_row_size(int type, int64_t n) {
    const desk_type_traits *t = desk_traits(type);
    if (!t || n < 0 || n % t->blck) return 0;
    return (uint64_t)(n / t->blck) * (uint64_t)t->bytes;
}
void desk_quantize_row(int type, const float *x, void *out, int64_t n) {
    desk_base_init();
    if (desk_traits(type)) TYPES[type].quantize(x, out, n);
}
void desk_dequantize_row(int type, const void *x, float *out, int64_t n) {
    desk_base_init();
    if (desk_traits(type)) TYPES[type].dequantize(x, out, n);
}

/* ================================================================ dispatch */

static atomic_int dispatch_ready;

static bool never(void) { return false; }
#if !defined(DESK_HAVE_X86)
const desk_kernel_set desk_kernels_avx2 = {"avx2", never, {0}, {0}, {0}, {0}, NULL, NULL, NULL, {0}};
const desk_kernel_set desk_kernels_avx512 = {"avx512", never, {0}, {0}, {0}, {0}, NULL, NULL, NULL, {0}};
#endif
#if !defined(DESK_HAVE_NEON)
const desk_kernel_set desk_kernels_neon = {"neon", never, {0}, {0}, {0}, {0}, NULL, NULL, NULL, {0}};
#endif

static const desk_kernel_set *const SETS[] = {&desk_kernels_avx512, &desk_kernels_avx2, &desk_kernels_neon};

static void dispatch_init(void) {
    if (atomic_load(&dispatch_ready)) return;
    const char *env = getenv("DESK_KERNELS");
    if (!(env && desk_set_kernels(env))) {
        active_set = NULL;
        for (size_t i = 0; i < sizeof SETS / sizeof SETS[0]; i++)
            if (SETS[i]->usable()) { active_set = SETS[i]; break; }
    }
    atomic_store(&dispatch_ready, 1);
}

bool desk_set_kernels(const char *name) {
    if (strcmp(name, "scalar") == 0) {
        active_set = NULL;
        atomic_store(&dispatch_ready, 1);
        return true;
    }
    for (size_t i = 0; i < sizeof SETS / sizeof SETS[0]; i++)
        if (strcmp(SETS[i]->name, name) == 0) {
            if (!SETS[i]->usable()) return false;
            active_set = SETS[i];
            atomic_store(&dispatch_ready, 1);
            return true;
        }
    return false;
}

desk_vec_dot_fn desk_vec_dot(int type) {
    dispatch_init();
    if (active_set && active_set->dot[type]) return active_set->dot[type];
    return TYPES[type].t.dot_ref;
}

/* The built set named `kernels` if this CPU can run it, else NULL (the
 * lookup behind every desk_*_for; "scalar" is no set: each caller has its
 * own reference for it). */
static const desk_kernel_set *runnable_set(const char *kernels) {
    for (size_t i = 0; i < sizeof SETS / sizeof SETS[0]; i++)
        if (strcmp(SETS[i]->name, kernels) == 0) return SETS[i]->usable() ? SETS[i] : NULL;
    return NULL;
}

desk_vec_dot_fn desk_vec_dot_for(const char *kernels, int type) {
    if (!desk_traits(type)) return NULL;
    if (strcmp(kernels, "scalar") == 0) return TYPES[type].t.dot_ref;
    const desk_kernel_set *k = runnable_set(kernels);
    return !k ? NULL : k->dot[type] ? k->dot[type] : TYPES[type].t.dot_ref;
}

desk_gemv8_fn desk_gemv8(int type) {
    dispatch_init();
    return active_set && type >= 0 && type < DESK_TYPE_COUNT ? active_set->gemv8[type] : NULL;
}

desk_gemv8_fn desk_gemv8_for(const char *kernels, int type) {
    const desk_kernel_set *k = runnable_set(kernels);
    return k ? k->gemv8[type] : NULL;
}

desk_act_fn desk_act_q8a_for(const char *kernels) {
    if (strcmp(kernels, "scalar") == 0) return act_q8a_ref;
    const desk_kernel_set *k = runnable_set(kernels);
    return !k ? NULL : k->act_q8a ? k->act_q8a : act_q8a_ref;
}

desk_act_fn desk_act_q8k_for(const char *kernels) {
    if (strcmp(kernels, "scalar") == 0) return act_q8k_ref;
    const desk_kernel_set *k = runnable_set(kernels);
    return !k ? NULL : k->act_q8k ? k->act_q8k : act_q8k_ref;
}

static void glu_ref(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float x = g[i], e = -x > 88.0f ? INFINITY : desk_expf(-x);
        g[i] = x / (1.0f + e) * u[i];
    }
}

desk_glu_fn desk_glu(void) {
    dispatch_init();
    return active_set && active_set->glu ? active_set->glu : glu_ref;
}

desk_glu_fn desk_glu_for(const char *kernels) {
    if (strcmp(kernels, "scalar") == 0) return glu_ref;
    const desk_kernel_set *k = runnable_set(kernels);
    return !k ? NULL : k->glu ? k->glu : glu_ref;
}

desk_gemm16_fn desk_gemm16(int type) {
    dispatch_init();
    return active_set && type >= 0 && type < DESK_TYPE_COUNT ? active_set->gemm16[type] : NULL;
}

desk_gemm16_fn desk_gemm16_for(const char *kernels, int type) {
    const desk_kernel_set *k = runnable_set(kernels);
    return k ? k->gemm16[type] : NULL;
}

bool desk_pairs(int type) {
    dispatch_init();
    return active_set && type >= 0 && type < DESK_TYPE_COUNT && active_set->gemm16[type] && active_set->pairs[type];
}

bool desk_pairs_for(const char *kernels, int type) {
    const desk_kernel_set *k = runnable_set(kernels);
    return k && k->gemm16[type] && k->pairs[type];
}

/* ================================================================ x8 layouts */

bool desk_repack8_supported(int type) {
    return type == DESK_TYPE_Q4_0 || type == DESK_TYPE_Q5_0 || type == DESK_TYPE_Q8_0 || type == DESK_TYPE_Q4_K ||
           type == DESK_TYPE_Q6_K;
}

uint64_t desk_repack8_bytes(int type, int64_t n) {
    if (type == DESK_TYPE_Q4_K) return (uint64_t)(n / QKK) * 1184;
    return desk_type_row_size(type, n) * 8;
}

static void repack8_q4_K(const uint8_t *src, size_t row_bytes, int64_t n, uint8_t *o) {
    for (int64_t b = 0; b < n / QKK; b++) {
        const block_q4_K *x[8];
        for (int i = 0; i < 8; i++) x[i] = (const block_q4_K *)(src + (size_t)i * row_bytes) + b;
        for (int i = 0; i < 8; i++) memcpy(o + 2 * i, &x[i]->d, 2);
        for (int i = 0; i < 8; i++) memcpy(o + 16 + 2 * i, &x[i]->dmin, 2);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++) desk_q4k_scale_min(j, x[i]->scales, &o[32 + 8 * j + i], &o[96 + 8 * j + i]);
        o += 160;
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 8; k++)
                for (int i = 0; i < 8; i++, o += 4) memcpy(o, x[i]->qs + 32 * c + 4 * k, 4);
    }
}

static void repack8_q6_K(const uint8_t *src, size_t row_bytes, int64_t n, uint8_t *o) {
    for (int64_t b = 0; b < n / QKK; b++) {
        const block_q6_K *x[8];
        for (int i = 0; i < 8; i++) x[i] = (const block_q6_K *)(src + (size_t)i * row_bytes) + b;
        for (int i = 0; i < 8; i++) memcpy(o + 2 * i, &x[i]->d, 2);
        for (int g = 0; g < 16; g++)
            for (int i = 0; i < 8; i++) o[16 + 8 * g + i] = (uint8_t)x[i]->scales[g];
        o += 144;
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 8; k++) {
                for (int i = 0; i < 8; i++) memcpy(o + 4 * i, x[i]->ql + 64 * h + 4 * k, 4);
                for (int i = 0; i < 8; i++) memcpy(o + 32 + 4 * i, x[i]->ql + 64 * h + 32 + 4 * k, 4);
                for (int i = 0; i < 8; i++) memcpy(o + 64 + 4 * i, x[i]->qh + 32 * h + 4 * k, 4);
                o += 96;
            }
    }
}

void desk_repack8(int type, const void *rows, size_t row_bytes, int64_t n, void *dst) {
    const uint8_t *src = rows;
    uint8_t *o = dst;
    if (type == DESK_TYPE_Q6_K) {
        repack8_q6_K(src, row_bytes, n, o);
        return;
    }
    if (type == DESK_TYPE_Q4_K) {
        repack8_q4_K(src, row_bytes, n, o);
        return;
    }
    if (type == DESK_TYPE_Q5_0) {
        for (int64_t b = 0; b < n / QK; b++, o += 176) {
            const block_q5_0 *x[8];
            for (int i = 0; i < 8; i++) x[i] = (const block_q5_0 *)(src + (size_t)i * row_bytes) + b;
            for (int i = 0; i < 8; i++) memcpy(o + 2 * i, &x[i]->d, 2);
            for (int k = 0; k < 4; k++)
                for (int i = 0; i < 8; i++) memcpy(o + 16 + 32 * k + 4 * i, x[i]->qs + 4 * k, 4);
            uint32_t qh[8];
            for (int i = 0; i < 8; i++) qh[i] = (uint32_t)x[i]->qh[0] | (uint32_t)x[i]->qh[1] << 8 |
                                                (uint32_t)x[i]->qh[2] << 16 | (uint32_t)x[i]->qh[3] << 24;
            for (int k = 0; k < 4; k++) {
                uint32_t mlo = 0, mhi = 0;
                for (int i = 0; i < 8; i++) {
                    mlo |= (qh[i] >> (4 * k) & 0xF) << (4 * i);
                    mhi |= (qh[i] >> (16 + 4 * k) & 0xF) << (4 * i);
                }
                for (int e = 0; e < 4; e++) {
                    o[144 + 8 * k + e] = (uint8_t)(mlo >> (8 * e));
                    o[148 + 8 * k + e] = (uint8_t)(mhi >> (8 * e));
                }
            }
        }
        return;
    }
    int64_t nb = n / QK;
    int groups = type == DESK_TYPE_Q4_0 ? 4 : 8;
    size_t bsz = type == DESK_TYPE_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q8_0);
    for (int64_t b = 0; b < nb; b++) {
        for (int i = 0; i < 8; i++) memcpy(o + 2 * i, src + (size_t)i * row_bytes + (size_t)b * bsz, 2);
        o += 16;
        for (int k = 0; k < groups; k++)
            for (int i = 0; i < 8; i++, o += 4) {
                const uint8_t *q = src + (size_t)i * row_bytes + (size_t)b * bsz + 2 + 4 * k;
                for (int e = 0; e < 4; e++) o[e] = type == DESK_TYPE_Q4_0 ? q[e] : (uint8_t)(q[e] ^ 0x80);
            }
    }
}

/* Each block of the x8 layout depends only on that block of its 8 rows, so
 * a pair is built from one-block repacks of each group (quant.h). */
void desk_repack16(int type, const void *rows, size_t row_bytes, int64_t n, void *dst) {
    const desk_type_traits *tr = desk_traits(type);
    size_t block = desk_repack8_bytes(type, tr->blck), src_block = (size_t)tr->bytes;
    const uint8_t *src = rows;
    uint8_t *o = dst;
    int64_t nb = n / tr->blck;
    if (tr->blck != QK) { /* K-quants: no pair kernel reads them; block by block */
        for (int64_t b = 0; b < nb; b++, o += 2 * block) {
            desk_repack8(type, src + (size_t)b * src_block, row_bytes, tr->blck, o);
            desk_repack8(type, src + 8 * row_bytes + (size_t)b * src_block, row_bytes, tr->blck, o + block);
        }
        return;
    }
    size_t extra = type == DESK_TYPE_Q5_0 ? 32 : 0, qs = block - 16 - extra; /* an x8 block: d, qs, extra */
    uint8_t g[2][2][272];                                                  /* [block j][group] x8 blocks */
    for (int64_t b = 0; b < nb; b += 2) {
        int nj = nb - b >= 2 ? 2 : 1;
        for (int j = 0; j < nj; j++)
            for (int h = 0; h < 2; h++)
                desk_repack8(type, src + (size_t)(8 * h) * row_bytes + (size_t)(b + j) * src_block, row_bytes, QK, g[j][h]);
        for (int j = 0; j < nj; j++) /* quants: 32-byte groups */
            for (size_t k = 0; k < qs / 32; k++)
                for (int h = 0; h < 2; h++, o += 32) memcpy(o, g[j][h] + 16 + 32 * k, 32);
        for (int j = 0; j < nj; j++) /* Q5_0 masks: 4 bytes each */
            for (size_t m = 0; m < extra / 4; m++)
                for (int h = 0; h < 2; h++, o += 4) memcpy(o, g[j][h] + 16 + qs + 4 * m, 4);
        for (int j = 0; j < nj; j++) /* scales */
            for (int h = 0; h < 2; h++, o += 16) memcpy(o, g[j][h], 16);
    }
}

void desk_repack_unit(int type, const void *rows, size_t row_bytes, int64_t n, int groups, bool pairs, void *dst) {
    if (pairs && groups == 2) {
        desk_repack16(type, rows, row_bytes, n, dst);
        return;
    }
    for (int h = 0; h < groups; h++)
        desk_repack8(type, (const char *)rows + (size_t)(8 * h) * row_bytes, row_bytes, n,
                     (char *)dst + (size_t)h * desk_repack8_bytes(type, n));
}

/* ---- attention (contract in quant.h) ---- */
size_t desk_kv_tile_bytes(int type, int64_t hd) {
    return type == DESK_TYPE_Q8_0 ? (size_t)(hd / QK) * 16 * 2 + (size_t)hd * 16 : (size_t)hd * 16 * 2;
}

void desk_kv_store_k(int type, const float *k, void *tiles, int pos, int64_t hd) {
    uint8_t *tile = (uint8_t *)tiles + (size_t)(pos / 16) * desk_kv_tile_bytes(type, hd);
    int j = pos % 16;
    if (type == DESK_TYPE_Q8_0) {
        uint16_t *d = (uint16_t *)tile;
        uint8_t *qs = (uint8_t *)(d + (hd / QK) * 16);
        for (int64_t b = 0; b < hd / QK; b++) {
            block_q8_0 blk;
            qz_q8_0(k + b * QK, &blk, QK);
            d[b * 16 + j] = blk.d;
            for (int64_t i = b * QK; i < (b + 1) * QK; i++) qs[((i / 4) * 16 + j) * 4 + i % 4] = (uint8_t)(blk.qs[i % QK] + 128);
        }
    } else {
        uint16_t *h = (uint16_t *)tile;
        for (int64_t i = 0; i < hd; i++) h[i * 16 + j] = f2h(k[i]);
    }
}

/* element i of position p: of a K tile set (kt_*) or of a V row (kv_elem_*) */
static inline float kt_f16(const void *k, int64_t hd, int p, int64_t i) {
    return h2f(((const uint16_t *)((const char *)k + (size_t)(p / 16) * desk_kv_tile_bytes(DESK_TYPE_F16, hd)))[i * 16 + p % 16]);
}
/* Q8_0: the scale of block b of position p, and its value q of element i */
static inline float kt_q8_scale(const void *k, int64_t hd, int p, int64_t b) {
    const uint16_t *d = (const uint16_t *)((const char *)k + (size_t)(p / 16) * desk_kv_tile_bytes(DESK_TYPE_Q8_0, hd));
    return h2f(d[b * 16 + p % 16]);
}
static inline int kt_q8_value(const void *k, int64_t hd, int p, int64_t i) {
    const uint8_t *qs = (const uint8_t *)k + (size_t)(p / 16) * desk_kv_tile_bytes(DESK_TYPE_Q8_0, hd) + (size_t)(hd / QK) * 32;
    return (int)qs[((i / 4) * 16 + p % 16) * 4 + i % 4] - 128;
}
static inline float kv_elem_f16(const void *row, int64_t i) { return h2f(((const uint16_t *)row)[i]); }
static inline float kv_elem_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    return h2f(b->d) * (float)b->qs[i % QK];
}

static void softmax_ref(float *s, int n) {
    float mx = s[0], l[16] = {0};
    for (int p = 1; p < n; p++) mx = s[p] > mx ? s[p] : mx;
    for (int p = 0; p < n; p++) {
        s[p] = desk_expf(s[p] - mx);
        l[p % 16] += s[p];
    }
    float inv = 1.0f / desk_reduce16(l);
    for (int p = 0; p < n; p++) s[p] *= inv;
}

/* one head's scores, each cache's way (quant.h) */
static void scores_f16_ref(const float *q, int64_t hd, const void *k, int n_pos, float scale, float *sc) {
    for (int p = 0; p < n_pos; p++) {
        float l[16] = {0};
        for (int64_t i = 0; i < hd; i++) l[i % 16] += q[i] * kt_f16(k, hd, p, i);
        sc[p] = desk_reduce16(l) * scale;
    }
}
static void scores_q8_ref(const float *q, int64_t hd, const void *k, int n_pos, float scale, float *sc) {
    desk_q8a qa[DESK_MAX_HEAD / QK];
    act_q8a_ref(q, qa, hd);
    for (int p = 0; p < n_pos; p++) {
        float s = 0;
        for (int64_t b = 0; b < hd / QK; b++) {
            int32_t n = 0;
            for (int64_t i = b * QK; i < (b + 1) * QK; i++) n += qa[b].qs[i % QK] * kt_q8_value(k, hd, p, i);
            float u = (float)n * (qa[b].d * kt_q8_scale(k, hd, p, b));
            s = b ? s + u : u;
        }
        sc[p] = s * scale;
    }
}

#define ATTEND_REF(NAME, SCORES, VELEM)                                                                       \
    static void NAME(const float *q, int nh, int64_t hd, const void *k, const void *v, size_t stride, int n_pos,  \
                     float scale, float *sc, float *out) {                                                     \
        for (int h = 0; h < nh; h++) {                                                                         \
            SCORES(q + h * hd, hd, k, n_pos, scale, sc + (size_t)h * n_pos);                                   \
            softmax_ref(sc + (size_t)h * n_pos, n_pos);                                                        \
            for (int64_t e = 0; e < hd; e++) {                                                                 \
                float o = 0;                                                                                   \
                for (int p = 0; p < n_pos; p++) o += sc[(size_t)h * n_pos + p] * VELEM((const char *)v + (size_t)p * stride, e); \
                out[h * hd + e] = o;                                                                           \
            }                                                                                                  \
        }                                                                                                      \
    }
ATTEND_REF(attend_f16_ref, scores_f16_ref, kv_elem_f16)
ATTEND_REF(attend_q8_ref, scores_q8_ref, kv_elem_q8)

desk_kv_fns desk_kv_kernels(void) {
    dispatch_init();
    if (active_set && active_set->kv.f16) return active_set->kv;
    return (desk_kv_fns){attend_f16_ref, attend_q8_ref};
}

desk_kv_fns desk_kv_kernels_for(const char *kernels) {
    if (!strcmp(kernels, "scalar")) return (desk_kv_fns){attend_f16_ref, attend_q8_ref};
    const desk_kernel_set *k = runnable_set(kernels);
    return k ? k->kv : (desk_kv_fns){NULL, NULL};
}

const char *desk_kernels_active(void) {
    dispatch_init();
    return active_set ? active_set->name : "scalar";
}
