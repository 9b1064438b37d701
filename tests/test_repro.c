/*
 * test_repro.c - desk's bit-reproducibility guarantee: a sequence's logits
 * are bit-identical whatever the thread count, however its prompt is split
 * into batches, whichever other sequences share its batch, and whichever
 * kernel set (scalar, AVX2, AVX-512, NEON) runs it, and whichever thread
 * count the weights were laid out for.
 *
 * usage: test_repro MODEL.gguf [KV_TYPE]
 */
#include "testutil.h"

#define N 24

static int32_t toks_a[N], toks_b[N];
static int32_t V;
static int kv_type = DESK_TYPE_F16;

/* logits of every position of sequence A, computed in `chunk`-token batches */
static float *run_alone(desk_model *m, int threads, int chunk) {
    desk_error err;
    desk_ctx_params p = desk_ctx_default_params();
    p.n_ctx = 64; p.n_batch = chunk; p.n_outputs = chunk; p.n_threads = threads; p.kv_type = kv_type;
    desk_ctx *c;
    if (desk_ctx_new(m, &p, &c, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    float *out = malloc((size_t)N * (size_t)V * 4);
    int32_t pos[N], seq[N];
    bool want[N];
    for (int done = 0; done < N; done += chunk) {
        int k = N - done < chunk ? N - done : chunk;
        for (int i = 0; i < k; i++) { pos[i] = done + i; seq[i] = 0; want[i] = true; }
        desk_batch b = {k, toks_a + done, pos, seq, want};
        if (desk_ctx_decode(c, &b, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        for (int i = 0; i < k; i++) memcpy(out + (size_t)(done + i) * V, desk_ctx_batch_logits(c, i), (size_t)V * 4);
    }
    desk_ctx_free(c);
    return out;
}

/* A and B interleaved in shared batches (B's slot first, different lengths) */
static float *run_shared(desk_model *m, int threads) {
    desk_error err;
    desk_ctx_params p = desk_ctx_default_params();
    p.n_ctx = 64; p.n_seq = 3; p.n_batch = 2 * N; p.n_outputs = 2 * N; p.n_threads = threads; p.kv_type = kv_type;
    desk_ctx *c;
    if (desk_ctx_new(m, &p, &c, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    /* first B alone for 5 tokens in slot 2, then batches mixing A (slot 1) and B */
    int32_t t[2 * N], pos[2 * N], seq[2 * N];
    bool want[2 * N];
    for (int i = 0; i < 5; i++) { t[i] = toks_b[i]; pos[i] = i; seq[i] = 2; want[i] = false; }
    desk_batch b0 = {5, t, pos, seq, want};
    if (desk_ctx_decode(c, &b0, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    float *out = malloc((size_t)N * (size_t)V * 4);
    int a = 0, bb = 5, step = 0;
    while (a < N) {
        int n = 0, ka = 1 + step % 4;
        for (int i = 0; i < ka && a < N; i++, a++) { t[n] = toks_a[a]; pos[n] = a; seq[n] = 1; want[n] = true; n++; }
        if (bb < N) { t[n] = toks_b[bb]; pos[n] = bb; seq[n] = 2; want[n] = true; n++; bb++; }
        desk_batch b = {n, t, pos, seq, want};
        if (desk_ctx_decode(c, &b, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        for (int i = 0; i < n; i++)
            if (seq[i] == 1) memcpy(out + (size_t)pos[i] * V, desk_ctx_batch_logits(c, i), (size_t)V * 4);
        step++;
    }
    desk_ctx_free(c);
    return out;
}

/* desk_ctx_eval: A's prompt in 4-token chunks into slot 0, B into slot 1,
 * then A token by token; each slot's desk_ctx_logits must be A's logits at
 * that position (the last decode of the other slot must not disturb it) and
 * desk_ctx_batch_logits the row the last eval made. Returns the
 * number of mismatches. */
static int check_eval(desk_model *m, const float *base) {
    desk_error err;
    desk_ctx_params p = desk_ctx_default_params();
    p.n_ctx = 64; p.n_seq = 2; p.n_batch = 4; p.n_outputs = 4; p.n_threads = 2; p.kv_type = kv_type;
    desk_ctx *c;
    if (desk_ctx_new(m, &p, &c, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    int bad = 0;
    if (desk_ctx_eval(c, 0, toks_a, 10, &err) || desk_ctx_eval(c, 1, toks_b, 7, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    float *b_row = malloc((size_t)V * 4);
    memcpy(b_row, desk_ctx_logits(c, 1), (size_t)V * 4);
    const float *last = desk_ctx_batch_logits(c, (7 - 1) % 4); /* B's last token: index 2 of its last chunk */
    bad += !last || memcmp(last, b_row, (size_t)V * 4) != 0;
    bad += memcmp(desk_ctx_logits(c, 0), base + (size_t)9 * V, (size_t)V * 4) != 0;
    for (int i = 10; i < N; i++) {
        if (desk_ctx_eval(c, 0, &toks_a[i], 1, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
        bad += memcmp(desk_ctx_logits(c, 0), base + (size_t)i * V, (size_t)V * 4) != 0;
        last = desk_ctx_batch_logits(c, 0);
        bad += !last || memcmp(last, base + (size_t)i * V, (size_t)V * 4) != 0;
        bad += memcmp(desk_ctx_logits(c, 1), b_row, (size_t)V * 4) != 0;
    }
    free(b_row);
    desk_ctx_free(c);
    return bad;
}

static int first_diff(const float *x, const float *y) {
    for (int i = 0; i < N * V; i++)
        if (memcmp(&x[i], &y[i], 4) != 0) return i;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) { fprintf(stderr, "usage: %s MODEL.gguf [KV_TYPE]\n", argv[0]); return 2; }
    if (argc == 3) kv_type = desk_type_from_name(argv[2]);
    desk_error err;
    desk_model *m;
    if (desk_model_load(argv[1], &m, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    V = desk_vocab_size(m);
    uint64_t rng = 99;
    for (int i = 0; i < N; i++) { toks_a[i] = (int32_t)(t_rand(&rng) % (uint64_t)V); toks_b[i] = (int32_t)(t_rand(&rng) % (uint64_t)V); }
    float *base = run_alone(m, 1, N);
    int threads[] = {2, 3, 4};
    for (int i = 0; i < 3; i++) {
        float *x = run_alone(m, threads[i], N);
        int d = first_diff(base, x);
        CHECK(d < 0, "%d threads differ from 1 thread at logit %d", threads[i], d);
        free(x);
    }
    int chunks[] = {1, 3, 7, 16};
    for (int i = 0; i < 4; i++) {
        float *x = run_alone(m, 2, chunks[i]);
        int d = first_diff(base, x);
        CHECK(d < 0, "prompt in batches of %d differs from one batch at logit %d", chunks[i], d);
        free(x);
    }
    float *x = run_shared(m, 2);
    int d = first_diff(base, x);
    CHECK(d < 0, "sharing batches with another sequence changes logits at %d", d);
    free(x);
    /* the weights laid out for other thread counts (llama.c: one run of
     * memory per thread), run on 2 and 3 threads */
    int layouts[] = {1, 3, 7};
    for (int i = 0; i < 3; i++) {
        desk_model *m2;
        if (desk_model_load_for(argv[1], layouts[i], &m2, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        for (int th = 2; th <= 3; th++) {
            float *y = run_alone(m2, th, 5);
            d = first_diff(base, y);
            CHECK(d < 0, "weights laid out for %d threads, run on %d, differ at logit %d", layouts[i], th, d);
            free(y);
        }
        desk_model_free(m2);
    }
    int bad = check_eval(m, base);
    CHECK(bad == 0, "desk_ctx_eval: %d logits rows differ from one batch or were disturbed by the other slot", bad);
    const char *sets[] = {"scalar", "avx2", "avx512", "neon"};
    int ran = 0;
    for (int i = 0; i < 4; i++) {
        if (!desk_set_kernels(sets[i])) continue;
        /* on the model as loaded (packed for the default set), then on one
         * packed for this set (x16 pairs or x8 groups, ops.h) */
        for (int fresh = 0; fresh < 2; fresh++) {
            desk_model *m2 = m;
            if (fresh && desk_model_load_for(argv[1], 2, &m2, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            float *y = run_alone(m2, 2, 5);
            d = first_diff(base, y);
            CHECK(d < 0, "kernel set %s differs at logit %d on the model %s", sets[i], d,
                  fresh ? "packed for it" : "packed for the default set");
            free(y);
            if (fresh) desk_model_free(m2);
        }
        ran++;
    }
    CHECK(ran >= 1, "no kernel set ran");
    /* desk_ctx_timing: prompt batches and generation steps counted apart, attention inside each, reset */
    {
        desk_ctx_params p = desk_ctx_default_params();
        p.n_ctx = 64; p.n_batch = 16; p.n_threads = 2; p.kv_type = kv_type;
        desk_ctx *c;
        if (desk_ctx_new(m, &p, &c, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        desk_ctx_timing t = desk_ctx_timing_get(c);
        CHECK(t.prompt_batches == 0 && t.gen_steps == 0 && t.prompt_s == 0 && t.gen_s == 0, "a new context's timing is not zero");
        if (desk_ctx_eval(c, 0, toks_a, 20, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; } /* 16 + 4 */
        for (int i = 0; i < 3; i++)
            if (desk_ctx_eval(c, 0, toks_a + 20 + i, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        t = desk_ctx_timing_get(c);
        CHECK(t.prompt_batches == 2 && t.gen_steps == 3, "timing counted %lld prompt batches and %lld steps, not 2 and 3",
              (long long)t.prompt_batches, (long long)t.gen_steps);
        CHECK(t.prompt_attention_s > 0 && t.prompt_attention_s < t.prompt_s, "prompt attention %g s of %g", t.prompt_attention_s, t.prompt_s);
        CHECK(t.gen_attention_s > 0 && t.gen_attention_s < t.gen_s, "step attention %g s of %g", t.gen_attention_s, t.gen_s);
        desk_ctx_timing_reset(c);
        t = desk_ctx_timing_get(c);
        CHECK(t.prompt_batches == 0 && t.gen_steps == 0 && t.prompt_s == 0 && t.gen_attention_s == 0, "timing after a reset is not zero");
        desk_ctx_free(c);
    }
    printf("%s (KV cache %s): threads 1-4, batches of 1/3/7/16/24, shared batches, desk_ctx_eval, layouts for 1/3/7 threads, %d kernel sets: identical\n", argv[1],
           desk_type_name(kv_type), ran);
    free(base);
    desk_model_free(m);
    return t_done("reproducibility");
}
