/*
 * jinja_eval.c - renders a parsed template (jinja.h) with Jinja2's
 * semantics: Python's truthiness, equality, string conversion (repr of lists
 * and dicts, shortest float repr), loop scoping (a `set` inside a loop stays
 * in the loop; namespace() objects carry values out), the Undefined rules of
 * Jinja2's default Undefined (prints as nothing, fails on arithmetic and on
 * attribute access), and Hugging Face's tojson (ensure_ascii off, keys in
 * insertion order). Values live in the render's arena; limits on output,
 * memory, loop iterations and macro depth keep hostile templates finite.
 */
#include "text/jinja.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#define MAX_OUTPUT ((size_t)32 << 20)  /* bytes of rendered text */
#define MAX_ARENA ((size_t)256 << 20)  /* bytes of values */
#define MAX_STEPS 20000000L            /* loop iterations and macro calls in one render */
#define MAX_CALL_DEPTH 64              /* nested macro calls */
#define MAX_EVAL_DEPTH 400             /* nested expression evaluation */

typedef struct frame {
    struct frame *parent;
    const char **names;
    jvalue **vals;
    int n, cap;
} frame;

struct jrender {
    jarena *a;
    char *out;
    size_t len, cap;
    frame *root, *top;
    desk_error *err;
    bool failed;
    int64_t now;
    long steps;
    int calls, depth;
    int jump;        /* N_BREAK / N_CONTINUE in flight to the innermost loop, else 0 */
};

/* ------------------------------------------------------------ errors */

static bool rfail(jrender *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool rfail(jrender *r, int line, const char *fmt, ...) {
    if (r->failed) return false;
    r->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    desk_fail(r->err, DESK_EINVAL, "template line %d: %s", line, msg);
    return false;
}

static void *ralloc(jrender *r, int line, size_t n) {
    void *p = jarena_alloc(r->a, n);
    if (!p) rfail(r, line, "the template used more than %zu MiB of memory", MAX_ARENA >> 20);
    return p;
}

/* ------------------------------------------------------------ value constructors */

static jvalue *mk(jrender *r, jvalue_kind k) {
    jvalue *v = jarena_alloc(r->a, sizeof *v);
    if (!v) rfail(r, 0, "the template used more than %zu MiB of memory", MAX_ARENA >> 20);
    else v->kind = k;
    return v;
}
jvalue *jv_str(jrender *r, const char *s, size_t len) {
    jvalue *v = mk(r, JV_STR);
    if (!v) return NULL;
    char *c = jarena_strdup(r->a, s, len);
    if (!c) return rfail(r, 0, "out of memory"), NULL;
    v->u.str.s = c;
    v->u.str.len = len;
    return v;
}
jvalue *jv_bool(jrender *r, bool b) {
    jvalue *v = mk(r, JV_BOOL);
    if (v) v->u.b = b;
    return v;
}
static jvalue *jv_int(jrender *r, int64_t i) {
    jvalue *v = mk(r, JV_INT);
    if (v) v->u.i = i;
    return v;
}
static jvalue *jv_float(jrender *r, double f) {
    jvalue *v = mk(r, JV_FLOAT);
    if (v) v->u.f = f;
    return v;
}
static jvalue *jv_undef(jrender *r, const char *name) {
    jvalue *v = mk(r, JV_UNDEF);
    if (v) v->undef_name = name;
    return v;
}
jvalue *jv_list(jrender *r) { return mk(r, JV_LIST); }
jvalue *jv_dict(jrender *r) { return mk(r, JV_DICT); }

static bool grow(jrender *r, jvalue *c) {
    if (c->u.list.n < c->u.list.cap) return true;
    int cap = c->u.list.cap ? 2 * c->u.list.cap : 4;
    jvalue **items = ralloc(r, 0, (size_t)cap * sizeof *items);
    if (!items) return false;
    if (c->u.list.n) memcpy(items, c->u.list.items, (size_t)c->u.list.n * sizeof *items);
    if (c->kind == JV_DICT || c->kind == JV_NS) {
        jvalue **keys = ralloc(r, 0, (size_t)cap * sizeof *keys);
        if (!keys) return false;
        if (c->u.list.n) memcpy(keys, c->keys, (size_t)c->u.list.n * sizeof *keys);
        c->keys = keys;
    }
    c->u.list.items = items;
    c->u.list.cap = cap;
    return true;
}
bool jv_append(jrender *r, jvalue *list, jvalue *v) {
    if (!v || !grow(r, list)) return false;
    list->u.list.items[list->u.list.n++] = v;
    return true;
}
static int dict_find(const jvalue *d, const char *key, size_t len) {
    for (int i = 0; i < d->u.list.n; i++) {
        const jvalue *k = d->keys[i];
        if (k->kind == JV_STR && k->u.str.len == len && !memcmp(k->u.str.s, key, len)) return i;
    }
    return -1;
}
static bool dict_put(jrender *r, jvalue *d, jvalue *key, jvalue *v) {
    if (!key || !v) return false;
    int i = key->kind == JV_STR ? dict_find(d, key->u.str.s, key->u.str.len) : -1;
    if (i >= 0) {
        d->u.list.items[i] = v;
        return true;
    }
    if (!grow(r, d)) return false;
    d->keys[d->u.list.n] = key;
    d->u.list.items[d->u.list.n++] = v;
    return true;
}
bool jv_dict_set(jrender *r, jvalue *dict, const char *key, jvalue *v) {
    return dict_put(r, dict, jv_str(r, key, strlen(key)), v);
}

static const char *kind_name(const jvalue *v) {
    switch (v->kind) {
    case JV_UNDEF: return "undefined";
    case JV_NONE: return "none";
    case JV_BOOL: return "boolean";
    case JV_INT: return "integer";
    case JV_FLOAT: return "float";
    case JV_STR: return "string";
    case JV_LIST: return "list";
    case JV_DICT: return "dict";
    case JV_NS: return "namespace";
    case JV_MACRO: return "macro";
    default: return "function";
    }
}

/* ------------------------------------------------------------ output buffer */


/* tb's text moved into the arena as a string value */
static jvalue *tb_value(jrender *r, desk_buf *b) {
    if (b->oom) {
        free(b->p);
        return rfail(r, 0, "out of memory"), NULL;
    }
    jvalue *v = jv_str(r, b->p ? b->p : "", b->len);
    free(b->p);
    return v;
}

/* ------------------------------------------------------------ conversions */

/* Python's repr of a float: the shortest digits that read back the same */
static void float_repr(double f, desk_buf *b) {
    if (isnan(f)) { desk_buf_str(b, "nan"); return; }
    if (isinf(f)) { desk_buf_str(b, f < 0 ? "-inf" : "inf"); return; }
    if (f == 0) { desk_buf_str(b, signbit(f) ? "-0.0" : "0.0"); return; }
    char buf[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = [-]d.ddde[+-]XX: digits and exponent */
    char digits[32];
    int nd = 0, exp10;
    const char *s = buf;
    bool neg = *s == '-';
    if (neg) s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) desk_buf_str(b, "-");
    if (exp10 >= -5 + 1 && exp10 < 16) { /* Python: fixed notation for 1e-4 <= |f| < 1e16 */
        if (exp10 < 0) {
            desk_buf_str(b, "0.");
            for (int i = 0; i < -exp10 - 1; i++) desk_buf_str(b, "0");
            desk_buf_add(b, digits, (size_t)nd);
        } else {
            for (int i = 0; i <= exp10; i++) desk_buf_add(b, i < nd ? &digits[i] : "0", 1);
            desk_buf_str(b, ".");
            if (nd > exp10 + 1) desk_buf_add(b, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
            else desk_buf_str(b, "0");
        }
    } else {
        desk_buf_add(b, digits, 1);
        if (nd > 1) {
            desk_buf_str(b, ".");
            desk_buf_add(b, digits + 1, (size_t)(nd - 1));
        }
        snprintf(buf, sizeof buf, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        desk_buf_str(b, buf);
    }
}

static void repr(const jvalue *v, desk_buf *b, int depth);

/* Python's repr of a str: single quotes unless it holds ' and no " */
static void str_repr(const char *s, size_t n, desk_buf *b) {
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    desk_buf_add(b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == (unsigned char)q || c == '\\') { e[0] = '\\'; e[1] = (char)c; desk_buf_add(b, e, 2); }
        else if (c == '\n') desk_buf_str(b, "\\n");
        else if (c == '\r') desk_buf_str(b, "\\r");
        else if (c == '\t') desk_buf_str(b, "\\t");
        else if (c < 0x20 || c == 0x7F) { snprintf(e, sizeof e, "\\x%02x", c); desk_buf_str(b, e); }
        else desk_buf_add(b, (const char *)&c, 1);
    }
    desk_buf_add(b, &q, 1);
}

static void repr(const jvalue *v, desk_buf *b, int depth) {
    if (depth > 100) { desk_buf_str(b, "..."); return; }
    switch (v->kind) {
    case JV_STR: str_repr(v->u.str.s, v->u.str.len, b); return;
    case JV_LIST:
        desk_buf_str(b, v->tuple ? "(" : "[");
        for (int i = 0; i < v->u.list.n; i++) {
            if (i) desk_buf_str(b, ", ");
            repr(v->u.list.items[i], b, depth + 1);
        }
        desk_buf_str(b, v->tuple ? (v->u.list.n == 1 ? ",)" : ")") : "]");
        return;
    case JV_DICT:
        desk_buf_str(b, "{");
        for (int i = 0; i < v->u.list.n; i++) {
            if (i) desk_buf_str(b, ", ");
            repr(v->keys[i], b, depth + 1);
            desk_buf_str(b, ": ");
            repr(v->u.list.items[i], b, depth + 1);
        }
        desk_buf_str(b, "}");
        return;
    case JV_UNDEF: return;
    case JV_NONE: desk_buf_str(b, "None"); return;
    case JV_BOOL: desk_buf_str(b, v->u.b ? "True" : "False"); return;
    case JV_INT: {
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)v->u.i);
        desk_buf_str(b, buf);
        return;
    }
    case JV_FLOAT: float_repr(v->u.f, b); return;
    case JV_NS: desk_buf_str(b, "<Namespace>"); return;
    default: desk_buf_str(b, "<function>"); return;
    }
}

/* str(v) appended to b */
static void to_text(const jvalue *v, desk_buf *b) {
    if (v->kind == JV_STR) desk_buf_add(b, v->u.str.s, v->u.str.len);
    else repr(v, b, 0);
}

static jvalue *to_str(jrender *r, const jvalue *v) {
    if (v->kind == JV_STR) return (jvalue *)v;
    desk_buf b = {0};
    to_text(v, &b);
    return tb_value(r, &b);
}

static bool truthy(const jvalue *v) {
    switch (v->kind) {
    case JV_UNDEF: case JV_NONE: return false;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0;
    case JV_STR: return v->u.str.len > 0;
    case JV_LIST: case JV_DICT: return v->u.list.n > 0;
    default: return true;
    }
}

static bool is_num(const jvalue *v) { return v->kind == JV_INT || v->kind == JV_FLOAT || v->kind == JV_BOOL; }
static double num(const jvalue *v) {
    return v->kind == JV_FLOAT ? v->u.f : v->kind == JV_INT ? (double)v->u.i : v->kind == JV_BOOL ? (double)v->u.b : 0;
}
static bool is_int(const jvalue *v) { return v->kind == JV_INT || v->kind == JV_BOOL; }
static int64_t ival(const jvalue *v) { return v->kind == JV_INT ? v->u.i : v->u.b; }

static bool equal(const jvalue *a, const jvalue *b, int depth) {
    if (depth > 100) return false;
    if (is_num(a) && is_num(b)) {
        if (is_int(a) && is_int(b)) return ival(a) == ival(b);
        return num(a) == num(b);
    }
    if (a->kind != b->kind || a->tuple != b->tuple) return false;
    switch (a->kind) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a->u.str.len == b->u.str.len && !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case JV_LIST:
        if (a->u.list.n != b->u.list.n) return false;
        for (int i = 0; i < a->u.list.n; i++)
            if (!equal(a->u.list.items[i], b->u.list.items[i], depth + 1)) return false;
        return true;
    case JV_DICT:
        if (a->u.list.n != b->u.list.n) return false;
        for (int i = 0; i < a->u.list.n; i++) {
            const jvalue *k = a->keys[i];
            int j = k->kind == JV_STR ? dict_find(b, k->u.str.s, k->u.str.len) : -1;
            if (j < 0 || !equal(a->u.list.items[i], b->u.list.items[j], depth + 1)) return false;
        }
        return true;
    default: return a == b;
    }
}

/* -1, 0, 1; false (with an error) when the kinds cannot be ordered */
static bool order(jrender *r, int line, const jvalue *a, const jvalue *b, int *cmp) {
    if (is_num(a) && is_num(b)) {
        if (is_int(a) && is_int(b)) *cmp = ival(a) < ival(b) ? -1 : ival(a) > ival(b);
        else *cmp = num(a) < num(b) ? -1 : num(a) > num(b);
        return true;
    }
    if (a->kind == JV_STR && b->kind == JV_STR) {
        size_t n = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
        int c = memcmp(a->u.str.s, b->u.str.s, n);
        *cmp = c ? (c < 0 ? -1 : 1) : a->u.str.len < b->u.str.len ? -1 : a->u.str.len > b->u.str.len;
        return true;
    }
    return rfail(r, line, "cannot order a %s and a %s", kind_name(a), kind_name(b));
}

/* ------------------------------------------------------------ UTF-8 helpers */

/* code points of s (invalid bytes count as one each) */
static size_t cp_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}
/* byte offset of code point k (k <= count) */
static size_t cp_offset(const char *s, size_t n, size_t k) {
    size_t i = 0;
    while (i < n && k > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k--;
    }
    return i;
}
/* whitespace as Python's str.isspace() sees it, at s[i]; returns its byte length or 0 */
static int space_at(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
    if (c < 0x80) return 0;
    utf8proc_int32_t cp;
    utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (l <= 0) return 0;
    if (cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
        cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return (int)l;
    return 0;
}

/* strip: which 1 = left, 2 = right, 3 = both; chars NULL = whitespace */
static jvalue *strip(jrender *r, const jvalue *s, const jvalue *chars, int which) {
    const char *p = s->u.str.s;
    size_t a = 0, e = s->u.str.len;
    if (!chars) {
        if (which & 1) for (int l; a < e && (l = space_at(p, e, a)); a += (size_t)l) {}
        if (which & 2)
            while (e > a) {
                size_t k = e - 1;
                while (k > a && ((unsigned char)p[k] & 0xC0) == 0x80) k--;
                if (space_at(p, e, k) != (int)(e - k)) break;
                e = k;
            }
    } else { /* a set of characters (bytes here: ASCII sets are what templates use) */
        const char *cs = chars->u.str.s;
        size_t cn = chars->u.str.len;
        if (which & 1) while (a < e && memchr(cs, p[a], cn)) a++;
        if (which & 2) while (e > a && memchr(cs, p[e - 1], cn)) e--;
    }
    return jv_str(r, p + a, e - a);
}

static jvalue *map_case(jrender *r, const jvalue *s, int mode /* 0 lower, 1 upper, 2 capitalize, 3 title */) {
    desk_buf b = {0};
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s->u.str.s;
    utf8proc_ssize_t n = (utf8proc_ssize_t)s->u.str.len, i = 0;
    bool first = true, prev_boundary = true;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(p + i, n - i, &cp);
        if (l <= 0) { desk_buf_add(&b, (const char *)p + i, 1); i++; continue; }
        utf8proc_int32_t o = cp;
        /* Jinja2's title: a word starts after whitespace or one of -({[< */
        bool boundary = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || space_at((const char *)p, (size_t)n, (size_t)i);
        if (mode == 0) o = utf8proc_tolower(cp);
        else if (mode == 1) o = utf8proc_toupper(cp);
        else if (mode == 2) o = first ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        else o = prev_boundary ? utf8proc_toupper(cp) : utf8proc_tolower(cp);
        first = false;
        prev_boundary = boundary;
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t el = utf8proc_encode_char(o, enc);
        desk_buf_add(&b, (const char *)enc, (size_t)el);
        i += l;
    }
    return tb_value(r, &b);
}

/* ------------------------------------------------------------ JSON (Hugging Face's tojson) */

static bool json_out(jrender *r, int line, const jvalue *v, desk_buf *b, int indent, int level) {
    if (level > 100) return rfail(r, line, "tojson: the value nests too deeply");
    char buf[16];
    switch (v->kind) {
    case JV_NONE: desk_buf_str(b, "null"); return true;
    case JV_BOOL: desk_buf_str(b, v->u.b ? "true" : "false"); return true;
    case JV_INT: case JV_FLOAT:
        if (v->kind == JV_FLOAT && isnan(v->u.f)) desk_buf_str(b, "NaN");
        else if (v->kind == JV_FLOAT && isinf(v->u.f)) desk_buf_str(b, v->u.f < 0 ? "-Infinity" : "Infinity");
        else repr(v, b, 0);
        return true;
    case JV_STR:
        desk_buf_str(b, "\"");
        for (size_t i = 0; i < v->u.str.len; i++) {
            unsigned char c = (unsigned char)v->u.str.s[i];
            if (c == '"') desk_buf_str(b, "\\\"");
            else if (c == '\\') desk_buf_str(b, "\\\\");
            else if (c == '\n') desk_buf_str(b, "\\n");
            else if (c == '\r') desk_buf_str(b, "\\r");
            else if (c == '\t') desk_buf_str(b, "\\t");
            else if (c == '\b') desk_buf_str(b, "\\b");
            else if (c == '\f') desk_buf_str(b, "\\f");
            else if (c < 0x20) { snprintf(buf, sizeof buf, "\\u%04x", c); desk_buf_str(b, buf); }
            else desk_buf_add(b, (const char *)&c, 1);
        }
        desk_buf_str(b, "\"");
        return true;
    case JV_LIST: case JV_DICT: {
        bool dict = v->kind == JV_DICT;
        desk_buf_str(b, dict ? "{" : "[");
        if (v->u.list.n == 0) { desk_buf_str(b, dict ? "}" : "]"); return true; }
        for (int i = 0; i < v->u.list.n; i++) {
            if (i) desk_buf_str(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) {
                desk_buf_str(b, "\n");
                for (int k = 0; k < indent * (level + 1); k++) desk_buf_str(b, " ");
            }
            if (dict) {
                const jvalue *k = v->keys[i];
                if (k->kind == JV_STR) json_out(r, line, k, b, indent, level + 1);
                else { /* Python converts simple keys to strings */
                    desk_buf_str(b, "\"");
                    repr(k, b, 0);
                    desk_buf_str(b, "\"");
                }
                desk_buf_str(b, ": ");
            }
            if (!json_out(r, line, v->u.list.items[i], b, indent, level + 1)) return false;
        }
        if (indent >= 0) {
            desk_buf_str(b, "\n");
            for (int k = 0; k < indent * level; k++) desk_buf_str(b, " ");
        }
        desk_buf_str(b, dict ? "}" : "]");
        return true;
    }
    case JV_UNDEF: return rfail(r, line, "tojson: '%s' is undefined", v->undef_name ? v->undef_name : "the value");
    default: return rfail(r, line, "tojson: a %s cannot be written as JSON", kind_name(v));
    }
}

/* ------------------------------------------------------------ scopes */

static frame *push_frame(jrender *r, frame *parent) {
    frame *f = ralloc(r, 0, sizeof *f);
    if (f) f->parent = parent;
    return f;
}
static jvalue *lookup(jrender *r, const char *name) {
    for (frame *f = r->top; f; f = f->parent)
        for (int i = f->n - 1; i >= 0; i--)
            if (!strcmp(f->names[i], name)) return f->vals[i];
    return NULL;
}
static bool set_var(jrender *r, frame *f, const char *name, jvalue *v) {
    if (!v) return false;
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) {
            f->vals[i] = v;
            return true;
        }
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        const char **names = ralloc(r, 0, (size_t)cap * sizeof *names);
        jvalue **vals = ralloc(r, 0, (size_t)cap * sizeof *vals);
        if (!names || !vals) return false;
        if (f->n) {
            memcpy(names, f->names, (size_t)f->n * sizeof *names);
            memcpy(vals, f->vals, (size_t)f->n * sizeof *vals);
        }
        f->names = names;
        f->vals = vals;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n++] = v;
    return true;
}
bool jinja_set_global(jrender *r, const char *name, jvalue *v) {
    char *n = jarena_strdup(r->a, name, strlen(name));
    return n && set_var(r, r->root, n, v);
}

/* ------------------------------------------------------------ evaluation */

static jvalue *eval(jrender *r, const jnode *n);
static bool exec_body(jrender *r, jnode *const *body, int n);
static jvalue *call_value(jrender *r, int line, jvalue *f, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw);

/* keyword or positional argument k */
static jvalue *arg_at(jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, int k, const char *name) {
    for (int i = 0; i < nkw; i++)
        if (!strcmp(kw[i], name)) return kwv[i];
    return k >= 0 && k < n ? args[k] : NULL;
}

static jvalue *get_attr(jrender *r, int line, jvalue *obj, const char *name);

static jvalue *get_item(jrender *r, int line, jvalue *obj, jvalue *key) {
    if (obj->kind == JV_UNDEF)
        return rfail(r, line, "'%s' is undefined (looked up [%s])", obj->undef_name ? obj->undef_name : "value",
                     key->kind == JV_STR ? key->u.str.s : "..."), NULL;
    if (obj->kind == JV_LIST && is_int(key)) {
        int64_t i = ival(key), n = obj->u.list.n;
        if (i < 0) i += n;
        return i >= 0 && i < n ? obj->u.list.items[i] : jv_undef(r, "list item");
    }
    if (obj->kind == JV_STR && is_int(key)) {
        int64_t i = ival(key), n = (int64_t)cp_count(obj->u.str.s, obj->u.str.len);
        if (i < 0) i += n;
        if (i < 0 || i >= n) return jv_undef(r, "string index");
        size_t a = cp_offset(obj->u.str.s, obj->u.str.len, (size_t)i), b = cp_offset(obj->u.str.s, obj->u.str.len, (size_t)i + 1);
        return jv_str(r, obj->u.str.s + a, b - a);
    }
    if ((obj->kind == JV_DICT || obj->kind == JV_NS) && key->kind == JV_STR) {
        int i = dict_find(obj, key->u.str.s, key->u.str.len);
        if (i >= 0) return obj->u.list.items[i];
    }
    if (obj->kind == JV_DICT) /* non-string keys: compare by value */
        for (int i = 0; i < obj->u.list.n; i++)
            if (equal(obj->keys[i], key, 0)) return obj->u.list.items[i];
    if (key->kind == JV_STR && obj->kind != JV_NS) return get_attr(r, line, obj, key->u.str.s);
    return jv_undef(r, key->kind == JV_STR ? key->u.str.s : "item");
}

static jvalue *bound(jrender *r, jvalue *self, const char *method) {
    jvalue *f = mk(r, JV_FUNC);
    if (f) {
        f->self = self;
        f->method = method;
    }
    return f;
}

static jvalue *get_attr(jrender *r, int line, jvalue *obj, const char *name) {
    if (obj->kind == JV_UNDEF)
        return rfail(r, line, "'%s' is undefined (looked up .%s)", obj->undef_name ? obj->undef_name : "value", name), NULL;
    static const char *str_methods[] = {"strip", "lstrip", "rstrip", "startswith", "endswith", "split", "upper", "lower",
                                        "replace", "title", "capitalize", "find", "count", "join", NULL};
    static const char *dict_methods[] = {"items", "keys", "values", "get", NULL};
    const char **methods = obj->kind == JV_STR ? str_methods : obj->kind == JV_DICT ? dict_methods : NULL;
    for (int i = 0; methods && methods[i]; i++)
        if (!strcmp(methods[i], name)) return bound(r, obj, methods[i]);
    if (obj->kind == JV_DICT || obj->kind == JV_NS) {
        int i = dict_find(obj, name, strlen(name));
        if (i >= 0) return obj->u.list.items[i];
    }
    return jv_undef(r, name);
}

static jvalue *slice(jrender *r, int line, jvalue *obj, jvalue *const parts[3]) {
    int64_t idx[3];
    bool has[3];
    for (int k = 0; k < 3; k++) {
        has[k] = parts[k] && parts[k]->kind != JV_NONE;
        if (has[k] && !is_int(parts[k])) return rfail(r, line, "slice bounds must be integers"), NULL;
        idx[k] = has[k] ? ival(parts[k]) : 0;
    }
    int64_t step = has[2] ? idx[2] : 1;
    if (step == 0) return rfail(r, line, "slice step cannot be zero"), NULL;
    bool is_s = obj->kind == JV_STR;
    if (!is_s && obj->kind != JV_LIST) {
        if (obj->kind == JV_UNDEF) return rfail(r, line, "'%s' is undefined (sliced)", obj->undef_name ? obj->undef_name : "value"), NULL;
        return rfail(r, line, "cannot slice a %s", kind_name(obj)), NULL;
    }
    int64_t n = is_s ? (int64_t)cp_count(obj->u.str.s, obj->u.str.len) : obj->u.list.n;
    /* Python's slice.indices */
    int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
    int64_t start = has[0] ? idx[0] : (step < 0 ? hi : lo), stop = has[1] ? idx[1] : (step < 0 ? lo : hi);
    if (has[0]) { if (start < 0) { start += n; if (start < lo) start = lo; } else if (start > hi) start = hi; }
    if (has[1]) { if (stop < 0) { stop += n; if (stop < lo) stop = lo; } else if (stop > hi) stop = hi; }
    jvalue *out = is_s ? NULL : jv_list(r);
    desk_buf b = {0};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (is_s) {
            size_t a = cp_offset(obj->u.str.s, obj->u.str.len, (size_t)i), e = cp_offset(obj->u.str.s, obj->u.str.len, (size_t)i + 1);
            desk_buf_add(&b, obj->u.str.s + a, e - a);
        } else if (!jv_append(r, out, obj->u.list.items[i])) {
            return NULL;
        }
    }
    return is_s ? tb_value(r, &b) : out;
}

/* items of an iterable as a list (dict: keys, string: characters, undefined: none) */
static jvalue *iter_list(jrender *r, int line, jvalue *v) {
    if (v->kind == JV_LIST) return v;
    jvalue *l = jv_list(r);
    if (!l) return NULL;
    if (v->kind == JV_UNDEF) return l;
    if (v->kind == JV_DICT) {
        for (int i = 0; i < v->u.list.n; i++)
            if (!jv_append(r, l, v->keys[i])) return NULL;
        return l;
    }
    if (v->kind == JV_STR) {
        const char *s = v->u.str.s;
        size_t n = v->u.str.len;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
            if (!jv_append(r, l, jv_str(r, s + i, j - i))) return NULL;
            i = j;
        }
        return l;
    }
    return rfail(r, line, "a %s is not iterable", kind_name(v)), NULL;
}

static bool contains(jrender *r, int line, jvalue *hay, jvalue *needle, bool *out) {
    if (hay->kind == JV_STR) {
        if (needle->kind != JV_STR) return rfail(r, line, "'in <string>' needs a string on the left, not a %s", kind_name(needle));
        const char *h = hay->u.str.s;
        size_t hn = hay->u.str.len, nn = needle->u.str.len;
        *out = nn == 0;
        for (size_t i = 0; !*out && i + nn <= hn; i++) *out = !memcmp(h + i, needle->u.str.s, nn);
        return true;
    }
    if (hay->kind == JV_DICT) {
        *out = false;
        for (int i = 0; i < hay->u.list.n && !*out; i++) *out = equal(hay->keys[i], needle, 0);
        return true;
    }
    if (hay->kind == JV_LIST) {
        *out = false;
        for (int i = 0; i < hay->u.list.n && !*out; i++) *out = equal(hay->u.list.items[i], needle, 0);
        return true;
    }
    if (hay->kind == JV_UNDEF) { *out = false; return true; }
    return rfail(r, line, "'in' needs a string, list or dict on the right, not a %s", kind_name(hay));
}

static bool undef_check(jrender *r, int line, const jvalue *v, const char *op) {
    if (v->kind != JV_UNDEF) return true;
    return rfail(r, line, "'%s' is undefined (used with %s)", v->undef_name ? v->undef_name : "value", op);
}

static jvalue *arith(jrender *r, int line, int op, jvalue *a, jvalue *b) {
    static const char opname[][3] = {['+'] = "+", ['-'] = "-", ['*'] = "*", ['/'] = "/", ['F'] = "//", ['%'] = "%", ['P'] = "**"};
    const char *on = opname[op];
    if (!undef_check(r, line, a, on) || !undef_check(r, line, b, on)) return NULL;
    if (op == '+' && a->kind == JV_STR && b->kind == JV_STR) {
        desk_buf t = {0};
        desk_buf_add(&t, a->u.str.s, a->u.str.len);
        desk_buf_add(&t, b->u.str.s, b->u.str.len);
        if (t.len > MAX_OUTPUT) { free(t.p); return rfail(r, line, "a string grew past %zu MiB", MAX_OUTPUT >> 20), NULL; }
        return tb_value(r, &t);
    }
    if (op == '+' && a->kind == JV_LIST && b->kind == JV_LIST) {
        jvalue *l = jv_list(r);
        for (int i = 0; l && i < a->u.list.n; i++) if (!jv_append(r, l, a->u.list.items[i])) return NULL;
        for (int i = 0; l && i < b->u.list.n; i++) if (!jv_append(r, l, b->u.list.items[i])) return NULL;
        return l;
    }
    if (op == '*' && ((a->kind == JV_STR && is_int(b)) || (is_int(a) && b->kind == JV_STR))) {
        const jvalue *s = a->kind == JV_STR ? a : b;
        int64_t k = is_int(a) ? ival(a) : ival(b);
        if (k > 0 && (uint64_t)k * s->u.str.len > MAX_OUTPUT) return rfail(r, line, "a string grew past %zu MiB", MAX_OUTPUT >> 20), NULL;
        desk_buf t = {0};
        for (int64_t i = 0; i < k; i++) desk_buf_add(&t, s->u.str.s, s->u.str.len);
        return tb_value(r, &t);
    }
    if (!is_num(a) || !is_num(b)) return rfail(r, line, "unsupported operand types for %s: %s and %s", on, kind_name(a), kind_name(b)), NULL;
    if (is_int(a) && is_int(b) && op != '/') {
        int64_t x = ival(a), y = ival(b), z = 0;
        bool ovf = false;
        switch (op) {
        case '+': ovf = __builtin_add_overflow(x, y, &z); break;
        case '-': ovf = __builtin_sub_overflow(x, y, &z); break;
        case '*': ovf = __builtin_mul_overflow(x, y, &z); break;
        case 'F': case '%':
            if (y == 0) return rfail(r, line, "integer division or modulo by zero"), NULL;
            if (x == INT64_MIN && y == -1) { ovf = true; break; }
            z = op == 'F' ? x / y : x % y;
            if (op == 'F' && (x % y != 0) && ((x < 0) != (y < 0))) z--;           /* floor */
            if (op == '%' && z != 0 && ((z < 0) != (y < 0))) z += y;               /* sign of the divisor */
            break;
        case 'P':
            if (y < 0) return jv_float(r, pow((double)x, (double)y));
            z = 1;
            for (int64_t i = 0; i < y && !ovf; i++) ovf = __builtin_mul_overflow(z, x, &z);
            break;
        }
        if (ovf) return rfail(r, line, "integer overflow in %s", on), NULL;
        return jv_int(r, z);
    }
    double x = num(a), y = num(b), z;
    switch (op) {
    case '+': z = x + y; break;
    case '-': z = x - y; break;
    case '*': z = x * y; break;
    case '/': if (y == 0) return rfail(r, line, "division by zero"), NULL; z = x / y; break;
    case 'F': if (y == 0) return rfail(r, line, "division by zero"), NULL; z = floor(x / y); break;
    case '%': if (y == 0) return rfail(r, line, "modulo by zero"), NULL; z = fmod(x, y); if (z != 0 && ((z < 0) != (y < 0))) z += y; break;
    default: z = pow(x, y); break;
    }
    return jv_float(r, z);
}

/* ------------------------------------------------------------ tests (x is name) */

static bool run_test(jrender *r, int line, const char *name, jvalue *v, jvalue **args, int n, bool *out) {
    jvalue *a0 = n > 0 ? args[0] : NULL;
    if (!strcmp(name, "defined")) *out = v->kind != JV_UNDEF;
    else if (!strcmp(name, "undefined")) *out = v->kind == JV_UNDEF;
    else if (!strcmp(name, "none")) *out = v->kind == JV_NONE;
    else if (!strcmp(name, "boolean")) *out = v->kind == JV_BOOL;
    else if (!strcmp(name, "false")) *out = v->kind == JV_BOOL && !v->u.b;
    else if (!strcmp(name, "true")) *out = v->kind == JV_BOOL && v->u.b;
    else if (!strcmp(name, "integer")) *out = v->kind == JV_INT;
    else if (!strcmp(name, "float")) *out = v->kind == JV_FLOAT;
    else if (!strcmp(name, "number")) *out = is_num(v);
    else if (!strcmp(name, "string")) *out = v->kind == JV_STR;
    else if (!strcmp(name, "mapping")) *out = v->kind == JV_DICT;
    else if (!strcmp(name, "iterable")) *out = v->kind == JV_STR || v->kind == JV_LIST || v->kind == JV_DICT || v->kind == JV_UNDEF;
    else if (!strcmp(name, "sequence")) *out = v->kind == JV_STR || v->kind == JV_LIST || v->kind == JV_DICT;
    else if (!strcmp(name, "callable")) *out = v->kind == JV_MACRO || v->kind == JV_FUNC;
    else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v->kind != JV_STR) { *out = false; return true; }
        jvalue *m = map_case(r, v, name[0] == 'u');
        if (!m) return false;
        *out = equal(m, v, 0);
    } else if (!strcmp(name, "odd") || !strcmp(name, "even")) {
        if (!is_int(v)) return rfail(r, line, "'%s' test needs an integer, not a %s", name, kind_name(v));
        *out = (ival(v) % 2 != 0) == (name[0] == 'o');
    } else if (!strcmp(name, "divisibleby")) {
        if (!is_int(v) || !a0 || !is_int(a0) || ival(a0) == 0) return rfail(r, line, "'divisibleby' needs two integers (the second not 0)");
        *out = ival(v) % ival(a0) == 0;
    } else if (!strcmp(name, "in")) {
        if (!a0) return rfail(r, line, "the 'in' test needs an argument");
        return contains(r, line, a0, v, out);
    } else if (!strcmp(name, "sameas")) {
        if (!a0) return rfail(r, line, "the 'sameas' test needs an argument");
        *out = (v->kind == a0->kind && (v->kind == JV_NONE || v->kind == JV_UNDEF || (v->kind == JV_BOOL && v->u.b == a0->u.b))) || v == a0;
    } else {
        static const struct { const char *n; int op; } cmps[] = {{"equalto", '='}, {"eq", '='}, {"==", '='}, {"ne", '!'}, {"!=", '!'},
                                                                  {"lt", '<'}, {"<", '<'}, {"le", 'L'}, {"<=", 'L'}, {"gt", '>'},
                                                                  {">", '>'}, {"ge", 'G'}, {">=", 'G'}};
        for (size_t i = 0; i < sizeof cmps / sizeof *cmps; i++) {
            if (strcmp(name, cmps[i].n)) continue;
            if (!a0) return rfail(r, line, "the '%s' test needs an argument", name);
            if (cmps[i].op == '=') *out = equal(v, a0, 0);
            else if (cmps[i].op == '!') *out = !equal(v, a0, 0);
            else {
                int c;
                if (!order(r, line, v, a0, &c)) return false;
                *out = cmps[i].op == '<' ? c < 0 : cmps[i].op == 'L' ? c <= 0 : cmps[i].op == '>' ? c > 0 : c >= 0;
            }
            return true;
        }
        return rfail(r, line, "the test '%s' is not supported", name);
    }
    return true;
}

/* ------------------------------------------------------------ filters */

static bool filter_keep(jrender *r, int line, jvalue *item, const char *attr, jvalue **targs, int tn, bool *keep) {
    jvalue *v = item;
    if (attr) {
        if (!(v = get_attr(r, line, item, attr))) return false;
    }
    if (tn == 0) {
        *keep = truthy(v);
        return true;
    }
    if (targs[0]->kind != JV_STR) return rfail(r, line, "the test name must be a string");
    return run_test(r, line, targs[0]->u.str.s, v, targs + 1, tn - 1, keep);
}

/* a string value's first 63 bytes as a C string in buf[64], for number parsing */
static const char *cstr64(const jvalue *v, char buf[64]) {
    size_t k = v->u.str.len < 63 ? v->u.str.len : 63;
    memcpy(buf, v->u.str.s, k);
    buf[k] = 0;
    return buf;
}

static jvalue *apply_filter(jrender *r, int line, const char *name, jvalue *v, jvalue **args, int n, const char **kw,
                            jvalue **kwv, int nkw) {
#define ARG(k, nm) arg_at(args, n, kw, kwv, nkw, k, nm)
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        jvalue *def = ARG(0, "default_value"), *boolean = ARG(1, "boolean");
        bool use = v->kind == JV_UNDEF || (boolean && truthy(boolean) && !truthy(v));
        return use ? (def ? def : jv_str(r, "", 0)) : v;
    }
    if (!strcmp(name, "safe")) return v;
    if (!strcmp(name, "string")) return to_str(r, v);
    if (!strcmp(name, "tojson")) {
        jvalue *ind = ARG(0, "indent");
        int indent = -1;
        if (ind && ind->kind != JV_NONE) {
            if (!is_int(ind) || ival(ind) < 0 || ival(ind) > 64) return rfail(r, line, "tojson: indent must be an integer 0..64"), NULL;
            indent = (int)ival(ind);
        }
        desk_buf b = {0};
        if (!json_out(r, line, v, &b, indent, 0)) { free(b.p); return NULL; }
        return tb_value(r, &b);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        if (v->kind == JV_STR) return jv_int(r, (int64_t)cp_count(v->u.str.s, v->u.str.len));
        if (v->kind == JV_LIST || v->kind == JV_DICT) return jv_int(r, v->u.list.n);
        if (v->kind == JV_UNDEF) return jv_int(r, 0);
        return rfail(r, line, "a %s has no length", kind_name(v)), NULL;
    }
    if (!strcmp(name, "list")) {
        jvalue *l = iter_list(r, line, v), *c = l ? jv_list(r) : NULL;
        for (int i = 0; c && i < l->u.list.n; i++) if (!jv_append(r, c, l->u.list.items[i])) return NULL;
        return c;
    }
    if (!strcmp(name, "items")) {
        if (v->kind == JV_UNDEF) return jv_list(r);
        if (v->kind != JV_DICT) return rfail(r, line, "'items' needs a dict, not a %s", kind_name(v)), NULL;
        jvalue *l = jv_list(r);
        for (int i = 0; l && i < v->u.list.n; i++) {
            jvalue *pair = jv_list(r);
            if (pair) pair->tuple = true;
            if (!pair || !jv_append(r, pair, v->keys[i]) || !jv_append(r, pair, v->u.list.items[i]) || !jv_append(r, l, pair)) return NULL;
        }
        return l;
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        jvalue *l = iter_list(r, line, v);
        if (!l) return NULL;
        if (l->u.list.n == 0) return jv_undef(r, name);
        return l->u.list.items[name[0] == 'f' ? 0 : l->u.list.n - 1];
    }
    if (!strcmp(name, "reverse")) {
        if (v->kind == JV_STR) {
            jvalue *l = iter_list(r, line, v);
            if (!l) return NULL;
            desk_buf b = {0};
            for (int i = l->u.list.n - 1; i >= 0; i--) desk_buf_add(&b, l->u.list.items[i]->u.str.s, l->u.list.items[i]->u.str.len);
            return tb_value(r, &b);
        }
        jvalue *l = iter_list(r, line, v), *c = l ? jv_list(r) : NULL;
        for (int i = l ? l->u.list.n - 1 : -1; c && i >= 0; i--) if (!jv_append(r, c, l->u.list.items[i])) return NULL;
        return c;
    }
    if (!strcmp(name, "join")) {
        jvalue *sep = ARG(0, "d"), *attr = ARG(1, "attribute");
        jvalue *l = iter_list(r, line, v);
        if (!l) return NULL;
        desk_buf b = {0};
        for (int i = 0; i < l->u.list.n; i++) {
            if (i && sep) to_text(sep, &b);
            jvalue *it = l->u.list.items[i];
            if (attr && attr->kind == JV_STR && !(it = get_attr(r, line, it, attr->u.str.s))) { free(b.p); return NULL; }
            to_text(it, &b);
        }
        return tb_value(r, &b);
    }
    if (!strcmp(name, "trim") || !strcmp(name, "upper") || !strcmp(name, "lower") || !strcmp(name, "capitalize") ||
        !strcmp(name, "title") || !strcmp(name, "replace") || !strcmp(name, "escape") || !strcmp(name, "e") ||
        !strcmp(name, "indent")) {
        jvalue *s = to_str(r, v);
        if (!s) return NULL;
        if (!strcmp(name, "trim")) {
            jvalue *chars = ARG(0, "chars");
            return strip(r, s, chars && chars->kind == JV_STR ? chars : NULL, 3);
        }
        if (!strcmp(name, "upper")) return map_case(r, s, 1);
        if (!strcmp(name, "lower")) return map_case(r, s, 0);
        if (!strcmp(name, "capitalize")) return map_case(r, s, 2);
        if (!strcmp(name, "title")) return map_case(r, s, 3);
        if (!strcmp(name, "escape") || !strcmp(name, "e")) {
            desk_buf b = {0};
            for (size_t i = 0; i < s->u.str.len; i++) {
                char c = s->u.str.s[i];
                if (c == '&') desk_buf_str(&b, "&amp;");
                else if (c == '<') desk_buf_str(&b, "&lt;");
                else if (c == '>') desk_buf_str(&b, "&gt;");
                else if (c == '"') desk_buf_str(&b, "&#34;");
                else if (c == '\'') desk_buf_str(&b, "&#39;");
                else desk_buf_add(&b, &c, 1);
            }
            return tb_value(r, &b);
        }
        if (!strcmp(name, "indent")) {
            jvalue *w = ARG(0, "width"), *first = ARG(1, "first"), *blank = ARG(2, "blank");
            desk_buf pad = {0};
            if (w && w->kind == JV_STR) desk_buf_add(&pad, w->u.str.s, w->u.str.len);
            else for (int64_t i = 0; i < (w && is_int(w) ? ival(w) : 4) && i < 256; i++) desk_buf_str(&pad, " ");
            desk_buf b = {0};
            const char *p = s->u.str.s, *e = p + s->u.str.len;
            bool line0 = true;
            while (p <= e) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                size_t ln = nl ? (size_t)(nl - p) : (size_t)(e - p);
                bool blank_line = ln == 0;
                if ((!line0 || (first && truthy(first))) && (!blank_line || (blank && truthy(blank)))) desk_buf_add(&b, pad.p ? pad.p : "", pad.len);
                desk_buf_add(&b, p, ln);
                if (!nl) break;
                desk_buf_str(&b, "\n");
                p = nl + 1;
                line0 = false;
            }
            free(pad.p);
            return tb_value(r, &b);
        }
        /* replace(old, new, count) */
        jvalue *old = ARG(0, "old"), *nw = ARG(1, "new"), *cnt = ARG(2, "count");
        if (!old || !nw || old->kind != JV_STR) return rfail(r, line, "replace needs two strings"), NULL;
        jvalue *ns = to_str(r, nw);
        if (!ns) return NULL;
        int64_t limit = cnt && is_int(cnt) ? ival(cnt) : -1;
        desk_buf b = {0};
        const char *p = s->u.str.s;
        size_t len = s->u.str.len, on = old->u.str.len, i = 0;
        int64_t done = 0;
        if (on == 0) { /* Python inserts between every character */
            jvalue *chars = iter_list(r, line, s);
            if (!chars) return NULL;
            for (int k = 0; k <= chars->u.list.n; k++) {
                if (limit < 0 || done < limit) { desk_buf_add(&b, ns->u.str.s, ns->u.str.len); done++; }
                if (k < chars->u.list.n) desk_buf_add(&b, chars->u.list.items[k]->u.str.s, chars->u.list.items[k]->u.str.len);
                if (b.len > MAX_OUTPUT) break;
            }
            return tb_value(r, &b);
        }
        while (i < len) {
            if ((limit < 0 || done < limit) && i + on <= len && !memcmp(p + i, old->u.str.s, on)) {
                desk_buf_add(&b, ns->u.str.s, ns->u.str.len);
                i += on;
                done++;
                if (b.len > MAX_OUTPUT) { free(b.p); return rfail(r, line, "a string grew past %zu MiB", MAX_OUTPUT >> 20), NULL; }
            } else {
                desk_buf_add(&b, p + i, 1);
                i++;
            }
        }
        return tb_value(r, &b);
    }
    if (!strcmp(name, "select") || !strcmp(name, "reject") || !strcmp(name, "selectattr") || !strcmp(name, "rejectattr")) {
        bool attr = strstr(name, "attr") != NULL, want = name[0] == 's';
        const char *an = NULL;
        if (attr) {
            if (n < 1 || args[0]->kind != JV_STR) return rfail(r, line, "%s needs an attribute name", name), NULL;
            an = args[0]->u.str.s;
        }
        jvalue *l = iter_list(r, line, v), *out = l ? jv_list(r) : NULL;
        for (int i = 0; out && i < l->u.list.n; i++) {
            bool keep;
            if (!filter_keep(r, line, l->u.list.items[i], an, n > (int)attr ? args + attr : NULL, n - attr, &keep)) return NULL;
            if (keep == want && !jv_append(r, out, l->u.list.items[i])) return NULL;
        }
        return out;
    }
    if (!strcmp(name, "map")) {
        jvalue *attr = ARG(-1, "attribute");
        jvalue *l = iter_list(r, line, v), *out = l ? jv_list(r) : NULL;
        for (int i = 0; out && i < l->u.list.n; i++) {
            jvalue *it = l->u.list.items[i], *m;
            if (attr) m = attr->kind == JV_STR ? get_attr(r, line, it, attr->u.str.s) : get_item(r, line, it, attr);
            else if (n >= 1 && args[0]->kind == JV_STR) m = apply_filter(r, line, args[0]->u.str.s, it, args + 1, n - 1, NULL, NULL, 0);
            else return rfail(r, line, "map needs a filter name or attribute="), NULL;
            if (!m || !jv_append(r, out, m)) return NULL;
        }
        return out;
    }
    if (!strcmp(name, "int")) {
        if (is_int(v)) return jv_int(r, ival(v));
        if (v->kind == JV_FLOAT) return isfinite(v->u.f) && fabs(v->u.f) < 9e18 ? jv_int(r, (int64_t)v->u.f) : jv_int(r, 0);
        if (v->kind == JV_STR) {
            char buf[64], *end;
            long long x = strtoll(cstr64(v, buf), &end, 10);
            return jv_int(r, end != buf && *end == 0 ? x : 0);
        }
        return jv_int(r, 0);
    }
    if (!strcmp(name, "float")) {
        if (is_num(v)) return jv_float(r, num(v));
        if (v->kind == JV_STR) {
            char buf[64], *end;
            double x = strtod(cstr64(v, buf), &end);
            return jv_float(r, end != buf && *end == 0 ? x : 0.0);
        }
        return jv_float(r, 0.0);
    }
    if (!strcmp(name, "abs")) {
        if (!is_num(v)) return rfail(r, line, "abs needs a number, not a %s", kind_name(v)), NULL;
        if (is_int(v)) return ival(v) == INT64_MIN ? (rfail(r, line, "integer overflow in abs"), NULL) : jv_int(r, ival(v) < 0 ? -ival(v) : ival(v));
        return jv_float(r, fabs(v->u.f));
    }
    if (!strcmp(name, "round")) {
        if (!is_num(v)) return rfail(r, line, "round needs a number, not a %s", kind_name(v)), NULL;
        jvalue *pr = ARG(0, "precision"), *method = ARG(1, "method");
        double p = pow(10, pr && is_int(pr) ? (double)ival(pr) : 0), x = num(v) * p;
        const char *m = method && method->kind == JV_STR ? method->u.str.s : "common";
        x = !strcmp(m, "ceil") ? ceil(x) : !strcmp(m, "floor") ? floor(x) : nearbyint(x); /* Python rounds halves to even */
        return jv_float(r, x / p);
    }
    if (!strcmp(name, "sum")) {
        jvalue *l = iter_list(r, line, v), *acc = jv_int(r, 0);
        for (int i = 0; l && acc && i < l->u.list.n; i++) acc = arith(r, line, '+', acc, l->u.list.items[i]);
        return l ? acc : NULL;
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        jvalue *l = iter_list(r, line, v);
        if (!l) return NULL;
        if (l->u.list.n == 0) return jv_undef(r, name);
        jvalue *best = l->u.list.items[0];
        for (int i = 1; i < l->u.list.n; i++) {
            int c;
            if (!order(r, line, l->u.list.items[i], best, &c)) return NULL;
            if ((name[1] == 'i' && c < 0) || (name[1] == 'a' && c > 0)) best = l->u.list.items[i];
        }
        return best;
    }
    if (!strcmp(name, "unique")) {
        jvalue *l = iter_list(r, line, v), *out = l ? jv_list(r) : NULL;
        for (int i = 0; out && i < l->u.list.n; i++) {
            bool seen;
            if (!contains(r, line, out, l->u.list.items[i], &seen)) return NULL;
            if (!seen && !jv_append(r, out, l->u.list.items[i])) return NULL;
        }
        return out;
    }
    if (!strcmp(name, "dictsort") || !strcmp(name, "sort")) {
        bool dict = name[0] == 'd';
        jvalue *l = dict ? apply_filter(r, line, "items", v, NULL, 0, NULL, NULL, 0) : iter_list(r, line, v);
        jvalue *rev = ARG(dict ? 1 : 0, "reverse"), *attr = dict ? NULL : ARG(2, "attribute");
        jvalue *out = l ? jv_list(r) : NULL;
        for (int i = 0; out && i < l->u.list.n; i++) if (!jv_append(r, out, l->u.list.items[i])) return NULL;
        if (!out) return NULL;
        /* insertion sort: stable, and lists in templates are short */
        for (int i = 1; i < out->u.list.n; i++) {
            jvalue *x = out->u.list.items[i];
            int j = i - 1;
            for (; j >= 0; j--) {
                jvalue *a = out->u.list.items[j], *ka = a, *kx = x;
                if (dict) { ka = a->u.list.items[0]; kx = x->u.list.items[0]; }
                else if (attr && attr->kind == JV_STR) {
                    if (!(ka = get_attr(r, line, a, attr->u.str.s)) || !(kx = get_attr(r, line, x, attr->u.str.s))) return NULL;
                }
                int c;
                if (!order(r, line, ka, kx, &c)) return NULL;
                if (rev && truthy(rev) ? c >= 0 : c <= 0) break;
                out->u.list.items[j + 1] = a;
            }
            out->u.list.items[j + 1] = x;
        }
        return out;
    }
    return rfail(r, line, "the filter '%s' is not supported", name), NULL;
#undef ARG
}

/* ------------------------------------------------------------ methods and globals */

static jvalue *call_method(jrender *r, int line, jvalue *self, const char *m, jvalue **args, int n) {
    jvalue *a0 = n > 0 ? args[0] : NULL, *a1 = n > 1 ? args[1] : NULL;
    if (self->kind == JV_DICT) {
        if (!strcmp(m, "items")) return apply_filter(r, line, "items", self, NULL, 0, NULL, NULL, 0);
        if (!strcmp(m, "keys")) return iter_list(r, line, self);
        if (!strcmp(m, "values")) {
            jvalue *l = jv_list(r);
            for (int i = 0; l && i < self->u.list.n; i++) if (!jv_append(r, l, self->u.list.items[i])) return NULL;
            return l;
        }
        /* get(key, default=None) */
        if (!a0) return rfail(r, line, "get needs a key"), NULL;
        jvalue *v = NULL;
        for (int i = 0; i < self->u.list.n && !v; i++) if (equal(self->keys[i], a0, 0)) v = self->u.list.items[i];
        return v ? v : a1 ? a1 : mk(r, JV_NONE);
    }
    /* string methods */
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip"))
        return strip(r, self, a0 && a0->kind == JV_STR ? a0 : NULL, m[0] == 'l' ? 1 : m[0] == 'r' ? 2 : 3);
    if (!strcmp(m, "upper")) return map_case(r, self, 1);
    if (!strcmp(m, "lower")) return map_case(r, self, 0);
    if (!strcmp(m, "title")) return map_case(r, self, 3);
    if (!strcmp(m, "capitalize")) return map_case(r, self, 2);
    if (!strcmp(m, "replace")) return apply_filter(r, line, "replace", self, args, n, NULL, NULL, 0);
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        if (!a0) return rfail(r, line, "%s needs an argument", m), NULL;
        jvalue *opts = a0->kind == JV_LIST ? a0 : NULL;
        int k = opts ? opts->u.list.n : 1;
        for (int i = 0; i < k; i++) {
            jvalue *x = opts ? opts->u.list.items[i] : a0;
            if (x->kind != JV_STR) return rfail(r, line, "%s needs a string, not a %s", m, kind_name(x)), NULL;
            size_t xl = x->u.str.len, sl = self->u.str.len;
            if (xl <= sl && !memcmp(self->u.str.s + (m[0] == 's' ? 0 : sl - xl), x->u.str.s, xl)) return jv_bool(r, true);
        }
        return jv_bool(r, false);
    }
    if (!strcmp(m, "find") || !strcmp(m, "count")) {
        if (!a0 || a0->kind != JV_STR) return rfail(r, line, "%s needs a string", m), NULL;
        const char *s = self->u.str.s;
        size_t sl = self->u.str.len, nl = a0->u.str.len;
        int64_t count = 0;
        for (size_t i = 0; i + nl <= sl;) {
            if (!memcmp(s + i, a0->u.str.s, nl)) {
                if (m[0] == 'f') return jv_int(r, (int64_t)cp_count(s, i));
                count++;
                i += nl ? nl : 1;
            } else {
                i++;
            }
        }
        return jv_int(r, m[0] == 'f' ? -1 : count);
    }
    if (!strcmp(m, "join")) {
        jvalue *l = a0 ? iter_list(r, line, a0) : NULL;
        if (!l) return a0 ? NULL : (rfail(r, line, "join needs a list"), NULL);
        desk_buf b = {0};
        for (int i = 0; i < l->u.list.n; i++) {
            if (i) desk_buf_add(&b, self->u.str.s, self->u.str.len);
            if (l->u.list.items[i]->kind != JV_STR) { free(b.p); return rfail(r, line, "join: item %d is a %s, not a string", i, kind_name(l->u.list.items[i])), NULL; }
            to_text(l->u.list.items[i], &b);
        }
        return tb_value(r, &b);
    }
    /* split(sep=None, maxsplit=-1) */
    jvalue *out = jv_list(r);
    if (!out) return NULL;
    int64_t maxsplit = a1 && is_int(a1) ? ival(a1) : -1, done = 0;
    const char *s = self->u.str.s;
    size_t len = self->u.str.len, i = 0;
    if (!a0 || a0->kind == JV_NONE) { /* runs of whitespace */
        for (;;) {
            int l;
            while (i < len && (l = space_at(s, len, i))) i += (size_t)l;
            if (i >= len) break;
            size_t st = i;
            if (maxsplit >= 0 && done >= maxsplit) {
                size_t e = len;
                while (e > st && space_at(s, len, e - 1)) e--;
                if (!jv_append(r, out, jv_str(r, s + st, e - st))) return NULL;
                break;
            }
            while (i < len && !space_at(s, len, i)) i++;
            if (!jv_append(r, out, jv_str(r, s + st, i - st))) return NULL;
            done++;
        }
        return out;
    }
    if (a0->kind != JV_STR || a0->u.str.len == 0) return rfail(r, line, "split needs a non-empty string separator"), NULL;
    size_t sl = a0->u.str.len, st = 0;
    while (i + sl <= len) {
        if ((maxsplit < 0 || done < maxsplit) && !memcmp(s + i, a0->u.str.s, sl)) {
            if (!jv_append(r, out, jv_str(r, s + st, i - st))) return NULL;
            i += sl;
            st = i;
            done++;
        } else {
            i++;
        }
    }
    return jv_append(r, out, jv_str(r, s + st, len - st)) ? out : NULL;
}

static bool g_range(jrender *r, int line, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, jvalue **out) {
    int64_t a[3] = {0, 0, 1};
    if (n < 1 || n > 3 || nkw) return rfail(r, line, "range takes 1 to 3 integers");
    for (int i = 0; i < n; i++) {
        if (!is_int(args[i])) return rfail(r, line, "range takes integers, not a %s", kind_name(args[i]));
        a[i] = ival(args[i]);
    }
    int64_t start = n == 1 ? 0 : a[0], stop = n == 1 ? a[0] : a[1], step = n == 3 ? a[2] : 1;
    if (step == 0) return rfail(r, line, "range step cannot be zero");
    jvalue *l = jv_list(r);
    if (!l) return false;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (l->u.list.n >= 1000000) return rfail(r, line, "range of more than a million items");
        if (!jv_append(r, l, jv_int(r, i))) return false;
    }
    *out = l;
    return true;
}
static bool g_namespace(jrender *r, int line, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, jvalue **out) {
    jvalue *ns = mk(r, JV_NS);
    if (!ns) return false;
    for (int i = 0; i < n; i++) { /* namespace(dict) */
        if (args[i]->kind != JV_DICT) return rfail(r, line, "namespace() takes keyword arguments or a dict");
        for (int k = 0; k < args[i]->u.list.n; k++)
            if (!dict_put(r, ns, args[i]->keys[k], args[i]->u.list.items[k])) return false;
    }
    for (int i = 0; i < nkw; i++)
        if (!dict_put(r, ns, jv_str(r, kw[i], strlen(kw[i])), kwv[i])) return false;
    *out = ns;
    return true;
}
static bool g_dict(jrender *r, int line, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, jvalue **out) {
    bool ok = g_namespace(r, line, args, n, kw, kwv, nkw, out);
    if (ok) (*out)->kind = JV_DICT;
    return ok;
}
static bool g_raise(jrender *r, int line, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, jvalue **out) {
    desk_buf b = {0};
    if (n > 0) to_text(args[0], &b);
    rfail(r, line, "the template raised an error: %s", b.p ? b.p : "");
    free(b.p);
    return false;
}
static bool g_strftime(jrender *r, int line, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, jvalue **out) {
    if (n != 1 || args[0]->kind != JV_STR) return rfail(r, line, "strftime_now takes one format string");
    time_t t = (time_t)r->now;
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[256];
    size_t k = strftime(buf, sizeof buf, args[0]->u.str.s, &tm);
    *out = jv_str(r, buf, k);
    return *out != NULL;
}

static jvalue *call_value(jrender *r, int line, jvalue *f, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw) {
    if (f->kind == JV_FUNC && f->method) return call_method(r, line, f->self, f->method, args, n);
    if (f->kind == JV_FUNC) {
        jvalue *out = NULL;
        return f->u.func(r, line, args, n, kw, kwv, nkw, &out) ? out : NULL;
    }
    if (f->kind == JV_MACRO) {
        const jnode *m = f->u.macro;
        if (++r->calls > MAX_CALL_DEPTH) return rfail(r, line, "macros nest deeper than %d calls", MAX_CALL_DEPTH), NULL;
        if (++r->steps > MAX_STEPS) return rfail(r, line, "the template ran for more than %ld steps", MAX_STEPS), NULL;
        if (n > m->n_names) return rfail(r, line, "macro '%s' takes %d arguments, not %d", m->str, m->n_names, n), NULL;
        frame *saved = r->top, *fr = push_frame(r, r->root);
        if (!fr) return NULL;
        for (int i = 0; i < m->n_names; i++) {
            jvalue *v = i < n ? args[i] : NULL;
            for (int k = 0; k < nkw; k++) if (!strcmp(kw[k], m->names[i])) v = kwv[k];
            if (!v) {
                r->top = fr; /* defaults see the earlier parameters */
                v = m->args[i] ? eval(r, m->args[i]) : jv_undef(r, m->names[i]);
                r->top = saved;
            }
            if (!v || !set_var(r, fr, m->names[i], v)) return NULL;
        }
        for (int k = 0; k < nkw; k++) {
            bool known = false;
            for (int i = 0; i < m->n_names; i++) known |= !strcmp(kw[k], m->names[i]);
            if (!known) return rfail(r, line, "macro '%s' has no parameter '%s'", m->str, kw[k]), NULL;
        }
        /* the macro's output becomes its value */
        char *o = r->out;
        size_t ol = r->len, oc = r->cap;
        r->out = NULL;
        r->len = r->cap = 0;
        r->top = fr;
        bool ok = exec_body(r, m->body, m->n_body);
        r->top = saved;
        jvalue *res = ok ? jv_str(r, r->out ? r->out : "", r->len) : NULL;
        free(r->out);
        r->out = o;
        r->len = ol;
        r->cap = oc;
        r->calls--;
        return res;
    }
    if (f->kind == JV_UNDEF) return rfail(r, line, "'%s' is undefined (called)", f->undef_name ? f->undef_name : "value"), NULL;
    return rfail(r, line, "a %s cannot be called", kind_name(f)), NULL;
}

/* evaluated positional and keyword arguments of a call/filter/test node */
static bool eval_args(jrender *r, const jnode *n, jvalue ***args, jvalue ***kwv) {
    *args = n->n_args ? ralloc(r, n->line, (size_t)n->n_args * sizeof **args) : NULL;
    *kwv = n->n_names ? ralloc(r, n->line, (size_t)n->n_names * sizeof **kwv) : NULL;
    if ((n->n_args && !*args) || (n->n_names && !*kwv)) return false;
    for (int i = 0; i < n->n_args; i++)
        if (!((*args)[i] = eval(r, n->args[i]))) return false;
    for (int i = 0; i < n->n_names; i++)
        if (!((*kwv)[i] = eval(r, n->kwargs[i]))) return false;
    return true;
}

static jvalue *eval_inner(jrender *r, const jnode *n) {
    switch (n->kind) {
    case N_LIT: return n->lit;
    case N_NAME: {
        jvalue *v = lookup(r, n->str);
        return v ? v : jv_undef(r, n->str);
    }
    case N_LIST: {
        jvalue *l = jv_list(r);
        if (l) l->tuple = n->op == 't';
        for (int i = 0; l && i < n->n_args; i++) if (!jv_append(r, l, eval(r, n->args[i]))) return NULL;
        return l;
    }
    case N_DICT: {
        jvalue *d = jv_dict(r);
        for (int i = 0; d && i + 1 < n->n_args; i += 2) {
            jvalue *k = eval(r, n->args[i]), *v = k ? eval(r, n->args[i + 1]) : NULL;
            if (!v || !dict_put(r, d, k, v)) return NULL;
        }
        return d;
    }
    case N_ATTR: {
        jvalue *o = eval(r, n->a);
        return o ? get_attr(r, n->line, o, n->str) : NULL;
    }
    case N_ITEM: {
        jvalue *o = eval(r, n->a), *k = o ? eval(r, n->b) : NULL;
        return k ? get_item(r, n->line, o, k) : NULL;
    }
    case N_SLICE: {
        jvalue *o = eval(r, n->a), *parts[3] = {NULL, NULL, NULL};
        if (!o) return NULL;
        for (int k = 0; k < 3; k++) if (n->args[k] && !(parts[k] = eval(r, n->args[k]))) return NULL;
        return slice(r, n->line, o, parts);
    }
    case N_CALL: {
        jvalue *f = eval(r, n->a), **args, **kwv;
        if (!f || !eval_args(r, n, &args, &kwv)) return NULL;
        return call_value(r, n->line, f, args, n->n_args, n->names, kwv, n->n_names);
    }
    case N_FILTER: {
        jvalue *v = eval(r, n->a), **args, **kwv;
        if (!v || !eval_args(r, n, &args, &kwv)) return NULL;
        return apply_filter(r, n->line, n->str, v, args, n->n_args, n->names, kwv, n->n_names);
    }
    case N_TEST: {
        jvalue *v = eval(r, n->a), **args, **kwv;
        bool res;
        if (!v || !eval_args(r, n, &args, &kwv) || !run_test(r, n->line, n->str, v, args, n->n_args, &res)) return NULL;
        return jv_bool(r, res != n->neg);
    }
    case N_UNARY: {
        jvalue *v = eval(r, n->a);
        if (!v) return NULL;
        if (n->op == '!') return jv_bool(r, !truthy(v));
        if (!undef_check(r, n->line, v, "unary minus")) return NULL;
        if (!is_num(v)) return rfail(r, n->line, "bad operand type for unary %c: %s", n->op, kind_name(v)), NULL;
        if (n->op == '+') return is_int(v) ? jv_int(r, ival(v)) : v;
        if (is_int(v)) return ival(v) == INT64_MIN ? (rfail(r, n->line, "integer overflow"), NULL) : jv_int(r, -ival(v));
        return jv_float(r, -v->u.f);
    }
    case N_COND: {
        jvalue *c = eval(r, n->b);
        if (!c) return NULL;
        if (truthy(c)) return eval(r, n->a);
        return n->c ? eval(r, n->c) : jv_undef(r, "conditional without else");
    }
    case N_BINARY: {
        jvalue *a = eval(r, n->a);
        if (!a) return NULL;
        if (n->op == '&') return truthy(a) ? eval(r, n->b) : a;
        if (n->op == '|') return truthy(a) ? a : eval(r, n->b);
        jvalue *b = eval(r, n->b);
        if (!b) return NULL;
        switch (n->op) {
        case '=': return jv_bool(r, equal(a, b, 0));
        case '!': return jv_bool(r, !equal(a, b, 0));
        case 'i': case 'n': {
            bool in;
            if (!contains(r, n->line, b, a, &in)) return NULL;
            return jv_bool(r, in == (n->op == 'i'));
        }
        case '<': case 'L': case '>': case 'G': {
            int c;
            if (!undef_check(r, n->line, a, "a comparison") || !undef_check(r, n->line, b, "a comparison") ||
                !order(r, n->line, a, b, &c))
                return NULL;
            return jv_bool(r, n->op == '<' ? c < 0 : n->op == 'L' ? c <= 0 : n->op == '>' ? c > 0 : c >= 0);
        }
        case '~': {
            desk_buf t = {0};
            to_text(a, &t);
            to_text(b, &t);
            return tb_value(r, &t);
        }
        default: return arith(r, n->line, n->op, a, b);
        }
    }
    default: return rfail(r, n->line, "internal: a statement where a value was expected"), NULL;
    }
}

static jvalue *eval(jrender *r, const jnode *n) {
    if (r->failed) return NULL;
    if (++r->depth > MAX_EVAL_DEPTH) {
        r->depth--;
        return rfail(r, n->line, "expressions nest too deeply"), NULL;
    }
    jvalue *v = eval_inner(r, n);
    r->depth--;
    if (!v && !r->failed) rfail(r, n->line, "out of memory");
    return v;
}

/* ------------------------------------------------------------ statements */

static bool emit(jrender *r, int line, const char *s, size_t n) {
    if (r->len + n > MAX_OUTPUT) return rfail(r, line, "the rendered text passed %zu MiB", MAX_OUTPUT >> 20);
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1) cap *= 2;
        char *p = realloc(r->out, cap);
        if (!p) return rfail(r, line, "out of memory");
        r->out = p;
        r->cap = cap;
    }
    memcpy(r->out + r->len, s, n);
    r->len += n;
    r->out[r->len] = 0;
    return true;
}

static bool bind_targets(jrender *r, const jnode *n, frame *f, jvalue *item) {
    if (n->n_names == 1) return set_var(r, f, n->names[0], item);
    if (item->kind != JV_LIST || item->u.list.n != n->n_names)
        return rfail(r, n->line, "cannot unpack a %s into %d loop variables", kind_name(item), n->n_names);
    for (int i = 0; i < n->n_names; i++)
        if (!set_var(r, f, n->names[i], item->u.list.items[i])) return false;
    return true;
}

static bool exec_for(jrender *r, const jnode *n) {
    jvalue *seq = eval(r, n->a);
    if (!seq) return false;
    jvalue *items = iter_list(r, n->line, seq);
    if (!items) return false;
    frame *saved = r->top, *f = push_frame(r, r->top);
    if (!f) return false;
    r->top = f;
    bool ok = true;
    if (n->b) { /* the loop filter runs first: loop.index counts what passes */
        jvalue *kept = jv_list(r);
        for (int i = 0; ok && kept && i < items->u.list.n; i++) {
            jvalue *c;
            ok = bind_targets(r, n, f, items->u.list.items[i]) && (c = eval(r, n->b)) != NULL;
            if (ok && truthy(c)) ok = jv_append(r, kept, items->u.list.items[i]);
        }
        items = kept;
        ok = ok && kept;
    }
    int len = ok ? items->u.list.n : 0;
    for (int i = 0; ok && i < len; i++) {
        if (++r->steps > MAX_STEPS) { ok = rfail(r, n->line, "the template ran for more than %ld steps", MAX_STEPS); break; }
        jvalue *loop = jv_dict(r);
        ok = loop && jv_dict_set(r, loop, "index", jv_int(r, i + 1)) && jv_dict_set(r, loop, "index0", jv_int(r, i)) &&
             jv_dict_set(r, loop, "revindex", jv_int(r, len - i)) && jv_dict_set(r, loop, "revindex0", jv_int(r, len - i - 1)) &&
             jv_dict_set(r, loop, "first", jv_bool(r, i == 0)) && jv_dict_set(r, loop, "last", jv_bool(r, i == len - 1)) &&
             jv_dict_set(r, loop, "length", jv_int(r, len)) &&
             jv_dict_set(r, loop, "previtem", i > 0 ? items->u.list.items[i - 1] : jv_undef(r, "loop.previtem")) &&
             jv_dict_set(r, loop, "nextitem", i + 1 < len ? items->u.list.items[i + 1] : jv_undef(r, "loop.nextitem")) &&
             set_var(r, f, "loop", loop) && bind_targets(r, n, f, items->u.list.items[i]) && exec_body(r, n->body, n->n_body);
        int jump = r->jump;
        r->jump = 0;
        if (jump == N_BREAK) break;
    }
    if (ok && len == 0 && n->n_alt) ok = exec_body(r, n->alt, n->n_alt);
    r->top = saved;
    return ok;
}

static bool exec_node(jrender *r, const jnode *n) {
    switch (n->kind) {
    case N_TEXT: return emit(r, n->line, n->str, n->len);
    case N_OUTPUT: {
        jvalue *v = eval(r, n->a);
        if (!v) return false;
        if (v->kind == JV_STR) return emit(r, n->line, v->u.str.s, v->u.str.len);
        desk_buf b = {0};
        to_text(v, &b);
        bool ok = !b.oom && emit(r, n->line, b.p ? b.p : "", b.len);
        free(b.p);
        return ok || rfail(r, n->line, "out of memory");
    }
    case N_IF: {
        jvalue *c = eval(r, n->a);
        if (!c) return false;
        return truthy(c) ? exec_body(r, n->body, n->n_body) : exec_body(r, n->alt, n->n_alt);
    }
    case N_FOR: return exec_for(r, n);
    case N_BREAK: case N_CONTINUE: r->jump = n->kind; return true;
    case N_SET: {
        jvalue *v = eval(r, n->a);
        if (!v) return false;
        if (!n->attr) return set_var(r, r->top, n->str, v);
        jvalue *ns = lookup(r, n->str);
        if (!ns || ns->kind != JV_NS) return rfail(r, n->line, "'%s.%s =' needs '%s' to be a namespace()", n->str, n->attr, n->str);
        return dict_put(r, ns, jv_str(r, n->attr, strlen(n->attr)), v);
    }
    case N_SET_BLOCK: {
        char *o = r->out;
        size_t ol = r->len, oc = r->cap;
        r->out = NULL;
        r->len = r->cap = 0;
        bool ok = exec_body(r, n->body, n->n_body);
        jvalue *v = ok ? jv_str(r, r->out ? r->out : "", r->len) : NULL;
        free(r->out);
        r->out = o;
        r->len = ol;
        r->cap = oc;
        return v && set_var(r, r->top, n->str, v);
    }
    case N_MACRO: {
        jvalue *m = mk(r, JV_MACRO);
        if (!m) return false;
        m->u.macro = n;
        return set_var(r, r->top, n->str, m);
    }
    default: return rfail(r, n->line, "internal: a value where a statement was expected");
    }
}

static bool exec_body(jrender *r, jnode *const *body, int n) {
    for (int i = 0; i < n && !r->jump; i++)
        if (!exec_node(r, body[i])) return false;
    return true;
}

/* ------------------------------------------------------------ entry point */

desk_status jinja_render(const jtemplate *t, jinja_fill_fn fill, void *arg, int64_t now, char **out, size_t *out_len,
                         desk_error *err) {
    *out = NULL;
    *out_len = 0;
    jrender r = {.err = err, .now = now ? now : (int64_t)time(NULL)};
    if (!(r.a = jarena_new(MAX_ARENA))) return desk_fail(err, DESK_ENOMEM, "out of memory");
    r.root = r.top = push_frame(&r, NULL);
    static const struct { const char *name; jfunc f; } globals[] = {
        {"range", g_range}, {"namespace", g_namespace}, {"dict", g_dict}, {"raise_exception", g_raise}, {"strftime_now", g_strftime}};
    bool ok = r.root != NULL;
    for (size_t i = 0; ok && i < sizeof globals / sizeof *globals; i++) {
        jvalue *f = mk(&r, JV_FUNC);
        ok = f && (f->u.func = globals[i].f) && jinja_set_global(&r, globals[i].name, f);
    }
    ok = ok && (!fill || fill(&r, arg)) && exec_body(&r, t->body, t->n_body);
    jarena_free(r.a);
    if (!ok) {
        free(r.out);
        if (!r.failed) return desk_fail(err, DESK_ENOMEM, "out of memory");
        return DESK_EINVAL;
    }
    if (!r.out && !(r.out = calloc(1, 1))) return desk_fail(err, DESK_ENOMEM, "out of memory");
    *out = r.out;
    *out_len = r.len;
    return DESK_OK;
}
