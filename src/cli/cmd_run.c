/*
 * cmd_run.c - `desk run`: prefill a prompt, then sample and stream tokens to
 * stdout; a one-line summary with token counts and speeds goes to stderr.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: desk run -m MODEL.gguf (-p TEXT | -f PATH) [options]\n"
            "  -m, --model FILE         GGUF model file\n"
            "  -p, --prompt TEXT        prompt text (may be empty: generate from BOS)\n"
            "  -f, --file PATH          read the prompt from a file ('-' = stdin)\n"
            "  -n, --n-predict N        tokens to generate (default 128)\n"
            "  -c, --ctx N              context length (default: model's, at most 4096)\n"
            "  -t, --threads N          threads (default: every core)\n"
            "  -b, --batch N            prompt tokens per forward pass (default 256)\n"
            CLI_SAMPLER_USAGE
            "      --no-special         treat special-token text in the prompt as plain text\n"
            "      --ignore-eos         keep generating past end-of-generation tokens\n"
            "      --kv-type T          KV cache element type: f16 (default) or q8_0 (half the memory)\n"
            "      --grammar FILE       the output must follow this GBNF grammar\n"
            "      --json-schema FILE   the output must be JSON that validates against this schema\n");
}

int cmd_run(int argc, char **argv) {
    const char *C = "run", *model = NULL, *prompt = NULL, *file = NULL, *grammar_file = NULL, *schema_file = NULL;
    long n_predict = 128, n_ctx = 0, threads = 0, batch = 256;
    bool parse_special = true, ignore_eos = false;
    int kv_type = DESK_TYPE_F16;
    desk_sampler_params sp = desk_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        int sf = cli_sampler_flag(C, argc, argv, &i, &sp);
        if (sf < 0) return 2;
        if (sf > 0) continue;
#define VAL() do { if (!(val = cli_value(C, argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); model = val; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { VAL(); prompt = val; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { VAL(); file = val; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { VAL(); if (!cli_int(C, a, val, 0, 1 << 24, &n_predict)) return 2; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { VAL(); if (!cli_int(C, a, val, 1, 1 << 22, &n_ctx)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (!cli_int(C, a, val, 1, 512, &threads)) return 2; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) { VAL(); if (!cli_int(C, a, val, 1, 65536, &batch)) return 2; }
        else if (!strcmp(a, "--no-special")) parse_special = false;
        else if (!strcmp(a, "--ignore-eos")) ignore_eos = true;
        else if (!strcmp(a, "--kv-type")) { VAL(); if (!cli_kv_type(C, a, val, &kv_type)) return 2; }
        else if (!strcmp(a, "--grammar")) { VAL(); grammar_file = val; }
        else if (!strcmp(a, "--json-schema")) { VAL(); schema_file = val; }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { run_usage(stdout); return 0; }
        else { fprintf(stderr, "desk run: unknown option '%s'\n", a); run_usage(stderr); return 2; }
#undef VAL
    }
    if (!model) { fprintf(stderr, "desk run: -m MODEL is required\n"); return 2; }
    if (!prompt == !file) { fprintf(stderr, "desk run: give exactly one of -p TEXT or -f PATH\n"); return 2; }
    if (grammar_file && schema_file) { fprintf(stderr, "desk run: give at most one of --grammar and --json-schema\n"); return 2; }
    size_t plen = 0;
    char *owned = NULL;
    if (file) {
        if (!(owned = cli_read_file(C, file, &plen))) return 1;
        prompt = owned;
    } else {
        plen = strlen(prompt);
    }

    desk_error err;
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    desk_sampler *s = NULL;
    desk_grammar *grammar = NULL;
    int32_t *toks = NULL;
    int rc = 1;
    if (desk_model_load_for(model, (int)threads, &m, &err)) { fprintf(stderr, "desk run: %s\n", err.msg); goto done; }
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = (int)n_ctx;
    cp.n_threads = (int)threads;
    cp.n_batch = (int)batch;
    cp.kv_type = kv_type;
    if (desk_ctx_new(m, &cp, &c, &err)) { fprintf(stderr, "desk run: %s\n", err.msg); goto done; }
    int ctx_len = desk_ctx_n_ctx(c), n_prompt = 0;
    int flags = DESK_TOK_ADD_BOS | (parse_special ? DESK_TOK_PARSE_SPECIAL : 0);
    desk_tokenize(m, prompt, plen, flags, NULL, 0, &n_prompt, &err);
    toks = malloc(((size_t)n_prompt + 1) * sizeof *toks);
    if (!toks) { fprintf(stderr, "desk run: out of memory\n"); goto done; }
    if (desk_tokenize(m, prompt, plen, flags, toks, n_prompt + 1, &n_prompt, &err)) {
        fprintf(stderr, "desk run: %s\n", err.msg);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "desk run: the prompt is empty and this model adds no BOS token; give some text\n");
        goto done;
    }
    if (n_prompt >= ctx_len) {
        fprintf(stderr, "desk run: the prompt has %d tokens; the context holds %d (raise it with -c)\n", n_prompt, ctx_len);
        goto done;
    }
    if (desk_sampler_new(&sp, desk_vocab_size(m), &s, &err)) { fprintf(stderr, "desk run: %s\n", err.msg); goto done; }
    if (grammar_file || schema_file) {
        const char *gf = grammar_file ? grammar_file : schema_file;
        size_t gl;
        char *gt = cli_read_file(C, gf, &gl);
        if (!gt) goto done;
        desk_status gst = grammar_file ? desk_grammar_from_gbnf(gt, gl, &grammar, &err) : desk_grammar_from_json_schema(gt, gl, &grammar, &err);
        free(gt);
        if (gst || desk_sampler_set_grammar(s, m, grammar, &err)) { fprintf(stderr, "desk run: %s: %s\n", gf, err.msg); goto done; }
    }
    for (int i = 0; i < n_prompt; i++) desk_sampler_accept(s, toks[i]);

    double t0 = now_s();
    if (desk_ctx_eval(c, 0, toks, n_prompt, &err)) { fprintf(stderr, "desk run: %s\n", err.msg); goto done; }
    double t1 = now_s();
    desk_detok dt;
    desk_detok_init_after(&dt, m, toks, n_prompt);
    char piece[1024];
    int n_gen = 0;
    const char *stop = "length";
    for (; n_gen < n_predict; n_gen++) {
        if (desk_ctx_seq_len(c, 0) >= ctx_len) { stop = "context full"; break; }
        int32_t tok = desk_sampler_sample(s, desk_ctx_logits(c, 0));
        if (!ignore_eos && desk_token_is_eog(m, tok)) { stop = "end of generation"; break; }
        desk_sampler_accept(s, tok);
        size_t n = desk_detok_push(m, &dt, tok, false, piece, sizeof piece);
        if (n) { fwrite(piece, 1, n, stdout); fflush(stdout); }
        if (n_gen + 1 < n_predict && desk_ctx_seq_len(c, 0) < ctx_len && desk_ctx_eval(c, 0, &tok, 1, &err)) {
            fprintf(stderr, "\ndesk run: %s\n", err.msg);
            goto done;
        }
    }
    size_t n = desk_detok_flush(&dt, piece, sizeof piece);
    if (n) fwrite(piece, 1, n, stdout);
    printf("\n");
    fflush(stdout);
    double t2 = now_s();
    int n_decoded = n_gen > 0 ? n_gen - 1 : 0;
    fprintf(stderr, "desk: prompt %d tokens, generated %d tokens (%s); prefill %.1f tok/s, decode %.1f tok/s\n", n_prompt,
            n_gen, stop, (double)n_prompt / (t1 - t0), n_decoded > 0 ? (double)n_decoded / (t2 - t1) : 0.0);
    rc = 0;
done:
    free(toks);
    free(owned);
    desk_sampler_free(s);
    desk_grammar_free(grammar);
    desk_ctx_free(c);
    desk_model_free(m);
    return rc;
}
