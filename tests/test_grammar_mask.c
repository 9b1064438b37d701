/*
 * test_grammar_mask.c - token masks (dgstate_mask: a trie walk with cached
 * and shared masks, src/text/grammar_match.c) against brute force: at every
 * step of random constrained walks, each token's bit must equal asking a
 * separate recognizer about that token's bytes alone. The mask must never
 * exclude a valid continuation nor include an invalid one.
 *
 * Vocabularies: random tokens of 1-40 bytes over JSON's characters, letters,
 * digits, escapes and whole and split UTF-8 characters (with duplicates and
 * non-text tokens), so that tokens longer than DG_CHAIN_CUT meet positions
 * inside long bounded repetitions; and, given a vocabulary GGUF, a real one
 * (the 128,256-token Llama 3 vocabulary in tests/run.sh). Grammars: JSON
 * Schemas a research pipeline uses, long bounded repetitions and GBNF.
 * The same walks run with the recognizer's tables made tiny, so they are
 * rebuilt in the middle of mask walks.
 *
 * With the real vocabulary, desk_sampler under a grammar must draw exactly
 * what an unconstrained sampler with the same seed draws from logits whose
 * refused tokens (by brute force) are set to -inf: constrained sampling is
 * the sampler's distribution restricted to the allowed tokens.
 *
 * usage: test_grammar_mask [VOCAB.gguf]
 */
#include "testutil.h"
#include "text/grammar.h"
#include "text/schema.h"

#include <math.h>

static uint64_t rng = 1;
static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static const char *PIECES[] = {"{", "}", "[", "]", "\"", ":", ",", " ", "  ", "\n", "\\", "\\\"", "\\n", "\\u00e9", "u",
                               "0", "1", "5", "9", "-", ".", "e", "E", "+", "a", "b", "k", "x", "A", "Z", "T", "S",
                               "true", "false", "null", "pos", "itive", "neg", "neutral", "ticker", "score", "reason",
                               "name", "tags", "\xC3\xA9", "\xC3", "\xA9", "\xE2\x82\xAC", "\xE2\x82", "\xAC",
                               "\xF0\x9F\x9A\x80", "\xF0\x9F", "\x01", "the", " the", "ing", "AAPL", "MSFT"};

typedef struct {
    int32_t n;
    char **bytes;
    uint16_t *len;
} vocab;

static void make_vocab(vocab *v, int n) {
    v->n = n;
    v->bytes = calloc((size_t)n, sizeof *v->bytes);
    v->len = calloc((size_t)n, sizeof *v->len);
    int n_pieces = (int)(sizeof PIECES / sizeof *PIECES);
    for (int i = 0; i < n; i++) {
        if (i % 97 == 5) continue; /* not text (special, end of generation) */
        char buf[64];
        size_t k = 0;
        if (i < n_pieces) { /* every piece alone */
            k = strlen(PIECES[i]);
            memcpy(buf, PIECES[i], k);
        } else if (i % 101 == 7) { /* the same bytes as an earlier token */
            int j = (int)(rnd() % (unsigned)i);
            while (!v->bytes[j]) j = (int)(rnd() % (unsigned)i);
            k = v->len[j];
            memcpy(buf, v->bytes[j], k);
        } else {
            /* lengths up to 40 bytes, many around DG_CHAIN_CUT */
            size_t want = rnd() % 4 == 0 ? 12 + rnd() % 10 : rnd() % 3 == 0 ? 20 + rnd() % 21 : 1 + rnd() % 8;
            int letters = rnd() % 2; /* half are runs of string-safe characters */
            while (k < want) {
                const char *p = letters ? (const char[2]){(char)('a' + rnd() % 26), 0} : PIECES[rnd() % (unsigned)n_pieces];
                size_t l = strlen(p);
                if (k + l > want || k + l > 40) break;
                memcpy(buf + k, p, l);
                k += l;
            }
            if (!k) buf[k++] = 'q';
        }
        v->bytes[i] = malloc(k);
        memcpy(v->bytes[i], buf, k);
        v->len[i] = (uint16_t)k;
    }
}

static void free_vocab(vocab *v) {
    for (int i = 0; i < v->n; i++) free(v->bytes[i]);
    free(v->bytes);
    free(v->len);
}

/* random walks under grammar g: masks from one recognizer, each token asked of another */
static unsigned all_rebuilds;

static void walks(const char *name, const dgrammar *g, const dgtrie *t, const vocab *v, int n_walks, int max_steps,
                  int32_t limit_states) {
    int words = (v->n + 63) / 64;
    uint64_t *mask = malloc((size_t)words * sizeof *mask);
    int32_t *ok = malloc((size_t)v->n * sizeof *ok);
    long checked = 0, allowed = 0, bad = 0, long_taken = 0;
    unsigned rebuilds = 0;
    for (int w = 0; w < n_walks; w++) {
        dgstate *a = dgstate_new(g), *b = dgstate_new(g);
        if (!a || !b) { CHECK(0, "%s: no start state", name); return; }
        if (limit_states) dgstate_limit_states(a, limit_states);
        for (int step = 0; step < max_steps; step++) {
            CHECK(dgstate_mask(a, t, mask), "%s: mask out of memory", name);
            int n_ok = 0;
            for (int32_t i = 0; i < v->n; i++) {
                bool want = v->bytes[i] && dgstate_allows(b, v->bytes[i], v->len[i]);
                bool got = (mask[i >> 6] >> (i & 63)) & 1;
                if (want != got && bad++ < 5)
                    CHECK(0, "%s walk %d step %d: token %d '%.*s' (%d bytes): mask %d, recognizer %d", name, w, step, i,
                          (int)v->len[i], v->bytes[i], (int)v->len[i], got, want);
                if (want) ok[n_ok++] = i;
                checked++;
            }
            for (int32_t i = v->n; i < words * 64; i++) /* the bits past the vocabulary stay clear */
                if ((mask[i >> 6] >> (i & 63)) & 1) CHECK(0, "%s: bit %d past the vocabulary", name, i);
            allowed += n_ok;
            CHECK(dgstate_complete(a) == dgstate_complete(b), "%s: complete differs", name);
            if (!n_ok || (dgstate_complete(b) && rnd() % 6 == 0)) break;
            /* prefer long tokens now and then, to walk deep into repetitions, and
             * in the first half of a walk avoid closing brackets, so that walks last */
            int32_t pick = ok[rnd() % (unsigned)n_ok];
            for (int tries = 0; tries < 8 && rnd() % 2; tries++) {
                int32_t c = ok[rnd() % (unsigned)n_ok];
                if (v->len[c] > v->len[pick]) pick = c;
            }
            for (int tries = 0; tries < 6 && step < max_steps / 2 && (memchr(v->bytes[pick], '}', v->len[pick]) ||
                                                                  memchr(v->bytes[pick], ']', v->len[pick])); tries++)
                pick = ok[rnd() % (unsigned)n_ok];
            long_taken += v->len[pick] > DG_CHAIN_CUT;
            CHECK(dgstate_advance(a, v->bytes[pick], v->len[pick]) && dgstate_advance(b, v->bytes[pick], v->len[pick]),
                  "%s: an allowed token does not advance", name);
        }
        rebuilds += dgstate_rebuilds(a);
        dgstate_free(a);
        dgstate_free(b);
    }
    CHECK(bad == 0, "%s: %ld of %ld token checks differ", name, bad, checked);
    CHECK(allowed > 0, "%s: nothing was ever allowed", name);
    if (limit_states) all_rebuilds += rebuilds;
    printf("  %-28s %8ld token checks, %7ld allowed, %3ld long tokens taken, %u rebuilds, %ld differ\n", name, checked,
           allowed, long_taken, rebuilds, bad);
    free(mask);
    free(ok);
}

/* random logits, peaked on a few tokens now and then */
static void random_logits(float *l, int32_t n) {
    for (int32_t i = 0; i < n; i++) l[i] = (float)(rnd() % 20000) / 1000.0f - 10.0f;
    for (int k = 0; k < 8; k++) l[rnd() % (uint32_t)n] += 15.0f;
}

static void exact_sampling(const desk_model *m, const vocab *r, const char *schema) {
    const desk_sampler_params ps[] = {
        {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0, .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 11},
        {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.1f, .repeat_last_n = 64, .seed = 12},
        {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0, .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 13},
    };
    float *logits = malloc((size_t)r->n * sizeof *logits), *masked = malloc((size_t)r->n * sizeof *masked);
    int steps = 0, same = 0, ended = 0;
    for (size_t k = 0; k < sizeof ps / sizeof *ps; k++) {
        desk_grammar *dg;
        desk_error err;
        desk_sampler *a, *b;
        if (desk_grammar_from_json_schema(schema, strlen(schema), &dg, &err)) { CHECK(0, "%s", err.msg); break; }
        desk_sampler_new(&ps[k], r->n, &a, &err);
        desk_sampler_new(&ps[k], r->n, &b, &err);
        CHECK(desk_sampler_set_grammar(a, m, dg, &err) == DESK_OK, "set_grammar: %s", err.msg);
        dgstate *ref = dgstate_new(desk_grammar_internal(dg));
        for (int step = 0; step < 60; step++) {
            random_logits(logits, r->n);
            bool complete = dgstate_complete(ref);
            for (int32_t i = 0; i < r->n; i++) {
                bool ok = desk_token_is_eog(m, i) ? complete : r->bytes[i] && dgstate_allows(ref, r->bytes[i], r->len[i]);
                masked[i] = ok ? logits[i] : -INFINITY;
            }
            int32_t ta = desk_sampler_sample(a, logits), tb = desk_sampler_sample(b, masked);
            steps++;
            same += ta == tb;
            if (ta != tb) CHECK(0, "sampler %zu step %d: constrained %d, masked by brute force %d", k, step, ta, tb);
            if (ta != tb || desk_token_is_eog(m, ta)) { ended += ta == tb; break; }
            CHECK(dgstate_advance(ref, r->bytes[ta], r->len[ta]), "sampler %zu step %d: token %d refused", k, step, ta);
        }
        dgstate_free(ref);
        desk_sampler_free(a);
        desk_sampler_free(b);
        desk_grammar_free(dg);
    }
    printf("  exact sampling: %d of %d constrained draws equal draws from brute-force masked logits, %d outputs ended\n",
           same, steps, ended);
    free(logits);
    free(masked);
}

/* A grammar that branches past the recognizer's limits within a few
 * characters (every character can close or open a repetition of the root):
 * shared masks may then allow tokens the recognizer refuses, so the sampler
 * must check what it draws. Every token it returns is asked of a separate
 * recognizer. */
static void limited_sampling(const desk_model *m, const vocab *r) {
    const char *gbnf = "root ::= [a-z ] root{0,24} \"!\"?";
    float *logits = malloc((size_t)r->n * sizeof *logits);
    int steps = 0, limited = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        desk_sampler_params p = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0, .repeat_penalty = 1.0f,
                                 .repeat_last_n = 64, .seed = seed};
        desk_grammar *dg;
        desk_sampler *a;
        desk_error err;
        if (desk_grammar_from_gbnf(gbnf, strlen(gbnf), &dg, &err)) { CHECK(0, "%s", err.msg); break; }
        desk_sampler_new(&p, r->n, &a, &err);
        CHECK(desk_sampler_set_grammar(a, m, dg, &err) == DESK_OK, "set_grammar: %s", err.msg);
        dgstate *ref = dgstate_new(desk_grammar_internal(dg));
        for (int step = 0; step < 30; step++) {
            random_logits(logits, r->n);
            for (int32_t i = 0; i < r->n; i++) /* favour long tokens: they reach the limits */
                if (r->bytes[i]) logits[i] += 0.5f * (float)r->len[i];
            int32_t t = desk_sampler_sample(a, logits);
            steps++;
            if (desk_token_is_eog(m, t)) break;
            bool ok = r->bytes[t] && dgstate_advance(ref, r->bytes[t], r->len[t]);
            CHECK(ok, "limits, seed %d step %d: the sampler drew token %d '%.*s', which the recognizer refuses", (int)seed,
                  step, t, (int)r->len[t], r->bytes[t] ? r->bytes[t] : "");
            if (!ok) break;
        }
        /* past a limit, text the grammar allows is refused */
        limited += !dgstate_allows(ref, "abcdefghijklmnopqrstuvwxyz", 26) && dgstate_limited(ref);
        dgstate_free(ref);
        desk_sampler_free(a);
        desk_grammar_free(dg);
    }
    CHECK(limited > 0, "limits: the grammar never reached a limit, so this checks nothing");
    printf("  limits: %d draws, every one allowed by the recognizer; %d of 6 outputs reached a limit\n", steps, limited);
    free(logits);
}

static dgrammar *from_schema(const char *json) {
    char *gbnf;
    desk_error err;
    dgrammar *g = NULL;
    if (dschema_to_gbnf(json, strlen(json), &gbnf, &err)) { CHECK(0, "schema: %s", err.msg); return NULL; }
    if (dgrammar_parse(gbnf, strlen(gbnf), &g, &err)) CHECK(0, "grammar: %s", err.msg);
    free(gbnf);
    return g;
}

static dgrammar *from_gbnf(const char *gbnf) {
    desk_error err;
    dgrammar *g = NULL;
    if (dgrammar_parse(gbnf, strlen(gbnf), &g, &err)) CHECK(0, "grammar: %s", err.msg);
    return g;
}

static const struct { const char *name, *text; bool schema; } GRAMMARS[] = {
    {"sentiment record", "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"ticker\",\"sentiment\",\"score\"],"
     "\"properties\":{\"ticker\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{1,5}$\"},"
     "\"sentiment\":{\"enum\":[\"positive\",\"negative\",\"neutral\"]},"
     "\"score\":{\"type\":\"number\",\"minimum\":-1,\"maximum\":1},"
     "\"reason\":{\"type\":\"string\",\"maxLength\":200}}}", true},
    {"entities list", "{\"type\":\"array\",\"maxItems\":40,\"items\":{\"type\":\"object\",\"required\":[\"name\",\"tags\"],"
     "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":60},"
     "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":30},\"maxItems\":25}}}}", true},
    {"any JSON object", NULL, false}, /* response_format json_object */
    {"long repetitions", "root ::= [a-z]{0,100} \".\" | [a-z ]{20,60} | \"x\"{5,300} \"!\" | ([a-c] [d-f]){3,50} \";\"", false},
    {"nullable repeat item", "root ::= (\"a\"? \"b\"?){0,40} \"z\"", false},
    {"unicode", "root ::= [^\\x00-\\x7F]{1,30} \" \" [\\u00e9\\u20ac]{0,20}", false},
};

int main(int argc, char **argv) {
    vocab v;
    make_vocab(&v, 3000);
    dgtrie *t = dgtrie_new(v.n, (const char *const *)v.bytes, v.len);
    CHECK(t != NULL, "trie");
    size_t n;
    CHECK(t && dgtrie_token(t, 5, &n) == NULL && dgtrie_token(t, 0, &n) && n == 1, "token bytes from the trie");
    for (size_t i = 0; t && i < sizeof GRAMMARS / sizeof *GRAMMARS; i++) {
        char *any = GRAMMARS[i].text ? NULL : dschema_any_object_gbnf();
        dgrammar *g = GRAMMARS[i].schema ? from_schema(GRAMMARS[i].text) : from_gbnf(any ? any : GRAMMARS[i].text);
        free(any);
        if (!g) continue;
        walks(GRAMMARS[i].name, g, t, &v, 12, 120, 0);
        char small[80];
        snprintf(small, sizeof small, "%s, tiny tables", GRAMMARS[i].name);
        walks(small, g, t, &v, 3, 60, 96);
        dgrammar_free(g);
    }
    CHECK(all_rebuilds > 10, "the tiny tables were rebuilt only %u times", all_rebuilds);
    dgtrie_free(t);
    free_vocab(&v);

    if (argc > 1) { /* a real vocabulary */
        desk_model *m;
        desk_error err;
        if (desk_model_load_vocab(argv[1], &m, &err)) {
            CHECK(0, "%s: %s", argv[1], err.msg);
            return t_done("grammar masks");
        }
        vocab r = {.n = desk_vocab_size(m)};
        r.bytes = calloc((size_t)r.n, sizeof *r.bytes);
        r.len = calloc((size_t)r.n, sizeof *r.len);
        char buf[DG_MAX_TOKEN];
        for (int32_t i = 0; i < r.n; i++) {
            if (desk_token_is_eog(m, i) || desk_token_is_special(m, i)) continue;
            size_t k = desk_token_bytes(m, i, buf, sizeof buf);
            if (!k || k > sizeof buf) continue;
            r.bytes[i] = malloc(k);
            memcpy(r.bytes[i], buf, k);
            r.len[i] = (uint16_t)k;
        }
        t = dgtrie_new(r.n, (const char *const *)r.bytes, r.len);
        dgrammar *g = from_schema(GRAMMARS[0].text);
        if (t && g) walks("sentiment record, real vocab", g, t, &r, 3, 40, 0);
        dgrammar_free(g);
        g = from_schema(GRAMMARS[1].text);
        if (t && g) walks("entities list, real vocab", g, t, &r, 2, 40, 0);
        dgrammar_free(g);
        dgtrie_free(t);
        exact_sampling(m, &r, GRAMMARS[0].text);
        limited_sampling(m, &r);
        free_vocab(&r);
        desk_model_free(m);
    }
    return t_done("grammar masks");
}
