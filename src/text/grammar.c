/*
 * grammar.c - GBNF text into sequences of character sets and rule
 * references (the compiled form in grammar.h), with the checks a pushdown
 * recognizer needs (every rule defined, no left recursion), and the public
 * desk_grammar API. The recognizer is grammar_match.c.
 */
#include "text/grammar.h"
#include "text/schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 65536
#define MAX_ELEMS (1 << 22)
#define MAX_REPEAT 10000     /* m and n of x{m,n} */

typedef struct { gelem *v; int n, cap; } seq;
typedef struct {
    char *name;
    seq *alts;
    int n_alts, cap_alts;
    int line;                  /* where defined (0: only referenced so far) */
    bool helper;
    int chain_k, chain_first;  /* O_k of a bounded repetition's chain (k >= 1), and O_1's rule */
} brule;


/* ------------------------------------------------------------ parsing */

typedef struct {
    const char *s;
    size_t len, pos;
    int line;
    brule *rules;
    int n_rules, cap_rules;
    crange *rg;
    int n_rg, cap_rg;
    long n_elems;
    desk_error *err;
    bool failed;
} gparser;

static bool gfail(gparser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool gfail(gparser *p, const char *fmt, ...) {
    if (p->failed) return false;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    desk_fail(p->err, DESK_EFORMAT, "grammar line %d: %s", p->line, msg);
    return false;
}

static bool grow(gparser *p, void **v, int *cap, int need, size_t size) {
    if (need <= *cap) return true;
    int c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    void *n = realloc(*v, (size_t)c * size);
    if (!n) return gfail(p, "out of memory");
    *v = n;
    *cap = c;
    return true;
}

static bool seq_push(gparser *p, seq *q, gelem e) {
    if (++p->n_elems > MAX_ELEMS) return gfail(p, "the grammar is too large");
    if (!grow(p, (void **)&q->v, &q->cap, q->n + 1, sizeof *q->v)) return false;
    q->v[q->n++] = e;
    return true;
}

static int rule_id(gparser *p, const char *name, size_t n) {
    for (int i = 0; i < p->n_rules; i++)
        if (!p->rules[i].helper && strlen(p->rules[i].name) == n && !memcmp(p->rules[i].name, name, n)) return i;
    if (p->n_rules >= MAX_RULES) return gfail(p, "more than %d rules", MAX_RULES), -1;
    if (!grow(p, (void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof *p->rules)) return -1;
    brule *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    if (!(r->name = malloc(n + 1))) return gfail(p, "out of memory"), -1;
    memcpy(r->name, name, n);
    r->name[n] = 0;
    return p->n_rules++;
}

static int new_helper(gparser *p) {
    char name[32];
    snprintf(name, sizeof name, "(helper %d)", p->n_rules);
    int id = rule_id(p, name, strlen(name));
    if (id >= 0) {
        p->rules[id].helper = true;
        p->rules[id].line = p->line;
    }
    return id;
}

static seq *add_alt(gparser *p, int rule) {
    brule *r = &p->rules[rule];
    if (!grow(p, (void **)&r->alts, &r->cap_alts, r->n_alts + 1, sizeof *r->alts)) return NULL;
    memset(&r->alts[r->n_alts], 0, sizeof *r->alts);
    return &r->alts[r->n_alts++];
}

static bool add_range(gparser *p, uint32_t lo, uint32_t hi) {
    if (!grow(p, (void **)&p->rg, &p->cap_rg, p->n_rg + 1, sizeof *p->rg)) return false;
    p->rg[p->n_rg++] = (crange){lo, hi};
    return true;
}

static void skip_space(gparser *p, bool newlines) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '#') {
            while (p->pos < p->len && p->s[p->pos] != '\n') p->pos++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else if (c == '\n' && newlines) {
            p->pos++;
            p->line++;
        } else {
            break;
        }
    }
}

static bool is_word(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

/* one character of a literal or class at p->pos (escapes decoded) */
static bool read_char(gparser *p, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)p->s;
    if (p->pos >= p->len) return gfail(p, "unexpected end of the grammar");
    unsigned char c = s[p->pos];
    if (c == '\\') {
        if (p->pos + 1 >= p->len) return gfail(p, "a backslash at the end");
        char e = (char)s[p->pos + 1];
        p->pos += 2;
        int nd = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (nd) {
            uint32_t v = 0;
            for (int k = 0; k < nd; k++, p->pos++) {
                char h = p->pos < p->len ? p->s[p->pos] : 0;
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) return gfail(p, "bad \\%c escape", e);
                v = v * 16 + (uint32_t)d;
            }
            if (v > 0x10FFFF) return gfail(p, "\\%c escape beyond U+10FFFF", e);
            *cp = v;
            return true;
        }
        switch (e) {
        case 'n': *cp = '\n'; return true;
        case 't': *cp = '\t'; return true;
        case 'r': *cp = '\r'; return true;
        case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': *cp = (uint32_t)e; return true;
        default: return gfail(p, "unknown escape \\%c", e);
        }
    }
    int l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!l || p->pos + (size_t)l > p->len) return gfail(p, "invalid UTF-8 in a literal");
    uint32_t v = l == 1 ? c : l == 2 ? c & 0x1F : l == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < l; k++) {
        if ((s[p->pos + (size_t)k] & 0xC0) != 0x80) return gfail(p, "invalid UTF-8 in a literal");
        v = (v << 6) | (s[p->pos + (size_t)k] & 0x3F);
    }
    if (c == '\n') p->line++;
    p->pos += (size_t)l;
    *cp = v;
    return true;
}

static bool parse_alternates(gparser *p, int rule, bool nested);

/* wraps q->v[from..] into a helper rule; q keeps one reference to it */
static bool wrap(gparser *p, seq *q, int from) {
    int h = new_helper(p);
    if (h < 0) return false;
    seq *a = add_alt(p, h);
    if (!a) return false;
    for (int i = from; i < q->n; i++)
        if (!seq_push(p, a, q->v[i])) return false;
    if (!seq_push(p, a, (gelem){G_END, false, 0, 0})) return false;
    q->n = from;
    return seq_push(p, q, (gelem){G_RULE, false, h, 0});
}

/* a helper R ::= X R | "" (star) or R ::= X | "" (optional), for one element X */
static int star_or_opt(gparser *p, gelem x, bool star, int tail) {
    int h = new_helper(p);
    if (h < 0) return -1;
    seq *a = add_alt(p, h);
    if (!a || !seq_push(p, a, x)) return -1;
    if (star && !seq_push(p, a, (gelem){G_RULE, false, h, 0})) return -1;
    if (!star && tail >= 0 && !seq_push(p, a, (gelem){G_RULE, false, tail, 0})) return -1;
    if (!seq_push(p, a, (gelem){G_END, false, 0, 0})) return -1;
    seq *e = add_alt(p, h);
    if (!e || !seq_push(p, e, (gelem){G_END, false, 0, 0})) return -1;
    return h;
}

static bool repeat(gparser *p, seq *q, int from, long lo, long hi /* -1: unbounded */) {
    if (q->n - from != 1 && !wrap(p, q, from)) return false;
    gelem x = q->v[q->n - 1];
    q->n--;
    for (long i = 0; i < lo; i++)
        if (!seq_push(p, q, x)) return false;
    if (hi < 0) {
        int h = star_or_opt(p, x, true, -1);
        return h >= 0 && seq_push(p, q, (gelem){G_RULE, false, h, 0});
    }
    int tail = -1, first = -1; /* optional chain: O_k ::= X O_{k-1} | "" */
    for (long i = lo; i < hi; i++) {
        if ((tail = star_or_opt(p, x, false, tail)) < 0) return false;
        if (first < 0) first = tail;
        p->rules[tail].chain_k = (int)(i - lo + 1);
        p->rules[tail].chain_first = first;
    }
    return tail < 0 || seq_push(p, q, (gelem){G_RULE, false, tail, 0});
}

static bool parse_number(gparser *p, long *v) {
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return gfail(p, "expected a number in {}");
    *v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        *v = *v * 10 + (p->s[p->pos++] - '0');
        if (*v > MAX_REPEAT) return gfail(p, "repetition counts above %d are not supported", MAX_REPEAT);
    }
    return true;
}

static bool parse_sequence(gparser *p, seq *q, bool nested) {
    int last = -1; /* where the last item starts, for a repetition after it */
    for (;;) {
        skip_space(p, nested);
        if (p->pos >= p->len) break;
        char c = p->s[p->pos];
        if (c == '|' || c == ')' || c == '\n') break;
        if (c == '"') {
            p->pos++;
            last = q->n;
            while (p->pos < p->len && p->s[p->pos] != '"') {
                uint32_t cp;
                if (!read_char(p, &cp) || !add_range(p, cp, cp) || !seq_push(p, q, (gelem){G_CHARS, false, p->n_rg - 1, 1})) return false;
            }
            if (p->pos >= p->len) return gfail(p, "unterminated string literal");
            p->pos++;
            if (q->n == last) last = -1; /* "" matches nothing: no item to repeat */
        } else if (c == '[') {
            p->pos++;
            bool neg = p->pos < p->len && p->s[p->pos] == '^';
            if (neg) p->pos++;
            int first = p->n_rg;
            while (p->pos < p->len && p->s[p->pos] != ']') {
                uint32_t lo, hi;
                if (!read_char(p, &lo)) return false;
                hi = lo;
                if (p->pos + 1 < p->len && p->s[p->pos] == '-' && p->s[p->pos + 1] != ']') {
                    p->pos++;
                    if (!read_char(p, &hi)) return false;
                    if (hi < lo) return gfail(p, "character range out of order");
                }
                if (!add_range(p, lo, hi)) return false;
            }
            if (p->pos >= p->len) return gfail(p, "unterminated character class");
            p->pos++;
            last = q->n;
            if (!seq_push(p, q, (gelem){G_CHARS, neg, first, p->n_rg - first})) return false;
        } else if (c == '.') {
            p->pos++;
            last = q->n;
            if (!add_range(p, 0, 0x10FFFF) || !seq_push(p, q, (gelem){G_CHARS, false, p->n_rg - 1, 1})) return false;
        } else if (is_word(c)) {
            size_t s = p->pos;
            while (p->pos < p->len && is_word(p->s[p->pos])) p->pos++;
            size_t e = p->pos;
            skip_space(p, false);
            if (p->pos + 3 <= p->len && !strncmp(p->s + p->pos, "::=", 3)) { /* the next rule starts here */
                p->pos = s;
                break;
            }
            int id = rule_id(p, p->s + s, e - s);
            if (id < 0) return false;
            last = q->n;
            if (!seq_push(p, q, (gelem){G_RULE, false, id, 0})) return false;
        } else if (c == '(') {
            p->pos++;
            int h = new_helper(p);
            if (h < 0 || !parse_alternates(p, h, true)) return false;
            skip_space(p, true);
            if (p->pos >= p->len || p->s[p->pos] != ')') return gfail(p, "expected ')'");
            p->pos++;
            last = q->n;
            if (!seq_push(p, q, (gelem){G_RULE, false, h, 0})) return false;
        } else if (c == '*' || c == '+' || c == '?') {
            if (last < 0) return gfail(p, "'%c' with nothing before it to repeat", c);
            p->pos++;
            if (!repeat(p, q, last, c == '+' ? 1 : 0, c == '?' ? 1 : -1)) return false;
            last = -1;
        } else if (c == '{') {
            if (last < 0) return gfail(p, "'{' with nothing before it to repeat");
            p->pos++;
            long lo, hi;
            if (!parse_number(p, &lo)) return false;
            hi = lo;
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                hi = -1;
                if (p->pos < p->len && p->s[p->pos] != '}' && !parse_number(p, &hi)) return false;
            }
            if (p->pos >= p->len || p->s[p->pos] != '}') return gfail(p, "expected '}'");
            p->pos++;
            if (hi >= 0 && hi < lo) return gfail(p, "{%ld,%ld}: the maximum is below the minimum", lo, hi);
            if (!repeat(p, q, last, lo, hi)) return false;
            last = -1;
        } else {
            return gfail(p, "unexpected '%c'", c);
        }
    }
    return true;
}

static bool parse_alternates(gparser *p, int rule, bool nested) {
    for (;;) {
        if (!add_alt(p, rule)) return false;
        int idx = p->rules[rule].n_alts - 1;
        seq tmp = {0};
        bool ok = parse_sequence(p, &tmp, nested) && seq_push(p, &tmp, (gelem){G_END, false, 0, 0});
        p->rules[rule].alts[idx] = tmp; /* parse_sequence may have moved the rules array */
        if (!ok) return false;
        skip_space(p, nested);
        if (!nested) { /* a top-level rule goes on when the next line starts with '|' */
            size_t save = p->pos;
            int line = p->line;
            skip_space(p, true);
            if (p->pos >= p->len || p->s[p->pos] != '|') {
                p->pos = save;
                p->line = line;
            }
        }
        if (p->pos < p->len && p->s[p->pos] == '|') {
            p->pos++;
            continue;
        }
        return true;
    }
}

/* ------------------------------------------------------------ checks and flattening */

static bool check(gparser *p, dgrammar *g) {
    int root = -1;
    for (int i = 0; i < p->n_rules; i++) {
        if (!p->rules[i].line && !p->rules[i].helper) {
            p->line = 0;
            return gfail(p, "rule '%s' is used but never defined", p->rules[i].name);
        }
        if (!p->rules[i].helper && !strcmp(p->rules[i].name, "root")) root = i;
    }
    if (root < 0) return p->line = 0, gfail(p, "there is no 'root' rule");
    /* nullable rules, by fixed point */
    bool *null = calloc((size_t)p->n_rules, 1);
    if (!null) return gfail(p, "out of memory");
    for (bool changed = true; changed;) {
        changed = false;
        for (int r = 0; r < p->n_rules; r++) {
            if (null[r]) continue;
            for (int a = 0; a < p->rules[r].n_alts && !null[r]; a++) {
                bool all = true;
                for (int k = 0; k < p->rules[r].alts[a].n && all; k++) {
                    gelem e = p->rules[r].alts[a].v[k];
                    if (e.kind == G_CHARS || (e.kind == G_RULE && !null[e.a])) all = false;
                }
                if (all) null[r] = changed = true;
            }
        }
    }
    /* left recursion: a rule reachable from itself without consuming a character */
    int *state = calloc((size_t)p->n_rules, sizeof *state), *stack = malloc((size_t)p->n_rules * 2 * sizeof *stack);
    bool ok = state && stack;
    for (int start = 0; ok && start < p->n_rules; start++) {
        if (state[start]) continue;
        /* iterative DFS over "r can begin with s" edges; state 1 = on the path, 2 = done */
        int sp = 0;
        stack[sp++] = start;
        stack[sp++] = 0;
        state[start] = 1;
        while (sp && ok) {
            int r = stack[sp - 2], edge = stack[sp - 1]++, k = 0, target = -1;
            for (int a = 0; a < p->rules[r].n_alts && target < 0; a++)
                for (int i = 0; i < p->rules[r].alts[a].n; i++) {
                    gelem e = p->rules[r].alts[a].v[i];
                    if (e.kind != G_RULE) break;
                    if (k++ == edge) { target = e.a; break; }
                    if (!null[e.a]) break;
                }
            if (target < 0) {
                state[r] = 2;
                sp -= 2;
                continue;
            }
            if (state[target] == 1) {
                int named = target;
                for (int i = sp - 2; i >= 0 && p->rules[named].helper; i -= 2) named = stack[i];
                p->line = p->rules[named].line;
                ok = gfail(p, "rule '%s' is left-recursive (it can reach itself before matching a character)", p->rules[named].name);
            } else if (!state[target]) {
                state[target] = 1;
                stack[sp++] = target;
                stack[sp++] = 0;
            }
        }
    }
    free(state);
    free(stack);
    if (!ok) {
        free(null);
        return p->failed ? false : gfail(p, "out of memory");
    }
    /* flatten */
    g->n_rules = p->n_rules;
    g->root = root;
    g->rules = calloc((size_t)p->n_rules, sizeof *g->rules);
    int n_alts = 0, n_el = 0;
    for (int r = 0; r < p->n_rules; r++) {
        n_alts += p->rules[r].n_alts;
        for (int a = 0; a < p->rules[r].n_alts; a++) n_el += p->rules[r].alts[a].n;
    }
    g->alts = malloc((size_t)(n_alts ? n_alts : 1) * sizeof *g->alts);
    g->el = malloc((size_t)(n_el ? n_el : 1) * sizeof *g->el);
    if (!g->rules || !g->alts || !g->el) return gfail(p, "out of memory");
    int ai = 0;
    for (int r = 0; r < p->n_rules; r++) {
        g->rules[r].first = ai;
        g->rules[r].n = p->rules[r].n_alts;
        for (int a = 0; a < p->rules[r].n_alts; a++) {
            g->alts[ai++] = g->n_el;
            memcpy(g->el + g->n_el, p->rules[r].alts[a].v, (size_t)p->rules[r].alts[a].n * sizeof *g->el);
            g->n_el += p->rules[r].alts[a].n;
        }
    }
    g->rg = p->rg;
    g->n_rg = p->n_rg;
    p->rg = NULL;
    /* chains of bounded repetitions (see grammar.h) */
    g->chain_k = calloc((size_t)(g->n_el ? g->n_el : 1), sizeof *g->chain_k);
    g->chain_len = calloc((size_t)(g->n_el ? g->n_el : 1), sizeof *g->chain_len);
    if (!g->chain_k || !g->chain_len) {
        free(null);
        return gfail(p, "out of memory");
    }
    /* O_k (k >= 2) qualifies when O_(k-1) does and sits just before it with the same length */
    int prev_len = -1;
    bool prev_ok = false;
    for (int r = 0; r < p->n_rules; r++) {
        const brule *b = &p->rules[r];
        int len = 0;
        for (int a = 0; a < b->n_alts; a++) len += b->alts[a].n;
        bool ok_r = b->chain_k >= 2 &&
                    (b->chain_k == 2 ? r == b->chain_first + 1
                                     : prev_ok && p->rules[r - 1].chain_first == b->chain_first &&
                                           p->rules[r - 1].chain_k == b->chain_k - 1 && prev_len == len);
        prev_ok = ok_r;
        prev_len = len;
        if (!ok_r || b->chain_k <= DG_CHAIN_CUT) continue;
        gelem x = b->alts[0].v[0];
        if (x.kind == G_RULE && null[x.a]) continue; /* an item that may be empty: k always matters */
        int from = g->alts[g->rules[r].first];
        for (int i = 0; i < len; i++) g->chain_k[from + i] = b->chain_k, g->chain_len[from + i] = len;
    }
    free(null);
    return true;
}

desk_status dgrammar_parse(const char *text, size_t len, dgrammar **out, desk_error *err) {
    *out = NULL;
    gparser p = {.s = text, .len = len, .line = 1, .err = err};
    dgrammar *g = calloc(1, sizeof *g);
    bool ok = g != NULL;
    if (!ok) gfail(&p, "out of memory");
    while (ok) {
        skip_space(&p, true);
        if (p.pos >= p.len) break;
        size_t s = p.pos;
        while (p.pos < p.len && is_word(p.s[p.pos])) p.pos++;
        if (p.pos == s) { ok = gfail(&p, "expected a rule name, found '%c'", p.s[p.pos]); break; }
        int id = rule_id(&p, p.s + s, p.pos - s);
        if (id < 0) { ok = false; break; }
        if (p.rules[id].line) { ok = gfail(&p, "rule '%s' is defined twice (first on line %d)", p.rules[id].name, p.rules[id].line); break; }
        p.rules[id].line = p.line;
        skip_space(&p, false);
        if (p.pos + 3 > p.len || strncmp(p.s + p.pos, "::=", 3)) { ok = gfail(&p, "expected '::=' after '%s'", p.rules[id].name); break; }
        p.pos += 3;
        skip_space(&p, true);
        ok = parse_alternates(&p, id, false);
        if (ok && p.pos < p.len && p.s[p.pos] == ')') ok = gfail(&p, "unmatched ')'");
    }
    ok = ok && check(&p, g);
    for (int i = 0; i < p.n_rules; i++) {
        for (int a = 0; a < p.rules[i].n_alts; a++) free(p.rules[i].alts[a].v);
        free(p.rules[i].alts);
        free(p.rules[i].name);
    }
    free(p.rules);
    free(p.rg);
    if (!ok) {
        dgrammar_free(g);
        return err->status ? err->status : DESK_EFORMAT;
    }
    *out = g;
    return DESK_OK;
}

void dgrammar_free(dgrammar *g) {
    if (!g) return;
    free(g->el);
    free(g->chain_k);
    free(g->chain_len);
    free(g->rg);
    free(g->alts);
    free(g->rules);
    free(g);
}

/* ------------------------------------------------------------ public API (desk.h part 11) */

struct desk_grammar {
    dgrammar *g;
};

const dgrammar *desk_grammar_internal(const desk_grammar *g) { return g->g; }

desk_status desk_grammar_from_gbnf(const char *text, size_t len, desk_grammar **out, desk_error *err) {
    *out = NULL;
    desk_grammar *w = calloc(1, sizeof *w);
    if (!w) return desk_fail(err, DESK_ENOMEM, "out of memory");
    desk_status st = dgrammar_parse(text, len, &w->g, err);
    if (st) {
        free(w);
        return st;
    }
    *out = w;
    return DESK_OK;
}

desk_status desk_grammar_from_json_schema(const char *json, size_t len, desk_grammar **out, desk_error *err) {
    *out = NULL;
    char *gbnf;
    desk_status st = dschema_to_gbnf(json, len, &gbnf, err);
    if (st) return st;
    st = desk_grammar_from_gbnf(gbnf, strlen(gbnf), out, err);
    free(gbnf);
    return st;
}

desk_status desk_grammar_json_object(desk_grammar **out, desk_error *err) {
    *out = NULL;
    char *gbnf = dschema_any_object_gbnf();
    if (!gbnf) return desk_fail(err, DESK_ENOMEM, "out of memory");
    desk_status st = desk_grammar_from_gbnf(gbnf, strlen(gbnf), out, err);
    free(gbnf);
    return st;
}

void desk_grammar_free(desk_grammar *g) {
    if (!g) return;
    dgrammar_free(g->g);
    free(g);
}
