/*
 * fuzz_schema.c - libFuzzer target for JSON Schema -> GBNF (src/text/schema.c):
 * any bytes as a schema. A schema that converts must give a grammar that
 * parses (anything else is a bug in the converter); one that does not must
 * say why. Must never crash, leak or read out of bounds.
 */
#include "text/grammar.h"
#include "text/schema.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *gbnf;
    desk_error err;
    if (dschema_to_gbnf((const char *)data, size, &gbnf, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    dgrammar *g;
    if (dgrammar_parse(gbnf, strlen(gbnf), &g, &err)) {
        /* only a size limit may refuse a converted schema (a{9999} inside (...){9999}); anything else is a bug */
        if (!strstr(err.msg, "too large") && !strstr(err.msg, "more than")) abort();
        free(gbnf);
        return 0;
    }
    dgstate *st = dgstate_new(g);
    if (st) {
        (void)dgstate_allows(st, "{\"a\": [1, \"x\"]}", 15);
        dgstate_free(st);
    }
    dgrammar_free(g);
    free(gbnf);
    return 0;
}
