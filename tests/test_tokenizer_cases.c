/*
 * test_tokenizer_cases.c - exact token ids for the tokenizer conformance
 * cases in ../shared/data/tokenizers (*.inp / *.out, published with
 * llama.cpp): each vocabulary GGUF given on the command line is checked
 * against its .inp/.out pair.
 *
 * usage: test_tokenizer_cases VOCAB.gguf CASES.inp CASES.out [...]
 */
#include "testutil.h"

#define SEP "\n__ggml_vocab_test__\n"

static void check_file(const char *vocab, const char *inp, const char *outp) {
    desk_error err;
    desk_model *m;
    if (desk_model_load_vocab(vocab, &m, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    size_t il, ol;
    char *in = t_read(inp, &il), *out = t_read(outp, &ol);
    CHECK(in && out, "cannot read %s / %s", inp, outp);
    if (!in || !out) { free(in); free(out); desk_model_free(m); return; }
    char *ip = in, *op = out;
    int cases = 0, bad = 0;
    for (;;) {
        char *sep = strstr(ip, SEP);
        if (!sep) break;
        *sep = 0;
        char *nl = strchr(op, '\n');
        if (!nl) break;
        *nl = 0;
        int32_t want[4096], got[4096];
        int nw = 0, ng = 0;
        for (char *p = op; *p;) {
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p) break;
            want[nw++] = (int32_t)v;
            p = e;
        }
        desk_status s = desk_tokenize(m, ip, strlen(ip), 0, got, 4096, &ng, &err);
        bool same = s == DESK_OK && ng == nw && memcmp(got, want, (size_t)nw * 4) == 0;
        if (!same) {
            bad++;
            fprintf(stderr, "  %s case %d '%s':\n    want", vocab, cases, ip);
            for (int i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n    got ");
            for (int i = 0; i < ng && i < 4096; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n");
        }
        CHECK(same, "%s: case %d differs", vocab, cases);
        cases++;
        ip = sep + strlen(SEP);
        op = nl + 1;
    }
    CHECK(cases >= 40, "%s: only %d cases parsed", inp, cases);
    printf("%s: %d cases, %d mismatches\n", vocab, cases, bad);
    free(in);
    free(out);
    desk_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 4 || (argc - 1) % 3) {
        fprintf(stderr, "usage: %s VOCAB.gguf CASES.inp CASES.out [...]\n", argv[0]);
        return 2;
    }
    for (int i = 1; i + 2 < argc; i += 3) check_file(argv[i], argv[i + 1], argv[i + 2]);
    return t_done("tokenizer cases");
}
