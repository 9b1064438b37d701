/*
 * fuzz_tokenize.c - libFuzzer target for the tokenizers and the streaming
 * detokenizer: any bytes (invalid UTF-8 included) tokenize without a crash,
 * and detokenizing the result always yields valid UTF-8. The vocabularies
 * come from the GGUF files named in DESK_FUZZ_VOCABS (colon-separated).
 */
#include "desk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static desk_model *models[8];
static int n_models;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    const char *env = getenv("DESK_FUZZ_VOCABS");
    if (!env) { fprintf(stderr, "set DESK_FUZZ_VOCABS=a.gguf:b.gguf\n"); exit(2); }
    char *list = strdup(env);
    for (char *p = strtok(list, ":"); p && n_models < 8; p = strtok(NULL, ":")) {
        desk_error err;
        if (desk_model_load_vocab(p, &models[n_models], &err)) { fprintf(stderr, "%s\n", err.msg); exit(2); }
        n_models++;
    }
    free(list);
    return 0;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t l = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (!l || i + l > n) return 0;
        for (size_t k = 1; k < l; k++) if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += l;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    static int32_t toks[8192];
    for (int m = 0; m < n_models; m++) {
        int n = 0;
        desk_error err;
        if (desk_tokenize(models[m], (const char *)data, size, DESK_TOK_ADD_BOS | DESK_TOK_PARSE_SPECIAL, toks, 8192, &n, &err))
            continue;
        desk_detok d;
        desk_detok_init(&d);
        char buf[1100];
        for (int i = 0; i < n; i++) {
            size_t k = desk_detok_push(models[m], &d, toks[i], i & 1, buf, sizeof buf);
            if (!utf8_valid((unsigned char *)buf, k)) abort();
        }
        size_t k = desk_detok_flush(&d, buf, sizeof buf);
        if (!utf8_valid((unsigned char *)buf, k)) abort();
    }
    return 0;
}
