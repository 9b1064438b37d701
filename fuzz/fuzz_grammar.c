/*
 * fuzz_grammar.c - libFuzzer target for the GBNF parser and recognizer
 * (src/text/grammar.c): any bytes as a grammar; when it parses, the
 * recognizer runs over the input's own bytes and a few fixed strings, in
 * pieces, and token masks over a small vocabulary (fixed pieces and slices
 * of the input) must agree with asking about each token alone (until a
 * limit refuses a character: grammar.h, dgstate_limited). Must never
 * crash, leak, hang or read out of bounds.
 */
#include "text/grammar.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dgrammar *g;
    desk_error err;
    if (dgrammar_parse((const char *)data, size, &g, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    static const char *probes[] = {"", "a", "{\"k\": [1, 2.5, \"x\"]}", "\xE2\x82\xAC\xE2", "0123456789abcdef"};
    for (size_t i = 0; i < sizeof probes / sizeof *probes + 1; i++) {
        const char *s = i < sizeof probes / sizeof *probes ? probes[i] : (const char *)data;
        size_t n = i < sizeof probes / sizeof *probes ? strlen(s) : (size > 64 ? 64 : size);
        dgstate *st = dgstate_new(g);
        if (!st) continue;
        bool allowed = dgstate_allows(st, s, n);
        size_t k = n / 2;
        bool ok = dgstate_advance(st, s, k) && dgstate_advance(st, s + k, n - k);
        if (ok != allowed) abort(); /* one piece or two: the same answer */
        (void)dgstate_complete(st);
        dgstate_free(st);
    }
    /* masks: a vocabulary of fixed pieces and slices of the input */
    enum { NV = 40 };
    const char *tok[NV];
    uint16_t len[NV];
    for (int i = 0; i < NV; i++) {
        if (i < (int)(sizeof probes / sizeof *probes)) tok[i] = probes[i], len[i] = (uint16_t)strlen(probes[i]);
        else {
            size_t a = size ? (size_t)i * 7 % size : 0, b = size ? (size_t)i * 13 % 23 + 1 : 0;
            tok[i] = (const char *)data + a;
            len[i] = (uint16_t)(a + b <= size ? b : size - a);
        }
        if (!len[i]) tok[i] = NULL;
    }
    dgtrie *t = dgtrie_new(NV, tok, len);
    dgstate *a = dgstate_new(g), *b = dgstate_new(g);
    if (t && a && b) {
        uint64_t mask[1];
        for (int step = 0; step < 4 && dgstate_mask(a, t, mask); step++) {
            int pick = -1;
            for (int i = 0; i < NV; i++) {
                bool want = tok[i] && dgstate_allows(b, tok[i], len[i]);
                /* the mask agrees with the recognizer, unless a limit refused something */
                if (want != ((mask[0] >> i) & 1) && !dgstate_limited(a) && !dgstate_limited(b)) abort();
                if (want && pick < 0 && (size_t)i % 3 == size % 3) pick = i;
                if (want && pick < 0) pick = i;
            }
            if (pick < 0 || !dgstate_advance(a, tok[pick], len[pick]) || !dgstate_advance(b, tok[pick], len[pick])) break;
        }
    }
    dgstate_free(a);
    dgstate_free(b);
    dgtrie_free(t);
    dgrammar_free(g);
    return 0;
}
