/*
 * cmd_tokenize.c - `desk tokenize`: shows how a text splits into tokens, so
 * users can see what fits in a context.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tok_usage(FILE *f) {
    fprintf(f, "usage: desk tokenize -m MODEL.gguf (-p TEXT | -f PATH) [--ids] [--no-bos] [--no-special]\n"
               "  --ids         print only the token ids, on one line\n"
               "  --no-bos      do not add the BOS token\n"
               "  --no-special  treat special-token text as plain text\n");
}

int cmd_tokenize(int argc, char **argv) {
    const char *C = "tokenize", *model = NULL, *prompt = NULL, *file = NULL;
    bool ids = false, bos = true, special = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(val = cli_value(C, argc, argv, &i))) return 2; model = val; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { if (!(val = cli_value(C, argc, argv, &i))) return 2; prompt = val; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { if (!(val = cli_value(C, argc, argv, &i))) return 2; file = val; }
        else if (!strcmp(a, "--ids")) ids = true;
        else if (!strcmp(a, "--no-bos")) bos = false;
        else if (!strcmp(a, "--no-special")) special = false;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { tok_usage(stdout); return 0; }
        else { fprintf(stderr, "desk tokenize: unknown option '%s'\n", a); tok_usage(stderr); return 2; }
    }
    if (!model) { fprintf(stderr, "desk tokenize: -m MODEL is required\n"); return 2; }
    if (!prompt == !file) { fprintf(stderr, "desk tokenize: give exactly one of -p TEXT or -f PATH\n"); return 2; }
    size_t len = 0;
    char *owned = NULL;
    if (file) {
        if (!(owned = cli_read_file(C, file, &len))) return 1;
        prompt = owned;
    } else {
        len = strlen(prompt);
    }
    desk_error err;
    desk_model *m = NULL;
    int rc = 1, n = 0;
    int32_t *t = NULL;
    if (desk_model_load_vocab(model, &m, &err)) { fprintf(stderr, "desk tokenize: %s\n", err.msg); goto done; }
    int flags = (bos ? DESK_TOK_ADD_BOS : 0) | (special ? DESK_TOK_PARSE_SPECIAL : 0);
    desk_tokenize(m, prompt, len, flags, NULL, 0, &n, &err);
    t = malloc(((size_t)n + 1) * sizeof *t);
    if (!t || desk_tokenize(m, prompt, len, flags, t, n + 1, &n, &err)) {
        fprintf(stderr, "desk tokenize: %s\n", t ? err.msg : "out of memory");
        goto done;
    }
    if (ids) {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", t[i]);
        printf("\n");
    } else {
        for (int i = 0; i < n; i++) {
            size_t l;
            const char *s = desk_token_text(m, t[i], &l);
            printf("%6d  '", t[i]);
            for (size_t k = 0; k < l; k++) {
                unsigned char ch = (unsigned char)s[k];
                if (ch == '\n') fputs("\\n", stdout);
                else if (ch == '\t') fputs("\\t", stdout);
                else if (ch < 0x20) printf("\\x%02x", ch);
                else putchar(ch);
            }
            printf("'\n");
        }
    }
    fflush(stdout);
    fprintf(ids ? stderr : stdout, "%d tokens\n", n);
    rc = 0;
done:
    free(t);
    free(owned);
    desk_model_free(m);
    return rc;
}
