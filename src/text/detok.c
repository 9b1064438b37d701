/*
 * detok.c - streaming detokenization: pieces are buffered until they form
 * complete UTF-8 characters, so callers only ever see valid UTF-8.
 */
#include "model/model.h"

void desk_detok_init(desk_detok *d) {
    memset(d, 0, sizeof *d);
    d->first = true;
}

void desk_detok_init_after(desk_detok *d, const desk_model *m, const int32_t *prev, int n_prev) {
    desk_detok_init(d);
    for (int i = 0; i < n_prev; i++)
        if (!desk_token_is_special(m, prev[i])) d->first = false;
}

/* Length of a complete UTF-8 sequence led by c, 0 if c cannot lead one. */
static int lead_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Second-byte ranges that keep a sequence well-formed (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static bool cont_ok(unsigned char lead, int i, unsigned char c) {
    if ((c & 0xC0) != 0x80) return false;
    if (i != 1) return true;
    if (lead == 0xE0) return c >= 0xA0;
    if (lead == 0xED) return c <= 0x9F;
    if (lead == 0xF0) return c >= 0x90;
    if (lead == 0xF4) return c <= 0x8F;
    return true;
}

static size_t put(char *buf, size_t cap, size_t o, const void *p, size_t n) {
    if (o + n + 1 > cap) n = o + 1 < cap ? cap - o - 1 : 0;
    memcpy(buf + o, p, n);
    return o + n;
}

/* Feeds bytes through the pending buffer, writing complete characters. */
static size_t feed(desk_detok *d, const unsigned char *s, size_t n, char *buf, size_t cap, size_t o) {
    static const char repl[] = "\xEF\xBF\xBD";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (d->n_pending == 0) {
            int l = lead_len(c);
            if (l == 1) o = put(buf, cap, o, &c, 1);
            else if (l == 0) o = put(buf, cap, o, repl, 3);
            else d->pending[d->n_pending++] = c;
            continue;
        }
        if (!cont_ok(d->pending[0], d->n_pending, c)) {
            o = put(buf, cap, o, repl, 3); /* broken sequence: replace it, reprocess c */
            d->n_pending = 0;
            i--;
            continue;
        }
        d->pending[d->n_pending++] = c;
        if (d->n_pending == lead_len(d->pending[0])) {
            o = put(buf, cap, o, d->pending, (size_t)d->n_pending);
            d->n_pending = 0;
        }
    }
    return o;
}

size_t desk_detok_push(const desk_model *m, desk_detok *d, int32_t tok, bool show_special, char *buf, size_t cap) {
    if (cap == 0) return 0;
    buf[0] = 0;
    const desk_vocab *v = &m->vocab;
    if (tok < 0 || tok >= v->n) return 0;
    int ty = v->types[tok];
    if (!show_special && (ty == TOKTYPE_CONTROL || ty == TOKTYPE_UNKNOWN || ty == TOKTYPE_UNUSED)) return 0;
    char piece[1024];
    size_t n = desk_vocab_piece(v, tok, piece, sizeof piece);
    const char *p = piece;
    /* SentencePiece adds a space before the first word; drop it on output */
    if (d->first && v->kind == VOCAB_SPM && v->add_space_prefix && n > 0 && p[0] == ' ') { p++; n--; }
    if (n > 0) d->first = false;
    size_t o = feed(d, (const unsigned char *)p, n, buf, cap, 0);
    buf[o] = 0;
    return o;
}

size_t desk_detok_flush(desk_detok *d, char *buf, size_t cap) {
    if (cap == 0) return 0;
    size_t o = 0;
    if (d->n_pending) o = put(buf, cap, 0, "\xEF\xBF\xBD", 3);
    d->n_pending = 0;
    buf[o] = 0;
    return o;
}
