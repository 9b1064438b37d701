/*
 * server.c - the HTTP side of `desk serve`: libmicrohttpd with one thread per
 * connection (a streaming response blocks in its own thread waiting for
 * tokens), routing, API-key checks, OpenAI request parsing and response
 * objects, server-sent events, stop strings, and one log line per request.
 * Generation itself is the scheduler's (desk_sched_*).
 */
#include "serve/serve.h"
#include "serve/openai.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define PIECE_CAP 1024

typedef struct {
    const serve_config *cfg;
    desk_model *m;
    desk_sched *s;
    pthread_rwlock_t s_lock;       /* writers: shutdown; readers: request handlers using s */
    char model_id[256];
    int slot_ctx;                  /* positions per slot, fixed at startup */
    desk_template *tmpl;           /* the model's chat template, parsed at startup (NULL: none) */
    openai_chat chat;              /* it, with why there is none, and its bos/eos tokens */
    char chat_why[600];
    char bos[256], eos[256];
    time_t created;
    _Atomic uint64_t n_requests;
} server;

static _Atomic uint64_t n_errors; /* responses with a 4xx or 5xx status */

/* Prometheus histograms of the time to the first token and between tokens */
#define HIST_BUCKETS 10
typedef struct {
    const char *name, *help;
    double le[HIST_BUCKETS];       /* upper bounds in seconds; the last is +Inf */
    _Atomic uint64_t count[HIST_BUCKETS], n, sum_us;
} histogram;
static histogram h_ttft = {"desk_time_to_first_token_seconds", "Time from a request's arrival to its first generated token.",
                           {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, INFINITY}, {0}, 0, 0};
static histogram h_tpot = {"desk_time_per_output_token_seconds", "Time between consecutive generated tokens of a request.",
                           {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, INFINITY}, {0}, 0, 0};

static void hist_add(histogram *h, double s) {
    int i = 0;
    while (i < HIST_BUCKETS - 1 && s > h->le[i]) i++;
    atomic_fetch_add(&h->count[i], 1);
    atomic_fetch_add(&h->n, 1);
    atomic_fetch_add(&h->sum_us, (uint64_t)(s * 1e6));
}

static void hist_text(histogram *h, desk_buf *b) {
    char line[256];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    desk_buf_add(b, line, (size_t)n);
    uint64_t cum = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        cum += atomic_load(&h->count[i]);
        if (isinf(h->le[i])) n = snprintf(line, sizeof line, "%s_bucket{le=\"+Inf\"} %llu\n", h->name, (unsigned long long)cum);
        else n = snprintf(line, sizeof line, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->le[i], (unsigned long long)cum);
        desk_buf_add(b, line, (size_t)n);
    }
    n = snprintf(line, sizeof line, "%s_sum %.6f\n%s_count %llu\n", h->name, (double)atomic_load(&h->sum_us) / 1e6, h->name,
                 (unsigned long long)atomic_load(&h->n));
    desk_buf_add(b, line, (size_t)n);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ responses */

static void log_line(const char *method, const char *url, int status, int n_prompt, int n_gen, double t0, const char *note) {
    fprintf(stderr, "desk serve: %s %s %d prompt=%d completion=%d %.1fms%s%s\n", method, url, status, n_prompt, n_gen,
            (now_s() - t0) * 1e3, note ? " " : "", note ? note : "");
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *j) {
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)); /* 9 digits round-trip a float */
    json_decref(j);
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 503) MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}} */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *type, const char *param,
                                  const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&n_errors, 1);
    json_t *e = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", msg, "type", type, "param", param, "code", code);
    return send_json(c, status, e);
}

/* ------------------------------------------------------------ generation */

/* One request's generation: tokens from the scheduler become text, held back
 * while its end could still be the start of a stop string, so stop text
 * never reaches the client. */
typedef struct {
    server *sv;
    openai_request g;
    desk_request *r;
    desk_detok dt;
    desk_buf held;                     /* generated text not yet sent */
    int n_prompt, n_gen;
    const char *finish;            /* "stop" or "length" once done */
    bool done, sent_final, sent_done;
    char id[48];
    time_t created;
    double t0;
    int status;
    desk_buf out;                      /* SSE bytes waiting for the socket */
    size_t out_pos;
    int fd;                        /* the client's socket while a non-streamed answer is computed, else -1 */
    bool gone;                     /* that client closed it */
    double checked;                /* when the socket was last looked at */
    double last_tok;               /* when the last token arrived */
    /* log-probabilities, when asked for: one entry per token, sent with the
     * chunk whose text holds the token's text (byte offsets into the output) */
    struct lp_item { json_t *j; size_t start, end; } *lp;
    int n_lp, cap_lp, lp_sent;
    size_t produced, emitted;      /* output bytes generated / handed to the client */
    bool cut;                      /* a stop string cut the output at `emitted` */
} gen_state;

/* A client that closed its socket while waiting for a non-streamed answer
 * (streams notice on their next write): its request is cancelled at once. */
static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char c;
    return (p.revents & POLLIN) && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Text that is safe to send now: all of held except a tail that is a proper
 * prefix of some stop string. Sets *stopped and cuts at a complete stop. */
static size_t sendable(gen_state *st, bool *stopped) {
    *stopped = false;
    size_t cut = st->held.len;
    for (int i = 0; i < st->g.n_stop; i++) {
        const char *hit = st->held.p ? strstr(st->held.p, st->g.stop[i]) : NULL;
        if (hit && (size_t)(hit - st->held.p) <= cut) {
            cut = (size_t)(hit - st->held.p);
            *stopped = true;
        }
    }
    if (*stopped) return cut;
    size_t keep = 0;
    for (int i = 0; i < st->g.n_stop; i++) {
        size_t sl = strlen(st->g.stop[i]);
        for (size_t k = sl - 1; k > keep && k > 0; k--)
            if (k <= st->held.len && !memcmp(st->held.p + st->held.len - k, st->g.stop[i], k)) {
                keep = k;
                break;
            }
    }
    return st->held.len - keep;
}

/* The token's text for a logprobs entry: its bytes as valid UTF-8 (an
 * incomplete character becomes U+FFFD; "bytes" keeps them exactly). */
static json_t *token_json(const desk_model *m, int32_t tok, json_t **bytes) {
    char raw[PIECE_CAP], text[PIECE_CAP + 8];
    size_t n = desk_token_bytes(m, tok, raw, sizeof raw);
    if (bytes) {
        *bytes = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(*bytes, json_integer((unsigned char)raw[i]));
    }
    desk_detok d;
    desk_detok_init(&d);
    d.first = false;
    size_t k = desk_detok_push(m, &d, tok, true, text, sizeof text - 4);
    k += desk_detok_flush(&d, text + k, sizeof text - k);
    return json_stringn(text, k);
}

/* One entry: for chat {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]};
 * for completions {token, logprob, top: {token: logprob}} (spread into
 * OpenAI's parallel lists when sent). */
static void lp_record(gen_state *st, const desk_token_info *info, size_t start, size_t end) {
    if (st->n_lp == st->cap_lp) {
        int cap = st->cap_lp ? 2 * st->cap_lp : 64;
        struct lp_item *p = realloc(st->lp, (size_t)cap * sizeof *p);
        if (!p) { st->out.oom = true; return; }
        st->lp = p;
        st->cap_lp = cap;
    }
    const desk_model *m = st->sv->m;
    json_t *e, *bytes = NULL;
    if (st->g.chat) {
        json_t *top = json_array();
        for (int i = 0; i < info->n_top && i < st->g.top_logprobs; i++) {
            json_t *b, *t = token_json(m, info->top[i].tok, &b);
            json_array_append_new(top, json_pack("{s:o,s:f,s:o}", "token", t, "logprob", (double)info->top[i].logprob, "bytes", b));
        }
        json_t *t = token_json(m, info->tok, &bytes);
        e = json_pack("{s:o,s:f,s:o,s:o}", "token", t, "logprob", (double)info->logprob, "bytes", bytes, "top_logprobs", top);
    } else {
        json_t *top = json_object();
        for (int i = 0; i < info->n_top && i < st->g.top_logprobs; i++) {
            char raw[PIECE_CAP + 8];
            json_t *t = token_json(m, info->top[i].tok, NULL);
            snprintf(raw, sizeof raw, "%s", json_string_value(t));
            json_decref(t);
            if (!json_object_get(top, raw)) /* two tokens with the same text: the likelier one */
                json_object_set_new(top, raw, json_real((double)info->top[i].logprob));
        }
        e = json_pack("{s:o,s:f,s:o}", "token", token_json(m, info->tok, NULL), "logprob", (double)info->logprob, "top", top);
    }
    st->lp[st->n_lp++] = (struct lp_item){e, start, end};
}

/* The choice's "logprobs" for the entries whose text has been handed out
 * (all that remain when final, less those of cut stop text); null when the
 * request did not ask. */
static json_t *lp_take(gen_state *st, bool final) {
    if (!st->g.logprobs) return json_null();
    int from = st->lp_sent;
    while (st->lp_sent < st->n_lp) {
        struct lp_item *it = &st->lp[st->lp_sent];
        bool send = it->end <= st->emitted || (final && (!st->cut || it->start < st->emitted));
        if (!send) break;
        st->lp_sent++;
    }
    if (st->g.chat) {
        json_t *content = json_array();
        for (int i = from; i < st->lp_sent; i++) json_array_append(content, st->lp[i].j);
        return json_pack("{s:o,s:n}", "content", content, "refusal");
    }
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (int i = from; i < st->lp_sent; i++) {
        json_t *j = st->lp[i].j;
        json_array_append(tokens, json_object_get(j, "token"));
        json_array_append(lps, json_object_get(j, "logprob"));
        json_array_append(tops, json_object_get(j, "top"));
        json_array_append_new(offs, json_integer((json_int_t)st->lp[i].start));
    }
    return json_pack("{s:o,s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops, "text_offset", offs);
}

static void lp_free(gen_state *st) {
    for (int i = 0; i < st->n_lp; i++) json_decref(st->lp[i].j);
    free(st->lp);
}

/* Waits for the next piece of text. Returns the bytes of held that may be
 * sent (moved to *piece), and sets st->done when generation ended. */
static void next_text(gen_state *st, desk_buf *piece) {
    while (!st->done) {
        desk_token_info info;
        int rc = desk_request_next_info(st->r, &info, 100);
        if (st->fd >= 0 && now_s() - st->checked > 0.05) { /* a non-streamed answer: is anyone still waiting? */
            st->checked = now_s();
            if (!st->gone && client_gone(st->fd)) {
                st->gone = true;
                desk_request_cancel(st->r);
            }
        }
        if (rc < 0) continue;
        char buf[PIECE_CAP];
        size_t n;
        if (rc == 1) {
            double t = now_s();
            if (st->n_gen == 0) hist_add(&h_ttft, t - st->t0);
            else hist_add(&h_tpot, t - st->last_tok);
            st->last_tok = t;
            st->n_gen++;
            n = desk_detok_push(st->sv->m, &st->dt, info.tok, false, buf, sizeof buf);
            if (st->g.logprobs) lp_record(st, &info, st->produced, st->produced + n);
        } else {
            n = desk_detok_flush(&st->dt, buf, sizeof buf);
            desk_finish f = desk_request_finish(st->r);
            st->finish = f == DESK_FINISH_STOP ? "stop" : "length";
            st->done = true;
        }
        desk_buf_add(&st->held, buf, n);
        st->produced += n;
        bool stopped;
        size_t ok = sendable(st, &stopped);
        if (stopped) {
            st->held.len = ok;
            if (st->held.p) st->held.p[ok] = 0;
            st->finish = "stop";
            st->done = true;
            st->cut = true;
            desk_request_cancel(st->r);
        }
        if (st->done) ok = st->held.len;
        if (ok > 0 || st->done) {
            desk_buf_add(piece, st->held.p ? st->held.p : "", ok);
            st->emitted += ok;
            if (st->held.p) memmove(st->held.p, st->held.p + ok, st->held.len - ok + 1);
            st->held.len -= ok;
            return;
        }
    }
}

static json_t *usage_json(const gen_state *st) {
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", st->n_prompt, "completion_tokens", st->n_gen, "total_tokens",
                     st->n_prompt + st->n_gen);
}

static json_t *choice_json(gen_state *st, const char *text, bool final) {
    json_t *fin = final ? json_string(st->finish) : json_null();
    json_t *lp = lp_take(st, final);
    if (!st->g.chat) return json_pack("{s:i,s:s,s:o,s:o}", "index", 0, "text", text, "logprobs", lp, "finish_reason", fin);
    if (!st->g.stream)
        return json_pack("{s:i,s:{s:s,s:s},s:o,s:o}", "index", 0, "message", "role", "assistant", "content", text,
                         "logprobs", lp, "finish_reason", fin);
    json_t *delta = final && !*text ? json_object() : json_pack("{s:s}", "content", text);
    return json_pack("{s:i,s:o,s:o,s:o}", "index", 0, "delta", delta, "logprobs", lp, "finish_reason", fin);
}

static json_t *envelope(const gen_state *st, json_t *choices) {
    const char *object = st->g.chat ? (st->g.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:s}", "id", st->id, "object", object, "created", (json_int_t)st->created,
                     "model", st->sv->model_id, "choices", choices, "system_fingerprint", "desk-" DESK_VERSION);
}

static void sse_add(gen_state *st, json_t *j) {
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)); /* 9 digits round-trip a float */
    json_decref(j);
    if (!text) { st->out.oom = true; return; }
    desk_buf_add(&st->out, "data: ", 6);
    desk_buf_add(&st->out, text, strlen(text));
    desk_buf_add(&st->out, "\n\n", 2);
    free(text);
}

static void gen_state_free(void *p) {
    gen_state *st = p;
    if (!st) return;
    if (!st->done) log_line("POST", st->g.chat ? "/v1/chat/completions" : "/v1/completions", 499, st->n_prompt, st->n_gen,
                            st->t0, "(client went away)");
    else log_line("POST", st->g.chat ? "/v1/chat/completions" : "/v1/completions", 200, st->n_prompt, st->n_gen, st->t0,
                  "(stream)");
    desk_request_free(st->r); /* cancels if still running: the slot is free at once */
    lp_free(st);
    openai_request_free(&st->g);
    free(st->held.p);
    free(st->out.p);
    free(st);
}

/* libmicrohttpd pulls the stream through this, in the connection's thread */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    gen_state *st = cls;
    while (st->out_pos >= st->out.len) {
        st->out.len = st->out_pos = 0;
        if (st->sent_done) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!st->done) {
            desk_buf piece = {0};
            next_text(st, &piece);
            if (piece.len) sse_add(st, envelope(st, json_pack("[o]", choice_json(st, piece.p, false))));
            free(piece.p);
        } else if (!st->sent_final) {
            sse_add(st, envelope(st, json_pack("[o]", choice_json(st, "", true))));
            if (st->g.include_usage) {
                json_t *u = envelope(st, json_array());
                json_object_set_new(u, "usage", usage_json(st));
                sse_add(st, u);
            }
            st->sent_final = true;
        } else {
            desk_buf_add(&st->out, "data: [DONE]\n\n", 14);
            st->sent_done = true;
        }
        if (st->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out.len - st->out_pos < max ? st->out.len - st->out_pos : max;
    memcpy(buf, st->out.p + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

static enum MHD_Result handle_generate(server *sv, struct MHD_Connection *c, const char *url, const char *body, size_t len,
                                       bool chat, double t0) {
    gen_state *st = calloc(1, sizeof *st);
    if (!st) return send_error(c, 500, "server_error", NULL, NULL, "out of memory");
    st->fd = -1;
    st->sv = sv;
    st->t0 = t0;
    openai_error oe;
    if (!openai_parse(body, len, chat, sv->model_id, &sv->chat, &st->g, &oe)) {
        log_line("POST", url, oe.status, 0, 0, t0, oe.msg);
        openai_request_free(&st->g);
        free(st);
        return send_error(c, (unsigned)oe.status, "invalid_request_error", oe.param, oe.code, "%s", oe.msg);
    }
    if (chat && sv->cfg->verbose_prompt) fprintf(stderr, "desk serve: rendered prompt:\n%s\ndesk serve: end of prompt\n", st->g.prompt);
    /* tokenize: completions add BOS like `desk run`; chat text carries its own */
    desk_error err;
    int n = 0, flags = DESK_TOK_PARSE_SPECIAL | (chat ? 0 : DESK_TOK_ADD_BOS);
    size_t plen = strlen(st->g.prompt);
    desk_tokenize(sv->m, st->g.prompt, plen, flags, NULL, 0, &n, &err);
    int32_t *toks = malloc(((size_t)n + 1) * sizeof *toks);
    if (!toks || desk_tokenize(sv->m, st->g.prompt, plen, flags, toks, n + 1, &n, &err)) {
        free(toks);
        openai_request_free(&st->g);
        free(st);
        return send_error(c, 500, "server_error", NULL, NULL, "could not tokenize the prompt");
    }
    if (n == 0) {
        free(toks);
        openai_request_free(&st->g);
        free(st);
        log_line("POST", url, 400, 0, 0, t0, "empty prompt");
        return send_error(c, 400, "invalid_request_error", "prompt", NULL, "the prompt is empty and this model adds no BOS token");
    }
    st->n_prompt = n;
    desk_request_params rp = {.prompt = toks, .n_prompt = n, .sampling = st->g.sp, .logprobs = st->g.logprobs,
                              .top_logprobs = st->g.top_logprobs, .grammar = st->g.grammar};
    int room = sv->slot_ctx - n;
    pthread_rwlock_rdlock(&sv->s_lock);
    desk_status rc = DESK_EBUSY;
    if (sv->s) {
        rp.max_tokens = st->g.max_tokens > 0 ? st->g.max_tokens : (room > 0 ? room : 1);
        rc = desk_sched_submit(sv->s, &rp, &st->r, &err);
        if (!rc) st->g.grammar = NULL; /* the request owns it now */
    } else {
        snprintf(err.msg, sizeof err.msg, "the server is shutting down");
    }
    pthread_rwlock_unlock(&sv->s_lock);
    desk_detok_init_after(&st->dt, sv->m, toks, n);
    free(toks);
    if (rc) {
        unsigned status = rc == DESK_EBUSY ? 503 : rc == DESK_ERANGE ? 400 : 500;
        const char *code = rc == DESK_ERANGE ? "context_length_exceeded" : NULL;
        log_line("POST", url, (int)status, n, 0, t0, err.msg);
        openai_request_free(&st->g);
        free(st);
        return send_error(c, status, rc == DESK_EBUSY ? "server_busy" : "invalid_request_error", rc == DESK_ERANGE ? "messages" : NULL,
                          code, "%s", err.msg);
    }
    snprintf(st->id, sizeof st->id, "%s-%llx", chat ? "chatcmpl" : "cmpl", (unsigned long long)atomic_fetch_add(&sv->n_requests, 1));
    st->created = time(NULL);
    if (st->g.stream) {
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, st, gen_state_free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ok = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ok;
    }
    desk_buf text = {0};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = ci ? ci->connect_fd : -1;
    while (!st->done) next_text(st, &text);
    json_t *resp = envelope(st, json_pack("[o]", choice_json(st, text.p ? text.p : "", true)));
    json_object_set_new(resp, "usage", usage_json(st));
    log_line("POST", url, st->gone ? 499 : 200, st->n_prompt, st->n_gen, t0, st->gone ? "(client went away)" : st->finish);
    free(text.p);
    st->done = true;
    desk_request_free(st->r);
    lp_free(st);
    openai_request_free(&st->g);
    free(st->held.p);
    free(st);
    return send_json(c, 200, resp);
}

/* ------------------------------------------------------------ other routes */

static enum MHD_Result handle_metrics(server *sv, struct MHD_Connection *c) {
    desk_sched_stats ss = {0};
    pthread_rwlock_rdlock(&sv->s_lock);
    if (sv->s) desk_sched_get_stats(sv->s, &ss);
    pthread_rwlock_unlock(&sv->s_lock);
    char *t = NULL;
    int n = asprintf(&t,
                     "# HELP desk_requests_total Requests admitted to a slot.\n# TYPE desk_requests_total counter\n"
                     "desk_requests_total %llu\n"
                     "# HELP desk_prompt_tokens_total Prompt tokens read.\n# TYPE desk_prompt_tokens_total counter\n"
                     "desk_prompt_tokens_total %llu\n"
                     "# HELP desk_generated_tokens_total Tokens generated.\n# TYPE desk_generated_tokens_total counter\n"
                     "desk_generated_tokens_total %llu\n"
                     "# HELP desk_steps_total Forward passes.\n# TYPE desk_steps_total counter\n"
                     "desk_steps_total %llu\n"
                     "# HELP desk_http_errors_total Responses with a 4xx or 5xx status.\n# TYPE desk_http_errors_total counter\n"
                     "desk_http_errors_total %llu\n"
                     "# HELP desk_queue_depth Requests waiting for a slot.\n# TYPE desk_queue_depth gauge\n"
                     "desk_queue_depth %d\n"
                     "# HELP desk_slots_active Slots generating.\n# TYPE desk_slots_active gauge\n"
                     "desk_slots_active %d\n"
                     "# HELP desk_slots Slots configured.\n# TYPE desk_slots gauge\n"
                     "desk_slots %d\n"
                     "# HELP desk_kv_cache_positions_used KV cache positions in use.\n# TYPE desk_kv_cache_positions_used gauge\n"
                     "desk_kv_cache_positions_used %llu\n"
                     "# HELP desk_kv_cache_positions KV cache positions configured.\n# TYPE desk_kv_cache_positions gauge\n"
                     "desk_kv_cache_positions %llu\n",
                     (unsigned long long)ss.requests, (unsigned long long)ss.prompt_tokens,
                     (unsigned long long)ss.generated_tokens, (unsigned long long)ss.steps,
                     (unsigned long long)atomic_load(&n_errors), ss.queued, ss.slots_busy, ss.slots,
                     (unsigned long long)ss.kv_positions_used, (unsigned long long)ss.kv_positions_total);
    if (n < 0) return MHD_NO;
    desk_buf b = {0};
    desk_buf_add(&b, t, (size_t)n);
    free(t);
    hist_text(&h_ttft, &b);
    hist_text(&h_tpot, &b);
    if (b.oom) {
        free(b.p);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

typedef struct {
    desk_buf body;
    bool too_big;
    double t0;
} conn_state;

static bool authorized(server *sv, struct MHD_Connection *c) {
    if (!sv->cfg->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    size_t a = strlen(h), b = strlen(sv->cfg->api_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned)(h[i] ^ sv->cfg->api_key[i]); /* constant time */
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    server *sv = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        cs->t0 = now_s();
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cs->body.len + *upload_size > sv->cfg->max_body) cs->too_big = true;
        else desk_buf_add(&cs->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    enum MHD_Result ok;
    if (!strcmp(url, "/health") && get) {
        ok = send_json(c, 200, json_pack("{s:s}", "status", "ok"));
    } else if (!authorized(sv, c)) {
        ok = send_error(c, 401, "invalid_request_error", NULL, "invalid_api_key", "a valid API key is needed (Authorization: Bearer KEY)");
        log_line(method, url, 401, 0, 0, cs->t0, NULL);
    } else if (!strcmp(url, "/v1/models") && get) {
        ok = send_json(c, 200, json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id", sv->model_id, "object",
                                         "model", "created", (json_int_t)sv->created, "owned_by", "desk"));
    } else if (!strcmp(url, "/metrics") && get) {
        ok = handle_metrics(sv, c);
    } else if ((!strcmp(url, "/v1/completions") || !strcmp(url, "/v1/chat/completions")) && post) {
        if (cs->too_big) {
                log_line(method, url, 413, 0, 0, cs->t0, NULL);
            ok = send_error(c, 413, "invalid_request_error", NULL, "request_too_large", "the body is larger than %zu bytes",
                            sv->cfg->max_body);
        } else {
            ok = handle_generate(sv, c, url, cs->body.p ? cs->body.p : "", cs->body.len, url[4] == 'c' && url[5] == 'h', cs->t0);
        }
    } else if (!strcmp(url, "/v1/models") || !strcmp(url, "/metrics") || !strcmp(url, "/health") ||
               !strcmp(url, "/v1/completions") || !strcmp(url, "/v1/chat/completions")) {
        ok = send_error(c, 405, "invalid_request_error", NULL, "method_not_allowed", "%s is not allowed on %s", method, url);
    } else {
        ok = send_error(c, 404, "invalid_request_error", NULL, "not_found", "no route %s %s", method, url);
        log_line(method, url, 404, 0, 0, cs->t0, NULL);
    }
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    conn_state *cs = *con_cls;
    if (!cs) return;
    free(cs->body.p);
    free(cs);
    *con_cls = NULL;
}

static bool is_loopback(const char *host) {
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strncmp(host, "127.", 4);
}

int serve_run(const serve_config *cfg) {
    if (!is_loopback(cfg->host) && !cfg->api_key && !cfg->insecure_public) {
        fprintf(stderr, "desk serve: refusing to listen on %s without an API key: anyone on the network could use it. "
                        "Give --api-key KEY (or --api-key-file F), or --insecure-public to do it anyway\n", cfg->host);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, !strcmp(cfg->host, "localhost") ? "127.0.0.1" : cfg->host, &addr.sin_addr) != 1) {
        fprintf(stderr, "desk serve: --host %s is not an IPv4 address\n", cfg->host);
        return 2;
    }
    server sv = {.cfg = cfg, .created = time(NULL)};
    desk_error err;
    if (desk_model_load_for(cfg->model_path, cfg->n_threads, &sv.m, &err)) {
        fprintf(stderr, "desk serve: %s\n", err.msg);
        return 1;
    }
    if (desk_template_from_model(sv.m, &sv.tmpl, &err))
        snprintf(sv.chat_why, sizeof sv.chat_why, "%s; use /v1/completions", err.msg);
    size_t tl;
    const char *tt = desk_token_bos(sv.m) >= 0 ? desk_token_text(sv.m, desk_token_bos(sv.m), &tl) : "";
    snprintf(sv.bos, sizeof sv.bos, "%.*s", desk_token_bos(sv.m) >= 0 ? (int)tl : 0, tt);
    tt = desk_token_text(sv.m, desk_token_eos(sv.m), &tl);
    snprintf(sv.eos, sizeof sv.eos, "%.*s", (int)tl, tt);
    sv.chat = (openai_chat){sv.tmpl, sv.chat_why, sv.bos, sv.eos};
    if (!sv.tmpl) fprintf(stderr, "desk serve: chat requests are refused: %s\n", sv.chat_why);
    const char *base = strrchr(cfg->model_path, '/');
    snprintf(sv.model_id, sizeof sv.model_id, "%s", base ? base + 1 : cfg->model_path);
    desk_sched_params sp = desk_sched_default_params();
    sp.n_slots = cfg->n_slots;
    sp.n_ctx = cfg->n_ctx;
    sp.n_threads = cfg->n_threads;
    sp.queue_max = cfg->queue_max;
    sp.kv_type = cfg->kv_type;
    if (desk_sched_new(sv.m, &sp, &sv.s, &err)) {
        fprintf(stderr, "desk serve: %s\n", err.msg);
        desk_template_free(sv.tmpl);
        desk_model_free(sv.m);
        return 1;
    }
    desk_sched_stats ss;
    desk_sched_get_stats(sv.s, &ss);
    sv.slot_ctx = (int)(ss.kv_positions_total / (uint64_t)ss.slots);
    pthread_rwlock_init(&sv.s_lock, NULL);
    /* SIGINT/SIGTERM are taken by sigwait below: block them in every thread */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)cfg->port, NULL,
        NULL, on_request, &sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "desk serve: could not listen on %s:%d (in use, or not allowed)\n", cfg->host, cfg->port);
        desk_sched_free(sv.s);
        desk_template_free(sv.tmpl);
        desk_model_free(sv.m);
        return 1;
    }
    fprintf(stderr, "desk serve: %s on http://%s:%d/v1 (%d slots x %d positions%s)\n", sv.model_id, cfg->host, cfg->port,
            cfg->n_slots, sv.slot_ctx, cfg->api_key ? ", API key required" : "");
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "desk serve: %s: stopping (in-flight requests are cancelled)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_quiesce_daemon(d);
    pthread_rwlock_wrlock(&sv.s_lock);
    desk_sched_free(sv.s); /* every running request finishes; their connections end */
    sv.s = NULL;
    pthread_rwlock_unlock(&sv.s_lock);
    MHD_stop_daemon(d);
    pthread_rwlock_destroy(&sv.s_lock);
    desk_template_free(sv.tmpl);
    desk_model_free(sv.m);
    fprintf(stderr, "desk serve: stopped\n");
    return 0;
}
