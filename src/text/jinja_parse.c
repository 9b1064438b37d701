/*
 * jinja_parse.c - template text into a syntax tree (jinja.h).
 *
 * The lexer splits the text into literal text and tags, applying Jinja2's
 * whitespace rules as Hugging Face configures them: newlines normalised to
 * \n and one trailing newline dropped; {%- / -%} (and {{- -}}, {#- -#})
 * strip the whitespace before / after the tag; trim_blocks removes the first
 * newline after a block or comment tag; lstrip_blocks removes the spaces and
 * tabs between the start of a line and a block or comment tag ({%+ keeps
 * them). Inside tags it produces names, numbers, strings and operators; a
 * recursive-descent parser with Jinja2's operator precedence builds the tree.
 * Every error names the line and the construct.
 */
#include "text/jinja.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200          /* nesting of expressions and blocks */
#define MAX_TEMPLATE (1 << 20) /* bytes of template text */

/* ------------------------------------------------------------ arena */

typedef struct jchunk { struct jchunk *next; size_t used, cap; } jchunk;
struct jarena {
    jchunk *head;
    size_t total, limit;
};

jarena *jarena_new(size_t limit) {
    jarena *a = calloc(1, sizeof *a);
    if (a) a->limit = limit;
    return a;
}

void jarena_free(jarena *a) {
    if (!a) return;
    for (jchunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}

void *jarena_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    jchunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (a->total + cap > a->limit) return NULL;
        c = malloc(sizeof(jchunk) + 16 + cap);
        if (!c) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += cap;
    }
    char *base = (char *)c + ((sizeof(jchunk) + 15) & ~(size_t)15);
    void *p = base + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *jarena_strdup(jarena *a, const char *s, size_t n) {
    char *p = jarena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* ------------------------------------------------------------ tokens */

typedef enum { K_TEXT, K_VAR_BEGIN, K_VAR_END, K_BLOCK_BEGIN, K_BLOCK_END, K_NAME, K_STRING, K_INT, K_FLOAT, K_OP, K_EOF } tkind;

typedef struct {
    tkind k;
    int line;
    const char *s;   /* text / name / decoded string (arena) / operator */
    size_t len;
    int64_t i;
    double f;
} token;

typedef struct {
    jarena *a;
    const char *src;
    size_t len;
    token *t;
    int n, cap, pos;
    int depth;
    int loops;       /* for-loops around the current position (break/continue need one) */
    desk_error *err;
    bool failed;
} parser;

static bool fail(parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(parser *p, int line, const char *fmt, ...) {
    if (p->failed) return false;
    p->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    desk_fail(p->err, DESK_EFORMAT, "template line %d: %s", line, msg);
    return false;
}

static bool push(parser *p, token t) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        token *nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (!nt) return fail(p, t.line, "out of memory");
        p->t = nt;
        p->cap = cap;
    }
    p->t[p->n++] = t;
    return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int line_at(const parser *p, size_t pos) {
    int line = 1;
    for (size_t i = 0; i < pos && i < p->len; i++) line += p->src[i] == '\n';
    return line;
}


static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A string literal at *i (the quote): decoded with Python's escapes. */
static bool lex_string(parser *p, size_t *i, int line) {
    char q = p->src[*i];
    size_t j = *i + 1;
    char *out = jarena_alloc(p->a, p->len - *i + 4);
    if (!out) return fail(p, line, "out of memory");
    size_t o = 0;
    for (;;) {
        if (j >= p->len) return fail(p, line, "unterminated string literal");
        char c = p->src[j];
        if (c == q) break;
        if (c != '\\') {
            out[o++] = c;
            j++;
            continue;
        }
        if (j + 1 >= p->len) return fail(p, line, "unterminated string literal");
        char e = p->src[j + 1];
        j += 2;
        switch (e) {
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case '0': out[o++] = '\0'; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'v': out[o++] = '\v'; break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case '\n': break; /* line continuation */
        case 'x': case 'u': case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < nd; k++) {
                int h = j + (size_t)k < p->len ? hexval(p->src[j + (size_t)k]) : -1;
                if (h < 0) return fail(p, line, "bad \\%c escape in a string literal", e);
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return fail(p, line, "\\%c escape out of the Unicode range", e);
            j += (size_t)nd;
            o += (size_t)desk_utf8_put(cp, out + o);
            break;
        }
        default: /* Python keeps unknown escapes as they are */
            out[o++] = '\\';
            out[o++] = e;
        }
    }
    out[o] = 0;
    *i = j + 1;
    return push(p, (token){K_STRING, line, out, o, 0, 0});
}

/* Lexes the inside of a tag from *i up to its end marker ("}}" or "%}").
 * Sets *strip_after when the end is "-}}" / "-%}", *keep_after for "+%}". */
static bool lex_tag(parser *p, size_t *i, bool var, bool *strip_after, bool *keep_after) {
    size_t j = *i;
    int braces = 0;
    char end0 = var ? '}' : '%';
    while (j < p->len) {
        char c = p->src[j];
        int line = line_at(p, j);
        if (is_space(c)) { j++; continue; }
        if ((c == '-' || c == '+') && j + 2 < p->len && p->src[j + 1] == end0 && p->src[j + 2] == '}' && braces == 0) {
            *strip_after = c == '-';
            *keep_after = c == '+';
            *i = j + 3;
            return push(p, (token){var ? K_VAR_END : K_BLOCK_END, line, NULL, 0, 0, 0});
        }
        if (c == end0 && j + 1 < p->len && p->src[j + 1] == '}' && braces == 0) {
            *i = j + 2;
            return push(p, (token){var ? K_VAR_END : K_BLOCK_END, line, NULL, 0, 0, 0});
        }
        if (c == '\'' || c == '"') {
            if (!lex_string(p, &j, line)) return false;
            continue;
        }
        if (is_name_start(c)) {
            size_t s = j;
            while (j < p->len && (is_name_start(p->src[j]) || is_digit(p->src[j]))) j++;
            if (!push(p, (token){K_NAME, line, jarena_strdup(p->a, p->src + s, j - s), j - s, 0, 0})) return false;
            continue;
        }
        if (is_digit(c)) {
            size_t s = j;
            bool flt = false;
            while (j < p->len && (is_digit(p->src[j]) || p->src[j] == '_')) j++;
            if (j + 1 < p->len && p->src[j] == '.' && is_digit(p->src[j + 1])) {
                flt = true;
                j++;
                while (j < p->len && (is_digit(p->src[j]) || p->src[j] == '_')) j++;
            }
            if (j < p->len && (p->src[j] == 'e' || p->src[j] == 'E')) {
                size_t k = j + 1;
                if (k < p->len && (p->src[k] == '+' || p->src[k] == '-')) k++;
                if (k < p->len && is_digit(p->src[k])) {
                    flt = true;
                    j = k;
                    while (j < p->len && is_digit(p->src[j])) j++;
                }
            }
            char buf[64];
            size_t n = 0;
            for (size_t k = s; k < j && n < sizeof buf - 1; k++)
                if (p->src[k] != '_') buf[n++] = p->src[k];
            buf[n] = 0;
            token t = {flt ? K_FLOAT : K_INT, line, NULL, 0, 0, 0};
            errno = 0;
            if (flt) t.f = strtod(buf, NULL);
            else t.i = strtoll(buf, NULL, 10);
            if (errno || j - s >= sizeof buf - 1) return fail(p, line, "number '%.*s' is out of range", (int)(j - s), p->src + s);
            if (!push(p, t)) return false;
            continue;
        }
        static const char *ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                    "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="};
        size_t k;
        for (k = 0; k < sizeof ops / sizeof *ops; k++) {
            size_t l = strlen(ops[k]);
            if (j + l <= p->len && !memcmp(p->src + j, ops[k], l)) break;
        }
        if (k == sizeof ops / sizeof *ops) {
            if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7F) return fail(p, line, "unexpected byte 0x%02x in a tag", (unsigned char)c);
            return fail(p, line, "unexpected character '%c' in a tag", c);
        }
        if (ops[k][0] == '{') braces++;
        if (ops[k][0] == '}') braces--;
        if (!push(p, (token){K_OP, line, ops[k], strlen(ops[k]), 0, 0})) return false;
        j += strlen(ops[k]);
    }
    return fail(p, line_at(p, *i), "the tag is never closed (%s)", var ? "}}" : "%}");
}

static bool lex(parser *p) {
    size_t i = 0;
    bool strip_next = false, trim_next = false, line_starting = true;
    while (i <= p->len) {
        /* the next tag start */
        size_t q = i;
        while (q + 1 < p->len && !(p->src[q] == '{' && (p->src[q + 1] == '{' || p->src[q + 1] == '%' || p->src[q + 1] == '#'))) q++;
        if (q + 1 >= p->len) q = p->len;
        size_t ts = i, te = q;
        if (strip_next) while (ts < te && is_space(p->src[ts])) ts++;
        else if (trim_next && ts < te && p->src[ts] == '\n') ts++;
        if (q < p->len) {
            char kind = p->src[q + 1], mod = q + 2 < p->len ? p->src[q + 2] : 0;
            if (mod == '-') {
                while (te > ts && is_space(p->src[te - 1])) te--;
            } else if (kind != '{' && mod != '+') { /* lstrip_blocks */
                size_t l = te;
                while (l > ts && (p->src[l - 1] == ' ' || p->src[l - 1] == '\t' || p->src[l - 1] == '\r' ||
                                  p->src[l - 1] == '\f' || p->src[l - 1] == '\v'))
                    l--;
                bool at_line_start = (l > ts && p->src[l - 1] == '\n') || (l == ts && (ts > i ? p->src[ts - 1] == '\n' : line_starting));
                if (at_line_start) te = l;
            }
        }
        if (te > ts && !push(p, (token){K_TEXT, line_at(p, ts), p->src + ts, te - ts, 0, 0})) return false;
        if (q >= p->len) break;
        char kind = p->src[q + 1], mod = q + 2 < p->len ? p->src[q + 2] : 0;
        size_t j = q + 2 + (mod == '-' || mod == '+');
        strip_next = trim_next = false;
        bool keep = false;
        if (kind == '#') {
            size_t e = j;
            while (e + 1 < p->len && !(p->src[e] == '#' && p->src[e + 1] == '}')) e++;
            if (e + 1 >= p->len) return fail(p, line_at(p, q), "the comment is never closed (#})");
            strip_next = e > j && p->src[e - 1] == '-';
            keep = e > j && p->src[e - 1] == '+';
            trim_next = !strip_next && !keep;
            i = e + 2;
        } else {
            bool var = kind == '{';
            if (!push(p, (token){var ? K_VAR_BEGIN : K_BLOCK_BEGIN, line_at(p, q), NULL, 0, 0, 0})) return false;
            if (!lex_tag(p, &j, var, &strip_next, &keep)) return false;
            trim_next = !var && !strip_next && !keep;
            i = j;
        }
        line_starting = i > 0 && p->src[i - 1] == '\n';
        if (trim_next && i < p->len && p->src[i] == '\n') line_starting = true;
    }
    return push(p, (token){K_EOF, line_at(p, p->len), NULL, 0, 0, 0});
}

/* ------------------------------------------------------------ parser helpers */

static token *cur(parser *p) { return &p->t[p->pos]; }
static bool is_op(parser *p, const char *op) { return cur(p)->k == K_OP && !strcmp(cur(p)->s, op); }
static bool is_name(parser *p, const char *name) { return cur(p)->k == K_NAME && !strcmp(cur(p)->s, name); }
static bool accept_op(parser *p, const char *op) {
    if (!is_op(p, op)) return false;
    p->pos++;
    return true;
}
static bool accept_name(parser *p, const char *name) {
    if (!is_name(p, name)) return false;
    p->pos++;
    return true;
}
static const char *describe(const token *t) {
    switch (t->k) {
    case K_TEXT: return "text";
    case K_VAR_BEGIN: return "'{{'";
    case K_VAR_END: return "'}}'";
    case K_BLOCK_BEGIN: return "'{%'";
    case K_BLOCK_END: return "'%}'";
    case K_STRING: return "a string";
    case K_INT: case K_FLOAT: return "a number";
    case K_EOF: return "the end of the template";
    default: return t->s;
    }
}
static bool expect_op(parser *p, const char *op) {
    if (accept_op(p, op)) return true;
    return fail(p, cur(p)->line, "expected '%s', found %s", op, describe(cur(p)));
}

static jnode *node(parser *p, jnode_kind k, int line) {
    jnode *n = jarena_alloc(p->a, sizeof *n);
    if (!n) {
        fail(p, line, "out of memory");
        return NULL;
    }
    n->kind = k;
    n->line = line;
    return n;
}

/* growable arrays of node pointers / names in the arena */
typedef struct { jnode **v; int n, cap; } nvec;
static bool nvec_push(parser *p, nvec *v, jnode *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 4;
        jnode **nv = jarena_alloc(p->a, (size_t)cap * sizeof *nv);
        if (!nv) return fail(p, cur(p)->line, "out of memory");
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return true;
}
typedef struct { const char **v; int n, cap; } svec;
static bool svec_push(parser *p, svec *v, const char *x) {
    if (v->n == v->cap) {
        int cap = v->cap ? 2 * v->cap : 4;
        const char **nv = jarena_alloc(p->a, (size_t)cap * sizeof *nv);
        if (!nv) return fail(p, cur(p)->line, "out of memory");
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return true;
}

static jvalue *lit_value(parser *p, jvalue_kind k) {
    jvalue *v = jarena_alloc(p->a, sizeof *v);
    if (!v) fail(p, cur(p)->line, "out of memory");
    else v->kind = k;
    return v;
}

/* ------------------------------------------------------------ expressions */

static jnode *parse_expr(parser *p, bool with_cond);
static jnode *parse_or(parser *p);
static jnode *parse_unary(parser *p, bool with_filter);

static bool enter(parser *p) {
    if (++p->depth > MAX_DEPTH) return fail(p, cur(p)->line, "the template nests deeper than %d levels", MAX_DEPTH);
    return true;
}

/* call arguments after '(' up to ')': positional into args, keywords into names/kwargs */
static bool parse_call_args(parser *p, jnode *n) {
    nvec args = {0}, kwv = {0};
    svec kw = {0};
    while (!accept_op(p, ")")) {
        if (args.n + kw.n > 0 && !expect_op(p, ",")) return false;
        if (accept_op(p, ")")) break; /* trailing comma */
        if (cur(p)->k == K_NAME && p->t[p->pos + 1].k == K_OP && !strcmp(p->t[p->pos + 1].s, "=")) {
            if (!svec_push(p, &kw, cur(p)->s)) return false;
            p->pos += 2;
            jnode *v = parse_expr(p, true);
            if (!v || !nvec_push(p, &kwv, v)) return false;
        } else {
            if (kw.n) return fail(p, cur(p)->line, "a positional argument follows a keyword argument");
            jnode *v = parse_expr(p, true);
            if (!v || !nvec_push(p, &args, v)) return false;
        }
    }
    n->args = args.v;
    n->n_args = args.n;
    n->names = kw.v;
    n->kwargs = kwv.v;
    n->n_names = kw.n;
    return true;
}

static jnode *parse_primary(parser *p) {
    token *t = cur(p);
    int line = t->line;
    jnode *n;
    if (t->k == K_STRING) {
        /* adjacent literals concatenate */
        size_t total = 0;
        int k = p->pos;
        while (p->t[k].k == K_STRING) total += p->t[k++].len;
        char *s = jarena_alloc(p->a, total + 1);
        if (!s) return fail(p, line, "out of memory"), NULL;
        size_t o = 0;
        while (cur(p)->k == K_STRING) {
            memcpy(s + o, cur(p)->s, cur(p)->len);
            o += cur(p)->len;
            p->pos++;
        }
        if (!(n = node(p, N_LIT, line)) || !(n->lit = lit_value(p, JV_STR))) return NULL;
        n->lit->u.str.s = s;
        n->lit->u.str.len = o;
        return n;
    }
    if (t->k == K_INT || t->k == K_FLOAT) {
        p->pos++;
        if (!(n = node(p, N_LIT, line)) || !(n->lit = lit_value(p, t->k == K_INT ? JV_INT : JV_FLOAT))) return NULL;
        if (t->k == K_INT) n->lit->u.i = t->i;
        else n->lit->u.f = t->f;
        return n;
    }
    if (t->k == K_NAME) {
        p->pos++;
        static const struct { const char *name; jvalue_kind k; bool b; } consts[] = {
            {"true", JV_BOOL, true}, {"True", JV_BOOL, true}, {"false", JV_BOOL, false}, {"False", JV_BOOL, false},
            {"none", JV_NONE, false}, {"None", JV_NONE, false}};
        for (size_t i = 0; i < sizeof consts / sizeof *consts; i++)
            if (!strcmp(t->s, consts[i].name)) {
                if (!(n = node(p, N_LIT, line)) || !(n->lit = lit_value(p, consts[i].k))) return NULL;
                n->lit->u.b = consts[i].b;
                return n;
            }
        if (!(n = node(p, N_NAME, line))) return NULL;
        n->str = t->s;
        return n;
    }
    if (accept_op(p, "(")) {
        if (accept_op(p, ")")) { /* () is an empty tuple */
            if ((n = node(p, N_LIST, line))) n->op = 't';
            return n;
        }
        jnode *e = parse_expr(p, true);
        if (!e) return NULL;
        if (is_op(p, ",")) { /* a tuple: a list here */
            nvec items = {0};
            if (!nvec_push(p, &items, e)) return NULL;
            while (accept_op(p, ",")) {
                if (is_op(p, ")")) break;
                jnode *x = parse_expr(p, true);
                if (!x || !nvec_push(p, &items, x)) return NULL;
            }
            if (!(n = node(p, N_LIST, line))) return NULL;
            n->args = items.v;
            n->n_args = items.n;
            n->op = 't';
            e = n;
        }
        return expect_op(p, ")") ? e : NULL;
    }
    if (accept_op(p, "[")) {
        nvec items = {0};
        while (!accept_op(p, "]")) {
            if (items.n && !expect_op(p, ",")) return NULL;
            if (accept_op(p, "]")) break;
            jnode *x = parse_expr(p, true);
            if (!x || !nvec_push(p, &items, x)) return NULL;
        }
        if (!(n = node(p, N_LIST, line))) return NULL;
        n->args = items.v;
        n->n_args = items.n;
        return n;
    }
    if (accept_op(p, "{")) {
        nvec items = {0};
        while (!accept_op(p, "}")) {
            if (items.n && !expect_op(p, ",")) return NULL;
            if (accept_op(p, "}")) break;
            jnode *k = parse_expr(p, true);
            if (!k || !expect_op(p, ":")) return NULL;
            jnode *v = parse_expr(p, true);
            if (!v || !nvec_push(p, &items, k) || !nvec_push(p, &items, v)) return NULL;
        }
        if (!(n = node(p, N_DICT, line))) return NULL;
        n->args = items.v;
        n->n_args = items.n;
        return n;
    }
    fail(p, line, "expected a value, found %s", describe(t));
    return NULL;
}

static jnode *parse_postfix(parser *p, jnode *n) {
    while (n) {
        int line = cur(p)->line;
        if (accept_op(p, ".")) {
            if (cur(p)->k != K_NAME && cur(p)->k != K_INT) return fail(p, line, "expected an attribute name after '.'"), NULL;
            jnode *a = node(p, cur(p)->k == K_INT ? N_ITEM : N_ATTR, line);
            if (!a) return NULL;
            a->a = n;
            if (cur(p)->k == K_INT) { /* x.0 is x[0] */
                jnode *i = node(p, N_LIT, line);
                if (!i || !(i->lit = lit_value(p, JV_INT))) return NULL;
                i->lit->u.i = cur(p)->i;
                a->b = i;
            } else {
                a->str = cur(p)->s;
            }
            p->pos++;
            n = a;
        } else if (accept_op(p, "[")) {
            jnode *parts[3] = {NULL, NULL, NULL};
            int np = 0;
            bool slice = false;
            for (;;) {
                if (!is_op(p, ":") && !is_op(p, "]")) {
                    if (!(parts[np] = parse_expr(p, true))) return NULL;
                }
                if (accept_op(p, ":")) {
                    slice = true;
                    if (++np > 2) return fail(p, line, "a slice has at most three parts"), NULL;
                    continue;
                }
                break;
            }
            if (!expect_op(p, "]")) return NULL;
            jnode *s = node(p, slice ? N_SLICE : N_ITEM, line);
            if (!s) return NULL;
            s->a = n;
            if (slice) {
                if (!(s->args = jarena_alloc(p->a, 3 * sizeof *s->args))) return fail(p, line, "out of memory"), NULL;
                for (int k = 0; k < 3; k++) s->args[k] = parts[k];
                s->n_args = 3;
            } else {
                if (!parts[0]) return fail(p, line, "expected an index inside []"), NULL;
                s->b = parts[0];
            }
            n = s;
        } else if (accept_op(p, "(")) {
            jnode *c = node(p, N_CALL, line);
            if (!c || !parse_call_args(p, c)) return NULL;
            c->a = n;
            n = c;
        } else {
            break;
        }
    }
    return n;
}

/* filters (| name(args)) and tests (is [not] name args) after a value */
static jnode *parse_filters(parser *p, jnode *n) {
    while (n) {
        int line = cur(p)->line;
        if (accept_op(p, "|")) {
            if (cur(p)->k != K_NAME) return fail(p, line, "expected a filter name after '|'"), NULL;
            jnode *f = node(p, N_FILTER, line);
            if (!f) return NULL;
            f->str = cur(p)->s;
            p->pos++;
            while (accept_op(p, ".")) { /* dotted filter names are not Jinja's builtins */
                return fail(p, line, "filter '%s.%s' is not supported", f->str, cur(p)->k == K_NAME ? cur(p)->s : "?"), NULL;
            }
            if (accept_op(p, "(") && !parse_call_args(p, f)) return NULL;
            f->a = n;
            n = f;
        } else if (accept_name(p, "is")) {
            jnode *t = node(p, N_TEST, line);
            if (!t) return NULL;
            t->neg = accept_name(p, "not");
            if (cur(p)->k != K_NAME) return fail(p, line, "expected a test name after 'is'"), NULL;
            t->str = cur(p)->s;
            p->pos++;
            if (accept_op(p, "(")) {
                if (!parse_call_args(p, t)) return NULL;
            } else if ((cur(p)->k == K_NAME || cur(p)->k == K_STRING || cur(p)->k == K_INT || cur(p)->k == K_FLOAT ||
                        is_op(p, "[") || is_op(p, "{")) &&
                       !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
                if (is_name(p, "is")) return fail(p, line, "tests cannot be chained with 'is'"), NULL;
                jnode *arg = parse_postfix(p, parse_primary(p));
                if (!arg || !(t->args = jarena_alloc(p->a, sizeof *t->args))) return NULL;
                t->args[0] = arg;
                t->n_args = 1;
            }
            t->a = n;
            n = t;
        } else {
            break;
        }
    }
    return n;
}

static jnode *parse_unary(parser *p, bool with_filter) {
    int line = cur(p)->line;
    if (!enter(p)) return NULL;
    jnode *n;
    if (is_op(p, "-") || is_op(p, "+")) {
        int op = cur(p)->s[0];
        p->pos++;
        jnode *x = parse_unary(p, false);
        if (!x || !(n = node(p, N_UNARY, line))) return NULL;
        n->op = op;
        n->a = x;
    } else {
        n = parse_postfix(p, parse_primary(p));
    }
    if (with_filter) n = parse_filters(p, n);
    p->depth--;
    return n;
}

static jnode *binary(parser *p, int op, jnode *a, jnode *b, int line) {
    if (!a || !b) return NULL;
    jnode *n = node(p, N_BINARY, line);
    if (!n) return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *n = parse_unary(p, true);
    while (n && is_op(p, "**")) {
        int line = cur(p)->line;
        p->pos++;
        n = binary(p, 'P', n, parse_unary(p, true), line);
    }
    return n;
}
static jnode *parse_math2(parser *p) {
    jnode *n = parse_pow(p);
    while (n && (is_op(p, "*") || is_op(p, "/") || is_op(p, "//") || is_op(p, "%"))) {
        int line = cur(p)->line, op = !strcmp(cur(p)->s, "//") ? 'F' : cur(p)->s[0];
        p->pos++;
        n = binary(p, op, n, parse_pow(p), line);
    }
    return n;
}
static jnode *parse_concat(parser *p) {
    jnode *n = parse_math2(p);
    while (n && is_op(p, "~")) {
        int line = cur(p)->line;
        p->pos++;
        n = binary(p, '~', n, parse_math2(p), line);
    }
    return n;
}
static jnode *parse_math1(parser *p) {
    jnode *n = parse_concat(p);
    while (n && (is_op(p, "+") || is_op(p, "-"))) {
        int line = cur(p)->line, op = cur(p)->s[0];
        p->pos++;
        n = binary(p, op, n, parse_concat(p), line);
    }
    return n;
}
static int compare_op(parser *p) {
    static const struct { const char *s; int op; } ops[] = {{"==", '='}, {"!=", '!'}, {"<=", 'L'}, {">=", 'G'}, {"<", '<'}, {">", '>'}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (is_op(p, ops[i].s)) return ops[i].op;
    if (is_name(p, "in")) return 'i';
    if (is_name(p, "not") && p->t[p->pos + 1].k == K_NAME && !strcmp(p->t[p->pos + 1].s, "in")) return 'n';
    return 0;
}
/* a < b < c is (a < b) and (b < c), as in Jinja2 */
static jnode *parse_compare(parser *p) {
    jnode *left = parse_math1(p), *result = NULL;
    int op;
    while (left && (op = compare_op(p))) {
        int line = cur(p)->line;
        p->pos += op == 'n' ? 2 : 1;
        jnode *right = parse_math1(p);
        jnode *cmp = binary(p, op, left, right, line);
        if (!cmp) return NULL;
        result = result ? binary(p, '&', result, cmp, line) : cmp;
        left = right;
    }
    return result ? result : left;
}
static jnode *parse_not(parser *p) {
    if (is_name(p, "not")) {
        int line = cur(p)->line;
        p->pos++;
        if (!enter(p)) return NULL;
        jnode *x = parse_not(p), *n;
        p->depth--;
        if (!x || !(n = node(p, N_UNARY, line))) return NULL;
        n->op = '!';
        n->a = x;
        return n;
    }
    return parse_compare(p);
}
static jnode *parse_and(parser *p) {
    jnode *n = parse_not(p);
    while (n && is_name(p, "and")) {
        int line = cur(p)->line;
        p->pos++;
        n = binary(p, '&', n, parse_not(p), line);
    }
    return n;
}
static jnode *parse_or(parser *p) {
    jnode *n = parse_and(p);
    while (n && is_name(p, "or")) {
        int line = cur(p)->line;
        p->pos++;
        n = binary(p, '|', n, parse_and(p), line);
    }
    return n;
}
static jnode *parse_expr(parser *p, bool with_cond) {
    if (!enter(p)) return NULL;
    jnode *n = parse_or(p);
    while (n && with_cond && is_name(p, "if")) {
        int line = cur(p)->line;
        p->pos++;
        jnode *c = node(p, N_COND, line);
        if (!c) return NULL;
        c->a = n;
        if (!(c->b = parse_or(p))) return NULL;
        if (accept_name(p, "else") && !(c->c = parse_expr(p, true))) return NULL;
        n = c;
    }
    p->depth--;
    return n;
}

/* ------------------------------------------------------------ statements */

static bool parse_body(parser *p, const char *const *ends, nvec *out, const char **which, int open_line);

static bool expect_block_end(parser *p, const char *what) {
    if (cur(p)->k == K_BLOCK_END) {
        p->pos++;
        return true;
    }
    return fail(p, cur(p)->line, "expected the end of the '%s' tag, found %s", what, describe(cur(p)));
}

static const char *expect_name(parser *p, const char *what) {
    if (cur(p)->k != K_NAME) {
        fail(p, cur(p)->line, "expected a name %s, found %s", what, describe(cur(p)));
        return NULL;
    }
    return p->t[p->pos++].s;
}

/* after {% else %}: the statements up to {% END %} become n->alt */
static bool parse_else(parser *p, jnode *n, const char *end, int line) {
    if (!expect_block_end(p, "else")) return false;
    const char *const ends[] = {end, NULL};
    nvec alt = {0};
    const char *which;
    if (!parse_body(p, ends, &alt, &which, line)) return false;
    n->alt = alt.v;
    n->n_alt = alt.n;
    return true;
}

static jnode *parse_if(parser *p, int line) {
    jnode *n = node(p, N_IF, line);
    if (!n || !(n->a = parse_expr(p, true)) || !expect_block_end(p, "if")) return NULL;
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    nvec body = {0};
    const char *which;
    if (!parse_body(p, ends, &body, &which, line)) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    if (!strcmp(which, "elif")) {
        jnode *e = parse_if(p, cur(p)->line);
        if (!e || !(n->alt = jarena_alloc(p->a, sizeof *n->alt))) return NULL;
        n->alt[0] = e;
        n->n_alt = 1;
        return n;
    }
    if (!strcmp(which, "else") && !parse_else(p, n, "endif", line)) return NULL;
    return expect_block_end(p, "endif") ? n : NULL;
}

static jnode *parse_for(parser *p, int line) {
    jnode *n = node(p, N_FOR, line);
    if (!n) return NULL;
    svec names = {0};
    do {
        const char *nm = expect_name(p, "after 'for'");
        if (!nm || !svec_push(p, &names, nm)) return NULL;
    } while (accept_op(p, ","));
    n->names = names.v;
    n->n_names = names.n;
    if (!accept_name(p, "in")) return fail(p, cur(p)->line, "expected 'in' in the 'for' tag"), NULL;
    if (!(n->a = parse_expr(p, false))) return NULL;
    if (accept_name(p, "if") && !(n->b = parse_expr(p, false))) return NULL;
    if (is_name(p, "recursive")) return fail(p, cur(p)->line, "recursive loops are not supported"), NULL;
    if (!expect_block_end(p, "for")) return NULL;
    static const char *const ends[] = {"else", "endfor", NULL};
    nvec body = {0};
    const char *which;
    p->loops++;
    bool ok = parse_body(p, ends, &body, &which, line);
    p->loops--;
    if (!ok) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    if (!strcmp(which, "else") && !parse_else(p, n, "endfor", line)) return NULL;
    return expect_block_end(p, "endfor") ? n : NULL;
}

static jnode *parse_set(parser *p, int line) {
    const char *name = expect_name(p, "after 'set'");
    if (!name) return NULL;
    const char *attr = NULL;
    if (accept_op(p, ".")) {
        if (!(attr = expect_name(p, "after '.'"))) return NULL;
    }
    if (is_op(p, ",")) return fail(p, line, "'set' with several targets is not supported"), NULL;
    if (cur(p)->k == K_BLOCK_END && !attr) { /* {% set x %}...{% endset %} */
        p->pos++;
        jnode *n = node(p, N_SET_BLOCK, line);
        static const char *const ends[] = {"endset", NULL};
        nvec body = {0};
        const char *which;
        if (!n || !parse_body(p, ends, &body, &which, line) || !expect_block_end(p, "endset")) return NULL;
        n->str = name;
        n->body = body.v;
        n->n_body = body.n;
        return n;
    }
    if (!expect_op(p, "=")) return NULL;
    jnode *n = node(p, N_SET, line);
    if (!n || !(n->a = parse_expr(p, true))) return NULL;
    if (is_op(p, ",")) return fail(p, line, "'set' to a tuple without parentheses is not supported"), NULL;
    n->str = name;
    n->attr = attr;
    return expect_block_end(p, "set") ? n : NULL;
}

static jnode *parse_macro(parser *p, int line) {
    jnode *n = node(p, N_MACRO, line);
    if (!n || !(n->str = expect_name(p, "after 'macro'")) || !expect_op(p, "(")) return NULL;
    svec params = {0};
    nvec defs = {0};
    while (!accept_op(p, ")")) {
        if (params.n && !expect_op(p, ",")) return NULL;
        if (accept_op(p, ")")) break;
        const char *nm = expect_name(p, "for a macro parameter");
        if (!nm || !svec_push(p, &params, nm)) return NULL;
        jnode *def = NULL;
        if (accept_op(p, "=") && !(def = parse_expr(p, true))) return NULL;
        if (!nvec_push(p, &defs, def)) return NULL;
    }
    n->names = params.v;
    n->n_names = params.n;
    n->args = defs.v;
    n->n_args = defs.n;
    if (!expect_block_end(p, "macro")) return NULL;
    static const char *const ends[] = {"endmacro", NULL};
    nvec body = {0};
    const char *which;
    int loops = p->loops;
    p->loops = 0; /* a loop around a macro's definition is not around its body */
    bool ok = parse_body(p, ends, &body, &which, line);
    p->loops = loops;
    if (!ok) return NULL;
    n->body = body.v;
    n->n_body = body.n;
    return expect_block_end(p, "endmacro") ? n : NULL;
}

/* Statements until one of `ends` (a block tag whose name is in the list,
 * consumed up to the name; *which = that name) or, with ends NULL, the end. */
static bool parse_body(parser *p, const char *const *ends, nvec *out, const char **which, int open_line) {
    if (!enter(p)) return false;
    for (;;) {
        token *t = cur(p);
        if (t->k == K_EOF) {
            if (!ends) break;
            int last = 0;
            while (ends[last + 1]) last++;
            return fail(p, open_line, "this block is never closed (expected '{%% %s %%}')", ends[last]);
        }
        if (t->k == K_TEXT) {
            jnode *n = node(p, N_TEXT, t->line);
            if (!n) return false;
            n->str = t->s;
            n->len = t->len;
            p->pos++;
            if (!nvec_push(p, out, n)) return false;
            continue;
        }
        if (t->k == K_VAR_BEGIN) {
            p->pos++;
            jnode *n = node(p, N_OUTPUT, t->line);
            if (!n || !(n->a = parse_expr(p, true))) return false;
            if (cur(p)->k != K_VAR_END) return fail(p, cur(p)->line, "expected '}}', found %s", describe(cur(p)));
            p->pos++;
            if (!nvec_push(p, out, n)) return false;
            continue;
        }
        if (t->k != K_BLOCK_BEGIN) return fail(p, t->line, "unexpected %s", describe(t));
        p->pos++;
        token *kw = cur(p);
        if (kw->k != K_NAME) return fail(p, kw->line, "expected a statement name after '{%%', found %s", describe(kw));
        for (int i = 0; ends && ends[i]; i++)
            if (!strcmp(kw->s, ends[i])) {
                p->pos++;
                *which = ends[i];
                p->depth--;
                return true;
            }
        p->pos++;
        jnode *n = NULL;
        if (!strcmp(kw->s, "if")) n = parse_if(p, kw->line);
        else if (!strcmp(kw->s, "for")) n = parse_for(p, kw->line);
        else if (!strcmp(kw->s, "set")) n = parse_set(p, kw->line);
        else if (!strcmp(kw->s, "macro")) n = parse_macro(p, kw->line);
        else if (!strcmp(kw->s, "break") || !strcmp(kw->s, "continue")) {
            if (!p->loops) return fail(p, kw->line, "'%s' outside a loop", kw->s);
            if ((n = node(p, kw->s[0] == 'b' ? N_BREAK : N_CONTINUE, kw->line)) && !expect_block_end(p, kw->s)) return false;
        }
        else if (!strcmp(kw->s, "elif") || !strcmp(kw->s, "else") || !strncmp(kw->s, "end", 3))
            return fail(p, kw->line, "'%s' without a matching opening tag", kw->s);
        else
            return fail(p, kw->line, "the '%s' statement is not supported", kw->s);
        if (!n || !nvec_push(p, out, n)) return false;
    }
    p->depth--;
    return true;
}

/* ------------------------------------------------------------ entry point */

desk_status jinja_parse(const char *text, size_t len, jtemplate **out, desk_error *err) {
    *out = NULL;
    if (len > MAX_TEMPLATE) return desk_fail(err, DESK_EFORMAT, "the template is %zu bytes; the limit is %d", len, MAX_TEMPLATE);
    jtemplate *t = calloc(1, sizeof *t);
    if (!t || !(t->arena = jarena_new((size_t)64 << 20))) {
        free(t);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    /* newlines normalised to \n, one trailing newline dropped (Jinja2's defaults) */
    char *src = jarena_alloc(t->arena, len + 1);
    if (!src) {
        jinja_free(t);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\r') {
            src[n++] = '\n';
            if (i + 1 < len && text[i + 1] == '\n') i++;
        } else {
            src[n++] = text[i];
        }
    }
    if (n && src[n - 1] == '\n') n--;
    src[n] = 0;
    parser p = {.a = t->arena, .src = src, .len = n, .err = err};
    nvec body = {0};
    bool ok = lex(&p) && parse_body(&p, NULL, &body, NULL, 1);
    free(p.t);
    if (!ok) {
        jinja_free(t);
        if (!p.failed) return desk_fail(err, DESK_EFORMAT, "template: parse error");
        return DESK_EFORMAT;
    }
    t->body = body.v;
    t->n_body = body.n;
    *out = t;
    return DESK_OK;
}

void jinja_free(jtemplate *t) {
    if (!t) return;
    jarena_free(t->arena);
    free(t);
}
