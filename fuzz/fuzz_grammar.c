/*
 * fuzz_grammar.c - libFuzzer target for the GBNF parser and recognizer
 * (src/text/grammar.c): any bytes as a grammar; when it parses, the
 * recognizer runs over the input's own bytes and a few fixed strings, in
 * pieces. Must never crash, leak, hang or read out of bounds.
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
    dgrammar_free(g);
    return 0;
}
