/*
 * dot_x86.h - the x86 vec_dot kernels, written once and compiled twice:
 * by avx2.c (AVX2 + FMA + F16C) and by avx512.c (adds AVX-512 VNNI for the
 * 8-bit products and 16-wide float lanes). Included only from those files;
 * DOT_PAIRS_I32 and the float-lane macros are defined by the includer.
 *
 * Each function reproduces the scalar reference in quant.c bit for bit:
 * integer block sums are exact in any order; the float combination per block
 * and its lane (block b -> lane b % 8, element i -> lane i % 16 for float
 * types) follow the contract in quant.h.
 *
 * DOT_PAIRS_I32(u, s): 8 int32 lanes, lane k = sum of u8(u) * s8(s) over
 * bytes 4k..4k+3.
 */
#include <immintrin.h>
#include <math.h>

static inline int32_t ld_i32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* u8 x s8 products of a signed weight vector w and activations a: the
 * sign of w is moved onto a so the unsigned operand is |w|. */
static inline __m256i dot_s8_i32(__m256i w, __m256i a) {
    return DOT_PAIRS_I32(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/* Sum of the 8 lanes of each of v[0..7], in one vector (exact integers). */
static inline __m256i hsum8x8(const __m256i v[8]) {
    __m256i h1 = _mm256_hadd_epi32(v[0], v[1]), h2 = _mm256_hadd_epi32(v[2], v[3]);
    __m256i h3 = _mm256_hadd_epi32(v[4], v[5]), h4 = _mm256_hadd_epi32(v[6], v[7]);
    __m256i h5 = _mm256_hadd_epi32(h1, h2), h6 = _mm256_hadd_epi32(h3, h4);
    __m256i lo = _mm256_permute2x128_si256(h5, h6, 0x20), hi = _mm256_permute2x128_si256(h5, h6, 0x31);
    return _mm256_add_epi32(lo, hi);
}
static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static inline __m256i q4_unpack(const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(q, _mm_set1_epi8(0xF)), hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0xF));
    return _mm256_set_m128i(hi, lo);
}

/* ---- Q8_0 and Q4_0: 8 blocks per step, float combination in lanes ----
 * LANES: the 8 int32 partial sums of one block's products (weights `x`,
 * activation bytes `aq`); OFFSET: what to subtract per unit of the
 * activation block sum. Q4_0 multiplies its raw nibbles (0..15, unsigned)
 * and subtracts 8 * sum(a): the same integer as sum((q - 8) * a) without
 * the sign juggling signed x signed products need. */

#define BLOCK32_DOT(NAME, BLOCK, LANES, OFFSET)                                                  \
    static float NAME(int64_t n, const void *vw, const void *va) {                               \
        const BLOCK *w = vw;                                                                     \
        const desk_q8a *a = va;                                                                  \
        int64_t nb = n / QK, b = 0;                                                              \
        __m256 acc = _mm256_setzero_ps();                                                        \
        for (; b + 8 <= nb; b += 8) {                                                            \
            __m256i s[8];                                                                        \
            float dw[8], da[8];                                                                  \
            int32_t as[8];                                                                       \
            for (int k = 0; k < 8; k++) {                                                        \
                const BLOCK *x = &w[b + k];                                                      \
                __m256i aq = _mm256_loadu_si256((const __m256i *)a[b + k].qs);                   \
                s[k] = LANES;                                                                    \
                dw[k] = desk_h2f(x->d);                                                          \
                da[k] = a[b + k].d;                                                              \
                as[k] = a[b + k].sum;                                                            \
            }                                                                                    \
            __m256i raw = hsum8x8(s);                                                            \
            if (OFFSET)                                                                          \
                raw = _mm256_sub_epi32(raw, _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)as), \
                                                               _mm256_set1_epi32(OFFSET)));      \
            __m256 isum = _mm256_cvtepi32_ps(raw);                                               \
            __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(dw), _mm256_loadu_ps(da));              \
            acc = _mm256_add_ps(acc, _mm256_mul_ps(scale, isum));                                \
        }                                                                                        \
        float l[8];                                                                              \
        _mm256_storeu_ps(l, acc);                                                                \
        for (; b < nb; b++) {                                                                    \
            const BLOCK *x = &w[b];                                                              \
            __m256i aq = _mm256_loadu_si256((const __m256i *)a[b].qs);                           \
            int s1 = hsum_i32(LANES) - (OFFSET) * a[b].sum;                                      \
            l[b % 8] += (desk_h2f(x->d) * a[b].d) * (float)s1;                                   \
        }                                                                                        \
        return desk_reduce8(l);                                                                  \
    }

/* Q5_0: the 32 high bits of qh, one per element, spread into bit 4 of each byte */
static inline __m256i q5_unpack(const block_q5_0 *x) {
    uint32_t qh;
    memcpy(&qh, x->qh, 4);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                    _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)); /* all ones where element j's bit is set */
    v = _mm256_and_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(q4_unpack(x->qs), v);
}

BLOCK32_DOT(dot_q5_0, block_q5_0, DOT_PAIRS_I32(q5_unpack(x), aq), 16)
BLOCK32_DOT(dot_q8_0, block_q8_0, dot_s8_i32(_mm256_loadu_si256((const __m256i *)x->qs), aq), 0)
BLOCK32_DOT(dot_q4_0, block_q4_0, DOT_PAIRS_I32(q4_unpack(x->qs), aq), 8)

/* ---- K-quants: integer super-block sums in SIMD, one float per super-block ---- */

/* sum over 32 elements of u8 weights (0..63) x s8 activations, times a
 * per-16 scale pair (sc_lo for elements 0..15, sc_hi for 16..31) */
static inline __m256i dot_u8_scaled(__m256i wq, __m256i aq, int sc_lo, int sc_hi) {
    __m256i p16 = _mm256_maddubs_epi16(wq, aq); /* lanes 0-7: elements 0..15; 8-15: 16..31 */
    __m256i sc = _mm256_set_m128i(_mm_set1_epi16((short)sc_hi), _mm_set1_epi16((short)sc_lo));
    return _mm256_madd_epi16(p16, sc);
}

/* Q4_K and Q5_K share everything but the fifth bit: `qh` is the Q5_K high-bit
 * vector, or NULL for Q4_K. Returns the scaled integer sum of a super-block. */
static inline int sumi_q45_K(const uint8_t *qs, const uint8_t *qhp, const uint8_t *sc, const int8_t *aq) {
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    __m256i qh = qhp ? _mm256_loadu_si256((const __m256i *)qhp) : _mm256_setzero_si256();
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qhp) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
        }
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(aq + 64 * c));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(aq + 64 * c + 32));
        acc = _mm256_add_epi32(acc, dot_u8_scaled(lo, a0, sc[2 * c], sc[2 * c]));
        acc = _mm256_add_epi32(acc, dot_u8_scaled(hi, a1, sc[2 * c + 1], sc[2 * c + 1]));
    }
    return hsum_i32(acc);
}

DESK_DOT_Q45K(dot_q4_K, block_q4_K, NULL, sumi_q45_K)
DESK_DOT_Q45K(dot_q5_K, block_q5_K, w[b].qh, sumi_q45_K)

static float dot_q6_K(int64_t n, const void *vw, const void *va) {
    const block_q6_K *w = vw;
    const desk_q8k *a = va;
    float l[8] = {0};
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < n / QKK; b++) {
        const block_q6_K *x = &w[b];
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x->ql + 64 * h, *qhp = x->qh + 32 * h;
            const int8_t *sc = x->scales + 8 * h, *aq = a[b].qs + 128 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                __m256i ak = _mm256_loadu_si256((const __m256i *)(aq + 32 * k));
                /* (q - 32) * a = q * a - 32 * a: keep q unsigned for maddubs */
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], ak), _mm256_maddubs_epi16(off, ak));
                __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
            }
        }
        l[b % 8] += (desk_h2f(x->d) * a[b].d) * (float)hsum_i32(acc);
    }
    return desk_reduce8(l);
}

/* ---- float weights: 16 lanes, multiply then add (no FMA) ---- */

#define FLOAT_DOT(NAME, LOAD8, LOAD16)                                           \
    static float NAME(int64_t n, const void *vw, const void *va) {               \
        const float *a = va;                                                     \
        FLOAT_LANES_DECL;                                                        \
        int64_t i = 0;                                                           \
        for (; i + 16 <= n; i += 16) FLOAT_LANES_STEP(LOAD8, LOAD16);            \
        float l[16];                                                             \
        FLOAT_LANES_STORE(l);                                                    \
        for (; i < n; i++) l[i % 16] += scalar_##NAME(vw, i) * a[i];             \
        return desk_reduce16(l);                                                 \
    }

static inline float scalar_dot_f32(const void *w, int64_t i) { return ((const float *)w)[i]; }
static inline float scalar_dot_f16(const void *w, int64_t i) { return desk_h2f(((const uint16_t *)w)[i]); }
#define LOAD8_F32(off) _mm256_loadu_ps((const float *)vw + (off))
#define LOAD8_F16(off) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)vw + (off))))
#define LOAD16_F32(off) _mm512_loadu_ps((const float *)vw + (off))
#define LOAD16_F16(off) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)vw + (off))))
FLOAT_DOT(dot_f32, LOAD8_F32, LOAD16_F32)
FLOAT_DOT(dot_f16, LOAD8_F16, LOAD16_F16)

/* ---- row groups (x8 layouts, see quant.h): one lane per row ----
 * ACC_U8S8(acc, u, s): acc + the 4-byte dot products of unsigned u and signed s per lane.
 * ACC_U8S8_SHORT / ACC_SHORT_END: the same for a chain of products whose
 * 2-byte partial sums stay below 2^15 in magnitude (at most 8 steps with
 * u <= 15, 4 with u <= 31, against activations in [-127, 127]): without
 * VNNI (avx2.c) the chain adds in 16 bits and ACC_SHORT_END widens it to
 * the 32-bit lane sums once; with VNNI the two are ACC_U8S8 and nothing. */

/* y[i] = desk_reduce8 of lane i of the eight accumulators: the same tree of
 * additions, done lane-wise on whole registers */
static inline void store_rows8(const __m256 acc[8], float *y) {
    __m256 a = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    __m256 b = _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7]));
    _mm256_storeu_ps(y, _mm256_add_ps(a, b));
}

/* One block of 8 rows: the reference's float step for each row, lane-wise:
 * acc + (d_w * d_a) * (float)(s - OFF * sum(a)). */
static inline __m256 rows8_block_float(__m256 acc, const uint8_t *wp, const desk_q8a *ab, __m256i s, int off) {
    __m256i si = _mm256_sub_epi32(s, _mm256_set1_epi32(off * ab->sum));
    __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wp)), _mm256_set1_ps(ab->d));
    return _mm256_add_ps(acc, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(si)));
}

/* The loop every row-group kernel shares: for each token, blocks in order,
 * block b into lane accumulator b % 8. The main loop takes eight blocks per
 * step so the eight accumulators stay in registers. BLOCK(wp, a, acc) returns
 * acc plus one block's contribution. */
/* No software prefetch: the weights stream on the hardware prefetchers,
 * which follow a thread's run of packed memory (one per thread and
 * matrix, the matrices of a step one after another, llama.c); the matmul
 * driver prefetches only the first DESK_DECODE_PREFETCH bytes of each run
 * (ops.c). Until the seventeenth session every block prefetched its bytes
 * 8 KiB ahead, first non-temporally, then into L2 (prefetcht1, which on
 * Zen 4 beat NTA by 4-18 points of the read pass: NTA fills L1, and every
 * line in flight held one of L1's few miss buffers). Without them the
 * kernels keep up with the memory in its fast phase too, which neither
 * hint did. bench/stream, 2 threads, alternating builds run by run,
 * products as a fraction of the read pass next to them (T1 -> none):
 * 1B Q4_K 92.4% -> 99.7% and 89.7% -> 98.0%, Q6_K 95% -> 100-102%, Q8_0
 * 78-81% -> 94-95%, Q4_0 88-92% -> 93-94%; 0.5B Q8_0 90-91% -> 94-95%.
 * `desk bench` decode, paired token by token with read passes (1B Q8_0):
 * 76-77% -> 104-105% of them (bench/RESULTS.md; those passes ran on 4 KiB
 * pages, 10-20% slower than on the huge pages the weights are on: 86-96%
 * by the corrected figure, eighteenth session). The pair kernels
 * (gemm16_avx512.h) have since taken back a short prefetch of their own. */
#define GEMV8_LOOP(NAME, BYTES, BLOCK)                                                                         \
    static void NAME(int64_t n, const void *w8, const void *act, size_t act_row, int T, float *y, size_t ys) { \
        int64_t nb = n / QK;                                                                                  \
        for (int t = 0; t < T; t++) {                                                                         \
            const desk_q8a *a = (const desk_q8a *)((const char *)act + (size_t)t * act_row);                  \
            const uint8_t *wp = w8;                                                                           \
            __m256 acc[8];                                                                                    \
            for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();                                         \
            int64_t b = 0;                                                                                    \
            for (; b + 8 <= nb; b += 8)                                                                       \
                _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)                                           \
                    acc[j] = BLOCK(wp + (size_t)(b + j) * (BYTES), &a[b + j], acc[j]);                         \
            /* the last nb % 8 blocks, still in registers */                                                 \
            _Pragma("GCC unroll 7") for (int j = 0; j < 7; j++)                                              \
                if (b + j < nb) acc[j] = BLOCK(wp + (size_t)(b + j) * (BYTES), &a[b + j], acc[j]);           \
            store_rows8(acc, y + (size_t)t * ys);                                                             \
        }                                                                                                     \
    }

static inline __m256 q4_0_block8(const uint8_t *wp, const desk_q8a *a, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256i s = _mm256_setzero_si256(), s2 = _mm256_setzero_si256(); /* two chains of 4 (ACC_U8S8_SHORT) */
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(wp + 16 + 32 * k));
        s = ACC_U8S8_SHORT(s, _mm256_and_si256(v, m4), _mm256_set1_epi32(ld_i32(a->qs + 4 * k)));
        s2 = ACC_U8S8_SHORT(s2, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_set1_epi32(ld_i32(a->qs + 16 + 4 * k)));
    }
    return rows8_block_float(acc, wp, a, _mm256_add_epi32(ACC_SHORT_END(s), ACC_SHORT_END(s2)), 8);
}
GEMV8_LOOP(gemv8_q4_0, 144, q4_0_block8)

/* Q5_0 x8: the Q4_0 nibbles plus bit 4 of each byte from a 32-bit mask
 * (quant.h): with AVX-512 a masked add (Q5_SET_BIT4, from avx512.c); with
 * AVX2 a byte shuffle copies mask byte j / 8 to byte j and a compare
 * against bit j % 8 selects it. */
#ifndef Q5_SET_BIT4
static inline __m256i q5_set_bit4(__m256i v, uint32_t m) {
    const __m256i idx = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i x = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)m), idx), bit);
    return _mm256_or_si256(v, _mm256_and_si256(_mm256_cmpeq_epi8(x, bit), _mm256_set1_epi8(0x10)));
}
#define Q5_SET_BIT4(v, m) q5_set_bit4((v), (m))
#endif
static inline __m256 q5_0_block8(const uint8_t *wp, const desk_q8a *a, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256i s = _mm256_setzero_si256(), s2 = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(wp + 16 + 32 * k));
        __m256i lo = Q5_SET_BIT4(_mm256_and_si256(v, m4), (uint32_t)ld_i32(wp + 144 + 8 * k));
        __m256i hi = Q5_SET_BIT4(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), (uint32_t)ld_i32(wp + 148 + 8 * k));
        s = ACC_U8S8_SHORT(s, lo, _mm256_set1_epi32(ld_i32(a->qs + 4 * k))); /* chains of 4 */
        s2 = ACC_U8S8_SHORT(s2, hi, _mm256_set1_epi32(ld_i32(a->qs + 16 + 4 * k)));
    }
    return rows8_block_float(acc, wp, a, _mm256_add_epi32(ACC_SHORT_END(s), ACC_SHORT_END(s2)), 16);
}
GEMV8_LOOP(gemv8_q5_0, 176, q5_0_block8)

#ifdef ACC_U8S8_FULL /* VNNI: the unsigned bytes w + 128 as they are, 128 * sum(a) off the sum */
static inline __m256 q8_0_block8(const uint8_t *wp, const desk_q8a *a, __m256 acc) {
    __m256i s = _mm256_setzero_si256(), s2 = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        s = ACC_U8S8(s, _mm256_loadu_si256((const __m256i *)(wp + 16 + 32 * k)), _mm256_set1_epi32(ld_i32(a->qs + 4 * k)));
        s2 = ACC_U8S8(s2, _mm256_loadu_si256((const __m256i *)(wp + 144 + 32 * k)), _mm256_set1_epi32(ld_i32(a->qs + 16 + 4 * k)));
    }
    return rows8_block_float(acc, wp, a, _mm256_add_epi32(s, s2), 128);
}
#else
/* Without VNNI, maddubs would saturate on unsigned bytes up to 255, so the
 * bytes go back to signed (w = (w + 128) ^ 0x80) and |w| multiplies a with
 * w's sign: a pair is at most 2 * 128 * 127 < 2^15. The same exact sum. */
static inline __m256i q8_0_dot8(__m256i u, const int8_t *ap) {
    __m256i w = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
    __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(_mm256_set1_epi32(ld_i32(ap)), w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
static inline __m256 q8_0_block8(const uint8_t *wp, const desk_q8a *a, __m256 acc) {
    __m256i s = _mm256_setzero_si256(), s2 = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
        s = _mm256_add_epi32(s, q8_0_dot8(_mm256_loadu_si256((const __m256i *)(wp + 16 + 32 * k)), a->qs + 4 * k));
        s2 = _mm256_add_epi32(s2, q8_0_dot8(_mm256_loadu_si256((const __m256i *)(wp + 144 + 32 * k)), a->qs + 16 + 4 * k));
    }
    return rows8_block_float(acc, wp, a, _mm256_add_epi32(s, s2), 0);
}
#endif
GEMV8_LOOP(gemv8_q8_0, 272, q8_0_block8)
#define GEMV8_Q8_0 gemv8_q8_0

/* The same for the K-quants, whose super-blocks are large enough that the
 * accumulators can live in memory: unrolling eight of them made the loop
 * stream from memory at half the speed. */
#define GEMV8_LOOP_K(NAME, BYTES, BLOCK)                                                                       \
    static void NAME(int64_t n, const void *w8, const void *act, size_t act_row, int T, float *y, size_t ys) { \
        for (int t = 0; t < T; t++) {                                                                         \
            const desk_q8k *a = (const desk_q8k *)((const char *)act + (size_t)t * act_row);                  \
            __m256 acc[8];                                                                                    \
            for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();                                         \
            for (int64_t b = 0; b < n / QKK; b++) {                                                          \
                const uint8_t *wp = (const uint8_t *)w8 + (size_t)b * (BYTES);                                \
                acc[b % 8] = BLOCK(wp, &a[b], acc[b % 8]);                                                    \
            }                                                                                                 \
            store_rows8(acc, y + (size_t)t * ys);                                                             \
        }                                                                                                     \
    }

/* Q4_K x8 (quant.h): per 32-byte chunk c of qs, 8 groups; low nibbles are
 * sub-block 2c, high nibbles 2c + 1, each with its 6-bit scale per row.
 * The scaling of chunk c's sums and the end of a super-block are shared
 * with the 512-bit kernel (avx512.c). */
static inline __m256i q4_K_scaled(const uint8_t *wp, int c, __m256i plo, __m256i phi) {
    __m256i s0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(wp + 32 + 8 * (2 * c))));
    __m256i s1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(wp + 32 + 8 * (2 * c + 1))));
    return _mm256_add_epi32(_mm256_mullo_epi32(plo, s0), _mm256_mullo_epi32(phi, s1));
}
/* Two sub-blocks' bytes of the 8 rows (16 bytes: sub-block j's 8 rows, then
 * j + 1's), widened to 16 bits (signed or not), interleaved by row and
 * multiplied by the 16-bit pair (v[j], v[j + 1]) that each 32-bit lane of
 * `pair` holds: per row, b[j][row] * v[j] + b[j + 1][row] * v[j + 1], in
 * one madd. The K-quants' 6-bit mins and 8-bit scales times activation sums
 * (at most 2 * 16 * 127 in magnitude) fit 16 bits. */
static inline __m256i rows8_pair_madd(const uint8_t *p, bool sgn, __m256i pair) {
    const __m128i by_row = _mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), by_row);
    return _mm256_madd_epi16(sgn ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b), pair);
}
/* acc + d * sumi - dmin * (the mins times the activation sums), per row.
 * The mins term two sub-blocks at a time (rows8_pair_madd), with bs[j] the
 * activation sum of sub-block j (two of desk_q8k's 16-element sums).
 * Integer sums: the same result in any order. Against eight 32-bit
 * multiplies of broadcast sums, one core, weights in L2, 512-bit kernel:
 * 69-71 -> 82-84 GB/s. */
static inline __m256 q4_K_finish(const uint8_t *wp, const desk_q8k *a, __m256i sumi, __m256 acc) {
    const __m128i ones = _mm_set1_epi16(1);
    __m256i bs = _mm256_zextsi128_si256(_mm_packs_epi32(_mm_madd_epi16(_mm_loadu_si128((const __m128i *)a->bsums), ones),
                                                        _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(a->bsums + 8)), ones)));
    __m256i summ = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int jj = 0; jj < 4; jj++)
        summ = _mm256_add_epi32(summ, rows8_pair_madd(wp + 96 + 16 * jj, false, _mm256_permutevar8x32_epi32(bs, _mm256_set1_epi32(jj))));
    __m256 da = _mm256_set1_ps(a->d);
    __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wp)), da);
    __m256 dm = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wp + 16))), da);
    __m256 p = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(sumi)), _mm256_mul_ps(dm, _mm256_cvtepi32_ps(summ)));
    return _mm256_add_ps(acc, p);
}
static inline __m256 q4_K_block8(const uint8_t *wp, const desk_q8k *a, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const uint8_t *qp = wp + 160;
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const int8_t *aq = a->qs + 64 * c;
        __m256i plo = _mm256_setzero_si256(), phi = _mm256_setzero_si256();
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++, qp += 32) { /* chains of 8 (ACC_U8S8_SHORT) */
            __m256i v = _mm256_loadu_si256((const __m256i *)qp);
            plo = ACC_U8S8_SHORT(plo, _mm256_and_si256(v, m4), _mm256_set1_epi32(ld_i32(aq + 4 * k)));
            phi = ACC_U8S8_SHORT(phi, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_set1_epi32(ld_i32(aq + 32 + 4 * k)));
        }
        sumi = _mm256_add_epi32(sumi, q4_K_scaled(wp, c, ACC_SHORT_END(plo), ACC_SHORT_END(phi)));
    }
    return q4_K_finish(wp, a, sumi, acc);
}
#ifndef GEMV8_Q4_K /* else the includer's own (avx512.c) */
GEMV8_LOOP_K(gemv8_q4_K, 1184, q4_K_block8)
#define GEMV8_Q4_K gemv8_q4_K
#endif

/* Q6_K x8: the sum over sub-blocks of each row's scale times the activation
 * sum (rows8_pair_madd). Integer sums, so taking 32 times it off once per
 * super-block gives the same result as taking 32 * bsums off each
 * sub-block's sum. */
static inline __m256i q6_K_offset8(const uint8_t *wp, const desk_q8k *a) {
    __m256i off = _mm256_setzero_si256();
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
        off = _mm256_add_epi32(off, rows8_pair_madd(wp + 16 + 16 * j, true, _mm256_set1_epi32(ld_i32(a->bsums + 2 * j))));
    return off;
}
/* Q6_K x8 (quant.h): 6-bit quants from ql nibbles and qh bit pairs, minus 32
 * (q6_K_offset8). Against taking 32 * bsums off each sub-block, one core,
 * weights in L2: 34-35.5 -> 36-37 GB/s. */
static inline __m256 q6_K_block8(const uint8_t *wp, const desk_q8k *a, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    const uint8_t *qp = wp + 144;
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const int8_t *g = a->qs + 128 * h; /* quarter q, group k: g + 32q + 4k */
        for (int kk = 0; kk < 2; kk++) { /* k = 4kk..4kk+3: one 16-element sub-block per quarter */
            __m256i p[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
            _Pragma("GCC unroll 4") for (int k = 4 * kk; k < 4 * kk + 4; k++) {
                const uint8_t *gp = qp + 96 * (8 * h + k);
                __m256i l0 = _mm256_loadu_si256((const __m256i *)gp), l1 = _mm256_loadu_si256((const __m256i *)(gp + 32));
                __m256i hh = _mm256_loadu_si256((const __m256i *)(gp + 64));
                __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
                __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
                __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
                __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
                p[0] = ACC_U8S8(p[0], q0, _mm256_set1_epi32(ld_i32(g + 4 * k)));
                p[1] = ACC_U8S8(p[1], q1, _mm256_set1_epi32(ld_i32(g + 32 + 4 * k)));
                p[2] = ACC_U8S8(p[2], q2, _mm256_set1_epi32(ld_i32(g + 64 + 4 * k)));
                p[3] = ACC_U8S8(p[3], q3, _mm256_set1_epi32(ld_i32(g + 96 + 4 * k)));
            }
            for (int qu = 0; qu < 4; qu++) {
                int sb = 8 * h + 2 * qu + kk; /* sub-block of 16 elements */
                __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(wp + 16 + 8 * sb)));
                isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(p[qu], sc));
            }
        }
    }
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(q6_K_offset8(wp, a), 5));
    __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wp)), _mm256_set1_ps(a->d));
    return _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)));
}
#ifndef GEMV8_Q6_K /* else the includer's own (avx512.c) */
GEMV8_LOOP_K(gemv8_q6_K, 1680, q6_K_block8)
#define GEMV8_Q6_K gemv8_q6_K
#endif

/* ---- attention over the KV cache (contract in quant.h) ---- */
/* Software prefetch distances: at long contexts the K tiles and V rows
 * stream from memory, and the order of the accesses inside a tile is not
 * one the hardware prefetchers follow. Prefetches past the cache's end are
 * harmless. */
#define KV_AHEAD_TILES 4
#define KV_AHEAD_ROWS 64
/* Positions per block of the weighted sum: a block's V rows (16 KiB of F16
 * rows of 64) stay in L1 while every group of heads and every chunk of
 * output elements runs over them, so V is read from memory once. */
#define KV_VBLOCK 128
static inline __m256 kv_load8_f16(const void *row, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
}
static inline float kv_elem_f16(const void *row, int64_t i) { return desk_h2f(((const uint16_t *)row)[i]); }
/* Q8_0: d * q for 8 elements i..i+7 (i a multiple of 8, inside one block) */
static inline __m256 kv_load8_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->qs + i % QK))));
    return _mm256_mul_ps(_mm256_set1_ps(desk_h2f(b->d)), q);
}
static inline float kv_elem_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    return desk_h2f(b->d) * (float)b->qs[i % QK];
}
/* element i of positions h .. h + 7 of an F16 K tile (h 0 or 8; layout in quant.h) */
static inline __m256 kt8_f16(const void *tile, int64_t hd, int64_t i, int h) {
    (void)hd;
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)tile + i * 16 + h)));
}
/* desk_expf on 8 lanes: the same operations, lane by lane */
static inline __m256 exp8(__m256 x) {
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(DESK_EXP_MIN), _CMP_GE_OQ);
    __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(DESK_EXP_LOG2E)), _mm256_set1_ps(DESK_EXP_MAGIC)),
                             _mm256_set1_ps(DESK_EXP_MAGIC));
    __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(DESK_EXP_LN2_HI))),
                             _mm256_mul_ps(n, _mm256_set1_ps(DESK_EXP_LN2_LO)));
    __m256 p = _mm256_set1_ps(DESK_EXP_C7);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(DESK_EXP_C6));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(DESK_EXP_C5));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(DESK_EXP_C4));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(DESK_EXP_C3));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(0.5f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(bits)), keep);
}

#ifndef ACC_U8S8_FULL /* the AVX-512 build has its own, on 16 lanes (attend_avx512.h) */
static void softmax16(float *s, int n) {
    __m256 m8 = _mm256_set1_ps(s[0]);
    int p = 0;
    for (; p + 8 <= n; p += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(s + p));
    float mm[8], mx;
    _mm256_storeu_ps(mm, m8);
    mx = mm[0];
    for (int i = 1; i < 8; i++) mx = mm[i] > mx ? mm[i] : mx;
    for (; p < n; p++) mx = s[p] > mx ? s[p] : mx;
    __m256 vm = _mm256_set1_ps(mx), a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (p = 0; p + 16 <= n; p += 16) { /* lanes p % 16: positions p..p+7 in a0, p+8..p+15 in a1 */
        __m256 e0 = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p), vm)), e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + p + 8), vm));
        _mm256_storeu_ps(s + p, e0);
        _mm256_storeu_ps(s + p + 8, e1);
        a0 = _mm256_add_ps(a0, e0);
        a1 = _mm256_add_ps(a1, e1);
    }
    float l[16];
    _mm256_storeu_ps(l, a0);
    _mm256_storeu_ps(l + 8, a1);
    for (; p < n; p++) {
        s[p] = desk_expf(s[p] - mx);
        l[p % 16] += s[p];
    }
    float inv = 1.0f / desk_reduce16(l);
    __m256 vi = _mm256_set1_ps(inv);
    for (p = 0; p + 8 <= n; p += 8) _mm256_storeu_ps(s + p, _mm256_mul_ps(_mm256_loadu_ps(s + p), vi));
    for (; p < n; p++) s[p] *= inv;
}
#endif

/* The weighted sum's output elements past the last multiple of 16, in plain
 * C (head sizes that are not a multiple of 16), for heads h0 .. h0 + NH - 1;
 * shared by both attention kernels (and attend_avx512.h). */
#define KV_ATTEND_TAIL(NH, ELEM)                                                                              \
    for (int j = 0; j < (NH); j++)                                                                            \
        for (int64_t e2 = hd16; e2 < hd; e2++) {                                                              \
            float o = 0;                                                                                      \
            for (int p2 = 0; p2 < n_pos; p2++) o += w[j][p2] * ELEM((const char *)v + (size_t)p2 * stride, e2); \
            out[(size_t)(h0 + j) * hd + e2] = o;                                                              \
        }
/* The entry point: the heads four at a time, through NAME##_pass compiled
 * for each count. */
#define KV_ATTEND_ENTRY(NAME)                                                                                 \
    static void NAME(const float *q, int nh, int64_t hd, const void *k, const void *v, size_t stride, int n_pos, \
                     float scale, float *sc, float *out) {                                                    \
        for (int h0 = 0; h0 < nh; h0 += 4) switch (nh - h0) {                                                 \
            case 1: NAME##_pass(q, h0, 1, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 2: NAME##_pass(q, h0, 2, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 3: NAME##_pass(q, h0, 3, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            default: NAME##_pass(q, h0, 4, hd, k, v, stride, n_pos, scale, sc, out); break;                    \
        }                                                                                                     \
    }

/* F16 scores of heads h0 .. h0 + NH - 1 (NH 1-4, a constant after
 * inlining), half a K tile (8 positions) at a time: lane l and lane l + 8
 * of the contract as two chains of vertical products per head (the first
 * starting from its first product, see quant.h), their sum being
 * reduce16's first step; the eight sums reduce as reduce8 when the half
 * tile's lanes are done. The lanes loop stays rolled with the query
 * pointers opaque to it, so nothing is hoisted out of it and spilled. */
static inline __attribute__((always_inline)) void lanes8_f16(const float *const qh[4], const void *tile, int64_t hd, int half,
                                                             int l, const int NH, __m256 *a) {
    __m256 lo[4], hi[4];
    _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) lo[j] = hi[j] = _mm256_setzero_ps();
    if (l < hd) {
        __m256 k0 = kt8_f16(tile, hd, l, half);
        _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) lo[j] = _mm256_mul_ps(_mm256_set1_ps(qh[j][l]), k0);
    }
    if (l + 8 < hd) {
        __m256 k1 = kt8_f16(tile, hd, l + 8, half);
        _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) hi[j] = _mm256_mul_ps(_mm256_set1_ps(qh[j][l + 8]), k1);
    }
    for (int64_t i = l + 16; i < hd; i += 16) {
        __m256 k0 = kt8_f16(tile, hd, i, half);
        _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) lo[j] = _mm256_add_ps(lo[j], _mm256_mul_ps(_mm256_set1_ps(qh[j][i]), k0));
        if (i + 8 < hd) {
            __m256 k1 = kt8_f16(tile, hd, i + 8, half);
            _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++)
                hi[j] = _mm256_add_ps(hi[j], _mm256_mul_ps(_mm256_set1_ps(qh[j][i + 8]), k1));
        }
    }
    _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) a[j] = _mm256_add_ps(lo[j], hi[j]);
}
/* the 8 scores of positions p0 .. p0 + 7 into sc (fewer past n_pos) */
static inline void kv_store8(float *sc, int p0, int n_pos, __m256 s) {
    if (n_pos - p0 >= 8) {
        _mm256_storeu_ps(sc + p0, s);
    } else {
        float ss[8];
        _mm256_storeu_ps(ss, s);
        memcpy(sc + p0, ss, (size_t)(n_pos - p0) * sizeof(float));
    }
}
static inline __attribute__((always_inline)) void scores8_f16(const float *q, int h0, const int NH, int64_t hd, const void *k,
                                                              int n_pos, float scale, float *sc) {
    size_t tile_bytes = desk_kv_tile_bytes(DESK_TYPE_F16, hd);
    const float *qh[4];
    for (int j = 0; j < 4; j++) qh[j] = q + (size_t)(h0 + (j < NH ? j : 0)) * hd;
    for (int p0 = 0; p0 < n_pos; p0 += 8) {
        const void *tile = (const char *)k + (size_t)(p0 / 16) * tile_bytes;
        __m256 a[8][4];
        _Pragma("GCC unroll 1") for (int l = 0; l < 8; l++) {
            const float *qq[4];
            _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {
                qq[j] = qh[j];
                __asm__("" : "+r"(qq[j]));
            }
            for (size_t off = (size_t)(p0 % 16 + l) * tile_bytes / 16; off < (size_t)(p0 % 16 + l + 1) * tile_bytes / 16; off += 64)
                _mm_prefetch((const char *)tile + KV_AHEAD_TILES * tile_bytes + off, _MM_HINT_T0); /* a 16th of the tile KV_AHEAD_TILES on */
            lanes8_f16(qq, tile, hd, p0 % 16, l, NH, a[l]);
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {
            __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0][j], a[1][j]), _mm256_add_ps(a[2][j], a[3][j])),
                                     _mm256_add_ps(_mm256_add_ps(a[4][j], a[5][j]), _mm256_add_ps(a[6][j], a[7][j])));
            kv_store8(sc + (size_t)(h0 + j) * n_pos, p0, n_pos, _mm256_mul_ps(s, _mm256_set1_ps(scale)));
        }
    }
}
/* Q8_0 scores of heads h0 .. h0 + NH - 1, half a tile at a time: per
 * block, the integer sums of 8 positions, 4 elements a lane, with the
 * cache's bytes back to int8 (the bias flipped off) and the sign trick of
 * maddubs: |kq| (unsigned) times the query's int8 values carrying kq's
 * sign; a pair's sum is at most 2 * 127 * 127, short of int16 saturation.
 * Then the contract's float steps, lane by lane. */
static inline __attribute__((always_inline)) void scores8_q8(const float *q, int h0, const int NH, int64_t hd, const void *k,
                                                             int n_pos, float scale, float *sc) {
    desk_q8a qa[4][DESK_MAX_HEAD / QK];
    for (int j = 0; j < NH; j++) desk_act_quantize(ACT_Q8A, q + (size_t)(h0 + j) * hd, qa[j], hd);
    size_t tile_bytes = desk_kv_tile_bytes(DESK_TYPE_Q8_0, hd);
    int64_t nb = hd / QK;
    const __m256i bias = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    for (int p0 = 0; p0 < n_pos; p0 += 8) {
        const uint8_t *tile = (const uint8_t *)k + (size_t)(p0 / 16) * tile_bytes, *kq = tile + nb * 32 + (p0 % 16) * 4;
        for (size_t off = (size_t)(p0 % 16) * tile_bytes / 16; off < (size_t)(p0 % 16 + 8) * tile_bytes / 16; off += 64)
            _mm_prefetch((const char *)tile + KV_AHEAD_TILES * tile_bytes + off, _MM_HINT_T0); /* half the tile KV_AHEAD_TILES on */
        __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}; /* nb >= 1 sets them */
        for (int64_t b = 0; b < nb; b++) {
            __m256 dk = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(tile + b * 32 + (p0 % 16) * 2)));
            __m256i n[4];
            _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) n[j] = _mm256_setzero_si256();
            _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
                __m256i kv = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(kq + (b * 8 + g) * 64)), bias);
                __m256i ka = _mm256_abs_epi8(kv);
                _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {
                    int32_t q4;
                    memcpy(&q4, qa[j][b].qs + 4 * g, 4);
                    __m256i qs = _mm256_sign_epi8(_mm256_set1_epi32(q4), kv);
                    n[j] = _mm256_add_epi32(n[j], _mm256_madd_epi16(_mm256_maddubs_epi16(ka, qs), ones));
                }
            }
            _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {
                __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(n[j]), _mm256_mul_ps(_mm256_set1_ps(qa[j][b].d), dk));
                s[j] = b ? _mm256_add_ps(s[j], u) : u;
            }
        }
        _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++)
            kv_store8(sc + (size_t)(h0 + j) * n_pos, p0, n_pos, _mm256_mul_ps(s[j], _mm256_set1_ps(scale)));
    }
}

/* Up to four heads per pass, so each K or V load is converted once for all
 * of them; a pass is compiled for each head count 1-4 (NH, a constant after
 * inlining): SCORES, the softmax, then the weighted sum in blocks of
 * KV_VBLOCK positions. */
#define KV_ATTEND(NAME, SCORES, LOAD8, ELEM)                                                                  \
    static inline __attribute__((always_inline)) void NAME##_pass(const float *q, int h0, const int NH, int64_t hd, \
                                                                  const void *k, const void *v, size_t stride, \
                                                                  int n_pos, float scale, float *sc, float *out) { \
        int64_t hd16 = hd / 16 * 16;                                                                           \
        SCORES(q, h0, NH, hd, k, n_pos, scale, sc);                                                            \
        for (int j = 0; j < NH; j++) softmax16(sc + (size_t)(h0 + j) * n_pos, n_pos);                          \
        const float *w[4];                                                                                     \
        for (int j = 0; j < 4; j++) w[j] = sc + (size_t)(h0 + (j < NH ? j : 0)) * n_pos;                       \
        for (int p0 = 0; p0 < n_pos; p0 += KV_VBLOCK) {                                                       \
            int p1 = n_pos - p0 < KV_VBLOCK ? n_pos : p0 + KV_VBLOCK;                                          \
            for (int64_t e = 0; e < hd16; e += 16) {                                                           \
                __m256 a[4][2];                                                                                \
                _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {                                         \
                    float *o = out + (size_t)(h0 + j) * hd + e;                                                \
                    a[j][0] = p0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(o);                              \
                    a[j][1] = p0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(o + 8);                          \
                }                                                                                              \
                bool fetch = e % 32 == 0; /* a chunk that starts a 64-byte line of F16 */                      \
                for (int p = p0; p < p1; p++) {                                                                \
                    const void *row = (const char *)v + (size_t)p * stride;                                    \
                    if (fetch) _mm_prefetch((const char *)row + KV_AHEAD_ROWS * stride + (size_t)e * stride / (size_t)hd, _MM_HINT_T0); \
                    __m256 v0 = LOAD8(row, e), v1 = LOAD8(row, e + 8);                                         \
                    _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {                                     \
                        __m256 wp = _mm256_broadcast_ss(w[j] + p);                                             \
                        a[j][0] = _mm256_add_ps(a[j][0], _mm256_mul_ps(wp, v0));                               \
                        a[j][1] = _mm256_add_ps(a[j][1], _mm256_mul_ps(wp, v1));                               \
                    }                                                                                          \
                }                                                                                              \
                _Pragma("GCC unroll 4") for (int j = 0; j < NH; j++) {                                         \
                    _mm256_storeu_ps(out + (size_t)(h0 + j) * hd + e, a[j][0]);                                \
                    _mm256_storeu_ps(out + (size_t)(h0 + j) * hd + e + 8, a[j][1]);                            \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
        KV_ATTEND_TAIL(NH, ELEM)                                                                               \
    }                                                                                                          \
    KV_ATTEND_ENTRY(NAME)
/* SwiGLU (quant.h: desk_glu_fn) on 8 lanes: the scalar reference's
 * operations lane by lane; -x is a sign flip, as in C */
static void glu_x86(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i), t = _mm256_xor_ps(x, _mm256_set1_ps(-0.0f));
        __m256 e = _mm256_blendv_ps(exp8(t), _mm256_set1_ps(INFINITY), _mm256_cmp_ps(t, _mm256_set1_ps(88.0f), _CMP_GT_OQ));
        __m256 s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) {
        float x = g[i], e = -x > 88.0f ? INFINITY : desk_expf(-x);
        g[i] = x / (1.0f + e) * u[i];
    }
}

#ifndef ACC_U8S8_FULL /* the AVX-512 build has its own, with 16-float registers (attend_avx512.h) */
KV_ATTEND(attend_f16, scores8_f16, kv_load8_f16, kv_elem_f16)
KV_ATTEND(attend_q8, scores8_q8, kv_load8_q8, kv_elem_q8)
#define X86_KV {attend_f16, attend_q8}
#endif

#define X86_GEMV8_TABLE                                                                              \
    {[DESK_TYPE_Q4_0] = gemv8_q4_0, [DESK_TYPE_Q5_0] = gemv8_q5_0, [DESK_TYPE_Q8_0] = GEMV8_Q8_0, [DESK_TYPE_Q4_K] = GEMV8_Q4_K,   \
     [DESK_TYPE_Q6_K] = GEMV8_Q6_K}

#define X86_KERNEL_TABLE                                                                        \
    {[DESK_TYPE_F32] = dot_f32, [DESK_TYPE_F16] = dot_f16, [DESK_TYPE_Q8_0] = dot_q8_0,         \
     [DESK_TYPE_Q4_0] = dot_q4_0, [DESK_TYPE_Q5_0] = dot_q5_0, [DESK_TYPE_Q4_K] = dot_q4_K, [DESK_TYPE_Q5_K] = dot_q5_K,     \
     [DESK_TYPE_Q6_K] = dot_q6_K}
