/*
 * test_sched.c - the continuous-batching scheduler against solo runs:
 * 16 clients on their own threads, 4 slots, prompts read in chunks while
 * others generate; every client must get exactly the tokens and finish
 * reason of the same request decoded alone on a fresh context (the way
 * `desk run` decodes). Then the limits: a prompt that does not fit, a full
 * queue, and a cancellation that frees its slot for the next request.
 *
 * usage: test_sched MODEL.gguf
 */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { N_REQ = 16, MAX_TOK = 24, N_CTX = 96 };

typedef struct {
    int32_t prompt[64];
    int n_prompt;
    desk_request_params p;
    int32_t want[N_CTX], got[N_CTX];
    int n_want, n_got;
    desk_finish want_f, got_f;
    desk_sched *s;
    desk_status submit_status;
} client;

/* the request alone, as desk run does it */
static void solo(const desk_model *m, client *cl) {
    desk_error err;
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = N_CTX;
    cp.n_threads = 2;
    desk_ctx *c = NULL;
    desk_sampler *smp = NULL;
    if (desk_ctx_new(m, &cp, &c, &err) || desk_sampler_new(&cl->p.sampling, desk_vocab_size(m), &smp, &err)) {
        CHECK(0, "solo setup: %s", err.msg);
        return;
    }
    for (int i = 0; i < cl->n_prompt; i++) desk_sampler_accept(smp, cl->prompt[i]);
    CHECK(desk_ctx_eval(c, 0, cl->prompt, cl->n_prompt, &err) == DESK_OK, "solo prefill: %s", err.msg);
    cl->n_want = 0;
    for (;;) {
        int32_t tok = desk_sampler_sample(smp, desk_ctx_logits(c, 0));
        if (!cl->p.ignore_eos && desk_token_is_eog(m, tok)) { cl->want_f = DESK_FINISH_STOP; break; }
        desk_sampler_accept(smp, tok);
        cl->want[cl->n_want++] = tok;
        if (cl->n_want >= cl->p.max_tokens) { cl->want_f = DESK_FINISH_LENGTH; break; }
        if (desk_ctx_seq_len(c, 0) >= N_CTX) { cl->want_f = DESK_FINISH_CONTEXT; break; }
        CHECK(desk_ctx_eval(c, 0, &tok, 1, &err) == DESK_OK, "solo decode: %s", err.msg);
    }
    desk_sampler_free(smp);
    desk_ctx_free(c);
}

static void *client_main(void *arg) {
    client *cl = arg;
    desk_error err;
    desk_request *r = NULL;
    cl->submit_status = desk_sched_submit(cl->s, &cl->p, &r, &err);
    if (cl->submit_status) return NULL;
    int32_t tok;
    int rc;
    while ((rc = desk_request_next(r, &tok, 10000)) == 1) cl->got[cl->n_got++] = tok;
    cl->got_f = rc == 0 ? desk_request_finish(r) : DESK_FINISH_NONE;
    desk_request_free(r);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_sched MODEL.gguf\n");
        return 2;
    }
    desk_error err;
    desk_model *m = NULL;
    if (desk_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int V = desk_vocab_size(m);
    static client cl[N_REQ];
    uint64_t rng = 12345;
    for (int i = 0; i < N_REQ; i++) {
        cl[i].n_prompt = 1 + (int)(t_rand(&rng) % 60); /* up to 60: several need two chunks of 32 */
        if (i == 5) cl[i].n_prompt = N_CTX - 4;        /* reaches the end of its context */
        for (int k = 0; k < cl[i].n_prompt && k < 64; k++) cl[i].prompt[k] = (int32_t)(t_rand(&rng) % (uint64_t)V);
        if (cl[i].n_prompt > 64) cl[i].n_prompt = 64;
        cl[i].p.prompt = cl[i].prompt;
        cl[i].p.n_prompt = cl[i].n_prompt;
        cl[i].p.max_tokens = i == 5 ? 1000 : MAX_TOK - (i % 5);
        cl[i].p.ignore_eos = i % 3 != 0;
        cl[i].p.sampling = desk_sampler_default_params();
        cl[i].p.sampling.temperature = i % 4 == 0 ? 0.0f : 0.9f;
        cl[i].p.sampling.top_k = i % 2 ? 40 : 0;
        cl[i].p.sampling.seed = 1000 + (uint64_t)i;
        cl[i].p.sampling.presence_penalty = i % 7 == 0 ? 0.5f : 0.0f;
        solo(m, &cl[i]);
    }
    /* case 5 has a 60-token prompt in a 96-position slot */
    cl[5].n_prompt = 60;
    cl[5].p.n_prompt = 60;
    solo(m, &cl[5]);
    CHECK(cl[5].want_f == DESK_FINISH_CONTEXT, "the long request should fill its context (finish %d)", cl[5].want_f);

    desk_sched_params sp = desk_sched_default_params();
    sp.n_slots = 4;
    sp.n_ctx = N_CTX;
    sp.n_batch = 32;
    sp.n_threads = 2;
    sp.queue_max = N_REQ;
    desk_sched *s = NULL;
    if (desk_sched_new(m, &sp, &s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    pthread_t th[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        cl[i].s = s;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    for (int i = 0; i < N_REQ; i++) pthread_join(th[i], NULL);
    int same = 0;
    for (int i = 0; i < N_REQ; i++) {
        CHECK(cl[i].submit_status == DESK_OK, "client %d: submit failed (%d)", i, cl[i].submit_status);
        bool eq = cl[i].n_got == cl[i].n_want && memcmp(cl[i].got, cl[i].want, (size_t)cl[i].n_want * 4) == 0 &&
                  cl[i].got_f == cl[i].want_f;
        CHECK(eq, "client %d: %d tokens (finish %d) in the scheduler, %d (finish %d) alone", i, cl[i].n_got, cl[i].got_f,
              cl[i].n_want, cl[i].want_f);
        same += eq;
    }
    desk_sched_stats st;
    desk_sched_get_stats(s, &st);
    CHECK(st.requests == N_REQ && st.slots_busy == 0 && st.queued == 0, "stats after the run: %llu requests, %d busy, %d queued",
          (unsigned long long)st.requests, st.slots_busy, st.queued);
    printf("%d concurrent clients over %d slots: %d identical to their solo runs (%llu steps, %llu prompt and %llu generated tokens)\n",
           N_REQ, sp.n_slots, same, (unsigned long long)st.steps, (unsigned long long)st.prompt_tokens,
           (unsigned long long)st.generated_tokens);
    desk_sched_free(s);

    /* limits: a prompt that cannot fit, a full queue, cancellation */
    sp.n_slots = 1;
    sp.queue_max = 1;
    sp.n_ctx = 16384; /* long enough that the first request is still generating when it is cancelled */
    if (desk_sched_new(m, &sp, &s, &err)) return 1;
    static int32_t big[16384];
    for (int i = 0; i < 16384; i++) big[i] = 1;
    desk_request_params rp = {.prompt = big, .n_prompt = 16384, .max_tokens = 4, .ignore_eos = true,
                              .sampling = desk_sampler_default_params()};
    desk_request *r1 = NULL, *r2 = NULL, *r3 = NULL;
    CHECK(desk_sched_submit(s, &rp, &r1, &err) == DESK_ERANGE && strstr(err.msg, "16384 tokens") && strstr(err.msg, "16383"),
          "an oversized prompt gives DESK_ERANGE with the counts: %s", err.msg);
    rp.n_prompt = 8;
    rp.max_tokens = 16000;
    CHECK(desk_sched_submit(s, &rp, &r1, &err) == DESK_OK, "first request: %s", err.msg);
    int32_t tok;
    CHECK(desk_request_next(r1, &tok, 10000) == 1, "the first request generates");
    CHECK(desk_sched_submit(s, &rp, &r2, &err) == DESK_OK, "second request queues: %s", err.msg);
    CHECK(desk_sched_submit(s, &rp, &r3, &err) == DESK_EBUSY && r3 == NULL, "a full queue gives DESK_EBUSY: %s", err.msg);
    desk_request_cancel(r1);
    int n1 = 0;
    while (desk_request_next(r1, &tok, 10000) == 1) n1++;
    CHECK(desk_request_finish(r1) == DESK_FINISH_CANCELLED, "cancelled request finishes as cancelled (%d)", desk_request_finish(r1));
    CHECK(desk_request_next(r2, &tok, 10000) == 1, "the queued request gets the freed slot");
    desk_request_free(r1);
    desk_sched_free(s); /* r2 is still running: it finishes as cancelled */
    while (desk_request_next(r2, &tok, 10000) == 1) {}
    CHECK(desk_request_finish(r2) == DESK_FINISH_CANCELLED, "freeing the scheduler cancels its requests");
    desk_request_free(r2);
    desk_model_free(m);
    return t_done("scheduler");
}
