/*
 * scheduler.c - continuous batching: many requests over one context.
 *
 * One thread owns the context. Each step it admits queued requests into
 * free slots, then builds one batch: the last sampled token of every
 * generating slot, and after them chunks of the prompts still being read (the
 * oldest first, within n_batch), so a new prompt joins without stopping the
 * others. After the forward pass it samples each slot that has logits with
 * that request's own sampler and hands the token to the request.
 *
 * Locking: s->mu guards the queue, the slots and the statistics; r->mu
 * guards a request's output (tokens, finish state) and is taken inside
 * s->mu, never the other way round. The forward pass runs without s->mu, so
 * submit and cancel never wait for it.
 */
#include "model/model.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct desk_request {
    desk_sched *s;
    _Atomic int refs;             /* the caller's handle and the scheduler's */
    _Atomic int cancel;
    /* set at submit, then read-only */
    int32_t *prompt;
    int n_prompt, max_tokens;
    bool ignore_eos;
    desk_sampler_params sp;
    int top_logprobs;             /* -1: no log-probabilities */
    desk_grammar *grammar;        /* owned; NULL: unconstrained */
    /* the output, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int32_t *out;
    desk_token_info *info;        /* [max_tokens] when log-probabilities were asked for */
    int n_out, n_taken;
    desk_finish finish;
    char error[512];              /* as long as desk_error.msg */
    desk_request *next;           /* queue link, under s->mu */
};

typedef struct {
    desk_request *r;              /* NULL: free */
    desk_sampler *smp;
    int n_fed;                    /* prompt tokens in the cache */
    bool generating;              /* the prompt is in; `last` is the next token to feed */
    int32_t last;
    uint64_t admitted;            /* admission order, for prompt chunk fairness */
    int len;                      /* positions in the cache after the current step (for statistics) */
} slot;

struct desk_sched {
    const desk_model *m;
    desk_ctx *c;
    desk_sched_params p;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* work arrived, or stop */
    bool stop;
    desk_request *q_head, *q_tail;
    int n_queued;
    slot *slots;
    uint64_t admissions;
    int32_t *b_tok, *b_pos, *b_seq;
    bool *b_want;
    int *b_slot;                  /* batch index -> slot, for tokens with logits */
    int *smp_t;                   /* batch indices to sample this step */
    int32_t *smp_tok;             /* their sampled tokens */
    int n_smp;
    desk_sched_stats st;
};

desk_sched_params desk_sched_default_params(void) {
    return (desk_sched_params){.n_slots = 4, .n_ctx = 0, .n_batch = 256, .n_threads = 0, .queue_max = 64,
                               .kv_type = 0};
}

static void request_release(desk_request *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->prompt);
    free(r->out);
    free(r->info);
    desk_grammar_free(r->grammar);
    free(r);
}

/* under s->mu: the request is done; wake its reader and drop the scheduler's reference */
static void request_finish(desk_request *r, desk_finish f, const char *msg) {
    pthread_mutex_lock(&r->mu);
    if (r->finish == DESK_FINISH_NONE) {
        r->finish = f;
        if (msg) snprintf(r->error, sizeof r->error, "%s", msg);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    request_release(r);
}

static void slot_free(desk_sched *s, int i, desk_finish f, const char *msg) {
    slot *sl = &s->slots[i];
    desk_sampler_set_grammar(sl->smp, s->m, NULL, NULL); /* the grammar goes with its request */
    request_finish(sl->r, f, msg);
    sl->r = NULL;
    sl->len = 0;
    desk_ctx_seq_truncate(s->c, i, 0);
}

/* under s->mu: queued requests into free slots */
static void admit(desk_sched *s) {
    for (int i = 0; i < s->p.n_slots && s->q_head; i++) {
        slot *sl = &s->slots[i];
        if (sl->r) continue;
        desk_request *r = s->q_head;
        s->q_head = r->next;
        if (!s->q_head) s->q_tail = NULL;
        s->n_queued--;
        desk_error err;
        desk_sampler_free(sl->smp);
        sl->smp = NULL;
        if (desk_sampler_new(&r->sp, desk_vocab_size(s->m), &sl->smp, &err)) {
            request_finish(r, DESK_FINISH_ERROR, err.msg);
            i--; /* the slot is still free */
            continue;
        }
        if (r->grammar && desk_sampler_set_grammar(sl->smp, s->m, r->grammar, &err)) {
            request_finish(r, DESK_FINISH_ERROR, err.msg);
            i--;
            continue;
        }
        for (int k = 0; k < r->n_prompt; k++) desk_sampler_accept(sl->smp, r->prompt[k]);
        desk_ctx_seq_truncate(s->c, i, 0);
        sl->r = r;
        sl->n_fed = 0;
        sl->generating = false;
        sl->admitted = s->admissions++;
        s->st.requests++;
    }
}

/* under s->mu: slots whose requests were cancelled give their slot back */
static void reap(desk_sched *s) {
    for (int i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].r && atomic_load(&s->slots[i].r->cancel)) slot_free(s, i, DESK_FINISH_CANCELLED, NULL);
    for (desk_request **pp = &s->q_head; *pp;) {
        desk_request *r = *pp;
        if (!atomic_load(&r->cancel)) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        s->n_queued--;
        request_finish(r, DESK_FINISH_CANCELLED, NULL);
    }
    s->q_tail = NULL;
    for (desk_request *r = s->q_head; r; r = r->next) s->q_tail = r;
}

/* under s->mu: the batch for this step; returns its token count */
static int build_batch(desk_sched *s) {
    int n = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->r || !sl->generating) continue;
        s->b_tok[n] = sl->last;
        s->b_pos[n] = desk_ctx_seq_len(s->c, i);
        s->b_seq[n] = i;
        s->b_want[n] = true;
        s->b_slot[n] = i;
        sl->len = s->b_pos[n] + 1;
        n++;
    }
    for (;;) { /* prompt chunks, oldest request first */
        int best = -1;
        for (int i = 0; i < s->p.n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->r && !sl->generating && sl->n_fed < sl->r->n_prompt &&
                (best < 0 || sl->admitted < s->slots[best].admitted))
                best = i;
        }
        if (best < 0 || n >= s->p.n_batch) break;
        slot *sl = &s->slots[best];
        int k = sl->r->n_prompt - sl->n_fed;
        if (k > s->p.n_batch - n) k = s->p.n_batch - n;
        for (int j = 0; j < k; j++, n++) {
            s->b_tok[n] = sl->r->prompt[sl->n_fed + j];
            s->b_pos[n] = sl->n_fed + j;
            s->b_seq[n] = best;
            s->b_want[n] = sl->n_fed + j == sl->r->n_prompt - 1;
            s->b_slot[n] = best;
        }
        sl->n_fed += k;
        sl->len = sl->n_fed;
        s->st.prompt_tokens += (uint64_t)k;
        if (sl->n_fed < sl->r->n_prompt) break; /* the batch is full */
        sl->generating = true;                  /* its logits arrive with this step */
    }
    return n;
}

/* Samples the listed batch tokens, each with its own request's sampler, on
 * the context's threads: samplers are independent, so which thread runs one
 * changes nothing. Log-probabilities go straight into the request's next
 * entry (only this step writes it; readers wait for n_out under r->mu). */
static void sample_job(void *arg, int ith, int nth) {
    desk_sched *s = arg;
    for (int k = ith; k < s->n_smp; k += nth) {
        int t = s->smp_t[k];
        slot *sl = &s->slots[s->b_slot[t]];
        desk_request *r = sl->r;
        const float *logits = desk_ctx_batch_logits(s->c, t);
        int32_t tok = desk_sampler_sample(sl->smp, logits);
        desk_sampler_accept(sl->smp, tok); /* harmless if tok ends the request: its sampler is dropped */
        if (r->info && !(!r->ignore_eos && desk_token_is_eog(s->m, tok)))
            desk_logprobs(logits, desk_vocab_size(s->m), tok, r->top_logprobs, &r->info[r->n_out]);
        s->smp_tok[k] = tok;
    }
}

/* under s->mu, after the forward pass: sample every slot that has logits */
static void sample_all(desk_sched *s, int n) {
    s->n_smp = 0;
    for (int t = 0; t < n; t++) {
        if (!s->b_want[t]) continue;
        int i = s->b_slot[t];
        desk_request *r = s->slots[i].r;
        if (!r) continue;
        if (atomic_load(&r->cancel)) {
            slot_free(s, i, DESK_FINISH_CANCELLED, NULL);
            continue;
        }
        s->smp_t[s->n_smp++] = t;
    }
    if (s->n_smp == 1) sample_job(s, 0, 1);
    else if (s->n_smp > 1) desk_pool_run(desk_ctx_pool(s->c), sample_job, s);
    for (int k = 0; k < s->n_smp; k++) {
        int i = s->b_slot[s->smp_t[k]];
        slot *sl = &s->slots[i];
        desk_request *r = sl->r;
        int32_t tok = s->smp_tok[k];
        if (!r->ignore_eos && desk_token_is_eog(s->m, tok)) {
            slot_free(s, i, DESK_FINISH_STOP, NULL);
            continue;
        }
        pthread_mutex_lock(&r->mu);
        r->out[r->n_out++] = tok;
        int n_out = r->n_out;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        s->st.generated_tokens++;
        sl->last = tok;
        if (n_out >= r->max_tokens) slot_free(s, i, DESK_FINISH_LENGTH, NULL);
        else if (desk_ctx_seq_len(s->c, i) >= s->p.n_ctx) slot_free(s, i, DESK_FINISH_CONTEXT, NULL);
    }
}

static void *sched_main(void *arg) {
    desk_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        reap(s);
        admit(s);
        int n = build_batch(s);
        if (n == 0) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        desk_batch b = {n, s->b_tok, s->b_pos, s->b_seq, s->b_want};
        pthread_mutex_unlock(&s->mu);
        desk_error err;
        desk_status st = desk_ctx_decode(s->c, &b, &err);
        pthread_mutex_lock(&s->mu);
        s->st.steps++;
        if (st) { /* should not happen: the batch was built to fit; fail its requests, keep serving */
            for (int t = 0; t < n; t++)
                if (s->slots[s->b_slot[t]].r) slot_free(s, s->b_slot[t], DESK_FINISH_ERROR, err.msg);
            continue;
        }
        sample_all(s, n);
    }
    for (int i = 0; i < s->p.n_slots; i++)
        if (s->slots[i].r) slot_free(s, i, DESK_FINISH_CANCELLED, "the scheduler stopped");
    while (s->q_head) {
        desk_request *r = s->q_head;
        s->q_head = r->next;
        request_finish(r, DESK_FINISH_CANCELLED, "the scheduler stopped");
    }
    s->q_tail = NULL;
    s->n_queued = 0;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

desk_status desk_sched_new(const desk_model *m, const desk_sched_params *pp, desk_sched **out, desk_error *err) {
    *out = NULL;
    desk_sched_params p = pp ? *pp : desk_sched_default_params();
    if (p.n_slots < 1 || p.n_slots > 4096 || p.queue_max < 0 || p.n_batch < 0 || p.n_ctx < 0)
        return desk_fail(err, DESK_EINVAL, "scheduler parameters out of range (slots %d, queue %d, batch %d, ctx %d)",
                         p.n_slots, p.queue_max, p.n_batch, p.n_ctx);
    if (p.n_batch == 0) p.n_batch = 256;
    if (p.n_batch < p.n_slots) p.n_batch = p.n_slots; /* every generating slot fits one step */
    desk_sched *s = calloc(1, sizeof *s);
    if (!s) return desk_fail(err, DESK_ENOMEM, "out of memory");
    s->m = m;
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_seq = p.n_slots;
    cp.n_batch = p.n_batch;
    cp.n_threads = p.n_threads;
    cp.n_outputs = p.n_slots;
    cp.kv_type = p.kv_type;
    desk_status st = desk_ctx_new(m, &cp, &s->c, err);
    if (st) {
        free(s);
        return st;
    }
    p.n_ctx = desk_ctx_n_ctx(s->c);
    s->p = p;
    size_t nb = (size_t)p.n_batch;
    s->slots = calloc((size_t)p.n_slots, sizeof *s->slots);
    s->b_tok = malloc(nb * sizeof(int32_t));
    s->b_pos = malloc(nb * sizeof(int32_t));
    s->b_seq = malloc(nb * sizeof(int32_t));
    s->b_want = malloc(nb * sizeof(bool));
    s->b_slot = malloc(nb * sizeof(int));
    s->smp_t = malloc((size_t)p.n_slots * sizeof(int));
    s->smp_tok = malloc((size_t)p.n_slots * sizeof(int32_t));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_want || !s->b_slot || !s->smp_t || !s->smp_tok) {
        desk_sched_free(s);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        desk_sched_free(s);
        return desk_fail(err, DESK_ENOMEM, "could not start the scheduler thread");
    }
    s->started = true;
    *out = s;
    return DESK_OK;
}

void desk_sched_free(desk_sched *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; s->slots && i < s->p.n_slots; i++) desk_sampler_free(s->slots[i].smp);
    desk_ctx_free(s->c);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_want);
    free(s->b_slot);
    free(s->smp_t);
    free(s->smp_tok);
    free(s);
}

desk_status desk_sched_submit(desk_sched *s, const desk_request_params *p, desk_request **out, desk_error *err) {
    *out = NULL;
    if (!p || !p->prompt || p->n_prompt < 1 || p->max_tokens < 1)
        return desk_fail(err, DESK_EINVAL, "a request needs at least one prompt token and max_tokens >= 1");
    for (int i = 0; i < p->n_prompt; i++)
        if (p->prompt[i] < 0 || p->prompt[i] >= desk_vocab_size(s->m))
            return desk_fail(err, DESK_EINVAL, "prompt token %d at index %d is outside the vocabulary (%d)", p->prompt[i], i,
                             desk_vocab_size(s->m));
    if (p->logprobs && (p->top_logprobs < 0 || p->top_logprobs > DESK_MAX_TOP_LOGPROBS))
        return desk_fail(err, DESK_EINVAL, "top_logprobs is %d; it must be between 0 and %d", p->top_logprobs,
                         DESK_MAX_TOP_LOGPROBS);
    if (p->n_prompt >= s->p.n_ctx)
        return desk_fail(err, DESK_ERANGE, "the prompt has %d tokens; a slot's context holds %d, so at most %d fit",
                         p->n_prompt, s->p.n_ctx, s->p.n_ctx - 1);
    desk_request *r = calloc(1, sizeof *r);
    int cap = p->max_tokens < s->p.n_ctx ? p->max_tokens : s->p.n_ctx;
    if (r) {
        r->prompt = malloc((size_t)p->n_prompt * sizeof(int32_t));
        r->out = malloc((size_t)cap * sizeof(int32_t));
        if (p->logprobs) r->info = malloc((size_t)cap * sizeof *r->info);
    }
    if (!r || !r->prompt || !r->out || (p->logprobs && !r->info)) {
        if (r) { free(r->prompt); free(r->out); free(r->info); }
        free(r);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    memcpy(r->prompt, p->prompt, (size_t)p->n_prompt * sizeof(int32_t));
    r->n_prompt = p->n_prompt;
    r->max_tokens = cap;
    r->ignore_eos = p->ignore_eos;
    r->sp = p->sampling;
    r->top_logprobs = p->logprobs ? p->top_logprobs : -1;
    r->s = s;
    atomic_init(&r->refs, 2);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_lock(&s->mu);
    if (s->n_queued >= s->p.queue_max) {
        pthread_mutex_unlock(&s->mu);
        atomic_store(&r->refs, 1);
        request_release(r);
        return desk_fail(err, DESK_EBUSY, "all %d slots are busy and %d requests are waiting", s->p.n_slots,
                         s->p.queue_max);
    }
    r->grammar = p->grammar; /* taken only now that the request is queued */
    if (s->q_tail) s->q_tail->next = r;
    else s->q_head = r;
    s->q_tail = r;
    s->n_queued++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    *out = r;
    return DESK_OK;
}

int desk_request_next(desk_request *r, int32_t *tok, int timeout_ms) {
    desk_token_info info;
    int rc = desk_request_next_info(r, &info, timeout_ms);
    if (rc == 1) *tok = info.tok;
    return rc;
}

int desk_request_next_info(desk_request *r, desk_token_info *info, int timeout_ms) {
    struct timespec until;
    if (timeout_ms >= 0) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
    }
    int rc = -1;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->n_taken < r->n_out) {
            if (r->info) {
                *info = r->info[r->n_taken];
            } else {
                info->tok = r->out[r->n_taken];
                info->logprob = 0;
                info->n_top = 0;
            }
            r->n_taken++;
            rc = 1;
            break;
        }
        if (r->finish != DESK_FINISH_NONE) {
            rc = 0;
            break;
        }
        if (timeout_ms < 0) pthread_cond_wait(&r->cv, &r->mu);
        else if (pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0) break;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

desk_finish desk_request_finish(const desk_request *r) {
    desk_request *w = (desk_request *)r;
    pthread_mutex_lock(&w->mu);
    desk_finish f = w->finish;
    pthread_mutex_unlock(&w->mu);
    return f;
}

const char *desk_request_error(const desk_request *r) { return r->error; }

void desk_request_cancel(desk_request *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    bool running = r->finish == DESK_FINISH_NONE;
    pthread_mutex_unlock(&r->mu);
    if (!running || atomic_exchange(&r->cancel, 1)) return;
    desk_sched *s = r->s;
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv); /* the scheduler reaps it before its next step */
    pthread_mutex_unlock(&s->mu);
}

void desk_request_free(desk_request *r) {
    if (!r) return;
    desk_request_cancel(r);
    request_release(r);
}

void desk_sched_get_stats(desk_sched *s, desk_sched_stats *st) {
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    st->slots = s->p.n_slots;
    st->queued = s->n_queued;
    st->slots_busy = 0;
    st->kv_positions_used = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        if (s->slots[i].r) st->slots_busy++;
        st->kv_positions_used += (uint64_t)s->slots[i].len;
    }
    st->kv_positions_total = (uint64_t)s->p.n_slots * (uint64_t)s->p.n_ctx;
    pthread_mutex_unlock(&s->mu);
}
