/*
 * neon.c - arm64 NEON vec_dot variants using the dot-product extension
 * (sdot, ARMv8.2; every Apple arm64 CPU has it). Same bit-exact contract as
 * the x86 kernels: exact integer block sums, then the reference's float
 * sequence per block and lane. Tested under qemu-user in CI.
 */
#include "kernels/quant.h"

#include <arm_neon.h>
#if defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

static bool neon_usable(void) {
#if defined(__APPLE__)
    return true;
#elif defined(__linux__) && defined(HWCAP_ASIMDDP)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return false;
#endif
}

static inline int dot32(int8x16_t w0, int8x16_t w1, const int8_t *a) {
    int32x4_t s = vdotq_s32(vdupq_n_s32(0), w0, vld1q_s8(a));
    s = vdotq_s32(s, w1, vld1q_s8(a + 16));
    return vaddvq_s32(s);
}
static inline int dot16(int8x16_t w, const int8_t *a) { return vaddvq_s32(vdotq_s32(vdupq_n_s32(0), w, vld1q_s8(a))); }

static float dot_q8_0(int64_t n, const void *vw, const void *va) {
    const block_q8_0 *w = vw;
    const desk_q8a *a = va;
    float l[8] = {0};
    for (int64_t b = 0; b < n / QK; b++) {
        int s = dot32(vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), a[b].qs);
        l[b % 8] += (desk_h2f(w[b].d) * a[b].d) * (float)s;
    }
    return desk_reduce8(l);
}

/* 16 bytes of 0x10 where bits 0-15 of the little-endian mask at m are set
 * (byte j: bit j), else 0 */
static inline uint8x16_t bit4_16(const uint8_t *m) {
    static const uint8_t sel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint8x16_t b = vcombine_u8(vdup_n_u8(m[0]), vdup_n_u8(m[1]));
    return vandq_u8(vtstq_u8(b, vld1q_u8(sel)), vdupq_n_u8(0x10));
}

/* Q4_0 and Q5_0: the raw quants (0..15, or 0..31 with bit 4 from qh) times
 * a, minus OFF * sum(a): the same integer as sum((q - OFF) * a) */
#define NO_BIT4(m) vdupq_n_u8(0)
#define DOT_Q45_0(NAME, BLOCK, OFF, BIT4, QH)                                                                  \
    static float NAME(int64_t n, const void *vw, const void *va) {                                             \
        const BLOCK *w = vw;                                                                                   \
        const desk_q8a *a = va;                                                                                \
        float l[8] = {0};                                                                                      \
        const uint8x16_t m4 = vdupq_n_u8(0xF);                                                                 \
        for (int64_t b = 0; b < n / QK; b++) {                                                                 \
            uint8x16_t q = vld1q_u8(w[b].qs);                                                                  \
            int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), BIT4(QH)));                           \
            int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), BIT4(QH + 2)));                      \
            int s = dot32(lo, hi, a[b].qs) - (OFF) * a[b].sum;                                                 \
            l[b % 8] += (desk_h2f(w[b].d) * a[b].d) * (float)s;                                                \
        }                                                                                                      \
        return desk_reduce8(l);                                                                                \
    }
DOT_Q45_0(dot_q4_0, block_q4_0, 8, NO_BIT4, 0)
DOT_Q45_0(dot_q5_0, block_q5_0, 16, bit4_16, w[b].qh)

/* Q4_K and Q5_K share everything but the fifth bit: `qhp` is the Q5_K
 * high-bit array, or NULL for Q4_K. The scaled integer sum of a super-block. */
static inline int sumi_q45_K(const uint8_t *qs, const uint8_t *qhp, const uint8_t *sc, const int8_t *aq) {
    const uint8x16_t m4 = vdupq_n_u8(0xF), one = vdupq_n_u8(1);
    uint8x16_t h0 = qhp ? vld1q_u8(qhp) : vdupq_n_u8(0), h1 = qhp ? vld1q_u8(qhp + 16) : vdupq_n_u8(0);
    int sumi = 0;
    for (int c = 0; c < 4; c++) {
        uint8x16_t q0 = vld1q_u8(qs + 32 * c), q1 = vld1q_u8(qs + 32 * c + 16);
        uint8x16_t l0 = vandq_u8(q0, m4), l1 = vandq_u8(q1, m4), u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
        if (qhp) {
            int8x16_t shl = vdupq_n_s8((int8_t)-(2 * c)), shh = vdupq_n_s8((int8_t)-(2 * c + 1));
            l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(h0, shl), one), 4));
            l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(h1, shl), one), 4));
            u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(vshlq_u8(h0, shh), one), 4));
            u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(vshlq_u8(h1, shh), one), 4));
        }
        int slo = dot32(vreinterpretq_s8_u8(l0), vreinterpretq_s8_u8(l1), aq + 64 * c);
        int shi = dot32(vreinterpretq_s8_u8(u0), vreinterpretq_s8_u8(u1), aq + 64 * c + 32);
        sumi += sc[2 * c] * slo + sc[2 * c + 1] * shi;
    }
    return sumi;
}

DESK_DOT_Q45K(dot_q4_K, block_q4_K, NULL, sumi_q45_K)
DESK_DOT_Q45K(dot_q5_K, block_q5_K, w[b].qh, sumi_q45_K)

static float dot_q6_K(int64_t n, const void *vw, const void *va) {
    const block_q6_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    for (int64_t b = 0; b < n / QKK; b++) {
        const block_q6_K *x = &w[b];
        int sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
            const int8_t *sc = x->scales + 8 * h, *aq = a[b].qs + 128 * h;
            for (int half = 0; half < 2; half++) { /* the 16-byte halves of each 32-element group */
                int o = 16 * half;
                uint8x16_t l0 = vld1q_u8(ql + o), l1 = vld1q_u8(ql + 32 + o), hh = vld1q_u8(qh + o);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hh, m3), 4));
                q[1] = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 2), m3), 4));
                q[2] = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 4), m3), 4));
                q[3] = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hh, 6), 4));
                for (int k = 0; k < 4; k++)
                    sumi += sc[2 * k + half] * dot16(vsubq_s8(vreinterpretq_s8_u8(q[k]), off), aq + 32 * k + o);
            }
        }
        l[b % 8] += (desk_h2f(x->d) * a[b].d) * (float)sumi;
    }
    return desk_reduce8(l);
}

/* float weights: 16 lanes as four 4-wide accumulators, multiply then add */
static float dot_f32(int64_t n, const void *vw, const void *va) {
    const float *w = vw, *a = va;
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) acc[k] = vaddq_f32(acc[k], vmulq_f32(vld1q_f32(w + i + 4 * k), vld1q_f32(a + i + 4 * k)));
    float l[16];
    for (int k = 0; k < 4; k++) vst1q_f32(l + 4 * k, acc[k]);
    for (; i < n; i++) l[i % 16] += w[i] * a[i];
    return desk_reduce16(l);
}

static float dot_f16(int64_t n, const void *vw, const void *va) {
    const uint16_t *w = vw;
    const float *a = va;
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            float32x4_t wf = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w + i + 4 * k)));
            acc[k] = vaddq_f32(acc[k], vmulq_f32(wf, vld1q_f32(a + i + 4 * k)));
        }
    float l[16];
    for (int k = 0; k < 4; k++) vst1q_f32(l + 4 * k, acc[k]);
    for (; i < n; i++) l[i % 16] += desk_h2f(w[i]) * a[i];
    return desk_reduce16(l);
}

static inline float32x4_t kv_load4_f16(const void *row, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + i)));
}
static inline float kv_elem_f16(const void *row, int64_t i) { return desk_h2f(((const uint16_t *)row)[i]); }
static inline float32x4_t kv_load4_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    int32_t four;
    memcpy(&four, b->qs + i % QK, 4); /* exactly 4 bytes: never past the block */
    int8x8_t q8 = vreinterpret_s8_s32(vdup_n_s32(four));
    float32x4_t q = vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(q8))));
    return vmulq_f32(vdupq_n_f32(desk_h2f(b->d)), q);
}
static inline float kv_elem_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    return desk_h2f(b->d) * (float)b->qs[i % QK];
}
/* element i of positions h .. h + 3 of an F16 K tile (h 0, 4, 8 or 12; layout in quant.h) */
static inline float32x4_t kt4_f16(const void *tile, int64_t hd, int64_t i, int h) {
    (void)hd;
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)tile + i * 16 + h)));
}
/* desk_expf on 4 lanes: the same operations, lane by lane */
static inline float32x4_t exp4(float32x4_t x) {
    uint32x4_t keep = vcgeq_f32(x, vdupq_n_f32(DESK_EXP_MIN));
    float32x4_t n = vsubq_f32(vaddq_f32(vmulq_f32(x, vdupq_n_f32(DESK_EXP_LOG2E)), vdupq_n_f32(DESK_EXP_MAGIC)),
                              vdupq_n_f32(DESK_EXP_MAGIC));
    float32x4_t r = vsubq_f32(vsubq_f32(x, vmulq_f32(n, vdupq_n_f32(DESK_EXP_LN2_HI))), vmulq_f32(n, vdupq_n_f32(DESK_EXP_LN2_LO)));
    float32x4_t p = vdupq_n_f32(DESK_EXP_C7);
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(DESK_EXP_C6));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(DESK_EXP_C5));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(DESK_EXP_C4));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(DESK_EXP_C3));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(0.5f));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(1.0f));
    p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(1.0f));
    int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(bits));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), keep));
}

static void softmax16(float *s, int n) {
    float mx = s[0];
    for (int p = 1; p < n; p++) mx = s[p] > mx ? s[p] : mx;
    float32x4_t vm = vdupq_n_f32(mx), a[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int p = 0;
    for (; p + 16 <= n; p += 16)
        for (int c = 0; c < 4; c++) {
            float32x4_t e = exp4(vsubq_f32(vld1q_f32(s + p + 4 * c), vm));
            vst1q_f32(s + p + 4 * c, e);
            a[c] = vaddq_f32(a[c], e);
        }
    float l[16];
    for (int c = 0; c < 4; c++) vst1q_f32(l + 4 * c, a[c]);
    for (; p < n; p++) {
        s[p] = desk_expf(s[p] - mx);
        l[p % 16] += s[p];
    }
    float inv = 1.0f / desk_reduce16(l);
    for (p = 0; p < n; p++) s[p] *= inv;
}

/* Attention, up to four query heads of a GQA group per pass (NH 1-4, a
 * constant after inlining), so each K and V load is converted once for all
 * of them, as in the x86 kernels. F16 scores: four positions of a K tile at
 * a time; lane l and lane l + 8 of the contract as two chains of vertical
 * products per head (the first starting from its first product, see
 * quant.h), their sum being reduce16's first step; the eight sums reduce as
 * reduce8 once the lanes are done. */
static inline __attribute__((always_inline)) void scores4_f16(const float *q, int h0, const int NH, int64_t hd, const void *k,
                                                              int n_pos, float scale, float *sc) {
    size_t tile_bytes = desk_kv_tile_bytes(DESK_TYPE_F16, hd);
    const float *qh[4];
    for (int j = 0; j < 4; j++) qh[j] = q + (size_t)(h0 + (j < NH ? j : 0)) * hd;
    for (int p0 = 0; p0 < n_pos; p0 += 4) {
        const void *tile = (const char *)k + (size_t)(p0 / 16) * tile_bytes;
        float32x4_t a[8][4];
        for (int l = 0; l < 8; l++) {
            float32x4_t lo[4], hi[4];
            for (int j = 0; j < NH; j++) lo[j] = hi[j] = vdupq_n_f32(0);
            if (l < hd) {
                float32x4_t k0 = kt4_f16(tile, hd, l, p0 % 16);
                for (int j = 0; j < NH; j++) lo[j] = vmulq_f32(vdupq_n_f32(qh[j][l]), k0);
            }
            if (l + 8 < hd) {
                float32x4_t k1 = kt4_f16(tile, hd, l + 8, p0 % 16);
                for (int j = 0; j < NH; j++) hi[j] = vmulq_f32(vdupq_n_f32(qh[j][l + 8]), k1);
            }
            for (int64_t i = l + 16; i < hd; i += 16) {
                float32x4_t k0 = kt4_f16(tile, hd, i, p0 % 16);
                for (int j = 0; j < NH; j++) lo[j] = vaddq_f32(lo[j], vmulq_f32(vdupq_n_f32(qh[j][i]), k0));
                if (i + 8 < hd) {
                    float32x4_t k1 = kt4_f16(tile, hd, i + 8, p0 % 16);
                    for (int j = 0; j < NH; j++) hi[j] = vaddq_f32(hi[j], vmulq_f32(vdupq_n_f32(qh[j][i + 8]), k1));
                }
            }
            for (int j = 0; j < NH; j++) a[l][j] = vaddq_f32(lo[j], hi[j]);
        }
        for (int j = 0; j < NH; j++) {
            float32x4_t r = vaddq_f32(vaddq_f32(vaddq_f32(a[0][j], a[1][j]), vaddq_f32(a[2][j], a[3][j])),
                                      vaddq_f32(vaddq_f32(a[4][j], a[5][j]), vaddq_f32(a[6][j], a[7][j])));
            float rr[4];
            vst1q_f32(rr, vmulq_f32(r, vdupq_n_f32(scale)));
            for (int u = 0; u < 4 && p0 + u < n_pos; u++) sc[(size_t)(h0 + j) * n_pos + p0 + u] = rr[u];
        }
    }
}
/* Q8_0 scores: four positions at a time, per block the integer sums by sdot
 * (the cache's bytes back to int8 by flipping the bias bit, 4 elements a
 * lane; each K load serves every head), then the contract's float steps
 * lane by lane. */
static inline __attribute__((always_inline)) void scores4_q8(const float *q, int h0, const int NH, int64_t hd, const void *k,
                                                             int n_pos, float scale, float *sc) {
    desk_q8a qa[4][DESK_MAX_HEAD / QK];
    for (int j = 0; j < NH; j++) desk_act_quantize(ACT_Q8A, q + (size_t)(h0 + j) * hd, qa[j], hd);
    size_t tile_bytes = desk_kv_tile_bytes(DESK_TYPE_Q8_0, hd);
    int64_t nb = hd / QK;
    for (int p0 = 0; p0 < n_pos; p0 += 4) {
        const uint8_t *tile = (const uint8_t *)k + (size_t)(p0 / 16) * tile_bytes, *kq = tile + nb * 32 + (p0 % 16) * 4;
        float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
        for (int64_t b = 0; b < nb; b++) {
            float32x4_t dk = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(tile + b * 32) + p0 % 16)));
            int32x4_t n[4];
            for (int j = 0; j < NH; j++) n[j] = vdupq_n_s32(0);
            for (int g = 0; g < 8; g += 4) {
                int8x16_t k0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(kq + (b * 8 + g) * 64), vdupq_n_u8(0x80)));
                int8x16_t k1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(kq + (b * 8 + g + 1) * 64), vdupq_n_u8(0x80)));
                int8x16_t k2 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(kq + (b * 8 + g + 2) * 64), vdupq_n_u8(0x80)));
                int8x16_t k3 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(kq + (b * 8 + g + 3) * 64), vdupq_n_u8(0x80)));
                for (int j = 0; j < NH; j++) {
                    int8x16_t q16 = vld1q_s8(qa[j][b].qs + 4 * g);
                    n[j] = vdotq_laneq_s32(n[j], k0, q16, 0);
                    n[j] = vdotq_laneq_s32(n[j], k1, q16, 1);
                    n[j] = vdotq_laneq_s32(n[j], k2, q16, 2);
                    n[j] = vdotq_laneq_s32(n[j], k3, q16, 3);
                }
            }
            for (int j = 0; j < NH; j++) {
                float32x4_t u = vmulq_f32(vcvtq_f32_s32(n[j]), vmulq_f32(vdupq_n_f32(qa[j][b].d), dk));
                acc[j] = b ? vaddq_f32(acc[j], u) : u;
            }
        }
        for (int j = 0; j < NH; j++) {
            float rr[4];
            vst1q_f32(rr, vmulq_f32(acc[j], vdupq_n_f32(scale)));
            for (int u = 0; u < 4 && p0 + u < n_pos; u++) sc[(size_t)(h0 + j) * n_pos + p0 + u] = rr[u];
        }
    }
}

/* Positions per block of the weighted sum: a block's V rows stay in L1
 * while every chunk of output elements runs over them (as in dot_x86.h). */
#define KV_VBLOCK 128
/* The weighted sum of NH heads over positions p0 .. p1 - 1 and output
 * elements e .. e + 4 * C - 1, continuing the sums in out unless `first`;
 * each V load converted once for all heads. */
#define KV_VSUM4(NAME, LOAD4)                                                                                 \
    static inline __attribute__((always_inline)) void NAME##_vsum(const float *const w[4], const int NH, const int C, \
                                                                  const void *v, size_t stride, int p0, int p1, \
                                                                  int64_t e, float *const outh[4], bool first) { \
        float32x4_t a[4][4];                                                                                   \
        for (int j = 0; j < NH; j++)                                                                           \
            for (int c = 0; c < C; c++) a[j][c] = first ? vdupq_n_f32(0) : vld1q_f32(outh[j] + e + 4 * c);     \
        for (int p = p0; p < p1; p++) {                                                                        \
            const void *row = (const char *)v + (size_t)p * stride;                                            \
            float32x4_t vv[4];                                                                                 \
            for (int c = 0; c < C; c++) vv[c] = LOAD4(row, e + 4 * c);                                         \
            for (int j = 0; j < NH; j++) {                                                                     \
                float32x4_t wp = vdupq_n_f32(w[j][p]);                                                         \
                for (int c = 0; c < C; c++) a[j][c] = vaddq_f32(a[j][c], vmulq_f32(wp, vv[c]));                \
            }                                                                                                  \
        }                                                                                                      \
        for (int j = 0; j < NH; j++)                                                                           \
            for (int c = 0; c < C; c++) vst1q_f32(outh[j] + e + 4 * c, a[j][c]);                               \
    }

/* A pass over heads h0 .. h0 + NH - 1: SCORES, the softmax, then the
 * weighted sum in blocks of KV_VBLOCK positions (16 outputs at a time, then
 * 4, then the last hd % 4 in plain C). */
#define KV_ATTEND(NAME, SCORES, LOAD4, ELEM)                                                                  \
    KV_VSUM4(NAME, LOAD4)                                                                                     \
    static inline __attribute__((always_inline)) void NAME##_pass(const float *q, int h0, const int NH, int64_t hd, \
                                                                  const void *k, const void *v, size_t stride, \
                                                                  int n_pos, float scale, float *sc, float *out) { \
        SCORES(q, h0, NH, hd, k, n_pos, scale, sc);                                                            \
        const float *w[4];                                                                                     \
        float *outh[4];                                                                                        \
        for (int j = 0; j < 4; j++) {                                                                          \
            w[j] = sc + (size_t)(h0 + (j < NH ? j : 0)) * n_pos;                                               \
            outh[j] = out + (size_t)(h0 + (j < NH ? j : 0)) * hd;                                              \
        }                                                                                                      \
        for (int j = 0; j < NH; j++) softmax16(sc + (size_t)(h0 + j) * n_pos, n_pos);                          \
        int64_t hd4 = hd / 4 * 4;                                                                              \
        for (int p0 = 0; p0 < n_pos; p0 += KV_VBLOCK) {                                                       \
            int p1 = n_pos - p0 < KV_VBLOCK ? n_pos : p0 + KV_VBLOCK;                                          \
            int64_t e = 0;                                                                                     \
            for (; e + 16 <= hd4; e += 16) NAME##_vsum(w, NH, 4, v, stride, p0, p1, e, outh, p0 == 0);         \
            for (; e < hd4; e += 4) NAME##_vsum(w, NH, 1, v, stride, p0, p1, e, outh, p0 == 0);               \
        }                                                                                                      \
        for (int j = 0; j < NH; j++)                                                                           \
            for (int64_t e2 = hd4; e2 < hd; e2++) {                                                            \
                float o = 0;                                                                                   \
                for (int p = 0; p < n_pos; p++) o += w[j][p] * ELEM((const char *)v + (size_t)p * stride, e2); \
                outh[j][e2] = o;                                                                               \
            }                                                                                                  \
    }                                                                                                          \
    static void NAME(const float *q, int nh, int64_t hd, const void *k, const void *v, size_t stride, int n_pos, \
                     float scale, float *sc, float *out) {                                                     \
        for (int h0 = 0; h0 < nh; h0 += 4) switch (nh - h0) {                                                 \
            case 1: NAME##_pass(q, h0, 1, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 2: NAME##_pass(q, h0, 2, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 3: NAME##_pass(q, h0, 3, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            default: NAME##_pass(q, h0, 4, hd, k, v, stride, n_pos, scale, sc, out); break;                    \
        }                                                                                                     \
    }
KV_ATTEND(attend_f16, scores4_f16, kv_load4_f16, kv_elem_f16)
KV_ATTEND(attend_q8, scores4_q8, kv_load4_q8, kv_elem_q8)

/* ---- row groups (x8 layouts, see quant.h): rows 0-3 in one vector, 4-7 in
 * another; sdot by element multiplies each row's 4 bytes by one broadcast
 * 4-byte activation group. Same integers and float steps as the reference. */

typedef struct { float32x4_t lo, hi; } rows8f;
typedef struct { int32x4_t lo, hi; } rows8i;

/* y[i] = desk_reduce8 of lane i of the eight accumulators: the same tree of
 * additions, done lane-wise on whole registers */
static inline void rows8_store(const rows8f acc[8], float *y) {
    for (int h = 0; h < 2; h++) {
        float32x4_t a[8];
        for (int j = 0; j < 8; j++) a[j] = h ? acc[j].hi : acc[j].lo;
        float32x4_t l = vaddq_f32(vaddq_f32(a[0], a[1]), vaddq_f32(a[2], a[3]));
        float32x4_t r = vaddq_f32(vaddq_f32(a[4], a[5]), vaddq_f32(a[6], a[7]));
        vst1q_f32(y + 4 * h, vaddq_f32(l, r));
    }
}

static inline float32x4_t f16x4(const uint8_t *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p))); }

/* acc += (d * da) * (s - off * sum), lane-wise over rows */
static inline void rows8_block_float(rows8f *acc, const uint8_t *dp, float da, rows8i s, int32_t off_sum) {
    int32x4_t o = vdupq_n_s32(off_sum);
    float32x4_t dv = vdupq_n_f32(da);
    acc->lo = vaddq_f32(acc->lo, vmulq_f32(vmulq_f32(f16x4(dp), dv), vcvtq_f32_s32(vsubq_s32(s.lo, o))));
    acc->hi = vaddq_f32(acc->hi, vmulq_f32(vmulq_f32(f16x4(dp + 8), dv), vcvtq_f32_s32(vsubq_s32(s.hi, o))));
}

#define SDOT_LANE(acc, w, a4, lane) vdotq_laneq_s32((acc), (w), (a4), (lane))

/* The 32-element formats (Q4_0, Q5_0, Q8_0) as eight 4-byte groups g of
 * the 8 rows: w[g][0] rows 0-3, w[g][1] rows 4-7, signed bytes. Group g
 * multiplies the activations' bytes 4g..4g+3, so one sdot by lane does a
 * group for 4 rows. A block is unpacked once and dot_block8 takes it
 * through each token. */
typedef int8x16_t block8w[8][2];

/* Q4_0: groups 0-3 the low nibbles of bytes 4k.. (elements 4k..), 4-7 the
 * high nibbles (elements 16 + 4k..), raw 0..15 (8 * sum(a) comes off) */
static inline void q4_0_unpack8(const uint8_t *wp, block8w w) {
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++) {
            uint8x16_t v = vld1q_u8(wp + 16 + 32 * k + 16 * r);
            w[k][r] = vreinterpretq_s8_u8(vandq_u8(v, m4));
            w[4 + k][r] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
        }
}

/* Q5_0: the Q4_0 nibbles with bit 4 from the group's masks (quant.h: for
 * each k the low nibbles' 32-bit mask, then the high nibbles'; bit j for
 * byte j), raw 0..31 (16 * sum(a) comes off) */
static inline void q5_0_unpack8(const uint8_t *wp, block8w w) {
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++) {
            const uint8_t *mk = wp + 144 + 8 * k + 2 * r;
            uint8x16_t v = vld1q_u8(wp + 16 + 32 * k + 16 * r);
            w[k][r] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, m4), bit4_16(mk)));
            w[4 + k][r] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), bit4_16(mk + 4)));
        }
}

/* Q8_0: group k's bytes xor 0x80 give back the signed quants */
static inline void q8_0_unpack8(const uint8_t *wp, block8w w) {
    const uint8x16_t flip = vdupq_n_u8(0x80);
    _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++)
        _Pragma("GCC unroll 2") for (int r = 0; r < 2; r++)
            w[k][r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(wp + 16 + 32 * k + 16 * r), flip));
}

/* the 8 rows' integer sums of an unpacked block against 32 activations */
static inline rows8i dot_block8(const block8w w, const int8_t *aq) {
    int8x16_t a0 = vld1q_s8(aq), a1 = vld1q_s8(aq + 16);
    rows8i s = {vdupq_n_s32(0), vdupq_n_s32(0)};
#define DOT_G(G, A, L) s.lo = SDOT_LANE(s.lo, w[G][0], A, L); s.hi = SDOT_LANE(s.hi, w[G][1], A, L);
    DOT_G(0, a0, 0) DOT_G(1, a0, 1) DOT_G(2, a0, 2) DOT_G(3, a0, 3)
    DOT_G(4, a1, 0) DOT_G(5, a1, 1) DOT_G(6, a1, 2) DOT_G(7, a1, 3)
#undef DOT_G
    return s;
}

/* Batches (tile8.h): a 32-element block is unpacked once for the tile's
 * tokens; block b into lane b % 8 of each token's accumulators with the
 * reference's float step per row (OFF times the activations' sum comes off
 * the raw quants' sum), so the same bits. Single tokens are a tile of one. */
#define LANES8 rows8f
#define LANES8_ZERO(l) ((l).lo = (l).hi = vdupq_n_f32(0))
#define LANES8_STORE(l8, y) rows8_store((l8), (y))
#include "kernels/tile8.h"
#define Q32_TILE_BLOCK(NAME, UNPACK, OFF)                                                                         \
    static inline __attribute__((always_inline)) void NAME(const uint8_t *wp, const char *ab, size_t act_row,    \
                                                           int tt, rows8f *acc, int lane) {                       \
        block8w wv;                                                                                               \
        UNPACK(wp, wv);                                                                                           \
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {                                                    \
            const desk_q8a *a = TILE8_ACT(desk_q8a, t);                                                           \
            rows8_block_float(&acc[t * 8 + lane], wp, a->d, dot_block8(wv, a->qs), (OFF) * a->sum);               \
        }                                                                                                         \
    }
Q32_TILE_BLOCK(q4_0_tile_block, q4_0_unpack8, 8)
Q32_TILE_BLOCK(q5_0_tile_block, q5_0_unpack8, 16)
Q32_TILE_BLOCK(q8_0_tile_block, q8_0_unpack8, 0)
GEMM8_TILE_FN(gemm16_q4_0, 144, desk_q8a, q4_0_tile_block)
GEMM8_TILE_FN(gemm16_q5_0, 176, desk_q8a, q5_0_tile_block)
GEMM8_TILE_FN(gemm16_q8_0, 272, desk_q8a, q8_0_tile_block)
GEMV8_AS_TILE(gemv8_q4_0, gemm16_q4_0, desk_q8a)
GEMV8_AS_TILE(gemv8_q5_0, gemm16_q5_0, desk_q8a)
GEMV8_AS_TILE(gemv8_q8_0, gemm16_q8_0, desk_q8a)

/* 8 unsigned bytes (one per row) as two int32 vectors */
static inline rows8i u8x8_to_i32(const uint8_t *p) {
    uint16x8_t w = vmovl_u8(vld1_u8(p));
    return (rows8i){vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w))), vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(w)))};
}
static inline rows8i s8x8_to_i32(const uint8_t *p) {
    int16x8_t w = vmovl_s8(vld1_s8((const int8_t *)p));
    return (rows8i){vmovl_s16(vget_low_s16(w)), vmovl_s16(vget_high_s16(w))};
}

/* Q4_K, one 32-byte chunk c of 8 groups: the low nibbles' sums times
 * sub-block 2c's scales, the high nibbles' times 2c+1's, into sumi */
static inline void q4_K_scaled8(const uint8_t *wp, int c, rows8i plo, rows8i phi, rows8i *sumi) {
    rows8i s0 = u8x8_to_i32(wp + 32 + 8 * (2 * c)), s1 = u8x8_to_i32(wp + 32 + 8 * (2 * c + 1));
    sumi->lo = vmlaq_s32(vmlaq_s32(sumi->lo, plo.lo, s0.lo), phi.lo, s1.lo);
    sumi->hi = vmlaq_s32(vmlaq_s32(sumi->hi, plo.hi, s0.hi), phi.hi, s1.hi);
}

/* Q4_K, the super-block's mins of sub-block j as rows8i mn[j] */
static inline void q4_K_mins8(const uint8_t *wp, rows8i mn[8]) {
    for (int j = 0; j < 8; j++) mn[j] = u8x8_to_i32(wp + 96 + 8 * j);
}

/* Q4_K, the end of a super-block: the mins (mn, widened by q4_K_mins8 for
 * a tile's tokens, or NULL: read here) against the activations' block sums
 * (pairs of the 16-element sums, lane j for sub-block j), then
 * desk_q45k_combine's float step for each row into acc. Integer sums, in
 * any order the same. */
static inline __attribute__((always_inline)) void q4_K_finish8(const uint8_t *wp, const rows8i *mn, const desk_q8k *a,
                                                               rows8i sumi, rows8f *acc) {
    int32x4_t bs0 = vpaddlq_s16(vld1q_s16(a->bsums)), bs1 = vpaddlq_s16(vld1q_s16(a->bsums + 8));
    rows8i summ = {vdupq_n_s32(0), vdupq_n_s32(0)};
#define Q4K_MIN(J, BS, L)                                                 \
    do {                                                                  \
        rows8i m = mn ? mn[J] : u8x8_to_i32(wp + 96 + 8 * (J));           \
        summ.lo = vmlaq_laneq_s32(summ.lo, m.lo, BS, L);                  \
        summ.hi = vmlaq_laneq_s32(summ.hi, m.hi, BS, L);                  \
    } while (0)
    Q4K_MIN(0, bs0, 0); Q4K_MIN(1, bs0, 1); Q4K_MIN(2, bs0, 2); Q4K_MIN(3, bs0, 3);
    Q4K_MIN(4, bs1, 0); Q4K_MIN(5, bs1, 1); Q4K_MIN(6, bs1, 2); Q4K_MIN(7, bs1, 3);
#undef Q4K_MIN
    float32x4_t da = vdupq_n_f32(a->d);
    float32x4_t plo_f = vsubq_f32(vmulq_f32(vmulq_f32(f16x4(wp), da), vcvtq_f32_s32(sumi.lo)),
                                  vmulq_f32(vmulq_f32(f16x4(wp + 16), da), vcvtq_f32_s32(summ.lo)));
    float32x4_t phi_f = vsubq_f32(vmulq_f32(vmulq_f32(f16x4(wp + 8), da), vcvtq_f32_s32(sumi.hi)),
                                  vmulq_f32(vmulq_f32(f16x4(wp + 24), da), vcvtq_f32_s32(summ.hi)));
    acc->lo = vaddq_f32(acc->lo, plo_f);
    acc->hi = vaddq_f32(acc->hi, phi_f);
}

static void gemv8_q4_K(int64_t n, const void *w8, const void *act, size_t act_row, int T, float *y, size_t ys) {
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    int64_t nb = n / QKK;
    for (int t = 0; t < T; t++) {
        const desk_q8k *a = (const desk_q8k *)((const char *)act + (size_t)t * act_row);
        rows8f acc[8];
        for (int j = 0; j < 8; j++) acc[j].lo = acc[j].hi = vdupq_n_f32(0);
        const uint8_t *wp = w8;
        for (int64_t b = 0; b < nb; b++, wp += 1184) {
            const uint8_t *qp = wp + 160;
            rows8i sumi = {vdupq_n_s32(0), vdupq_n_s32(0)};
            for (int c = 0; c < 4; c++, qp += 256) {
                const int8_t *aq = a[b].qs + 64 * c;
                int8x16_t gl0 = vld1q_s8(aq), gl1 = vld1q_s8(aq + 16), gh0 = vld1q_s8(aq + 32), gh1 = vld1q_s8(aq + 48);
                rows8i plo = {vdupq_n_s32(0), vdupq_n_s32(0)}, phi = {vdupq_n_s32(0), vdupq_n_s32(0)};
#define Q4K_K(K, GL, GH, L)                                                                              \
    do {                                                                                                 \
        uint8x16_t v0 = vld1q_u8(qp + 32 * (K)), v1 = vld1q_u8(qp + 32 * (K) + 16);                      \
        plo.lo = SDOT_LANE(plo.lo, vreinterpretq_s8_u8(vandq_u8(v0, m4)), GL, L);                        \
        plo.hi = SDOT_LANE(plo.hi, vreinterpretq_s8_u8(vandq_u8(v1, m4)), GL, L);                        \
        phi.lo = SDOT_LANE(phi.lo, vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), GH, L);                       \
        phi.hi = SDOT_LANE(phi.hi, vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), GH, L);                       \
    } while (0)
                Q4K_K(0, gl0, gh0, 0); Q4K_K(1, gl0, gh0, 1); Q4K_K(2, gl0, gh0, 2); Q4K_K(3, gl0, gh0, 3);
                Q4K_K(4, gl1, gh1, 0); Q4K_K(5, gl1, gh1, 1); Q4K_K(6, gl1, gh1, 2); Q4K_K(7, gl1, gh1, 3);
#undef Q4K_K
                q4_K_scaled8(wp, c, plo, phi, &sumi);
            }
            q4_K_finish8(wp, NULL, &a[b], sumi, &acc[b % 8]);
        }
        rows8_store(acc, y + (size_t)t * ys);
    }
}

static inline void q6_K_finish8(const uint8_t *wp, const desk_q8k *a, rows8i isum, rows8f *acc) {
    float32x4_t da = vdupq_n_f32(a->d);
    acc->lo = vaddq_f32(acc->lo, vmulq_f32(vmulq_f32(f16x4(wp), da), vcvtq_f32_s32(isum.lo)));
    acc->hi = vaddq_f32(acc->hi, vmulq_f32(vmulq_f32(f16x4(wp + 8), da), vcvtq_f32_s32(isum.hi)));
}

/* Q6_K, 16 bytes (4 rows) of group gp's ql pair and qh as the 6-bit quants
 * of the four quarters */
static inline void q6_K_unpack16(const uint8_t *gp, int half, int8x16_t q[4]) {
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(3);
    uint8x16_t l0 = vld1q_u8(gp + 16 * half), l1 = vld1q_u8(gp + 32 + 16 * half), hh = vld1q_u8(gp + 64 + 16 * half);
    q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hh, m3), 4)));
    q[1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 2), m3), 4)));
    q[2] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hh, 4), m3), 4)));
    q[3] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hh, 6), 4)));
}

/* Q4_K: each chunk's nibbles for rows 0-3, then for rows 4-7 (16
 * registers) are unpacked once, then every token's sdots take them, its two
 * sums complete in registers. Integer sums, so the order of the additions
 * does not change them: the same sums and float steps as gemv8_q4_K. */
static inline __attribute__((always_inline)) void q4_K_tile_block(const uint8_t *wp, const char *ab, size_t act_row, int tt,
                                                                  rows8f *acc, int lane) {
    const desk_q8k *a[GEMM8_TILE];
    for (int t = 0; t < tt; t++) a[t] = TILE8_ACT(desk_q8k, t);
    const uint8x16_t m4 = vdupq_n_u8(0xF);
    const uint8_t *qp = wp + 160;
    rows8i sumi[GEMM8_TILE];
    for (int t = 0; t < tt; t++) sumi[t].lo = sumi[t].hi = vdupq_n_s32(0);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 4; c++) {
            int8x16_t lo[8], hi[8]; /* group k's low and high nibbles, rows 4r..4r+3 */
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                uint8x16_t v = vld1q_u8(qp + 256 * c + 32 * k + 16 * r);
                lo[k] = vreinterpretq_s8_u8(vandq_u8(v, m4));
                hi[k] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
            }
            rows8i s0 = u8x8_to_i32(wp + 32 + 8 * (2 * c)), s1 = u8x8_to_i32(wp + 32 + 8 * (2 * c + 1));
            int32x4_t sl = r ? s0.hi : s0.lo, sh = r ? s1.hi : s1.lo;
            _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
                const int8_t *aq = a[t]->qs + 64 * c;
                int8x16_t gl0 = vld1q_s8(aq), gl1 = vld1q_s8(aq + 16), gh0 = vld1q_s8(aq + 32), gh1 = vld1q_s8(aq + 48);
                int32x4_t pl = vdupq_n_s32(0), ph = vdupq_n_s32(0);
#define Q4K_T(K, GL, GH, L) pl = SDOT_LANE(pl, lo[K], GL, L); ph = SDOT_LANE(ph, hi[K], GH, L);
                Q4K_T(0, gl0, gh0, 0) Q4K_T(1, gl0, gh0, 1) Q4K_T(2, gl0, gh0, 2) Q4K_T(3, gl0, gh0, 3)
                Q4K_T(4, gl1, gh1, 0) Q4K_T(5, gl1, gh1, 1) Q4K_T(6, gl1, gh1, 2) Q4K_T(7, gl1, gh1, 3)
#undef Q4K_T
                int32x4_t *d = r ? &sumi[t].hi : &sumi[t].lo;
                *d = vmlaq_s32(vmlaq_s32(*d, pl, sl), ph, sh);
            }
        }
    rows8i mn[8];
    q4_K_mins8(wp, mn);
    for (int t = 0; t < tt; t++) q4_K_finish8(wp, mn, a[t], sumi[t], &acc[t * 8 + lane]);
}
GEMM8_TILE_FN(gemm16_q4_K, 1184, desk_q8k, q4_K_tile_block)

/* Q6_K: for rows 0-3, then 4-7, and each half h and sub-block column kk,
 * the four groups' quants of all four quarters (16 registers) are unpacked
 * once, and every token's sdots take them, its four sub-block sums complete
 * in registers; the same integer sums and float steps as gemv8_q6_K. */
static inline __attribute__((always_inline)) void q6_K_tile_block(const uint8_t *wp, const char *ab, size_t act_row, int tt,
                                                                  rows8f *acc, int lane) {
    const desk_q8k *a[GEMM8_TILE];
    for (int t = 0; t < tt; t++) a[t] = TILE8_ACT(desk_q8k, t);
    const uint8_t *qp = wp + 144;
    rows8i isum[GEMM8_TILE];
    for (int t = 0; t < tt; t++) isum[t].lo = isum[t].hi = vdupq_n_s32(0);
    for (int r = 0; r < 2; r++)
        for (int h = 0; h < 2; h++)
            for (int kk = 0; kk < 2; kk++) {
                int8x16_t q[4][4]; /* [group 4kk + j][quarter] */
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) q6_K_unpack16(qp + 96 * (8 * h + 4 * kk + j), r, q[j]);
                int32x4_t sc[4]; /* sub-block 8h + 2qq + kk's scales, rows 4r..4r+3 */
                _Pragma("GCC unroll 4") for (int qq = 0; qq < 4; qq++) {
                    rows8i s8 = s8x8_to_i32(wp + 16 + 8 * (8 * h + 2 * qq + kk));
                    sc[qq] = r ? s8.hi : s8.lo;
                }
                _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
                    const int8_t *aq = a[t]->qs + 128 * h + 16 * kk;
                    /* 32 x the activation sums of sub-blocks 8h + kk, +2, +4, +6 (the -32 offset) */
                    int16x8_t bs = vld1q_s16(a[t]->bsums + 8 * h);
                    int32x4_t off = vshlq_n_s32(vmovl_s16(vget_low_s16(kk ? vuzp2q_s16(bs, bs) : vuzp1q_s16(bs, bs))), 5);
                    int32x4_t d = r ? isum[t].hi : isum[t].lo;
#define Q6K_T(QQ)                                                                                          \
    {                                                                                                      \
        int8x16_t g = vld1q_s8(aq + 32 * (QQ));                                                            \
        int32x4_t p = vdupq_n_s32(0);                                                                      \
        p = SDOT_LANE(p, q[0][QQ], g, 0); p = SDOT_LANE(p, q[1][QQ], g, 1);                                \
        p = SDOT_LANE(p, q[2][QQ], g, 2); p = SDOT_LANE(p, q[3][QQ], g, 3);                                \
        d = vmlsq_laneq_s32(vmlaq_s32(d, p, sc[QQ]), sc[QQ], off, QQ);                                     \
    }
                    Q6K_T(0) Q6K_T(1) Q6K_T(2) Q6K_T(3)
#undef Q6K_T
                    if (r) isum[t].hi = d;
                    else isum[t].lo = d;
                }
            }
    for (int t = 0; t < tt; t++) q6_K_finish8(wp, a[t], isum[t], &acc[t * 8 + lane]);
}
GEMM8_TILE_FN(gemm16_q6_K, 1680, desk_q8k, q6_K_tile_block)
/* single tokens: the tile of one (fewer instructions than unpacking the
 * four quarters per group, qemu's count) */
GEMV8_AS_TILE(gemv8_q6_K, gemm16_q6_K, desk_q8k)

const desk_kernel_set desk_kernels_neon = {
    "neon", neon_usable,
    {[DESK_TYPE_F32] = dot_f32, [DESK_TYPE_F16] = dot_f16, [DESK_TYPE_Q8_0] = dot_q8_0, [DESK_TYPE_Q4_0] = dot_q4_0,
     [DESK_TYPE_Q5_0] = dot_q5_0, [DESK_TYPE_Q4_K] = dot_q4_K, [DESK_TYPE_Q5_K] = dot_q5_K, [DESK_TYPE_Q6_K] = dot_q6_K},
    {[DESK_TYPE_Q4_0] = gemv8_q4_0, [DESK_TYPE_Q5_0] = gemv8_q5_0, [DESK_TYPE_Q8_0] = gemv8_q8_0,
     [DESK_TYPE_Q4_K] = gemv8_q4_K, [DESK_TYPE_Q6_K] = gemv8_q6_K},
    {attend_f16, attend_q8},
    {[DESK_TYPE_Q4_0] = gemm16_q4_0, [DESK_TYPE_Q5_0] = gemm16_q5_0, [DESK_TYPE_Q8_0] = gemm16_q8_0,
     [DESK_TYPE_Q4_K] = gemm16_q4_K, [DESK_TYPE_Q6_K] = gemm16_q6_K}, /* batches */
    NULL, NULL, NULL, {0}};
