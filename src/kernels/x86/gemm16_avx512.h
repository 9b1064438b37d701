/*
 * gemm16_avx512.h - AVX-512 kernels for 16 rows, one per 32-bit lane of a
 * zmm register, times a tile of up to 8 tokens. Each block's weights are
 * loaded and unpacked once per tile and then multiplied with every token of
 * it, so the unpacking and the weight loads are shared by the tile and the
 * vpdpbusd instructions (64 products each) dominate. Included only by
 * avx512.c.
 *
 * The 32-element formats (Q4_0, Q5_0, Q8_0) read pairs (x16, quant.h: the
 * two x8 groups' blocks regrouped two blocks at a time into 64-byte pieces,
 * one aligned 512-bit load each) and serve single tokens too: where
 * the eight-row kernels (dot_x86.h) do each product in a 256-bit register,
 * these do two rows' blocks per 512-bit instruction, and a decode step,
 * whose arithmetic has to hide behind its reads, comes closer to the read
 * bandwidth (bench/RESULTS.md, ninth session). With the weights in L2, one
 * core: Q4_0 52 -> 93 GB/s, Q5_0 45-47 -> 62-63, Q8_0 95 -> 108. The layout
 * matters: the same kernel on two separate groups (two streams of memory a
 * group apart) streamed 10-15% slower than the eight-row kernel. The first
 * pair layout (the groups interleaved block by block) needed two 256-bit
 * loads and an insert per 64 bytes, half of them across a cache line; the
 * 64-byte pieces do without (thirteenth session, one core, L2, medians of
 * 400 alternating rounds: one token Q5_0 53 -> 68 GB/s, Q8_0 94 -> 101,
 * Q4_0 74 -> 78 on 896-wide rows).
 * The K-quants (Q4_K, Q6_K) read two separate x8 groups `gb` bytes apart
 * and serve batches only: on pairs their single-token speed was higher in L2
 * (Q4_K 50 -> 76 GB/s) but lower streaming from memory (1B shape in decode
 * order, bench/stream.c: Q4_K 83-84.5% of a read pass against 89-92% with
 * the eight-row kernel, Q6_K 85-87% against 88-89%).
 *
 * Bit-exactness: a row's result is the same sequence of float operations as
 * the scalar reference (quant.h): block b goes into lane b % 8, in block
 * order (the eight lane accumulators of each token live in memory: they
 * change once per block). The integer sums are exact, so their order is free.
 * Blocks are visited in memory order: visiting them lane by lane (blocks L,
 * L + 8, ...) kept accumulators in registers but streamed from memory at less
 * than half the speed for small batches.
 */

#define GEMM_TILE 8 /* tokens per tile */

/* 32 bytes at p (rows 0-7) and at p + gb (rows 8-15): gb is the bytes from
 * a block of the first group to the same block of the second */
static inline __m512i ld16(const uint8_t *p, size_t gb) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                              _mm256_loadu_si256((const __m256i *)(p + gb)), 1);
}
/* the 8 fp16 values at p and the 8 at p + gb, as 16 floats */
static inline __m512 h2f16(const uint8_t *p, size_t gb) {
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                        _mm_loadu_si128((const __m128i *)(p + gb)), 1);
    return _mm512_cvtph_ps(h);
}
/* the 8 bytes at p and at p + gb, zero- or sign-extended to 16 int32 */
static inline __m128i ld8x2(const uint8_t *p, size_t gb) {
    uint64_t lo, hi;
    memcpy(&lo, p, 8);
    memcpy(&hi, p + gb, 8);
    return _mm_set_epi64x((long long)hi, (long long)lo);
}

/* Software prefetch into L2, for batches only: a single token streams on
 * the hardware prefetchers (why: dot_x86.h; pairs add a shorter one of
 * their own, prefetch_pair). Inline assembly, because GCC 12
 * silently deleted the _mm_prefetch calls of these kernels (objdump showed
 * no prefetcht0 in any gemm16_*); with them, 8 tokens on weights streamed
 * from memory went from 110 to 199 GMAC/s on one core. Batches prefetch
 * GEMM_PF_DIST ahead, shorter than the 8 KiB single tokens used while they
 * prefetched: a tile spends several times as long on each byte,
 * and lines fetched 8 KiB ahead probably wait long enough to be evicted
 * again. Two threads, 8 tokens over 64 MiB: Q4_K 437-456 -> 482-498 GMAC/s,
 * Q6_K 286-296 -> 296-305 (4 KiB: 469-491 and 304-326; 3 KiB: 435-448 and
 * 282-291); 8 streams of `desk serve` on 1B Q4_K_M 3-5% faster than with
 * 8 KiB. Into L2 only (prefetcht1): non-temporal had beaten T0 (1B shape
 * in decode order, 2 threads: 8 tokens +2-5%, 3 tokens +5-6%), and T1
 * beats non-temporal: bench/stream -T 8, the builds alternated run by run,
 * medians of 75 passes: Q4_K 14.5 -> 17.2 GB/s of weights (41% -> 50% of
 * the read pass), Q4_0 18.7 -> 20.6 (54% -> 58%). */
#define GEMM_PF_DIST 6144

/* Two groups: both groups' bytes GEMM_PF_DIST ahead of byte `off` of the
 * pair of groups starting at w8. Past the end of a group the two streams
 * continue in the next pair (groups 2 and 3, which the next call reads):
 * prefetching past the end of group 0 would land in group 1, behind its
 * stream, and group 3 would never be prefetched. */
static inline void prefetch16(const uint8_t *w8, size_t off, size_t gb, int bytes) {
    size_t o = off + GEMM_PF_DIST;
    const char *p = (const char *)w8 + (o >= gb ? o + gb : o);
    for (int l = 0; l < bytes; l += 64) {
        __asm__ volatile("prefetcht1 %0" : : "m"(p[l]));
        __asm__ volatile("prefetcht1 %0" : : "m"(p[gb + (size_t)l]));
    }
}


/* Single tokens on pairs: the hardware prefetchers bring the weights
 * toward the core (a prefetch 8 KiB ahead into L2 every block made every
 * type slower, dot_x86.h), but the pair kernels still stalled on their first
 * load of each pair (perf annotate of Q4_0: a third of the kernel's samples
 * on it). So Q4_0 and Q5_0 put the next pair's lines into L1, 256 bytes
 * ahead, and Q8_0, which reads twice the bytes per product, puts them into
 * L2, 3 KiB ahead. bench/stream, 2 threads, none -> this, alternated run
 * by run, products as a fraction of the read pass next to them (medians):
 * 1B Q4_0 70-90% (86.8%) -> 86-98% (95.8%), 0.5B Q4_0 80-85% -> 89-92%,
 * 1B Q5_0 89-90% -> 90-96%, 1B Q8_0 85-90% (88.2%) -> 84-96% (92.0%),
 * 0.5B Q8_0 75-92% -> 86-94%. Longer distances gained less, the other
 * cache level did not help either type (Q4_0 with both: no gain), and the
 * eight-row K-quant kernels and AVX2's Q4_0 kernel lost with every variant
 * (bench/RESULTS.md, eighteenth session). */
/* Pairs, batches and single tokens: the `bytes` at wp (the blocks about to
 * be read), `dist` bytes ahead, into L1 or else into L2; the pairs of a run
 * of memory follow one another, so this runs on into the next. */
static inline void prefetch_pair(const uint8_t *wp, int bytes, int dist, bool l1) {
    if (l1)
        for (int l = 0; l < bytes; l += 64) __asm__ volatile("prefetcht0 %0" : : "m"(wp[dist + l]));
    else
        for (int l = 0; l < bytes; l += 64) __asm__ volatile("prefetcht1 %0" : : "m"(wp[dist + l]));
}

/* s + the unsigned bytes of w times the 4 signed bytes at p (broadcast to
 * every lane), read by the instruction itself ({1to16}): GCC 12 emits a
 * separate vpbroadcastd for _mm512_set1_epi32, one extra instruction per
 * product. */
static inline __m512i dpbusd_bcast(__m512i s, __m512i w, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*(const int32_t *)p));
    return s;
}

/* s + the int16 pairs of w times the 2 int16 at p (broadcast), read by the
 * instruction itself, as for dpbusd_bcast (GCC 12 loads and broadcasts the
 * pair separately otherwise) */
static inline __m512i dpwssd_bcast(__m512i s, __m512i w, const int16_t *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*(const int32_t *)p));
    return s;
}

/* lane b % 8 of a token += p. A lane's first block adds p to 0.0 in a
 * register (the reference's first addition, bit for bit), so the lanes need
 * no zeroing in memory (it showed as a 4% rep stos per call); lanes no block
 * reaches (fewer than 8 blocks) are zeroed by the caller. */
#define LANE_ADD(lanes, b, p) \
    ((lanes)[(b) % 8] = _mm512_add_ps((b) < 8 ? _mm512_setzero_ps() : (lanes)[(b) % 8], (p)))

/* The 8 per-lane partial results of each token -> y: the reference's
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) for all 16 rows at once. */
static inline void store_lanes16(__m512 lanes[8], float *y) {
    __m512 a = _mm512_add_ps(_mm512_add_ps(lanes[0], lanes[1]), _mm512_add_ps(lanes[2], lanes[3]));
    __m512 b = _mm512_add_ps(_mm512_add_ps(lanes[4], lanes[5]), _mm512_add_ps(lanes[6], lanes[7]));
    _mm512_storeu_ps(y, _mm512_add_ps(a, b));
}

/* T tokens in tiles of TILE, then one tile of the rest: NAME##_tile is
 * inlined with a constant token count each time, so its token loops unroll,
 * and every token count streams the weights once per tile (a batch of 5
 * decoding requests is one pass over the weights, not three). */
#define GEMM16_TAIL(NAME, K)                                                                                 \
    case K:                                                                                                   \
        NAME##_tile(nb, w8, gb, a + (size_t)t * act_row, act_row, K, y + (size_t)t * ys, ys);                 \
        break;
#define GEMM16_DRIVER(NAME, TILE, BLCK)                                                                      \
    static void NAME(int64_t n, const void *w8, size_t gb, const void *act, size_t act_row, int T, float *y,  \
                     size_t ys) {                                                                            \
        int64_t nb = n / (BLCK);                                                                             \
        const char *a = act;                                                                                 \
        int t = 0;                                                                                           \
        for (; t + (TILE) <= T; t += (TILE))                                                                 \
            NAME##_tile(nb, w8, gb, a + (size_t)t * act_row, act_row, (TILE), y + (size_t)t * ys, ys);       \
        _Static_assert((TILE) == 8, "the tail below covers 1..7 tokens");                                    \
        switch (T - t) {                                                                                     \
            GEMM16_TAIL(NAME, 7) GEMM16_TAIL(NAME, 6) GEMM16_TAIL(NAME, 5) GEMM16_TAIL(NAME, 4)              \
            GEMM16_TAIL(NAME, 3) GEMM16_TAIL(NAME, 2) GEMM16_TAIL(NAME, 1)                                   \
            default: break;                                                                                  \
        }                                                                                                    \
    }

/* One tile of `tt` tokens for the 32-element formats, on pairs (quant.h):
 * a run of memory holds two blocks, their quants as 64-byte pieces (one
 * aligned load for both groups), then Q5_0's masks, then the scales. UNPACK
 * fills w[0..NW-1] for one block from its quants at `qp` (and masks at `mp`);
 * each vpdpbusd pairs w[k] with the activation's 4-byte group k. OFF is the
 * weight offset (the integer sum starts at -OFF * sum(a)). With HI16, for
 * one or two tokens, Q4_0's high nibbles stay in place (w ^ low nibbles:
 * 16 times their value) and their sum, a multiple of 16 and exact, is
 * shifted down once per token: one operation per token instead of two per
 * 64 bytes; for more tokens the shift per 64 bytes is the cheaper. A
 * single token prefetches PF1_DIST bytes ahead, into L1 if PF1_L1, else
 * into L2 (prefetch_pair). */
#define GEMM16_BLOCK32(NAME, BLOCK_BYTES, EXTRA, NW, OFF, HI16, PF1_DIST, PF1_L1, UNPACK)                       \
    static inline __attribute__((always_inline)) void NAME##_tile(int64_t nb, const uint8_t *w8, size_t unused, \
                                                                  const char *act, size_t act_row, int tt,   \
                                                                  float *y, size_t ys) {                     \
        const size_t qb = 2 * ((BLOCK_BYTES) - 16 - (EXTRA)), xb = 2 * (EXTRA); /* per block of a pair */    \
        const bool hi16 = (HI16) && tt <= 2;                                                                 \
        const __m512i m4 = _mm512_set1_epi8(0xF);                                                            \
        __m512 lanes[GEMM_TILE][8];                                                                          \
        for (int t = 0; t < tt; t++)                                                                         \
            for (int L = (int)(nb < 8 ? nb : 8); L < 8; L++) lanes[t][L] = _mm512_setzero_ps(); /* LANE_ADD */ \
        for (int64_t b = 0; b < nb; b += 2) { /* blocks in memory order, which the prefetchers follow */    \
            const int nj = nb - b >= 2 ? 2 : 1;                                                              \
            const uint8_t *wp = w8 + (size_t)b * 2 * (BLOCK_BYTES), *xp = wp + nj * qb, *dp = xp + nj * xb;  \
            if (tt > 1) { /* batches only (above) */                                                         \
                if (nj == 2)                                                                                 \
                    prefetch_pair(wp, 4 * (BLOCK_BYTES), GEMM_PF_DIST, false); /* constant: unrolled */      \
                else                                                                                         \
                    prefetch_pair(wp, 2 * (BLOCK_BYTES), GEMM_PF_DIST, false);                               \
            } else {                                                                                         \
                prefetch_pair(wp, 2 * nj * (BLOCK_BYTES), (PF1_DIST), (PF1_L1));                             \
            }                                                                                                \
            _Pragma("GCC unroll 2") for (int j = 0; j < 2; j++) {                                            \
                if (j == nj) break;                                                                          \
                const uint8_t *qp = wp + j * qb, *mp = xp + j * xb;                                          \
                __m512i w[NW];                                                                               \
                (void)mp, (void)m4;                                                                          \
                UNPACK;                                                                                      \
                __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dp + 32 * j)));             \
                _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {                                       \
                    const desk_q8a *a = (const desk_q8a *)(act + (size_t)t * act_row) + b + j;               \
                    __m512i s = _mm512_set1_epi32(-(OFF) * a->sum), s16 = _mm512_setzero_si512();            \
                    _Pragma("GCC unroll 8") for (int k = 0; k < (NW); k++) {                                 \
                        if (hi16 && k >= (NW) / 2) s16 = dpbusd_bcast(s16, w[k], a->qs + 4 * k);             \
                        else s = dpbusd_bcast(s, w[k], a->qs + 4 * k);                                       \
                    }                                                                                        \
                    if (hi16) s = _mm512_add_epi32(s, _mm512_srai_epi32(s16, 4));                            \
                    __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(a->d));                                  \
                    LANE_ADD(lanes[t], b + j, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(s)));                  \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        for (int t = 0; t < tt; t++) store_lanes16(lanes[t], y + (size_t)t * ys);                            \
    }                                                                                                        \
    GEMM16_DRIVER(NAME, GEMM_TILE, QK)

/* Q4_0: four pieces; low nibbles pair with activation groups 0-3, high
 * nibbles with 4-7 */
#define UNPACK_Q4_0                                                                                   \
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                                             \
        __m512i v = _mm512_loadu_si512((const void *)(qp + 64 * k));                                  \
        w[k] = _mm512_and_si512(v, m4);                                                               \
        w[k + 4] = hi16 ? _mm512_xor_si512(v, w[k]) : _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);  \
    }
/* Q8_0: eight pieces of w + 128 */
#define UNPACK_Q8_0 \
    _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) w[k] = _mm512_loadu_si512((const void *)(qp + 64 * k));

/* Q5_0: as Q4_0, then a masked add sets bit 4 where the 64-bit mask of
 * the piece's low (high) nibbles has its bit */
#define UNPACK_Q5_0                                                                                          \
    _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                                                    \
        __m512i v = _mm512_loadu_si512((const void *)(qp + 64 * k)), lo = _mm512_and_si512(v, m4);           \
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);                                          \
        uint64_t ml, mh;                                                                                     \
        memcpy(&ml, mp + 16 * k, 8);                                                                         \
        memcpy(&mh, mp + 16 * k + 8, 8);                                                                     \
        w[k] = _mm512_mask_add_epi8(lo, _cvtu64_mask64(ml), lo, _mm512_set1_epi8(0x10));                     \
        w[k + 4] = _mm512_mask_add_epi8(hi, _cvtu64_mask64(mh), hi, _mm512_set1_epi8(0x10));                 \
    }

GEMM16_BLOCK32(gemm16_q4_0, 144, 0, 8, 8, true, 256, true, UNPACK_Q4_0)
GEMM16_BLOCK32(gemm16_q5_0, 176, 32, 8, 16, false, 256, true, UNPACK_Q5_0)
GEMM16_BLOCK32(gemm16_q8_0, 272, 0, 8, 128, false, 3072, false, UNPACK_Q8_0)

/* ---- K-quants: one super-block at a time, the token accumulators of the
 * eight lanes kept in memory (they change once per super-block) ---- */
#define GEMM_TILE_K 8

/* Q4_K x8 (quant.h): per 32-byte chunk c of qs, 8 groups of 16 rows x 4
 * bytes; low nibbles form sub-block 2c, high nibbles 2c + 1. The mins term
 * sum_j mn[j] * (bsums[2j] + bsums[2j+1]) is one vpdpwssd per j, with mn[j]
 * in both 16-bit halves of each lane and the two bsums broadcast. */
static inline __attribute__((always_inline)) void gemm16_q4_K_tile(int64_t nb, const uint8_t *w8, size_t gb,
                                                                   const char *act, size_t act_row, int tt,
                                                                   float *y, size_t ys) {
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 lanes[GEMM_TILE_K][8];
    for (int t = 0; t < tt; t++)
        for (int L = (int)(nb < 8 ? nb : 8); L < 8; L++) lanes[t][L] = _mm512_setzero_ps(); /* LANE_ADD */
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wp = w8 + (size_t)b * 1184, *qp = wp + 160;
        prefetch16(w8, (size_t)b * 1184, gb, 1184);
        __m512i sumi[GEMM_TILE_K];
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) sumi[t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++, qp += 256) {
            __m512i lo[8], hi[8];
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                __m512i v = ld16(qp + 32 * k, gb);
                lo[k] = _mm512_and_si512(v, m4);
                hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
            __m512i s0 = _mm512_cvtepu8_epi32(ld8x2(wp + 32 + 16 * c, gb));
            __m512i s1 = _mm512_cvtepu8_epi32(ld8x2(wp + 40 + 16 * c, gb));
            _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
                const int8_t *aq = ((const desk_q8k *)(act + (size_t)t * act_row) + b)->qs + 64 * c;
                __m512i plo = _mm512_setzero_si512(), phi = _mm512_setzero_si512();
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
                    plo = dpbusd_bcast(plo, lo[k], aq + 4 * k);
                    phi = dpbusd_bcast(phi, hi[k], aq + 32 + 4 * k);
                }
                sumi[t] = _mm512_add_epi32(sumi[t], _mm512_add_epi32(_mm512_mullo_epi32(plo, s0), _mm512_mullo_epi32(phi, s1)));
            }
        }
        __m512i mn[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
            __m512i m = _mm512_cvtepu8_epi32(ld8x2(wp + 96 + 8 * j, gb));
            mn[j] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
        }
        __m512 d = h2f16(wp, gb), dm = h2f16(wp + 16, gb);
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
            const desk_q8k *a = (const desk_q8k *)(act + (size_t)t * act_row) + b;
            __m512i summ = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) summ = dpwssd_bcast(summ, mn[j], &a->bsums[2 * j]);
            __m512 da = _mm512_set1_ps(a->d);
            __m512 p = _mm512_sub_ps(_mm512_mul_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(sumi[t])),
                                     _mm512_mul_ps(_mm512_mul_ps(dm, da), _mm512_cvtepi32_ps(summ)));
            LANE_ADD(lanes[t], b, p);
        }
    }
    for (int t = 0; t < tt; t++) store_lanes16(lanes[t], y + (size_t)t * ys);
}
GEMM16_DRIVER(gemm16_q4_K, GEMM_TILE_K, QKK)

/* Q6_K x8 (quant.h): for each half h and group k, 32 bytes each of ql
 * (quarters 0 and 2), ql (quarters 1 and 3) and qh; sub-block
 * sb = 8h + 2 * quarter + k / 4 has 16 elements and an int8 scale. The
 * weights' offset (-32 * bsums[sb] per sub-block) is taken once per
 * super-block and token with eight vpdpwssd after the products: starting
 * each sub-block's sum at its offset instead took four more instructions
 * per sub-block and token, and the full 8-token tile then ran at 226-233
 * GMAC/s on one core in some copies of the same executable and at 101-146
 * in others (byte-identical code: where its pages landed in memory decided,
 * half of 8 copies were slow). Now every copy runs at 220-225. */
static inline __attribute__((always_inline)) void gemm16_q6_K_tile(int64_t nb, const uint8_t *w8, size_t gb,
                                                                   const char *act, size_t act_row, int tt,
                                                                   float *y, size_t ys) {
    const __m512i m4 = _mm512_set1_epi8(0xF), m3 = _mm512_set1_epi8(3);
    __m512 lanes[GEMM_TILE_K][8];
    for (int t = 0; t < tt; t++)
        for (int L = (int)(nb < 8 ? nb : 8); L < 8; L++) lanes[t][L] = _mm512_setzero_ps(); /* LANE_ADD */
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wp = w8 + (size_t)b * 1680, *qp = wp + 144;
        prefetch16(w8, (size_t)b * 1680, gb, 1680);
        __m512i isum[GEMM_TILE_K];
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) isum[t] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++)
            for (int kk = 0; kk < 2; kk++) {
                __m512i q[4][4]; /* [quarter][k - 4kk] */
                _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) {
                    const uint8_t *gp = qp + 96 * (8 * h + 4 * kk + j);
                    __m512i l0 = ld16(gp, gb), l1 = ld16(gp + 32, gb), hh = ld16(gp + 64, gb);
                    q[0][j] = _mm512_or_si512(_mm512_and_si512(l0, m4), _mm512_slli_epi16(_mm512_and_si512(hh, m3), 4));
                    q[1][j] = _mm512_or_si512(_mm512_and_si512(l1, m4),
                                              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hh, 2), m3), 4));
                    q[2][j] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), m4),
                                              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hh, 4), m3), 4));
                    q[3][j] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4),
                                              _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hh, 6), m3), 4));
                }
                __m512i sc[4];
                _Pragma("GCC unroll 4") for (int qu = 0; qu < 4; qu++) sc[qu] = _mm512_cvtepi8_epi32(ld8x2(wp + 16 + 8 * (8 * h + 2 * qu + kk), gb));
                _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
                    const desk_q8k *a = (const desk_q8k *)(act + (size_t)t * act_row) + b;
                    const int8_t *aq = a->qs + 128 * h + 16 * kk;
                    _Pragma("GCC unroll 4") for (int qu = 0; qu < 4; qu++) {
                        __m512i p = _mm512_setzero_si512();
                        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) p = dpbusd_bcast(p, q[qu][j], aq + 32 * qu + 4 * j);
                        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(p, sc[qu]));
                    }
                }
            }
        /* the weights' offset: -32 * sum_sb sc[sb] * bsums[sb], sub-blocks
         * 2j and 2j + 1 in one vpdpwssd (their scales in the two 16-bit
         * halves of each lane, their bsums broadcast as one pair) */
        __m512i scp[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
            __m512i sa = _mm512_cvtepi8_epi32(ld8x2(wp + 16 + 16 * j, gb)), sb = _mm512_cvtepi8_epi32(ld8x2(wp + 24 + 16 * j, gb));
            scp[j] = _mm512_or_si512(_mm512_and_si512(sa, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(sb, 16));
        }
        __m512 d = h2f16(wp, gb);
        _Pragma("GCC unroll 8") for (int t = 0; t < tt; t++) {
            const desk_q8k *a = (const desk_q8k *)(act + (size_t)t * act_row) + b;
            __m512i off = _mm512_setzero_si512();
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) off = dpwssd_bcast(off, scp[j], &a->bsums[2 * j]);
            isum[t] = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(off, 5));
            __m512 p = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(a->d)), _mm512_cvtepi32_ps(isum[t]));
            LANE_ADD(lanes[t], b, p);
        }
    }
    for (int t = 0; t < tt; t++) store_lanes16(lanes[t], y + (size_t)t * ys);
}
GEMM16_DRIVER(gemm16_q6_K, GEMM_TILE_K, QKK)

/* the types whose gemm16 above reads pairs (x16) */
#define PAIRS_TABLE {[DESK_TYPE_Q4_0] = true, [DESK_TYPE_Q5_0] = true, [DESK_TYPE_Q8_0] = true}
#define GEMM16_TABLE                                                                                         \
    {[DESK_TYPE_Q4_0] = gemm16_q4_0, [DESK_TYPE_Q5_0] = gemm16_q5_0, [DESK_TYPE_Q8_0] = gemm16_q8_0,         \
     [DESK_TYPE_Q4_K] = gemm16_q4_K, [DESK_TYPE_Q6_K] = gemm16_q6_K}
