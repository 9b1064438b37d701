/*
 * test_sampler.c - the sampler against direct computation on small
 * vocabularies: greedy picks the arg-max; top-k / top-p / min-p never emit a
 * token outside their set; sampled frequencies follow softmax(logits / T)
 * (chi-square-style bound); penalties change exactly the tokens seen; the
 * same seed gives the same sequence and another seed a different one.
 */
#include "testutil.h"

#include <math.h>

#define V 16

static const float *big_logits;
static int by_logit_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    if (big_logits[x] != big_logits[y]) return big_logits[x] > big_logits[y] ? -1 : 1;
    return x - y;
}

static desk_sampler *mk(desk_sampler_params p) {
    desk_sampler *s;
    desk_error err;
    if (desk_sampler_new(&p, V, &s, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    return s;
}

int main(void) {
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = (float)(i % 5) * 0.7f - (float)i * 0.05f; /* max at 4 */
    desk_sampler_params p = desk_sampler_default_params();

    p.temperature = 0;
    desk_sampler *s = mk(p);
    CHECK(desk_sampler_sample(s, logits) == 4, "greedy picks the arg-max");
    desk_sampler_free(s);

    /* pure temperature sampling matches softmax frequencies */
    p = desk_sampler_default_params();
    p.temperature = 0.9f; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = 42;
    s = mk(p);
    int counts[V] = {0}, n = 200000;
    for (int i = 0; i < n; i++) counts[desk_sampler_sample(s, logits)]++;
    double z = 0, pr[V];
    for (int i = 0; i < V; i++) z += exp(logits[i] / 0.9);
    double worst = 0;
    for (int i = 0; i < V; i++) {
        pr[i] = exp(logits[i] / 0.9) / z;
        double sd = sqrt(n * pr[i] * (1 - pr[i]));
        double dev = fabs(counts[i] - n * pr[i]) / sd;
        if (dev > worst) worst = dev;
    }
    CHECK(worst < 5.0, "frequencies deviate from softmax by %.1f sd", worst);
    desk_sampler_free(s);

    /* top-k: only the k best ever appear */
    p.top_k = 3; p.seed = 1;
    s = mk(p);
    bool ok = true;
    for (int i = 0; i < 5000; i++) {
        int t = desk_sampler_sample(s, logits);
        ok &= (t == 4 || t == 9 || t == 14); /* 4: 2.6, 9: 2.35, 14: 2.1 */
    }
    CHECK(ok, "top-k=3 emitted a token outside the best three");
    desk_sampler_free(s);

    /* min-p: tokens below min_p * p_max never appear */
    p.top_k = 0; p.min_p = 0.5f; p.seed = 2;
    s = mk(p);
    ok = true;
    double pmax = 0;
    for (int i = 0; i < V; i++) pmax = pr[i] > pmax ? pr[i] : pmax;
    for (int i = 0; i < 5000; i++) {
        int t = desk_sampler_sample(s, logits);
        ok &= pr[t] >= 0.5 * pmax * 0.999;
    }
    CHECK(ok, "min-p let a token below the threshold through");
    desk_sampler_free(s);

    /* top-k with min-p (no penalties: the sampler takes top-k among the
     * tokens that can pass min-p): with more than k passing, the k best in
     * softmax proportion; with fewer, exactly those that pass. Logits 3.0,
     * 2.9, 2.8, 2.7, 2.6 pass min-p 0.05 at temperature 1 (p >= 0.05 p_max:
     * logit >= 0.004); 0.0 and below do not. */
    for (int topk = 3; topk <= 8; topk += 5) {
        float lk[V]; /* mk: a V-token sampler */
        for (int i = 0; i < V; i++) lk[i] = i < 5 ? 3.0f - 0.1f * (float)i : -(float)(i - 5); /* 0, -1, ... */
        lk[7] = lk[0] - 3.0f; /* 0.0 again: p = 0.0498 p_max, just below the cut */
        int pass = 5, want = topk < pass ? topk : pass;
        desk_sampler_params kp = desk_sampler_default_params();
        kp.temperature = 1; kp.top_k = topk; kp.top_p = 1; kp.min_p = 0.05f; kp.seed = 9;
        desk_sampler *ks = mk(kp);
        int ck[V] = {0}, nk = 100000;
        for (int i = 0; i < nk; i++) ck[desk_sampler_sample(ks, lk)]++;
        double zk = 0, worstk = 0;
        for (int i = 0; i < want; i++) zk += exp(lk[i]);
        for (int i = 0; i < V; i++) {
            double q = i < want ? exp(lk[i]) / zk : 0, sd = sqrt(nk * q * (1 - q)) + 1e-9;
            if (i < want && fabs(ck[i] - nk * q) / sd > worstk) worstk = fabs(ck[i] - nk * q) / sd;
            CHECK(i < want || ck[i] == 0, "top-k %d with min-p: token %d drawn %d times", topk, i, ck[i]);
        }
        CHECK(worstk < 5.0, "top-k %d with min-p: frequencies deviate from the renormalized softmax by %.1f sd", topk, worstk);
        desk_sampler_free(ks);
    }

    /* min-p at its edge: tokens just above min_p * p_max keep their share,
     * tokens just below never appear (temperature 0.7; x = scaled log-odds
     * against the best token, whose threshold is ln 0.1 = -2.303); without
     * top-k (the sampler's fast path) and with top-k 5 (its general path,
     * which drops only the -5.0 token, below the threshold anyway) */
    for (int topk = 0; topk <= 5; topk += 5) {
        const double xs[6] = {0, -2.253, -2.283, -2.323, -1.0, -5.0};
        const bool kept[6] = {true, true, true, false, true, false};
        float lg6[6];
        double z6 = 0;
        for (int i = 0; i < 6; i++) { lg6[i] = (float)(xs[i] * 0.7); z6 += kept[i] ? exp(xs[i]) : 0; }
        desk_sampler_params mp = desk_sampler_default_params();
        mp.temperature = 0.7f; mp.top_k = topk; mp.top_p = 1; mp.min_p = 0.1f; mp.seed = 5;
        desk_sampler *ms = NULL;
        desk_error e6;
        CHECK(desk_sampler_new(&mp, 6, &ms, &e6) == DESK_OK, "min-p edge sampler");
        int c6[6] = {0}, n6 = 100000;
        for (int i = 0; i < n6; i++) c6[desk_sampler_sample(ms, lg6)]++;
        double worst6 = 0;
        for (int i = 0; i < 6; i++) {
            double q = kept[i] ? exp(xs[i]) / z6 : 0, sd = sqrt(n6 * q * (1 - q)) + 1e-9;
            double dev = fabs(c6[i] - n6 * q) / sd;
            if (kept[i] && dev > worst6) worst6 = dev;
            CHECK(kept[i] || c6[i] == 0, "min-p: token %d (below the threshold) drawn %d times", i, c6[i]);
        }
        CHECK(worst6 < 5.0, "min-p edge, top-k %d: frequencies deviate from the renormalized softmax by %.1f sd", topk, worst6);
        desk_sampler_free(ms);
    }

    /* top-p: only the smallest prefix reaching p appears */
    p.min_p = 0; p.top_p = 0.5f; p.seed = 3;
    s = mk(p);
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (logits[order[j]] > logits[order[i]]) { int t = order[i]; order[i] = order[j]; order[j] = t; }
    bool allowed[V] = {0};
    double cum = 0;
    for (int i = 0; i < V && cum < 0.5; i++) { allowed[order[i]] = true; cum += pr[order[i]]; }
    ok = true;
    for (int i = 0; i < 5000; i++) ok &= allowed[desk_sampler_sample(s, logits)];
    CHECK(ok, "top-p emitted a token outside the nucleus");
    desk_sampler_free(s);

    /* same seed, same sequence; other seed, other sequence */
    p = desk_sampler_default_params();
    p.top_k = 0; p.min_p = 0; p.top_p = 1; p.temperature = 1.5f; p.seed = 7;
    desk_sampler *a = mk(p), *b = mk(p);
    p.seed = 8;
    desk_sampler *c = mk(p);
    int same = 0, diff = 0;
    for (int i = 0; i < 200; i++) {
        int x = desk_sampler_sample(a, logits), y = desk_sampler_sample(b, logits), w = desk_sampler_sample(c, logits);
        same += x == y;
        diff += x != w;
    }
    CHECK(same == 200, "same seed diverged");
    CHECK(diff > 50, "different seeds agree too often (%d differences)", diff);
    desk_sampler_reset(a);
    desk_sampler_free(b);
    b = mk((desk_sampler_params){.temperature = 1.5f, .top_p = 1, .seed = 7, .repeat_penalty = 1});
    for (int i = 0; i < 50; i++) same -= desk_sampler_sample(a, logits) == desk_sampler_sample(b, logits);
    CHECK(same == 150, "reset did not restart the stream");
    desk_sampler_free(a); desk_sampler_free(b); desk_sampler_free(c);

    /* penalties: a seen token loses, greedy moves to the next best */
    p = desk_sampler_default_params();
    p.temperature = 0; p.presence_penalty = 1.0f;
    s = mk(p);
    desk_sampler_accept(s, 4);
    CHECK(desk_sampler_sample(s, logits) == 9, "presence penalty should move greedy from 4 to 9");
    desk_sampler_free(s);
    p.presence_penalty = 0; p.repeat_penalty = 2.0f;
    s = mk(p);
    desk_sampler_accept(s, 4);
    CHECK(desk_sampler_sample(s, logits) == 9, "repeat penalty 2 halves 2.6 to 1.3 < 2.35");
    desk_sampler_free(s);
    p.repeat_penalty = 1; p.frequency_penalty = 0.2f;
    s = mk(p);
    desk_sampler_accept(s, 4);
    CHECK(desk_sampler_sample(s, logits) == 4, "one occurrence x 0.2 keeps 4 ahead");
    for (int i = 0; i < 3; i++) desk_sampler_accept(s, 4);
    CHECK(desk_sampler_sample(s, logits) == 9, "four occurrences x 0.2 drop 4 below 9");
    desk_sampler_free(s);

    /* a large vocabulary with top-p only: every sample inside the nucleus
     * computed here by sorting with qsort */
    {
        enum { BIG = 50000 };
        static float bl[BIG];
        static int idx[BIG];
        static bool in_nucleus[BIG];
        uint64_t r = 5;
        for (int i = 0; i < BIG; i++) { bl[i] = t_randf(&r) * 8.0f; idx[i] = i; }
        double zz = 0;
        for (int i = 0; i < BIG; i++) zz += exp(bl[i]);
        big_logits = bl;
        qsort(idx, BIG, sizeof *idx, by_logit_desc);
        double c2 = 0;
        for (int i = 0; i < BIG && c2 < 0.9 * zz; i++) { in_nucleus[idx[i]] = true; c2 += exp(bl[idx[i]]); }
        desk_sampler_params bp = {.temperature = 1, .top_k = 0, .top_p = 0.9f, .min_p = 0, .repeat_penalty = 1, .seed = 11};
        desk_sampler *bs;
        desk_error e2;
        CHECK(desk_sampler_new(&bp, BIG, &bs, &e2) == DESK_OK, "big sampler");
        bool all_in = true;
        for (int i = 0; i < 2000; i++) all_in &= in_nucleus[desk_sampler_sample(bs, bl)];
        CHECK(all_in, "top-p over 50000 tokens sampled outside the nucleus");
        desk_sampler_free(bs);
        /* top-k over 50000 tokens (its selection cuts the candidates first):
         * the 5 best only, in softmax proportion; without min-p, then with
         * min-p and a penalty on a token far down (both the general path) */
        for (int pass = 0; pass < 2; pass++) {
            desk_sampler_params kp = {.temperature = 1, .top_k = 5, .top_p = 1, .min_p = pass ? 0.001f : 0,
                                      .repeat_penalty = pass ? 1.1f : 1, .repeat_last_n = 64, .seed = 12};
            CHECK(desk_sampler_new(&kp, BIG, &bs, &e2) == DESK_OK, "big top-k sampler");
            if (pass) desk_sampler_accept(bs, idx[BIG - 1]);
            int ck[5] = {0}, nk = 50000, outside = 0;
            for (int i = 0; i < nk; i++) {
                int t = desk_sampler_sample(bs, bl), r5 = 0;
                while (r5 < 5 && idx[r5] != t) r5++;
                if (r5 < 5) ck[r5]++;
                else outside++;
            }
            double z5 = 0, worst5 = 0;
            for (int i = 0; i < 5; i++) z5 += exp(bl[idx[i]]);
            for (int i = 0; i < 5; i++) {
                double q = exp(bl[idx[i]]) / z5, dev = fabs(ck[i] - nk * q) / sqrt(nk * q * (1 - q));
                worst5 = dev > worst5 ? dev : worst5;
            }
            CHECK(outside == 0, "top-k 5 over 50000 tokens (pass %d): %d draws outside the 5 best", pass, outside);
            CHECK(worst5 < 5.0, "top-k 5 over 50000 tokens (pass %d): frequencies off by %.1f sd", pass, worst5);
            desk_sampler_free(bs);
        }
    }

    /* bad parameters are refused */
    desk_error err;
    desk_sampler_params bad = desk_sampler_default_params();
    bad.top_p = 0;
    CHECK(desk_sampler_new(&bad, V, &s, &err) == DESK_EINVAL && strstr(err.msg, "top_p"), "top_p 0 refused");
    bad = desk_sampler_default_params();
    bad.temperature = NAN;
    CHECK(desk_sampler_new(&bad, V, &s, &err) == DESK_EINVAL, "NaN temperature refused");
    /* NaN logits never win */
    float nanl[V];
    for (int i = 0; i < V; i++) nanl[i] = NAN;
    nanl[3] = 0;
    p = desk_sampler_default_params();
    s = mk(p);
    CHECK(desk_sampler_sample(s, nanl) == 3, "NaN logits are never sampled");
    desk_sampler_free(s);

    /* log-probabilities against a float64 log-softmax with libm, and a full
     * sort for the top list (ties to the lower id; the logits are rounded to
     * quarters so ties occur) */
    {
        enum { NV = 5000 };
        static float lg[NV];
        static int rank[NV];
        srand(7);
        for (int i = 0; i < NV; i++) lg[i] = (float)(rand() % 97) * 0.25f - 12.0f;
        double mx = -1e300, sum = 0;
        for (int i = 0; i < NV; i++) mx = lg[i] > mx ? lg[i] : mx;
        for (int i = 0; i < NV; i++) sum += exp((double)lg[i] - mx);
        double lse = mx + log(sum);
        for (int i = 0; i < NV; i++) rank[i] = i;
        big_logits = lg;
        qsort(rank, NV, sizeof *rank, by_logit_desc);
        for (int n_top = 0; n_top <= DESK_MAX_TOP_LOGPROBS + 3; n_top += 7) {
            desk_token_info info;
            desk_logprobs(lg, NV, 1234, n_top, &info);
            int want_n = n_top > DESK_MAX_TOP_LOGPROBS ? DESK_MAX_TOP_LOGPROBS : n_top;
            CHECK(info.tok == 1234 && fabs(info.logprob - (lg[1234] - lse)) < 1e-5, "chosen logprob %g vs %g",
                  info.logprob, lg[1234] - lse);
            CHECK(info.n_top == want_n, "n_top %d for %d", info.n_top, n_top);
            bool match = true;
            for (int k = 0; k < info.n_top; k++)
                match &= info.top[k].tok == rank[k] && fabs(info.top[k].logprob - (lg[rank[k]] - lse)) < 1e-5;
            CHECK(match, "top %d differs from a full sort", n_top);
        }
        double mass = 0;
        desk_token_info all;
        float few[3] = {1.0f, 2.0f, 3.0f};
        desk_logprobs(few, 3, 0, 20, &all);
        for (int k = 0; k < all.n_top; k++) mass += exp(all.top[k].logprob);
        CHECK(all.n_top == 3 && fabs(mass - 1) < 1e-6 && all.top[0].tok == 2, "a 3-token vocabulary: mass %g", mass);
    }
    return t_done("sampler");
}
