/*
 * cmd_chat.c - `desk chat`: a conversation with an instruct model, laid out
 * by the model's own chat template (desk_template_*).
 *
 * Each turn renders the whole conversation, tokenizes it and compares the
 * tokens with those already in the KV cache: only what differs is prefilled,
 * so a new turn costs its own tokens, not the history's. Answers stream as
 * they are generated; Ctrl-C stops an answer (keeping what was said) and
 * returns to the prompt; Ctrl-D or /quit leaves. When stdin is not a
 * terminal the same loop reads turns from it and prints only the answers,
 * so a conversation can be scripted. Commands: /reset, /save FILE and
 * /load FILE (the conversation as JSON), /help, /quit.
 */
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
    desk_chat_msg *m;   /* role and content strings are owned (malloc) */
    int n, cap;
} conversation;

static bool conv_add(conversation *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        desk_chat_msg *m = realloc(c->m, (size_t)cap * sizeof *m);
        if (!m) return false;
        c->m = m;
        c->cap = cap;
    }
    char *r = strdup(role), *t = strdup(content);
    if (!r || !t) { free(r); free(t); return false; }
    c->m[c->n++] = (desk_chat_msg){r, t};
    return true;
}

static void conv_clear(conversation *c, int keep) {
    while (c->n > keep) {
        c->n--;
        free((char *)c->m[c->n].role);
        free((char *)c->m[c->n].content);
    }
}

typedef struct {
    const desk_model *m;
    desk_ctx *c;
    desk_template *t;
    desk_chat_opts opts;
    desk_sampler_params sp;
    conversation conv;
    int n_system;            /* leading messages /reset keeps (the --system message) */
    int32_t *cached;         /* the tokens in the KV cache, in order */
    int n_cached, n_ctx;
    long max_answer;         /* tokens per answer at most */
    bool interactive, verbose;
} chat;

static void ctx_full_hint(FILE *f) {
    fprintf(f, "  /reset starts a new conversation (/save FILE first keeps this one); or restart desk chat with a larger -c\n");
}

/* /save FILE: {"messages": [{"role", "content"}, ...]} */
static void save(chat *ch, const char *path) {
    json_t *msgs = json_array();
    for (int i = 0; i < ch->conv.n; i++)
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", ch->conv.m[i].role, "content", ch->conv.m[i].content));
    json_t *doc = json_pack("{s:o}", "messages", msgs);
    if (json_dump_file(doc, path, JSON_INDENT(2)) != 0)
        fprintf(stderr, "desk chat: could not write %s: %s\n", path, strerror(errno));
    else
        fprintf(stderr, "desk chat: saved %d messages to %s\n", ch->conv.n, path);
    json_decref(doc);
}

/* /load FILE: replaces the conversation (the KV cache keeps whatever prefix still matches) */
static void load(chat *ch, const char *path) {
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        fprintf(stderr, "desk chat: %s: %s (line %d)\n", path, je.text, je.line);
        return;
    }
    json_t *msgs = json_is_array(doc) ? doc : json_object_get(doc, "messages");
    size_t i;
    json_t *e;
    bool ok = json_is_array(msgs);
    if (!ok) fprintf(stderr, "desk chat: %s: expected {\"messages\": [...]} or a list of messages\n", path);
    json_array_foreach(msgs, i, e) {
        if (!ok) break;
        json_t *r = json_object_get(e, "role"), *t = json_object_get(e, "content");
        if (!json_is_string(r) || !json_is_string(t)) {
            fprintf(stderr, "desk chat: %s: messages[%zu] needs string \"role\" and \"content\"\n", path, i);
            ok = false;
        }
    }
    if (ok) {
        conv_clear(&ch->conv, 0);
        ch->n_system = 0;
        json_array_foreach(msgs, i, e) conv_add(&ch->conv, json_string_value(json_object_get(e, "role")),
                                                json_string_value(json_object_get(e, "content")));
        fprintf(stderr, "desk chat: loaded %zu messages from %s\n", json_array_size(msgs), path);
    }
    json_decref(doc);
}

/* Prefills toks[from, n) in chunks (Ctrl-C is honoured between them). */
static bool prefill(chat *ch, const int32_t *toks, int n) {
    int k = 0;
    while (k < ch->n_cached && k < n && ch->cached[k] == toks[k]) k++;
    if (k == n) k--; /* the last prompt token must be evaluated again for its logits */
    desk_ctx_seq_truncate(ch->c, 0, k);
    ch->n_cached = k;
    double t0 = now_s();
    int reused = k;
    desk_error err;
    while (k < n) {
        if (interrupted) return false;
        int step = n - k < 256 ? n - k : 256;
        if (desk_ctx_eval(ch->c, 0, toks + k, step, &err)) {
            fprintf(stderr, "desk chat: %s\n", err.msg);
            return false;
        }
        memcpy(ch->cached + k, toks + k, (size_t)step * sizeof *toks);
        k += step;
        ch->n_cached = k;
    }
    if (ch->verbose)
        fprintf(stderr, "[prompt %d tokens: %d reused from the cache, %d prefilled in %.2f s]\n", n, reused, n - reused,
                now_s() - t0);
    return true;
}

/* One assistant turn for the conversation as it stands. */
static void answer(chat *ch) {
    char *text = NULL;
    size_t len = 0;
    desk_error err;
    if (desk_template_render(ch->t, ch->conv.m, ch->conv.n, &ch->opts, &text, &len, &err)) {
        fprintf(stderr, "desk chat: %s\n", err.msg);
        conv_clear(&ch->conv, ch->conv.n - 1); /* drop the turn the template refused */
        return;
    }
    if (ch->verbose) fprintf(stderr, "[rendered prompt]\n%s\n[end of prompt]\n", text);
    int n = 0;
    desk_tokenize(ch->m, text, len, DESK_TOK_PARSE_SPECIAL, NULL, 0, &n, &err);
    int32_t *toks = malloc(((size_t)n + 1) * sizeof *toks);
    if (!toks || desk_tokenize(ch->m, text, len, DESK_TOK_PARSE_SPECIAL, toks, n + 1, &n, &err)) {
        fprintf(stderr, "desk chat: could not tokenize the conversation\n");
        free(toks);
        free(text);
        return;
    }
    free(text);
    if (n == 0) {
        fprintf(stderr, "desk chat: the chat template rendered this conversation as nothing\n");
        conv_clear(&ch->conv, ch->conv.n - 1);
        free(toks);
        return;
    }
    if (n >= ch->n_ctx) {
        fprintf(stderr, "desk chat: the conversation is %d tokens; the context holds %d, so this turn does not fit.\n", n, ch->n_ctx);
        ctx_full_hint(stderr);
        conv_clear(&ch->conv, ch->conv.n - 1);
        free(toks);
        return;
    }
    interrupted = 0;
    if (!prefill(ch, toks, n)) {
        if (interrupted) fprintf(stderr, "\n[stopped while reading the prompt]\n");
        conv_clear(&ch->conv, ch->conv.n - 1);
        free(toks);
        return;
    }
    free(toks);
    desk_sampler *s;
    if (desk_sampler_new(&ch->sp, desk_vocab_size(ch->m), &s, &err)) {
        fprintf(stderr, "desk chat: %s\n", err.msg);
        return;
    }
    for (int i = 0; i < ch->n_cached; i++) desk_sampler_accept(s, ch->cached[i]);
    desk_detok dt;
    desk_detok_init(&dt); /* an answer is a text of its own: no SentencePiece leading space */
    char piece[1024];
    char *out = NULL;
    size_t out_len = 0, out_cap = 0;
    const char *why = NULL;
    for (long g = 0; g < ch->max_answer; g++) {
        if (interrupted) { why = "stopped"; break; }
        int32_t tok = desk_sampler_sample(s, desk_ctx_logits(ch->c, 0));
        if (desk_token_is_eog(ch->m, tok)) break;
        desk_sampler_accept(s, tok);
        size_t k = desk_detok_push(ch->m, &dt, tok, false, piece, sizeof piece);
        if (k) {
            fwrite(piece, 1, k, stdout);
            fflush(stdout);
            if (out_len + k + 1 > out_cap) {
                size_t cap = out_cap ? 2 * out_cap : 4096;
                while (cap < out_len + k + 1) cap *= 2;
                char *p = realloc(out, cap);
                if (!p) { why = "out of memory"; break; }
                out = p;
                out_cap = cap;
            }
            memcpy(out + out_len, piece, k);
            out_len += k;
            out[out_len] = 0;
        }
        if (ch->n_cached >= ch->n_ctx) { why = "context full"; break; }
        if (desk_ctx_eval(ch->c, 0, &tok, 1, &err)) {
            fprintf(stderr, "\ndesk chat: %s\n", err.msg);
            break;
        }
        ch->cached[ch->n_cached++] = tok;
        if (g + 1 == ch->max_answer) why = "answer length limit (-n)";
    }
    size_t k = desk_detok_flush(&dt, piece, sizeof piece);
    if (k) fwrite(piece, 1, k, stdout);
    printf("\n");
    fflush(stdout);
    desk_sampler_free(s);
    if (why && !strcmp(why, "stopped")) fprintf(stderr, "[stopped]\n");
    else if (why && !strcmp(why, "context full")) {
        fprintf(stderr, "[the context (%d tokens) is full: the answer was cut here]\n", ch->n_ctx);
        ctx_full_hint(stderr);
    } else if (why) {
        fprintf(stderr, "[%s]\n", why);
    }
    conv_add(&ch->conv, "assistant", out ? out : "");
    free(out);
    interrupted = 0;
}

/* Reads one user turn: a line; a line ending in '\' continues on the next;
 * a line that is just """ starts a block that ends at the next such line.
 * Returns 1 with *text set, 0 at end of input, 2 when Ctrl-C discarded it. */
static int read_turn(chat *ch, char **text) {
    char *line = NULL, *acc = NULL;
    size_t cap = 0, n = 0;
    bool block = false;
    *text = NULL;
    if (ch->interactive) { fputs("> ", stdout); fflush(stdout); }
    for (;;) {
        errno = 0;
        ssize_t l = getline(&line, &cap, stdin);
        if (l < 0) {
            bool intr = errno == EINTR || interrupted;
            clearerr(stdin);
            free(line);
            if (intr) {
                interrupted = 0;
                free(acc);
                if (ch->interactive) fputs("\n", stdout);
                return 2;
            }
            if (acc && n) { *text = acc; return 1; } /* the last turn had no newline */
            free(acc);
            return 0;
        }
        if (l > 0 && line[l - 1] == '\n') line[--l] = 0;
        if (l > 0 && line[l - 1] == '\r') line[--l] = 0;
        bool fence = !strcmp(line, "\"\"\"");
        bool more = false;
        if (fence) {
            block = !block;
            if (block) {
                if (ch->interactive) { fputs(". ", stdout); fflush(stdout); }
                continue;
            }
        } else {
            if (!block && l > 0 && line[l - 1] == '\\') { line[--l] = 0; more = true; }
            char *p = realloc(acc, n + (size_t)l + 2);
            if (!p) { free(line); free(acc); return 0; }
            acc = p;
            if (n) acc[n++] = '\n';
            memcpy(acc + n, line, (size_t)l);
            n += (size_t)l;
            acc[n] = 0;
            if (block || more) {
                if (ch->interactive) { fputs(". ", stdout); fflush(stdout); }
                continue;
            }
        }
        free(line);
        if (!acc) acc = calloc(1, 1);
        *text = acc;
        return 1;
    }
}

static void chat_help(FILE *f) {
    fprintf(f, "  Enter sends; end a line with \\ to go on, or put \"\"\" on lines of their own around a block.\n"
               "  Ctrl-C stops an answer; Ctrl-D or /quit leaves.\n"
               "  /reset          forget the conversation (the --system message stays)\n"
               "  /save FILE      write the conversation as JSON\n"
               "  /load FILE      continue a saved conversation\n");
}

static void chat_usage(FILE *f) {
    fprintf(f,
            "usage: desk chat -m MODEL.gguf [options]\n"
            "  -m, --model FILE         GGUF model file with a chat template (tokenizer.chat_template)\n"
            "      --template FILE      use this Jinja chat template instead of the model's\n"
            "      --system TEXT        a system message to start the conversation\n"
            "  -n, --n-predict N        tokens per answer at most (default: until the model stops)\n"
            "  -c, --ctx N              context length: the whole conversation (default: model's, at most 4096)\n"
            "  -t, --threads N          threads (default: every core)\n"
            "      --kv-type T          KV cache element type: f16 (default) or q8_0\n"
            "      --verbose-prompt     show the rendered prompt and the cache reuse of every turn (stderr)\n"
            CLI_SAMPLER_USAGE
            "Reads turns from stdin; when it is not a terminal, prints only the answers (scriptable).\n");
    chat_help(f);
}

int cmd_chat(int argc, char **argv) {
    const char *C = "chat", *model = NULL, *system = NULL, *tfile = NULL;
    long n_predict = 1 << 30, n_ctx = 0, threads = 0;
    int kv_type = DESK_TYPE_F16;
    bool verbose = false;
    desk_sampler_params sp = desk_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        int sf = cli_sampler_flag(C, argc, argv, &i, &sp);
        if (sf < 0) return 2;
        if (sf > 0) continue;
#define VAL() do { if (!(val = cli_value(C, argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); model = val; }
        else if (!strcmp(a, "--system")) { VAL(); system = val; }
        else if (!strcmp(a, "--template")) { VAL(); tfile = val; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { VAL(); if (!cli_int(C, a, val, 1, 1 << 30, &n_predict)) return 2; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { VAL(); if (!cli_int(C, a, val, 16, 1 << 22, &n_ctx)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (!cli_int(C, a, val, 1, 512, &threads)) return 2; }
        else if (!strcmp(a, "--kv-type")) { VAL(); if (!cli_kv_type(C, a, val, &kv_type)) return 2; }
        else if (!strcmp(a, "--verbose-prompt")) verbose = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { chat_usage(stdout); return 0; }
        else { fprintf(stderr, "desk chat: unknown option '%s'\n", a); chat_usage(stderr); return 2; }
#undef VAL
    }
    if (!model) { fprintf(stderr, "desk chat: -m MODEL is required\n"); return 2; }

    chat ch = {.sp = sp, .max_answer = n_predict, .verbose = verbose, .interactive = isatty(STDIN_FILENO)};
    desk_error err;
    desk_model *m = NULL;
    int rc = 1;
    char bos[256] = "", eos[256] = "";
    if (desk_model_load_for(model, (int)threads, &m, &err)) { fprintf(stderr, "desk chat: %s\n", err.msg); goto done; }
    ch.m = m;
    if (tfile) {
        size_t tl;
        char *tt = cli_read_file(C, tfile, &tl);
        if (!tt) goto done;
        desk_status st = desk_template_parse(tt, tl, &ch.t, &err);
        free(tt);
        if (st) { fprintf(stderr, "desk chat: %s: %s\n", tfile, err.msg); goto done; }
    } else if (desk_template_from_model(m, &ch.t, &err)) {
        fprintf(stderr, "desk chat: %s\n  give one with --template FILE, or use desk run for plain completion\n", err.msg);
        goto done;
    }
    size_t tl;
    const char *tt;
    if (desk_token_bos(m) >= 0) {
        tt = desk_token_text(m, desk_token_bos(m), &tl);
        snprintf(bos, sizeof bos, "%.*s", (int)tl, tt);
    }
    tt = desk_token_text(m, desk_token_eos(m), &tl);
    snprintf(eos, sizeof eos, "%.*s", (int)tl, tt);
    ch.opts = (desk_chat_opts){.add_generation_prompt = true, .bos_token = bos, .eos_token = eos};
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = (int)n_ctx;
    cp.n_threads = (int)threads;
    cp.kv_type = kv_type;
    if (desk_ctx_new(m, &cp, &ch.c, &err)) { fprintf(stderr, "desk chat: %s\n", err.msg); goto done; }
    ch.n_ctx = desk_ctx_n_ctx(ch.c);
    if (!(ch.cached = malloc((size_t)ch.n_ctx * sizeof *ch.cached))) { fprintf(stderr, "desk chat: out of memory\n"); goto done; }
    if (system) {
        conv_add(&ch.conv, "system", system);
        ch.n_system = 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint; /* no SA_RESTART: a read at the prompt returns, so Ctrl-C discards the line */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (ch.interactive) {
        const char *base = strrchr(model, '/');
        fprintf(stdout, "desk chat: %s, context %d tokens. /help lists the commands.\n", base ? base + 1 : model, ch.n_ctx);
    }
    for (;;) {
        char *text;
        int r = read_turn(&ch, &text);
        if (r == 0) break;
        if (r == 2) continue;
        if (text[0] == '/') {
            char *arg = strchr(text, ' ');
            if (arg) { *arg++ = 0; while (*arg == ' ') arg++; }
            if (!strcmp(text, "/quit") || !strcmp(text, "/exit")) { free(text); break; }
            if (!strcmp(text, "/reset")) {
                conv_clear(&ch.conv, ch.n_system);
                fprintf(stderr, "desk chat: the conversation was reset\n");
            } else if (!strcmp(text, "/save") && arg && *arg) save(&ch, arg);
            else if (!strcmp(text, "/load") && arg && *arg) load(&ch, arg);
            else if (!strcmp(text, "/help")) chat_help(stderr);
            else fprintf(stderr, "desk chat: unknown command '%s' (/help lists them)\n", text);
            free(text);
            continue;
        }
        if (!text[0]) { free(text); continue; }
        conv_add(&ch.conv, "user", text);
        free(text);
        answer(&ch);
    }
    rc = 0;
done:
    conv_clear(&ch.conv, 0);
    free(ch.conv.m);
    free(ch.cached);
    desk_template_free(ch.t);
    desk_ctx_free(ch.c);
    desk_model_free(m);
    return rc;
}
