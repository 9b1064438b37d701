/*
 * schema_sample.c - JSON Schema -> GBNF -> random sentences, for the ajv
 * property test (tests/js/schema_ajv.mjs). Each sample is a random walk in
 * which every next character is drawn from those the grammar allows (a
 * character-level "model" under constrained decoding), ending when the
 * grammar is complete and a coin says so.
 *
 * usage: schema_sample SCHEMA.json N SEED     prints N samples, one JSON text per line
 *        schema_sample SCHEMA.json gbnf       prints the grammar
 * Exit 3 with the error on stderr when the schema is refused; exit 4 when a
 * walk does not finish within 4000 characters.
 */
#include "testutil.h"
#include "text/grammar.h"
#include "text/schema.h"

/* printable ASCII, two controls and a few multi-byte characters */
static char ALPHABET[128][5];
static int N_ALPHA;
static void make_alphabet(void) {
    for (int ch = 0x20; ch < 0x7F; ch++) ALPHABET[N_ALPHA++][0] = (char)ch;
    const char *more[] = {"\n", "\t", "\xC3\xA9", "\xE2\x82\xAC", "\xE4\xB8\xAD", "\xF0\x9F\x9A\x80"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) strcpy(ALPHABET[N_ALPHA++], more[i]);
}

static uint64_t rng;
static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: schema_sample SCHEMA.json N SEED | gbnf\n"); return 2; }
    size_t len;
    char *json = t_read(argv[1], &len), *gbnf;
    desk_error err;
    if (!json) { fprintf(stderr, "cannot read %s\n", argv[1]); return 2; }
    if (dschema_to_gbnf(json, len, &gbnf, &err)) { fprintf(stderr, "%s\n", err.msg); free(json); return 3; }
    free(json);
    if (!strcmp(argv[2], "gbnf")) { fputs(gbnf, stdout); free(gbnf); return 0; }
    dgrammar *g;
    if (dgrammar_parse(gbnf, strlen(gbnf), &g, &err)) { fprintf(stderr, "internal: the grammar does not parse: %s\n%s", err.msg, gbnf); return 1; }
    free(gbnf);
    int n = atoi(argv[2]);
    rng = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    make_alphabet();
    int rc = 0;
    char *out = malloc(65536);
    for (int i = 0; i < n && !rc; i++) {
        dgstate *st = dgstate_new(g);
        size_t o = 0;
        for (int steps = 0;; steps++) {
            if (dgstate_complete(st) && (rnd() % 4 == 0)) break;
            if (steps > 4000) { fprintf(stderr, "sample %d did not finish: %.*s\n", i, (int)o, out); rc = 4; break; }
            int ok[128], n_ok = 0, k = 0; /* a uniform choice among the allowed characters */
            for (int a = 0; a < N_ALPHA; a++)
                if (dgstate_allows(st, ALPHABET[a], strlen(ALPHABET[a]))) ok[n_ok++] = a;
            if (n_ok) {
                const char *ch = ALPHABET[ok[rnd() % (uint32_t)n_ok]];
                dgstate_advance(st, ch, strlen(ch));
                memcpy(out + o, ch, strlen(ch));
                o += strlen(ch);
            } else {
                k = N_ALPHA;
            }
            if (k == N_ALPHA) {
                if (dgstate_complete(st)) break;
                fprintf(stderr, "sample %d: stuck, no character allowed after %.*s\n", i, (int)o, out);
                rc = 4;
                break;
            }
        }
        dgstate_free(st);
        if (!rc) printf("%.*s\n", (int)o, out);
    }
    free(out);
    dgrammar_free(g);
    return rc;
}
