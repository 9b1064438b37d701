/*
 * test_kernels.c - every block type against plain scalar arithmetic:
 *   1. quantize then dequantize stays within a per-type error bound;
 *   2. the reference vec_dot equals a double-precision dot of the
 *      dequantized weights and dequantized 8-bit activations (so the integer
 *      kernels compute exactly what the block format means);
 *   3. every SIMD kernel set built for this machine (AVX2, AVX-512, NEON)
 *      gives bit-identical results to the scalar reference.
 */
#include "testutil.h"
#include "kernels/quant.h"

#include <math.h>

static const int TYPES[] = {DESK_TYPE_F32, DESK_TYPE_F16, DESK_TYPE_BF16, DESK_TYPE_Q8_0, DESK_TYPE_Q4_0,
                            DESK_TYPE_Q4_1, DESK_TYPE_Q5_0, DESK_TYPE_Q5_1, DESK_TYPE_Q2_K, DESK_TYPE_Q3_K,
                            DESK_TYPE_Q4_K, DESK_TYPE_Q5_K, DESK_TYPE_Q6_K};

/* RMS round-trip error bound relative to RMS of the data (uniform [-1,1)):
 * about half a quantization step of each format, with margin. */
static double rt_bound(int t) {
    switch (t) {
    case DESK_TYPE_F32: return 1e-9;
    case DESK_TYPE_F16: return 1e-3;
    case DESK_TYPE_BF16: return 8e-3;
    case DESK_TYPE_Q8_0: return 0.01;
    case DESK_TYPE_Q6_K: return 0.03;
    case DESK_TYPE_Q5_0: case DESK_TYPE_Q5_1: case DESK_TYPE_Q5_K: return 0.05;
    case DESK_TYPE_Q4_0: case DESK_TYPE_Q4_1: case DESK_TYPE_Q4_K: return 0.1;
    case DESK_TYPE_Q3_K: return 0.25;
    case DESK_TYPE_Q2_K: return 0.45;
    }
    return 0;
}

/* every kernel set's activation quantizer of one kind (lookup) gives the
 * scalar reference's bytes; returns how many sets were compared */
static int quantizers_match(const char *kind, desk_act_fn (*lookup)(const char *), const float *x, int n,
                            unsigned char *ref, unsigned char *got, size_t bytes) {
    const char *sets[] = {"avx2", "avx512", "neon"};
    int checked = 0;
    lookup("scalar")(x, ref, n);
    for (size_t k = 0; k < sizeof sets / sizeof *sets; k++) {
        desk_act_fn f = lookup(sets[k]);
        if (!f) continue;
        memset(got, 0xAA, bytes);
        f(x, got, n);
        CHECK(!memcmp(ref, got, bytes), "%s %s activation quantizer differs from the scalar reference", sets[k], kind);
        checked++;
    }
    return checked;
}

int main(void) {
    uint64_t rng = 12345;
    const int64_t n = 1024; /* 4 K-quant super-blocks, 32 simple blocks */
    float *x = malloc(n * 4), *y = malloc(n * 4), *a = malloc(n * 4), *wd = malloc(n * 4), *ad = malloc(n * 4);
    void *q = malloc(n * 4), *act = malloc(desk_act_row_size(ACT_Q8K, n) + desk_act_row_size(ACT_Q8A, n) + n * 4);
    const char *sets[] = {"avx2", "avx512", "neon"};
    int simd_checked = 0;
    for (size_t ti = 0; ti < sizeof TYPES / sizeof *TYPES; ti++) {
        int t = TYPES[ti];
        const desk_type_traits *tr = desk_traits(t);
        for (int trial = 0; trial < 20; trial++) {
            /* mixes of scales, including all-zero blocks and outliers */
            for (int64_t i = 0; i < n; i++) {
                x[i] = t_randf(&rng) * (trial % 3 == 0 ? 10.0f : 1.0f);
                a[i] = t_randf(&rng) * (trial % 4 == 1 ? 0.01f : 3.0f);
            }
            if (trial == 5) memset(x, 0, 64 * 4);
            if (trial == 6) x[17] = 1000.0f;
            if (trial == 7) memset(a, 0, 300 * 4);
            desk_quantize_row(t, x, q, n);
            desk_dequantize_row(t, q, y, n);
            double e2 = 0, s2 = 0;
            for (int64_t i = 0; i < n; i++) { e2 += (double)(y[i] - x[i]) * (y[i] - x[i]); s2 += (double)x[i] * x[i]; }
            if (trial != 6) /* an outlier legitimately ruins its block */
                CHECK(sqrt(e2 / (s2 + 1e-30)) <= rt_bound(t), "%s trial %d: round-trip rel. rms error %.4f > %.4f", tr->name,
                      trial, sqrt(e2 / (s2 + 1e-30)), rt_bound(t));
            /* reference dot == exact dot of what the blocks mean */
            desk_act_quantize(tr->act, a, act, n);
            if (tr->act == ACT_F32) memcpy(ad, a, n * 4);
            else if (tr->act == ACT_Q8A)
                for (int64_t b = 0; b < n / 32; b++)
                    for (int j = 0; j < 32; j++) ad[b * 32 + j] = ((desk_q8a *)act)[b].d * ((desk_q8a *)act)[b].qs[j];
            else
                for (int64_t b = 0; b < n / 256; b++)
                    for (int j = 0; j < 256; j++) ad[b * 256 + j] = ((desk_q8k *)act)[b].d * ((desk_q8k *)act)[b].qs[j];
            desk_dequantize_row(t, q, wd, n);
            double exact = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) { exact += (double)wd[i] * ad[i]; mag += fabs((double)wd[i] * ad[i]); }
            float ref = tr->dot_ref(n, q, act);
            CHECK(fabs(ref - exact) <= 1e-5 * mag + 1e-30, "%s trial %d: vec_dot %.9g vs exact %.9g (magnitude %.3g)", tr->name,
                  trial, ref, exact, mag);
            /* SIMD variants: bit-exact */
            for (size_t si = 0; si < 3; si++) {
                desk_vec_dot_fn f = desk_vec_dot_for(sets[si], t);
                if (!f) continue;
                float got = f(n, q, act);
                CHECK(memcmp(&got, &ref, 4) == 0, "%s %s trial %d: %.9g != reference %.9g", sets[si], tr->name, trial, got, ref);
                simd_checked++;
            }
        }
    }
    /* row-group kernels on the x8 layouts (two groups) and the 16-row
     * kernels on the same 16 rows, as a pair (x16) where the set reads the
     * type so, else as the two groups: bit-identical to the reference per
     * row. 1 to 11 tokens (2 to 11 on two groups): tiles of 8 and of 1-7. */
    int gemv_checked = 0, gemm_checked = 0;
    /* 896: a block count that is not a multiple of 8; 928: an odd one (a
     * pair's last block alone) */
    for (int64_t gn = n; gn >= 896; gn = gn == 896 ? 0 : gn == 928 ? 896 : gn - 96) {
        for (int type = 0; type < DESK_TYPE_COUNT; type++) {
            if (!desk_repack8_supported(type) || gn % desk_traits(type)->blck) continue;
            const desk_type_traits *tr = desk_traits(type);
            size_t rs = desk_type_row_size(type, gn), gb = desk_repack8_bytes(type, gn);
            uint8_t *rows = malloc(16 * rs), *packed = malloc(2 * gb), *pair = malloc(2 * gb);
            float *xs = malloc(gn * 4);
            enum { T = 11 };
            size_t ar = desk_act_row_size(tr->act, gn);
            uint8_t *acts = malloc((size_t)T * ar);
            for (int i = 0; i < 16; i++) {
                for (int64_t e = 0; e < gn; e++) xs[e] = t_randf(&rng) * (float)(i % 8 + 1);
                if (i == 3 || i == 12) xs[5] = -1000.0f; /* a -128 and a 127 in Q8_0 */
                if (i == 7 || i == 15) /* every quant at the top of its range (Q4_0 15, Q5_0 31, ...) */
                    for (int64_t e = 0; e < gn; e++) xs[e] = -1.0f;
                desk_quantize_row(type, xs, rows + (size_t)i * rs, gn);
            }
            if (type == DESK_TYPE_Q8_0) { /* the extreme unsigned value 0 */
                ((block_q8_0 *)(rows + 2 * rs))[1].qs[7] = -128;
                ((block_q8_0 *)(rows + 9 * rs))[0].qs[0] = -128;
            }
            if (type == DESK_TYPE_Q4_K) /* 6-bit scales and mins at their extremes */
                for (int j = 0; j < 12; j++) ((block_q4_K *)(rows + 5 * rs))[2].scales[j] = ((block_q4_K *)(rows + 14 * rs))[0].scales[j] = 0xFF;
            if (type == DESK_TYPE_Q6_K) /* extreme scales and quants */
                for (int j = 0; j < 16; j++)
                    ((block_q6_K *)(rows + 6 * rs))[1].scales[j] = ((block_q6_K *)(rows + 15 * rs))[0].scales[j] = (int8_t)(j % 2 ? -128 : 127);
            for (int t = 0; t < T; t++) {
                for (int64_t e = 0; e < gn; e++) xs[e] = t == 10 ? 1.0f : t_randf(&rng) * 2.0f; /* token 10: all 127 */
                desk_act_quantize(tr->act, xs, acts + (size_t)t * ar, gn);
            }
            desk_repack8(type, rows, rs, gn, packed);
            desk_repack8(type, rows + 8 * rs, rs, gn, packed + gb);
            desk_repack16(type, rows, rs, gn, pair);
            float want[T][16];
            for (int t = 0; t < T; t++)
                for (int i = 0; i < 16; i++) want[t][i] = tr->dot_ref(gn, rows + (size_t)i * rs, acts + (size_t)t * ar);
            for (size_t si = 0; si < 3; si++) {
                desk_gemv8_fn g = desk_gemv8_for(sets[si], type);
                if (g) {
                    float gy[T][16];
                    g(gn, packed, acts, ar, T, &gy[0][0], 16);
                    g(gn, packed + gb, acts, ar, T, &gy[0][8], 16);
                    for (int t = 0; t < T; t++)
                        for (int i = 0; i < 16; i++)
                            CHECK(memcmp(&want[t][i], &gy[t][i], 4) == 0, "%s gemv8 %s row %d token %d: %.9g != %.9g", sets[si],
                                  tr->name, i, t, gy[t][i], want[t][i]);
                    gemv_checked++;
                }
                desk_gemm16_fn g16 = desk_gemm16_for(sets[si], type);
                if (g16) {
                    for (int nt = 1; nt <= T; nt += 1) {
                        float gy[T][16];
                        if (desk_pairs_for(sets[si], type)) g16(gn, pair, 0, acts, ar, nt, &gy[0][0], 16);
                        else if (nt >= 2) g16(gn, packed, gb, acts, ar, nt, &gy[0][0], 16);
                        else continue;
                        for (int t = 0; t < nt; t++)
                            for (int i = 0; i < 16; i++)
                                CHECK(memcmp(&want[t][i], &gy[t][i], 4) == 0, "%s gemm16 %s (%d tokens) row %d token %d: %.9g != %.9g",
                                      sets[si], tr->name, nt, i, t, gy[t][i], want[t][i]);
                    }
                    gemm_checked++;
                }
            }
            free(rows); free(packed); free(pair); free(xs); free(acts);
        }
    }
    printf("16-row kernels (pairs, or two groups for batches) checked: %d\n", gemm_checked);
    printf("row-group (x8) kernels checked: %d\n", gemv_checked);

    /* desk_expf: within 2 ulp of libm's expf over the softmax range */
    {
        int worst = 0;
        for (float ex = -87.0f; ex <= 0.0f; ex += 0.00731f) {
            float got = desk_expf(ex), want = expf(ex);
            int32_t gi, wi;
            memcpy(&gi, &got, 4);
            memcpy(&wi, &want, 4);
            int ulp = abs(gi - wi);
            if (ulp > worst) worst = ulp;
        }
        CHECK(worst <= 2, "desk_expf is %d ulp from expf", worst);
        CHECK(desk_expf(-88.0f) == 0.0f && desk_expf(-INFINITY) == 0.0f && desk_expf(0.0f) == 1.0f, "desk_expf edges");
        printf("desk_expf: at most %d ulp from expf on [-87, 0]\n", worst);
    }
    /* attention kernels: every set bit-identical to the scalar reference,
     * for group sizes 1..9 (passes of 4 or 8 heads plus a shorter last one),
     * head sizes with and without a tail past 16, F16 and Q8_0 caches, and
     * position counts that end inside a K tile and on its edge, and that span
     * several blocks of the weighted sum (128 positions in avx512) */
    int attend_checked = 0;
    for (int kvq = 0; kvq < 2; kvq++)
        for (int nh = 1; nh <= 9; nh++)
            for (int64_t hd = 8; hd <= 72; hd += (hd == 8 ? 24 : 8)) { /* 8, 32, 40, ..., 72 */
                if (kvq && hd % 32) continue;
                const int n_pos = 300;
                int type = kvq ? DESK_TYPE_Q8_0 : DESK_TYPE_F16;
                size_t stride = desk_type_row_size(type, hd) + 6;
                uint8_t *kc = calloc((n_pos + 15) / 16, desk_kv_tile_bytes(type, hd)), *vc = calloc((size_t)n_pos, stride);
                float *qv = malloc((size_t)nh * hd * 4), *row = malloc((size_t)hd * 4), *kf = malloc((size_t)n_pos * hd * 4), *vf = malloc((size_t)n_pos * hd * 4);
                for (int p = 0; p < n_pos; p++) {
                    for (int64_t e = 0; e < hd; e++) row[e] = t_randf(&rng) * 3.0f;
                    desk_kv_store_k(type, row, kc, p, hd);
                    uint8_t krow[80 * 2];
                    desk_quantize_row(type, row, krow, hd); /* what the tile holds, as a row */
                    desk_dequantize_row(type, krow, kf + (size_t)p * hd, hd);
                    for (int64_t e = 0; e < hd; e++) row[e] = t_randf(&rng);
                    desk_quantize_row(type, row, vc + (size_t)p * stride, hd);
                    desk_dequantize_row(type, vc + (size_t)p * stride, vf + (size_t)p * hd, hd);
                }
                for (int64_t e = 0; e < nh * hd; e++) qv[e] = t_randf(&rng);
                float want[9 * 72], got[9 * 72];
                static float sc[9 * 300];
                desk_kv_fns ref = desk_kv_kernels_for("scalar");
                const int counts[] = {1, 8, 13, 16, 17, 25, 32, 37, 128, 129, 300};
                for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
                    int np = counts[ci];
                    (kvq ? ref.q8_0 : ref.f16)(qv, nh, hd, kc, vc, stride, np, 0.125f, sc, want);
                    for (size_t si = 0; si < 3; si++) {
                        desk_kv_fns kf2 = desk_kv_kernels_for(sets[si]);
                        if (!kf2.f16) continue;
                        memset(got, 0xff, sizeof got);
                        for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) sc[i] = NAN;
                        (kvq ? kf2.q8_0 : kf2.f16)(qv, nh, hd, kc, vc, stride, np, 0.125f, sc, got);
                        CHECK(memcmp(want, got, (size_t)nh * hd * 4) == 0, "%s attention (%s cache, %d heads, head size %lld, %d positions) differs",
                              sets[si], kvq ? "Q8_0" : "F16", nh, (long long)hd, np);
                        attend_checked++;
                    }
                }
                /* the reference against a float64 softmax attention over the same K and V values, and
                 * with a Q8_0 cache the query's values as the contract quantizes them (desk_q8a blocks) */
                float *qx = malloc((size_t)nh * hd * 4);
                memcpy(qx, qv, (size_t)nh * hd * 4);
                if (kvq)
                    for (int h = 0; h < nh; h++) {
                        desk_q8a qa[72 / 32];
                        desk_act_q8a_for("scalar")(qv + h * hd, qa, hd);
                        for (int64_t e = 0; e < hd; e++) qx[h * hd + e] = qa[e / 32].d * (float)qa[e / 32].qs[e % 32];
                    }
                double maxerr = 0;
                for (int h = 0; h < nh; h++) {
                    double s[300], mx = -1e300, sum = 0;
                    for (int p = 0; p < n_pos; p++) {
                        double d = 0;
                        for (int64_t e = 0; e < hd; e++) d += (double)qx[h * hd + e] * kf[(size_t)p * hd + e];
                        s[p] = d * 0.125;
                        if (s[p] > mx) mx = s[p];
                    }
                    for (int p = 0; p < n_pos; p++) sum += (s[p] = exp(s[p] - mx));
                    for (int64_t e = 0; e < hd; e++) {
                        double o = 0;
                        for (int p = 0; p < n_pos; p++) o += s[p] / sum * vf[(size_t)p * hd + e];
                        double err = fabs(o - want[h * hd + e]);
                        if (err > maxerr) maxerr = err;
                    }
                }
                CHECK(maxerr < 1e-5, "attention reference (%d heads, head size %lld) is %.3g from float64", nh, (long long)hd, maxerr);
                free(kc); free(vc); free(qv); free(qx); free(row); free(kf); free(vf);
            }
    printf("attention kernels checked: %d\n", attend_checked);

    /* activation quantization: per block scale from the max magnitude */
    for (int64_t i = 0; i < n; i++) a[i] = t_randf(&rng);
    desk_act_quantize(ACT_Q8A, a, act, n);
    const desk_q8a *qa = act;
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += qa[0].qs[j];
    CHECK(qa[0].sum == sum, "q8a sum %d != %d", qa[0].sum, sum);
    for (int j = 0; j < 32; j++) CHECK(fabsf(qa[0].d * qa[0].qs[j] - a[j]) <= qa[0].d * 0.5001f, "q8a element %d", j);
    /* every kernel set's activation quantizer gives the scalar reference's bytes: random rows, an all-zero
     * block, exact halves (round to even), one huge and many tiny values, negative zero */
    {
        enum { NQ = 32 * 40 };
        static float xq[NQ];
        static unsigned char ref[NQ / 32 * sizeof(desk_q8a)], got[NQ / 32 * sizeof(desk_q8a)];
        for (int i = 0; i < NQ; i++) xq[i] = t_randf(&rng) * (float)(1 + i % 7);
        for (int i = 32; i < 64; i++) xq[i] = 0.0f;
        for (int i = 64; i < 96; i++) xq[i] = (float)(i - 80) * 0.5f * 127.0f / 8.0f;   /* amax 127: halves land on .5 */
        for (int i = 96; i < 128; i++) xq[i] = i == 100 ? 1e30f : 1e-30f * (float)(i % 5 - 2);
        xq[130] = -0.0f;
        simd_checked += quantizers_match("Q8A", desk_act_q8a_for, xq, NQ, ref, got, sizeof ref);
        /* Q8K (256-value blocks): NQ / 256 = 5 blocks of the same values */
        static unsigned char refk[NQ / 256 * sizeof(desk_q8k)], gotk[NQ / 256 * sizeof(desk_q8k)];
        simd_checked += quantizers_match("Q8K", desk_act_q8k_for, xq, NQ, refk, gotk, sizeof refk);
    }
    /* SwiGLU: every set's bytes equal the scalar reference's, over random values, both signs of
     * zero, and around the ends of exp's range (87, 88, 89, 100 and their negatives); and the
     * scalar one is within float rounding of x / (1 + exp(-x)) * u in double */
    {
        enum { NG = 1000 };
        static float g0[NG], u0[NG], ref[NG], got[NG];
        const float edge[] = {0.0f, -0.0f, 87.0f, -87.0f, 87.5f, -87.5f, 88.0f, -88.0f, 88.5f, -88.5f, 89.0f, -89.0f, 100.0f, -100.0f};
        for (int i = 0; i < NG; i++) {
            g0[i] = i < (int)(sizeof edge / sizeof *edge) ? edge[i] : t_randf(&rng) * (float)(1 + i % 13);
            u0[i] = t_randf(&rng) * 3.0f;
        }
        memcpy(ref, g0, sizeof ref);
        desk_glu_for("scalar")(ref, u0, NG);
        double worst = 0;
        for (int i = 0; i < NG; i++) {
            double xd = g0[i], want = xd / (1.0 + exp(-xd)) * u0[i], err = fabs(ref[i] - want) / (fabs(want) + 1e-30);
            if (fabs(want) > 1e-30 && err > worst) worst = err;
        }
        CHECK(worst < 1e-5, "scalar SwiGLU relative error %.3g", worst);
        const char *gsets[] = {"avx2", "avx512", "neon"};
        for (size_t k = 0; k < sizeof gsets / sizeof *gsets; k++) {
            desk_glu_fn f = desk_glu_for(gsets[k]);
            if (!f) continue;
            for (int ng = NG - 7; ng <= NG; ng += 7) { /* with and without a tail */
                memcpy(got, g0, sizeof got);
                f(got, u0, ng);
                CHECK(!memcmp(ref, got, (size_t)ng * sizeof *got), "%s SwiGLU differs from the scalar reference (n %d)", gsets[k], ng);
                simd_checked++;
            }
        }
    }
    /* half precision conversion round trip over every finite half */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = desk_fp16_to_fp32((uint16_t)h);
        if (isfinite(f) && desk_fp32_to_fp16(f) != h && !(f == 0 && (h & 0x7fff) == 0)) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    CHECK(desk_fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00, "ties round to even");
    CHECK(desk_fp32_to_fp16(65520.0f) == 0x7c00, "overflow to infinity");
    printf("SIMD kernel checks run: %d (kernel set in use: %s)\n", simd_checked, desk_kernels_active());
    free(x); free(y); free(a); free(wd); free(ad); free(q); free(act);
    return t_done("kernels");
}
