/*
 * test_tokenizer_diff.c - differential test against a JavaScript tokenizer:
 * for every string in a JSONL file written by tests/js/gen_tokenizer_cases.mjs
 * (ids from @lenml/tokenizers over the real tokenizer.json), desk must give
 * exactly the same ids. Also checks that detokenizing desk's ids streams back
 * the input text (for Qwen, after NFC normalization, so only where the text
 * is already NFC).
 *
 * usage: test_tokenizer_diff VOCAB.gguf CASES.jsonl [--roundtrip]
 */
#include "testutil.h"

#include <jansson.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s VOCAB.gguf CASES.jsonl [--roundtrip]\n", argv[0]);
        return 2;
    }
    bool roundtrip = argc > 3 && !strcmp(argv[3], "--roundtrip");
    desk_error err;
    desk_model *m;
    if (desk_model_load_vocab(argv[1], &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", argv[2]);
        return 1;
    }
    static char line[1 << 16];
    int32_t got[8192];
    char *text_out = malloc(1 << 16);
    int n_cases = 0, shown = 0, rt_cases = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) continue;
        const char *text = json_string_value(json_object_get(j, "text"));
        size_t tlen = json_string_length(json_object_get(j, "text"));
        json_t *ids = json_object_get(j, "ids");
        int ng = 0;
        desk_status s = desk_tokenize(m, text, tlen, DESK_TOK_PARSE_SPECIAL, got, 8192, &ng, &err);
        bool same = s == DESK_OK && (size_t)ng == json_array_size(ids);
        for (int i = 0; same && i < ng; i++) same = got[i] == json_integer_value(json_array_get(ids, (size_t)i));
        CHECK(same, "case %d differs", n_cases);
        if (!same && shown++ < 5) {
            fprintf(stderr, "  text: %s\n  want:", line);
            for (size_t i = 0; i < json_array_size(ids); i++) fprintf(stderr, " %lld", json_integer_value(json_array_get(ids, i)));
            fprintf(stderr, "\n  got: ");
            for (int i = 0; i < ng; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        if (roundtrip && s == DESK_OK) {
            desk_detok d;
            desk_detok_init(&d);
            size_t o = 0;
            char piece[1024];
            for (int i = 0; i < ng; i++) {
                size_t k = desk_detok_push(m, &d, got[i], true, piece, sizeof piece);
                if (o + k < (1 << 16)) { memcpy(text_out + o, piece, k); o += k; }
            }
            o += desk_detok_flush(&d, text_out + o, (1 << 16) - o);
            CHECK(o == tlen && memcmp(text_out, text, tlen) == 0, "case %d: detokenized text differs (%zu vs %zu bytes)", n_cases, o, tlen);
            rt_cases++;
        }
        json_decref(j);
        n_cases++;
    }
    fclose(f);
    CHECK(n_cases >= 1000, "only %d cases in %s", n_cases, argv[2]);
    printf("%s: %d strings compared, %d round-tripped\n", argv[1], n_cases, rt_cases);
    free(text_out);
    desk_model_free(m);
    return t_done("tokenizer differential");
}
