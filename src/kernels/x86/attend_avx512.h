/*
 * attend_avx512.h - the attention kernel with 16-float registers: one K
 * tile (16 positions, quant.h) is one zmm register per element, so a tile's
 * 16 scores are vertical sums in the contract's order with no reduction
 * across lanes, and the weighted sum covers 16 output elements per
 * instruction. Up to eight query heads share each K and V load. Same results
 * as the scalar reference; included only by avx512.c, after dot_x86.h (whose
 * element accessors and V tail it shares).
 */

static inline __m512 kv_load16_f16(const void *row, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + i)));
}
/* Q8_0: d * q for 16 elements i..i+15 (i a multiple of 16, inside one block) */
static inline __m512 kv_load16_q8(const void *row, int64_t i) {
    const block_q8_0 *b = (const block_q8_0 *)row + i / QK;
    __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + i % QK))));
    return _mm512_mul_ps(_mm512_set1_ps(desk_h2f(b->d)), q);
}
/* element i of an F16 tile's 16 positions */
static inline __m512 kt16_f16(const void *tile, int64_t hd, int64_t i) {
    (void)hd;
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)tile + i * 16)));
}
/* desk_expf on 16 lanes: the same operations, lane by lane */
static inline __m512 exp16(__m512 x) {
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(DESK_EXP_MIN), _CMP_GE_OQ);
    __m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(DESK_EXP_LOG2E)), _mm512_set1_ps(DESK_EXP_MAGIC)),
                             _mm512_set1_ps(DESK_EXP_MAGIC));
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(DESK_EXP_LN2_HI))),
                             _mm512_mul_ps(n, _mm512_set1_ps(DESK_EXP_LN2_LO)));
    __m512 p = _mm512_set1_ps(DESK_EXP_C7);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(DESK_EXP_C6));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(DESK_EXP_C5));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(DESK_EXP_C4));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(DESK_EXP_C3));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f));
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mov_ps(keep, _mm512_mul_ps(p, _mm512_castsi512_ps(bits)));
}

/* the contract's softmax: the exponentials of position p in lane p % 16.
 * Its own 16-lane version, not dot_x86.h's 8-lane softmax16: with that one
 * the kernel took 2.57-3.33 instead of 2.26-2.96 ns per (head, position). */
static void softmax16x16(float *s, int n) {
    __m512 m = _mm512_set1_ps(s[0]);
    int p = 0;
    for (; p + 16 <= n; p += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(s + p));
    float mx = _mm512_reduce_max_ps(m); /* max is exact, in any order */
    for (; p < n; p++) mx = s[p] > mx ? s[p] : mx;
    __m512 vm = _mm512_set1_ps(mx), a = _mm512_setzero_ps();
    for (p = 0; p + 16 <= n; p += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + p), vm));
        _mm512_storeu_ps(s + p, e);
        a = _mm512_add_ps(a, e);
    }
    float l[16];
    _mm512_storeu_ps(l, a);
    for (; p < n; p++) {
        s[p] = desk_expf(s[p] - mx);
        l[p % 16] += s[p];
    }
    float inv = 1.0f / desk_reduce16(l);
    __m512 vi = _mm512_set1_ps(inv);
    for (p = 0; p + 16 <= n; p += 16) _mm512_storeu_ps(s + p, _mm512_mul_ps(_mm512_loadu_ps(s + p), vi));
    for (; p < n; p++) s[p] *= inv;
}

/* The weighted sum of NH heads (1-8) over positions p0 .. p1 - 1 and output
 * elements e .. e + 16 * C - 1 (C 4 for up to 4 heads, else 2 or 1: at
 * most 16 accumulators), continuing the sums in outh unless `first`; each
 * V chunk loaded and converted once for all heads (with 5-7 heads, two
 * passes over 4 heads and then the rest made Q8_0's 7-head kernel 4-8%
 * slower). Prefetches the rows KV_AHEAD_ROWS on. */
#define KV_VSUM16(NAME, LOAD16)                                                                               \
    static inline __attribute__((always_inline)) void NAME##_vsum(const float *const w[8], const int NH, const int C, \
                                                                  const void *v, size_t stride, int p0, int p1, \
                                                                  int64_t hd, int64_t e, float *const outh[8], \
                                                                  bool first) {                                \
        __m512 a[8][4];                                                                                        \
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++)                                                   \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++)                                                \
                a[j][c] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(outh[j] + e + 16 * c);                 \
        for (int p = p0; p < p1; p++) {                                                                        \
            const void *row = (const char *)v + (size_t)p * stride;                                            \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c += 2)                                             \
                _mm_prefetch((const char *)row + KV_AHEAD_ROWS * stride + (size_t)(e + 16 * c) * stride / (size_t)hd, _MM_HINT_T0); \
            __m512 vv[4];                                                                                      \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) vv[c] = LOAD16(row, e + 16 * c);               \
            _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) {                                             \
                __m512 wp = _mm512_set1_ps(w[j][p]);                                                           \
                _Pragma("GCC unroll 4") for (int c = 0; c < C; c++)                                            \
                    a[j][c] = _mm512_add_ps(a[j][c], _mm512_mul_ps(wp, vv[c]));                                \
            }                                                                                                  \
        }                                                                                                      \
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++)                                                   \
            _Pragma("GCC unroll 4") for (int c = 0; c < C; c++) _mm512_storeu_ps(outh[j] + e + 16 * c, a[j][c]); \
    }

/* F16 scores of heads h0 .. h0 + NH - 1 (NH 1-8, a constant after
 * inlining), a tile at a time: lane l and lane l + 8 of the contract run as
 * two chains of vertical products per head (the first starting from its
 * first product, see quant.h), their sum is the first step of reduce16, and
 * the eight sums reduce as reduce8 once the tile's lanes are done. The
 * lanes loop is kept rolled and the query pointers opaque to it, so the
 * compiler neither spills 8 x NH partial sums nor hoists hundreds of query
 * values out of the tile loop. */
static inline __attribute__((always_inline)) void lanes16_f16(const float *const qh[8], const void *tile, int64_t hd, int l,
                                                              const int NH, __m512 *a) {
    __m512 lo[8], hi[8];
    if (l < hd) {
        __m512 k0 = kt16_f16(tile, hd, l);
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) lo[j] = _mm512_mul_ps(_mm512_set1_ps(qh[j][l]), k0);
    } else {
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) lo[j] = _mm512_setzero_ps();
    }
    if (l + 8 < hd) {
        __m512 k1 = kt16_f16(tile, hd, l + 8);
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) hi[j] = _mm512_mul_ps(_mm512_set1_ps(qh[j][l + 8]), k1);
    } else {
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) hi[j] = _mm512_setzero_ps();
    }
    for (int64_t i = l + 16; i < hd; i += 16) {
        __m512 k0 = kt16_f16(tile, hd, i);
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) lo[j] = _mm512_add_ps(lo[j], _mm512_mul_ps(_mm512_set1_ps(qh[j][i]), k0));
        if (i + 8 < hd) {
            __m512 k1 = kt16_f16(tile, hd, i + 8);
            _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++)
                hi[j] = _mm512_add_ps(hi[j], _mm512_mul_ps(_mm512_set1_ps(qh[j][i + 8]), k1));
        }
    }
    _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) a[j] = _mm512_add_ps(lo[j], hi[j]);
}
static inline __attribute__((always_inline)) void scores16_f16(const float *q, int h0, const int NH, int64_t hd, const void *k,
                                                               int n_pos, float scale, float *sc) {
    size_t tile_bytes = desk_kv_tile_bytes(DESK_TYPE_F16, hd);
    const float *qh[8];
    for (int j = 0; j < 8; j++) qh[j] = q + (size_t)(h0 + (j < NH ? j : 0)) * hd;
    for (int p0 = 0; p0 < n_pos; p0 += 16) {
        const void *tile = (const char *)k + (size_t)(p0 / 16) * tile_bytes;
        __m512 a[8][8];
        _Pragma("GCC unroll 1") for (int l = 0; l < 8; l++) {
            const float *qq[8];
            _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) {
                qq[j] = qh[j];
                __asm__("" : "+r"(qq[j]));
            }
            for (size_t off = (size_t)l * tile_bytes / 8; off < (size_t)(l + 1) * tile_bytes / 8; off += 64)
                _mm_prefetch((const char *)tile + KV_AHEAD_TILES * tile_bytes + off, _MM_HINT_T0); /* an eighth of the tile KV_AHEAD_TILES on */
            lanes16_f16(qq, tile, hd, l, NH, a[l]);
        }
        __mmask16 m = n_pos - p0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n_pos - p0)) - 1);
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) {
            __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0][j], a[1][j]), _mm512_add_ps(a[2][j], a[3][j])),
                                     _mm512_add_ps(_mm512_add_ps(a[4][j], a[5][j]), _mm512_add_ps(a[6][j], a[7][j])));
            _mm512_mask_storeu_ps(sc + (size_t)(h0 + j) * n_pos + p0, m, _mm512_mul_ps(s, _mm512_set1_ps(scale)));
        }
    }
}

/* Q8_0 scores of heads h0 .. h0 + NH - 1, a tile at a time: per block, the
 * integer sums of the tile's 16 positions by vpdpbusd, 4 elements a lane
 * and 64 products an instruction, with the cache's biased bytes (q + 128)
 * as the unsigned operand and the query's int8 values broadcast as the
 * signed one; each sum starts from -128 * (sum of the query block), which
 * takes the bias back out, so it is exactly sum qq * kq. Then the
 * contract's float steps, lane by lane. */
static inline __attribute__((always_inline)) void scores16_q8(const float *q, int h0, const int NH, int64_t hd, const void *k,
                                                              int n_pos, float scale, float *sc) {
    desk_q8a qa[8][DESK_MAX_HEAD / QK];
    for (int j = 0; j < NH; j++) desk_act_quantize(ACT_Q8A, q + (size_t)(h0 + j) * hd, qa[j], hd);
    size_t tile_bytes = desk_kv_tile_bytes(DESK_TYPE_Q8_0, hd);
    int64_t nb = hd / QK;
    for (int p0 = 0; p0 < n_pos; p0 += 16) {
        const uint8_t *tile = (const uint8_t *)k + (size_t)(p0 / 16) * tile_bytes, *kq = tile + nb * 32;
        for (size_t off = 0; off < tile_bytes; off += 64)
            _mm_prefetch((const char *)tile + KV_AHEAD_TILES * tile_bytes + off, _MM_HINT_T0);
        __m512 s[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) s[j] = _mm512_setzero_ps(); /* nb >= 1 sets them */
        for (int64_t b = 0; b < nb; b++) {
            __m512 dk = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(tile + b * 32)));
            __m512i n[8];
            _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) n[j] = _mm512_set1_epi32(-128 * qa[j][b].sum);
            _Pragma("GCC unroll 8") for (int g = 0; g < 8; g++) {
                __m512i kv = _mm512_loadu_si512((const void *)(kq + (b * 8 + g) * 64));
                _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) {
                    int32_t q4;
                    memcpy(&q4, qa[j][b].qs + 4 * g, 4);
                    n[j] = _mm512_dpbusd_epi32(n[j], kv, _mm512_set1_epi32(q4));
                }
            }
            _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++) {
                __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(n[j]), _mm512_mul_ps(_mm512_set1_ps(qa[j][b].d), dk));
                s[j] = b ? _mm512_add_ps(s[j], u) : u;
            }
        }
        __mmask16 m = n_pos - p0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n_pos - p0)) - 1);
        _Pragma("GCC unroll 8") for (int j = 0; j < NH; j++)
            _mm512_mask_storeu_ps(sc + (size_t)(h0 + j) * n_pos + p0, m, _mm512_mul_ps(s[j], _mm512_set1_ps(scale)));
    }
}

/* Heads h0 .. h0 + NH - 1 (NH 1-8): SCORES, the softmax, then the weighted
 * sum in blocks of KV_VBLOCK positions. */
#define KV_ATTEND16(NAME, SCORES, LOAD16, ELEM)                                                                     \
    KV_VSUM16(NAME, LOAD16)                                                                                    \
    static inline __attribute__((always_inline)) void NAME##_pass(const float *q, int h0, const int NH, int64_t hd, \
                                                                  const void *k, const void *v, size_t stride, \
                                                                  int n_pos, float scale, float *sc, float *out) { \
        SCORES(q, h0, NH, hd, k, n_pos, scale, sc);                                                            \
        for (int j = 0; j < NH; j++) softmax16x16(sc + (size_t)(h0 + j) * n_pos, n_pos);                       \
        const float *w[8];                                                                                     \
        float *outh[8];                                                                                        \
        for (int j = 0; j < 8; j++) {                                                                          \
            w[j] = sc + (size_t)(h0 + (j < NH ? j : 0)) * n_pos;                                               \
            outh[j] = out + (size_t)(h0 + (j < NH ? j : 0)) * hd;                                              \
        }                                                                                                      \
        int64_t hd16 = hd / 16 * 16;                                                                           \
        for (int p0 = 0; p0 < n_pos; p0 += KV_VBLOCK) {                                                       \
            int p1 = n_pos - p0 < KV_VBLOCK ? n_pos : p0 + KV_VBLOCK;                                          \
            int64_t e = 0;                                                                                     \
            if (NH <= 4) /* 4 chunks of 16 outputs a pass */                                                   \
                for (; e + 64 <= hd16; e += 64) NAME##_vsum(w, NH, 4, v, stride, p0, p1, hd, e, outh, p0 == 0); \
            else /* 5-8 heads: 2 chunks, so each V chunk is still converted once */                            \
                for (; e + 32 <= hd16; e += 32) NAME##_vsum(w, NH, 2, v, stride, p0, p1, hd, e, outh, p0 == 0); \
            for (; e < hd16; e += 16) NAME##_vsum(w, NH, 1, v, stride, p0, p1, hd, e, outh, p0 == 0);   \
        }                                                                                                      \
        KV_ATTEND_TAIL(NH, ELEM)                                                                               \
    }                                                                                                          \
    static void NAME(const float *q, int nh, int64_t hd, const void *k, const void *v, size_t stride, int n_pos, \
                     float scale, float *sc, float *out) {                                                     \
        for (int h0 = 0; h0 < nh; h0 += 8) switch (nh - h0) {                                                  \
            case 1: NAME##_pass(q, h0, 1, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 2: NAME##_pass(q, h0, 2, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 3: NAME##_pass(q, h0, 3, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 4: NAME##_pass(q, h0, 4, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 5: NAME##_pass(q, h0, 5, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 6: NAME##_pass(q, h0, 6, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            case 7: NAME##_pass(q, h0, 7, hd, k, v, stride, n_pos, scale, sc, out); break;                     \
            default: NAME##_pass(q, h0, 8, hd, k, v, stride, n_pos, scale, sc, out); break;                    \
        }                                                                                                      \
    }
KV_ATTEND16(attend16_f16, scores16_f16, kv_load16_f16, kv_elem_f16)
KV_ATTEND16(attend16_q8, scores16_q8, kv_load16_q8, kv_elem_q8)
#define AVX512_KV {attend16_f16, attend16_q8}
