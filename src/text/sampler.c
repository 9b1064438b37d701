/*
 * sampler.c - turns logits into the next token: repetition, frequency and
 * presence penalties, then greedy or temperature sampling restricted by
 * top-k, top-p and min-p. The random stream is xoshiro256** seeded by
 * splitmix64 from the user's seed, so a seed always gives the same tokens.
 * All memory is allocated when the sampler is created; sampling allocates
 * nothing.
 */
#include "base/base.h"
#include "kernels/quant.h" /* desk_expf */
#include "model/model.h" /* desk_model_token_trie */
#include "text/grammar.h"

#include <math.h>
#include <stdlib.h>

typedef struct { float logit; int32_t id; } cand;

struct desk_sampler {
    desk_sampler_params p;
    int32_t n_vocab;
    uint64_t rng[4];
    cand *c;             /* [n_vocab] */
    int32_t *hist;       /* ring of the last repeat_last_n tokens */
    int hist_n, hist_pos;
    uint16_t *count;     /* [n_vocab] scratch for penalties */
    /* grammar constraint (desk_sampler_set_grammar) */
    const dgrammar *g;
    dgstate *gs;         /* the output so far */
    const dgtrie *trie;  /* the model's text tokens (owned by the model) */
    uint64_t *allowed;   /* [(n_vocab + 63) / 64] the text tokens the grammar allows next */
    int32_t *eog;        /* the end-of-generation tokens (allowed where the grammar is complete) */
    int n_eog;
    float *masked;       /* [n_vocab] logits with what the grammar refuses at -inf */
};

desk_sampler_params desk_sampler_default_params(void) {
    return (desk_sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                 .repeat_penalty = 1.0f, .repeat_last_n = 64, .frequency_penalty = 0,
                                 .presence_penalty = 0, .seed = 0};
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next_u64(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}

void desk_sampler_reset(desk_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->hist_n = s->hist_pos = 0;
    if (s->g) {
        dgstate_free(s->gs);
        s->gs = dgstate_new(s->g);
    }
}

desk_status desk_sampler_new(const desk_sampler_params *p, int32_t n_vocab, desk_sampler **out, desk_error *err) {
    *out = NULL;
    if (n_vocab <= 0) return desk_fail(err, DESK_EINVAL, "vocabulary size %d", n_vocab);
    if (!(p->temperature >= 0) || !isfinite(p->temperature)) return desk_fail(err, DESK_EINVAL, "temperature must be a number >= 0");
    if (p->top_k < 0) return desk_fail(err, DESK_EINVAL, "top_k must be >= 0");
    if (!(p->top_p > 0 && p->top_p <= 1)) return desk_fail(err, DESK_EINVAL, "top_p must be in (0, 1]");
    if (!(p->min_p >= 0 && p->min_p <= 1)) return desk_fail(err, DESK_EINVAL, "min_p must be in [0, 1]");
    if (!(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty)) return desk_fail(err, DESK_EINVAL, "repeat_penalty must be > 0");
    if (p->repeat_last_n < 0 || p->repeat_last_n > 65536) return desk_fail(err, DESK_EINVAL, "repeat_last_n must be in 0..65536");
    if (!isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty))
        return desk_fail(err, DESK_EINVAL, "penalties must be finite numbers");
    desk_sampler *s = calloc(1, sizeof *s);
    if (!s) return desk_fail(err, DESK_ENOMEM, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->hist = malloc((size_t)(p->repeat_last_n ? p->repeat_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->count || !s->hist) {
        desk_sampler_free(s);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    desk_sampler_reset(s);
    *out = s;
    return DESK_OK;
}

static void grammar_clear(desk_sampler *s) {
    dgstate_free(s->gs);
    s->gs = NULL;
    free(s->allowed);
    free(s->eog);
    free(s->masked);
    s->trie = NULL;
    s->allowed = NULL;
    s->eog = NULL;
    s->n_eog = 0;
    s->masked = NULL;
    s->g = NULL;
}

void desk_sampler_free(desk_sampler *s) {
    if (!s) return;
    grammar_clear(s);
    free(s->c);
    free(s->count);
    free(s->hist);
    free(s);
}

void desk_sampler_accept(desk_sampler *s, int32_t tok) {
    if (s->p.repeat_last_n == 0 || tok < 0 || tok >= s->n_vocab) return;
    s->hist[s->hist_pos] = tok;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_n < s->p.repeat_last_n) s->hist_n++;
}

/* descending logit, then ascending id: a total order, so sorting is deterministic */
static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* In-place sort by cand_cmp without allocating (qsort may malloc for large
 * arrays): quicksort on the smaller side, loop on the larger, insertion sort
 * for short runs. The order is total, so the result is unique. */
static void cand_sort(cand *c, int32_t n) {
    while (n > 16) {
        cand *m = &c[n / 2], *e = &c[n - 1], pivot;
        /* median of three */
        if (cand_cmp(m, c) < 0) { cand t = *m; *m = *c; *c = t; }
        if (cand_cmp(e, c) < 0) { cand t = *e; *e = *c; *c = t; }
        if (cand_cmp(e, m) < 0) { cand t = *e; *e = *m; *m = t; }
        pivot = *m;
        int32_t i = 0, j = n - 1;
        while (i <= j) {
            while (cand_cmp(&c[i], &pivot) < 0) i++;
            while (cand_cmp(&c[j], &pivot) > 0) j--;
            if (i <= j) { cand t = c[i]; c[i] = c[j]; c[j] = t; i++; j--; }
        }
        /* [0, j] and [i, n) remain */
        if (j + 1 < n - i) { cand_sort(c, j + 1); c += i; n -= i; }
        else { cand_sort(c + i, n - i); n = j + 1; }
    }
    for (int32_t i = 1; i < n; i++) {
        cand x = c[i];
        int32_t j = i - 1;
        while (j >= 0 && cand_cmp(&c[j], &x) > 0) { c[j + 1] = c[j]; j--; }
        c[j + 1] = x;
    }
}

/* Partitions c[lo, hi) around a median-of-three pivot: better candidates
 * first. Returns the pivot's final index. */
static int32_t partition(cand *c, int32_t lo, int32_t hi) {
    int32_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (cand_cmp(&c[mid], &c[lo]) < 0) { cand t = c[mid]; c[mid] = c[lo]; c[lo] = t; }
    if (cand_cmp(&c[last], &c[lo]) < 0) { cand t = c[last]; c[last] = c[lo]; c[lo] = t; }
    if (cand_cmp(&c[mid], &c[last]) < 0) { cand t = c[mid]; c[mid] = c[last]; c[last] = t; }
    cand pivot = c[last]; /* the median now sits at the end */
    int32_t store = lo;
    for (int32_t i = lo; i < last; i++)
        if (cand_cmp(&c[i], &pivot) < 0) { cand t = c[i]; c[i] = c[store]; c[store] = t; store++; }
    cand t = c[store]; c[store] = c[last]; c[last] = t;
    return store;
}

/* Moves the k best candidates (by logit) to c[0, k), unordered; returns k.
 * Over many candidates it first moves those at or above a cut to the front
 * and selects among them: the smallest of the maxima of k slices of c has
 * at least k candidates at or above it (each slice's maximum), so the k
 * best are all there. The quickselect over all 128k of a vocabulary took
 * 0.85-0.88 ms a draw; the cut leaves it a few times k. */
static int32_t select_best(cand *c, int32_t n, int32_t k) {
    if (k >= 1 && n > (int64_t)64 * k) {
        float cut = INFINITY;
        for (int32_t g = 0; g < k; g++) {
            int32_t a = (int32_t)((int64_t)n * g / k), b = (int32_t)((int64_t)n * (g + 1) / k);
            float mx = c[a].logit;
            for (int32_t i = a + 1; i < b; i++) mx = c[i].logit > mx ? c[i].logit : mx;
            cut = mx < cut ? mx : cut;
        }
        int32_t m = 0;
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit >= cut) { cand t = c[m]; c[m] = c[i]; c[i] = t; m++; }
        n = m;
    }
    int32_t lo = 0, hi = n;
    while (hi - lo > 1) {
        int32_t q = partition(c, lo, hi);
        if (q == k - 1 || q == k) break;
        if (q > k) hi = q;
        else lo = q + 1;
    }
    return k;
}

/* Rearranges c[0, n) (values are probabilities) so that c[0, k) holds the k
 * best and their mass reaches `need` (or k = n); returns k. Expected O(n). */
static int32_t mass_prefix(cand *c, int32_t n, double need) {
    int32_t lo = 0, hi = n;
    double before = 0; /* mass of c[0, lo): all better than anything in c[lo, n) */
    while (hi - lo > 32) {
        int32_t q = partition(c, lo, hi);
        double upper = 0;
        for (int32_t i = lo; i <= q; i++) upper += c[i].logit;
        if (before + upper >= need) {
            hi = q + 1;
        } else {
            before += upper;
            lo = q + 1;
        }
    }
    cand_sort(c + lo, hi - lo);
    for (int32_t i = lo; i < hi; i++) {
        before += c[i].logit;
        if (before >= need) return i + 1;
    }
    return hi < n ? hi : n;
}

/* the largest logit, NaN ignored (-inf when there is none) */
static float max_logit(const float *l, int32_t n) {
    float m8[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) m8[k] = l[i + k] > m8[k] ? l[i + k] : m8[k];
    for (; i < n; i++) m8[0] = l[i] > m8[0] ? l[i] : m8[0];
    float m = m8[0];
    for (int k = 1; k < 8; k++) m = m8[k] > m ? m8[k] : m;
    return m;
}

/* The scaled-logit cut below which no candidate can pass min-p: 0.01 below
 * ln(min_p), a 1% margin in probability that desk_expf's error cannot
 * cross, so dropping what lies below it changes nothing but the work. */
static float min_p_cut(const desk_sampler_params *p, float mx) { return mx + p->temperature * (logf(p->min_p) - 0.01f); }

static int32_t sample_core(desk_sampler *s, const float *logits) {
    int32_t n = s->n_vocab;
    cand *c = s->c;
    const desk_sampler_params *p = &s->p;
    bool penalize = p->repeat_penalty != 1.0f || p->frequency_penalty != 0 || p->presence_penalty != 0;
    int32_t m = n;
    float mx = -INFINITY;
    if (p->temperature > 0 && p->min_p > 0 && !(penalize && s->hist_n) && isfinite(mx = max_logit(logits, n))) {
        /* min-p without penalties: only the candidates that can pass min-p
         * are made (a 128k vocabulary's full candidate list and its exps
         * cost 0.23 ms a draw, this 0.07). Without top-k the general path
         * below keeps the same ones, in the same order. With top-k, the k
         * best are taken among them: they are every candidate at or above
         * a cut, so where more than k pass, their k best are the k best of
         * all, and where fewer pass, every one of them is among the k best;
         * min-p then keeps what it would have kept. Selecting the 40 best
         * of all 128k logits took 0.85-0.88 ms a draw (4-6% of a 1B decode
         * step here), and 0.22-0.24 ms with select_best's cut; this takes
         * 0.12-0.21 ms (bench/RESULTS.md). */
        float lim = min_p_cut(p, mx);
        m = 0;
        for (int32_t i = 0; i < n; i++)
            if (logits[i] >= lim) c[m++] = (cand){logits[i], i};
        if (p->top_k > 0 && p->top_k < m) m = select_best(c, m, p->top_k);
    } else {
        for (int32_t i = 0; i < n; i++) c[i] = (cand){isnan(logits[i]) ? -INFINITY : logits[i], i};
        if (penalize && s->hist_n) {
            for (int i = 0; i < s->hist_n; i++) s->count[s->hist[i]]++;
            for (int i = 0; i < s->hist_n; i++) {
                int32_t t = s->hist[i];
                if (!s->count[t]) continue; /* already applied */
                float *l = &c[t].logit;
                if (p->repeat_penalty != 1.0f) *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
                *l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
                s->count[t] = 0;
            }
        }
        if (p->temperature <= 0) {
            int32_t best = 0;
            for (int32_t i = 1; i < n; i++)
                if (c[i].logit > c[best].logit) best = i;
            return best;
        }
        if (p->top_k > 0 && p->top_k < n) m = select_best(c, n, p->top_k);
        /* softmax numerators at temperature (the best becomes exactly 1) */
        mx = -INFINITY;
        for (int32_t i = 0; i < m; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        if (!isfinite(mx)) return c[select_best(c, m, 1) - 1].id;
        if (p->min_p > 0) { /* as above: drop what cannot pass min-p before the exps */
            float lim = min_p_cut(p, mx);
            int32_t k = 0;
            for (int32_t i = 0; i < m; i++)
                if (c[i].logit >= lim) c[k++] = c[i];
            m = k;
        }
    }
    /* desk_expf: the same bits on every platform (libm expf differs), and fast where it underflows */
    for (int32_t i = 0; i < m; i++) c[i].logit = desk_expf((c[i].logit - mx) / p->temperature);
    /* min-p: keep tokens at least min_p times as likely as the best */
    if (p->min_p > 0) {
        int32_t k = 0;
        for (int32_t i = 0; i < m; i++)
            if (c[i].logit >= p->min_p) { cand t = c[k]; c[k] = c[i]; c[i] = t; k++; }
        m = k;
    }
    double total = 0;
    for (int32_t i = 0; i < m; i++) total += c[i].logit;
    /* top-p: the smallest best-first prefix holding top_p of the mass. A
     * selection finds a prefix that surely contains it; only that is sorted. */
    if (p->top_p < 1.0f) {
        double target = p->top_p * total;
        int32_t k = mass_prefix(c, m, target * (1.0 + 1e-9));
        cand_sort(c, k);
        double cum = 0;
        int32_t keep = k;
        for (int32_t i = 0; i < k; i++) {
            cum += c[i].logit;
            if (cum >= target) { keep = i + 1; break; }
        }
        m = keep;
        total = 0;
        for (int32_t i = 0; i < m; i++) total += c[i].logit;
    }
    double r = (double)(next_u64(s->rng) >> 11) * (1.0 / 9007199254740992.0) * total, acc = 0;
    for (int32_t i = 0; i < m; i++) {
        acc += c[i].logit;
        if (r < acc) return c[i].id;
    }
    return c[m - 1].id;
}

/* ------------------------------------------------------------ grammar constraint */

desk_status desk_sampler_set_grammar(desk_sampler *s, const desk_model *m, const desk_grammar *g, desk_error *err) {
    grammar_clear(s);
    if (!g) return DESK_OK;
    if (desk_vocab_size(m) != s->n_vocab)
        return desk_fail(err, DESK_EINVAL, "the model has %d tokens; the sampler was made for %d", desk_vocab_size(m), s->n_vocab);
    s->g = desk_grammar_internal(g);
    s->trie = desk_model_token_trie(m);
    s->allowed = malloc((size_t)(s->n_vocab + 63) / 64 * sizeof *s->allowed);
    int n_eog = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) n_eog += desk_token_is_eog(m, i);
    s->eog = malloc((size_t)(n_eog ? n_eog : 1) * sizeof *s->eog);
    s->masked = malloc((size_t)s->n_vocab * sizeof *s->masked);
    s->gs = dgstate_new(s->g);
    if (!s->trie || !s->allowed || !s->eog || !s->masked || !s->gs) {
        grammar_clear(s);
        return desk_fail(err, DESK_ENOMEM, "out of memory (or the grammar branches too much to start)");
    }
    for (int32_t i = 0; i < s->n_vocab; i++)
        if (desk_token_is_eog(m, i)) s->eog[s->n_eog++] = i;
    return DESK_OK;
}

/* Samples from the logits with every token the grammar refuses at -inf, so
 * the draw is exactly the sampler's distribution restricted to the allowed
 * tokens. Where nothing is allowed (a grammar with a dead end) the output
 * ends with an end-of-generation token. */
int32_t desk_sampler_sample(desk_sampler *s, const float *logits) {
    if (!s->gs) return sample_core(s, logits);
    bool complete = dgstate_complete(s->gs);
    int32_t any = -1, eog = -1, first_eog = -1;
    uint64_t *ok = s->allowed;
    int words = (s->n_vocab + 63) / 64;
    if (!dgstate_mask(s->gs, s->trie, ok)) memset(ok, 0, (size_t)words * sizeof *ok);
    for (int k = 0; k < s->n_eog; k++) { /* end of generation where the grammar is complete (never text) */
        int32_t i = s->eog[k];
        if (complete) ok[i >> 6] |= 1ull << (i & 63);
        if (first_eog < 0 || i < first_eog) first_eog = i;
        if (complete && (eog < 0 || i < eog)) eog = i;
    }
    for (int w = 0; w < words; w++) { /* whole words at a time: most are all allowed or all refused */
        int32_t base = 64 * w, n = s->n_vocab - base < 64 ? s->n_vocab - base : 64;
        uint64_t m = ok[w];
        if (m && any < 0) any = base + __builtin_ctzll(m);
        if (m == ~0ull && n == 64) memcpy(s->masked + base, logits + base, 64 * sizeof *logits);
        else
            for (int32_t j = 0; j < n; j++) s->masked[base + j] = (m >> j) & 1 ? logits[base + j] : -INFINITY;
    }
    if (any < 0) return first_eog >= 0 ? first_eog : sample_core(s, logits);
    for (bool checked = false;; checked = true) {
        int32_t t = sample_core(s, s->masked);
        if (t < 0 || t >= s->n_vocab || s->masked[t] == -INFINITY) t = eog >= 0 ? eog : any; /* every allowed logit was -inf */
        size_t n;
        const char *b = dgtrie_token(s->trie, t, &n); /* NULL for end of generation */
        if (!b || dgstate_advance(s->gs, b, n)) return t;
        /* Refused: only possible once the grammar passed one of its limits
         * (grammar.h: dgstate_limited), where a shared mask can allow more
         * than the recognizer. Ask the recognizer about every token the
         * mask allowed, then draw again from what is left. */
        if (checked) return eog >= 0 ? eog : first_eog >= 0 ? first_eog : t;
        any = -1;
        for (int32_t i = 0; i < s->n_vocab; i++) {
            if (s->masked[i] == -INFINITY) continue;
            const char *bi = dgtrie_token(s->trie, i, &n);
            if (bi && !dgstate_allows(s->gs, bi, n)) s->masked[i] = -INFINITY;
            else if (any < 0 && bi) any = i;
        }
        if (any < 0) return eog >= 0 ? eog : first_eog >= 0 ? first_eog : t;
    }
}

/* ------------------------------------------------------------ log-probabilities */

/* better-than for the top list: higher logit, then lower id */
static bool lp_better(float a, int32_t ia, float b, int32_t ib) { return a > b || (a == b && ia < ib); }

void desk_logprobs(const float *logits, int32_t n_vocab, int32_t tok, int n_top, desk_token_info *out) {
    if (n_top < 0) n_top = 0;
    if (n_top > DESK_MAX_TOP_LOGPROBS) n_top = DESK_MAX_TOP_LOGPROBS;
    if (n_top > n_vocab) n_top = n_vocab;
    float mx = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    /* a serial sum in double of desk_expf terms: the same bits whatever the platform's libm expf */
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++) sum += desk_expf(logits[i] - mx);
    double lse = (double)mx + log(sum); /* NaN logits add nothing: desk_expf(NaN) is 0 */
    out->tok = tok;
    out->logprob = tok >= 0 && tok < n_vocab ? (float)((double)logits[tok] - lse) : -INFINITY;
    /* the n_top best by insertion into a short sorted list */
    int k = 0;
    for (int32_t i = 0; i < n_vocab && n_top > 0; i++) {
        float l = logits[i];
        if (k == n_top && !lp_better(l, i, out->top[k - 1].logprob, out->top[k - 1].tok)) continue;
        int j = k < n_top ? k++ : k - 1;
        while (j > 0 && lp_better(l, i, out->top[j - 1].logprob, out->top[j - 1].tok)) {
            out->top[j] = out->top[j - 1];
            j--;
        }
        out->top[j] = (desk_token_logprob){i, l};
    }
    for (int j = 0; j < k; j++) out->top[j].logprob = (float)((double)out->top[j].logprob - lse);
    out->n_top = k;
}
