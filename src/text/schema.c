/*
 * schema.c - JSON Schema into GBNF (see schema.h).
 *
 * Each schema node becomes one rule `sN ::= ...`; $ref targets become rules
 * once (so recursive schemas are recursive grammars). Objects list the
 * schema's properties in order, required ones always, optional ones
 * maybe, with the commas right whatever is skipped (rules o_k_c: "from
 * property k on, a comma is needed before the next one if c"). Integer and
 * number bounds are turned into digit grammars; string lengths count
 * characters (an escape is one); patterns are a regular-expression subset
 * translated to GBNF.
 */
#include "text/grammar.h"
#include "text/schema.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENUM_SPAN 4096     /* integers a bounded range may enumerate */

static void gb_printf(desk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gb_printf(desk_buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { desk_buf_add(b, tmp, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    desk_buf_add(b, big, (size_t)n);
    free(big);
}

typedef struct {
    desk_buf out;                  /* the body of the rule being written */
    desk_buf rules;                /* finished rules */
    json_t *root;
    int next;
    struct { char *ref; int rule; } *refs;
    int n_refs, cap_refs;
    desk_error *err;
    bool failed;
    int depth;
} conv;

static bool cfail(conv *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool cfail(conv *c, const char *path, const char *fmt, ...) {
    if (c->failed) return false;
    c->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    desk_fail(c->err, DESK_EUNSUPPORTED, "schema at %s: %s", path[0] ? path : "(root)", msg);
    return false;
}

/* a GBNF literal for the bytes s */
static void lit(desk_buf *b, const char *s, size_t n) {
    desk_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') { char e[2] = {'\\', (char)ch}; desk_buf_add(b, e, 2); }
        else if (ch == '\n') desk_buf_add(b, "\\n", 2);
        else if (ch == '\r') desk_buf_add(b, "\\r", 2);
        else if (ch == '\t') desk_buf_add(b, "\\t", 2);
        else if (ch < 0x20) gb_printf(b, "\\x%02X", ch);
        else desk_buf_add(b, (const char *)&ch, 1);
    }
    desk_buf_add(b, "\"", 1);
}

static const char PRIMITIVES[] =
    "ws ::= \" \"?\n"
    "json-char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "json-string ::= \"\\\"\" json-char* \"\\\"\"\n"
    "json-int ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "json-number ::= json-int (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"
    "json-bool ::= \"true\" | \"false\"\n"
    "json-null ::= \"null\"\n"
    "json-value ::= json-object | json-array | json-string | json-number | json-bool | json-null\n"
    "json-object ::= \"{\" ws (json-string ws \":\" ws json-value (ws \",\" ws json-string ws \":\" ws json-value)*)? ws \"}\"\n"
    "json-array ::= \"[\" ws (json-value (ws \",\" ws json-value)*)? ws \"]\"\n";

static int visit_into(conv *c, json_t *s, const char *path, int id);
static int new_rule(conv *c) { return c->next++; }
static int visit(conv *c, json_t *s, const char *path) { return visit_into(c, s, path, new_rule(c)); }

/* the JSON text of a value as a GBNF literal (enum, const) */
static bool json_literal(conv *c, json_t *v, const char *path) {
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!t) return cfail(c, path, "out of memory");
    /* jansson writes ", " and ": " in compact mode? no: JSON_COMPACT gives "," and ":" */
    lit(&c->out, t, strlen(t));
    free(t);
    return true;
}

static bool type_of(json_t *v, const char *type) {
    if (!strcmp(type, "string")) return json_is_string(v);
    if (!strcmp(type, "integer")) return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(type, "number")) return json_is_number(v);
    if (!strcmp(type, "boolean")) return json_is_boolean(v);
    if (!strcmp(type, "null")) return json_is_null(v);
    if (!strcmp(type, "object")) return json_is_object(v);
    if (!strcmp(type, "array")) return json_is_array(v);
    return false;
}

/* integers lo..hi (inclusive) as an alternation */
static bool int_range(conv *c, long long lo, long long hi, const char *path) {
    if (hi < lo) return cfail(c, path, "no integer lies between the minimum and the maximum");
    if (hi - lo > MAX_ENUM_SPAN) return cfail(c, path, "integer bounds spanning more than %d values are not supported yet", MAX_ENUM_SPAN);
    desk_buf_add(&c->out, "(", 1);
    for (long long v = lo; v <= hi; v++) gb_printf(&c->out, "%s\"%lld\"", v > lo ? " | " : "", v);
    desk_buf_add(&c->out, ")", 1);
    return true;
}

static bool get_bound(conv *c, json_t *s, const char *key, const char *path, bool *has, double *v) {
    json_t *b = json_object_get(s, key);
    *has = b != NULL;
    if (!b) return true;
    if (!json_is_number(b)) return cfail(c, path, "'%s' must be a number", key);
    *v = json_number_value(b);
    return true;
}

/* a number (or integer) within the schema's bounds */
static bool number_rule(conv *c, json_t *s, bool integer, const char *path) {
    bool hmin, hmax, hxmin, hxmax;
    double mn = 0, mx = 0, xmn = 0, xmx = 0;
    if (!get_bound(c, s, "minimum", path, &hmin, &mn) || !get_bound(c, s, "maximum", path, &hmax, &mx) ||
        !get_bound(c, s, "exclusiveMinimum", path, &hxmin, &xmn) || !get_bound(c, s, "exclusiveMaximum", path, &hxmax, &xmx))
        return false;
    if (!hmin && !hmax && !hxmin && !hxmax) {
        desk_buf_add(&c->out, integer ? "json-int" : "json-number", integer ? 8 : 11);
        return true;
    }
    if ((hmin && !(fabs(mn) <= 1e15)) || (hmax && !(fabs(mx) <= 1e15)) || (hxmin && !(fabs(xmn) <= 1e15)) || (hxmax && !(fabs(xmx) <= 1e15)))
        return cfail(c, path, "bounds beyond +-1e15 are not supported");
    if (integer) {
        double lo = hmin ? ceil(mn) : -1e18, hi = hmax ? floor(mx) : 1e18;
        if (hxmin) lo = fmax(lo, floor(xmn) + 1);
        if (hxmax) hi = fmin(hi, ceil(xmx) - 1);
        if (!(hmin || hxmin) || !(hmax || hxmax))
            return cfail(c, path, "an integer bounded on one side only is not supported yet (give minimum and maximum)");
        return int_range(c, (long long)lo, (long long)hi, path);
    }
    if (hxmin || hxmax) return cfail(c, path, "exclusiveMinimum/exclusiveMaximum on numbers are not supported yet (integers are)");
    if (!hmin || !hmax) return cfail(c, path, "a number bounded on one side only is not supported yet (give minimum and maximum)");
    if (mn != floor(mn) || mx != floor(mx)) return cfail(c, path, "number bounds that are not whole numbers are not supported yet");
    long long a = (long long)mn, b = (long long)mx;
    if (b < a) return cfail(c, path, "the maximum is below the minimum");
    if (b - a > MAX_ENUM_SPAN) return cfail(c, path, "number bounds spanning more than %d are not supported yet", MAX_ENUM_SPAN);
    /* the text "-"? m ("." f)?: for each integer part m, whether a fraction may follow */
    desk_buf *o = &c->out;
    desk_buf_add(o, "(", 1);
    bool first = true;
    const char *frac = "(\".\" [0-9]{1,16})?", *zero = "(\".\" \"0\"{1,16})?";
    for (long long m = 0; m <= (b > -a ? b : -a); m++) {
        /* positive form m.f, value in [m, m + 1) */
        if (m >= a && m <= b) {
            gb_printf(o, "%s\"%lld\" %s", first ? "" : " | ", m, m < b ? frac : zero);
            first = false;
        }
        /* negative form -m.f, value in (-(m + 1), -m] */
        if (-m >= a && -m <= b) {
            bool any = m < -a; /* -(m + 0.f) >= a for every fraction */
            gb_printf(o, "%s\"-%lld\" %s", first ? "" : " | ", m, any ? frac : zero);
            first = false;
        }
    }
    desk_buf_add(o, ")", 1);
    return true;
}

/* a JSON string whose content has between lo and hi characters (hi < 0: unbounded) */
static void string_len(desk_buf *o, long lo, long hi) {
    desk_buf_add(o, "\"\\\"\" json-char", 14);
    if (hi < 0) gb_printf(o, "{%ld,}", lo);
    else gb_printf(o, "{%ld,%ld}", lo, hi);
    desk_buf_add(o, " \"\\\"\"", 5);
}

/* ---- regular expression (pattern) subset into GBNF; characters that JSON
 * would have to escape are left out of the language (narrower, never wrong) */
typedef struct { const char *s; size_t i, n; conv *c; const char *path; } rx;

static bool rx_alt(rx *r, desk_buf *o);

static void rx_char(desk_buf *o, uint32_t cp) {
    if (cp == '"' || cp == '\\' || cp < 0x20) { desk_buf_add(o, "[^\\x00-\\U0010FFFF]", 18); return; } /* nothing */
    char buf[4];
    int n = desk_utf8_put(cp, buf);
    lit(o, buf, (size_t)n);
}

static bool rx_read_cp(rx *r, uint32_t *cp) {
    unsigned char ch = (unsigned char)r->s[r->i];
    int l = ch < 0x80 ? 1 : (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : (ch & 0xF8) == 0xF0 ? 4 : 0;
    if (!l || r->i + (size_t)l > r->n) return cfail(r->c, r->path, "pattern is not valid UTF-8");
    uint32_t v = l == 1 ? ch : l == 2 ? ch & 0x1F : l == 3 ? ch & 0x0F : ch & 0x07;
    for (int k = 1; k < l; k++) v = (v << 6) | ((unsigned char)r->s[r->i + (size_t)k] & 0x3F);
    r->i += (size_t)l;
    *cp = v;
    return true;
}

/* a class member range in GBNF; in a positive class without the characters
 * JSON would have to escape (", \ and controls), so that what the pattern
 * allows can be written literally between the quotes */
static void class_range(desk_buf *o, uint32_t lo, uint32_t hi, bool neg) {
    static const uint32_t cuts[][2] = {{0, 0x1F}, {0x22, 0x22}, {0x5C, 0x5C}};
    if (!neg)
        for (int k = 0; k < 3 && lo <= hi; k++) {
            if (hi < cuts[k][0] || lo > cuts[k][1]) continue;
            if (lo < cuts[k][0]) class_range(o, lo, cuts[k][0] - 1, neg);
            lo = cuts[k][1] + 1;
        }
    if (lo > hi) return;
    if (lo == hi) gb_printf(o, "\\U%08X", lo);
    else gb_printf(o, "\\U%08X-\\U%08X", lo, hi);
}

/* class members for an escape like \d inside or outside [] */
static const char *rx_class_escape(char e) {
    switch (e) {
    case 'd': return "0-9";
    case 'w': return "a-zA-Z0-9_";
    case 's': return " \\t\\n\\r";
    default: return NULL;
    }
}

static bool rx_atom(rx *r, desk_buf *o) {
    char ch = r->s[r->i];
    if (ch == '(') {
        r->i++;
        if (r->i + 1 < r->n && r->s[r->i] == '?' && r->s[r->i + 1] == ':') r->i += 2;
        else if (r->i < r->n && r->s[r->i] == '?') return cfail(r->c, r->path, "pattern: lookarounds and named groups are not supported");
        desk_buf_add(o, "(", 1);
        if (!rx_alt(r, o)) return false;
        if (r->i >= r->n || r->s[r->i] != ')') return cfail(r->c, r->path, "pattern: unbalanced '('");
        r->i++;
        desk_buf_add(o, ")", 1);
        return true;
    }
    if (ch == '[') {
        r->i++;
        bool neg = r->i < r->n && r->s[r->i] == '^';
        if (neg) r->i++;
        /* members as \U escapes; in a positive class the characters JSON must escape are left out */
        const char *open = neg ? "[^\\U00000022\\U0000005C\\U00000000-\\U0000001F" : "[";
        desk_buf_add(o, open, strlen(open));
        bool any = false;
        while (r->i < r->n && (r->s[r->i] != ']' || !any)) {
            any = true;
            uint32_t lo, hi;
            if (r->s[r->i] == '\\' && r->i + 1 < r->n) {
                char e = r->s[r->i + 1];
                r->i += 2;
                if (e == 'd' || e == 'w' || e == 's') {
                    if (e == 'd') class_range(o, '0', '9', neg);
                    if (e == 'w') { class_range(o, 'a', 'z', neg); class_range(o, 'A', 'Z', neg); class_range(o, '0', '9', neg); class_range(o, '_', '_', neg); }
                    if (e == 's') { class_range(o, ' ', ' ', neg); class_range(o, '\t', '\n', neg); class_range(o, '\r', '\r', neg); }
                    continue;
                }
                if (strchr("WDSbBpPx0123456789cu", e)) return cfail(r->c, r->path, "pattern: \\%c inside [] is not supported", e);
                lo = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : (uint32_t)(unsigned char)e;
            } else if (!rx_read_cp(r, &lo)) {
                return false;
            }
            hi = lo;
            if (r->i + 1 < r->n && r->s[r->i] == '-' && r->s[r->i + 1] != ']') {
                r->i++;
                if (r->s[r->i] == '\\') return cfail(r->c, r->path, "pattern: an escape as a range's end is not supported");
                if (!rx_read_cp(r, &hi)) return false;
                if (hi < lo) return cfail(r->c, r->path, "pattern: character range out of order");
            }
            class_range(o, lo, hi, neg);
        }
        if (r->i >= r->n) return cfail(r->c, r->path, "pattern: unterminated '['");
        r->i++;
        desk_buf_add(o, "]", 1);
        return true;
    }
    if (ch == '.') {
        r->i++;
        desk_buf_add(o, "json-char", 9);
        return true;
    }
    if (ch == '\\') {
        if (r->i + 1 >= r->n) return cfail(r->c, r->path, "pattern ends with '\\'");
        char e = r->s[r->i + 1];
        r->i += 2;
        const char *cls = rx_class_escape(e);
        if (cls) { gb_printf(o, "[%s]", cls); return true; }
        if (strchr("WDSbBAZzpPkg123456789", e)) return cfail(r->c, r->path, "pattern: \\%c is not supported", e);
        uint32_t cp = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : (uint32_t)(unsigned char)e;
        rx_char(o, cp);
        return true;
    }
    if (strchr("*+?{", ch)) return cfail(r->c, r->path, "pattern: '%c' with nothing to repeat", ch);
    uint32_t cp;
    if (!rx_read_cp(r, &cp)) return false;
    rx_char(o, cp);
    return true;
}

static bool rx_seq(rx *r, desk_buf *o) {
    bool any = false;
    while (r->i < r->n && r->s[r->i] != '|' && r->s[r->i] != ')') {
        if (r->s[r->i] == '^' || r->s[r->i] == '$') return cfail(r->c, r->path, "pattern: '^' and '$' are only supported at its ends");
        if (any) desk_buf_add(o, " ", 1);
        desk_buf_add(o, "(", 1);
        if (!rx_atom(r, o)) return false;
        desk_buf_add(o, ")", 1);
        if (r->i < r->n && strchr("*+?", r->s[r->i])) desk_buf_add(o, &r->s[r->i++], 1);
        else if (r->i < r->n && r->s[r->i] == '{') { /* {m}, {m,} or {m,n}, checked before it is copied */
            size_t e = r->i + 1;
            int digits = 0, commas = 0, m_digits = 0;
            long m = 0, n = -1, *cur = &m;
            for (; e < r->n && r->s[e] != '}'; e++) {
                if (r->s[e] >= '0' && r->s[e] <= '9' && *cur < 100000) {
                    if (cur == &n && n < 0) n = 0;
                    *cur = *cur * 10 + (r->s[e] - '0');
                    digits++;
                    m_digits += cur == &m;
                } else if (r->s[e] == ',' && !commas++) {
                    cur = &n;
                } else {
                    break;
                }
            }
            if (e >= r->n || r->s[e] != '}' || !digits || !m_digits || m > 10000 || n > 10000 || (n >= 0 && n < m))
                return cfail(r->c, r->path, "pattern: a repetition must be {m}, {m,} or {m,n} with m <= n <= 10000");
            desk_buf_add(o, r->s + r->i, e + 1 - r->i);
            r->i = e + 1;
        }
        if (r->i < r->n && (r->s[r->i] == '?' || r->s[r->i] == '+')) return cfail(r->c, r->path, "pattern: lazy and possessive quantifiers are not supported");
        any = true;
    }
    if (!any) desk_buf_add(o, "\"\"", 2);
    return true;
}

static bool rx_alt(rx *r, desk_buf *o) {
    if (!rx_seq(r, o)) return false;
    while (r->i < r->n && r->s[r->i] == '|') {
        r->i++;
        desk_buf_add(o, " | ", 3);
        if (!rx_seq(r, o)) return false;
    }
    return true;
}

static bool pattern_rule(conv *c, const char *pat, const char *path) {
    size_t n = strlen(pat);
    bool start = n && pat[0] == '^', end = n > (size_t)start && pat[n - 1] == '$' && (n < 2 || pat[n - 2] != '\\');
    rx r = {pat + start, 0, n - start - end, c, path};
    desk_buf *o = &c->out;
    desk_buf_add(o, "\"\\\"\" ", 5);
    if (!start) desk_buf_add(o, "json-char* ", 11); /* JSON Schema patterns search anywhere in the string */
    desk_buf_add(o, "(", 1);
    if (!rx_alt(&r, o)) return false;
    if (r.i < r.n) return cfail(c, path, "pattern: unbalanced ')'");
    desk_buf_add(o, ")", 1);
    if (!end) desk_buf_add(o, " json-char*", 11);
    desk_buf_add(o, " \"\\\"\"", 5);
    return true;
}

/* ---- schema nodes */

static const char *ANNOTATIONS[] = {"title", "description", "$schema", "$id", "$comment", "examples", "default",
                                    "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", NULL};
static const char *HANDLED[] = {"type", "enum", "const", "anyOf", "oneOf", "$ref", "properties", "required",
                                "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength",
                                "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "nullable", NULL};

static bool in_list(const char *k, const char **list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}

static int ref_rule(conv *c, const char *ref, const char *path) {
    for (int i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) return c->refs[i].rule;
    json_t *target = NULL;
    if (!strcmp(ref, "#")) target = c->root;
    else if (!strncmp(ref, "#/$defs/", 8)) target = json_object_get(json_object_get(c->root, "$defs"), ref + 8);
    else if (!strncmp(ref, "#/definitions/", 14)) target = json_object_get(json_object_get(c->root, "definitions"), ref + 14);
    else return cfail(c, path, "$ref '%s': only local #/$defs/NAME, #/definitions/NAME and # are supported", ref), -1;
    if (!target) return cfail(c, path, "$ref '%s' points at nothing", ref), -1;
    if (c->n_refs == c->cap_refs) {
        int cap = c->cap_refs ? 2 * c->cap_refs : 8;
        void *p = realloc(c->refs, (size_t)cap * sizeof *c->refs);
        if (!p) return cfail(c, path, "out of memory"), -1;
        c->refs = p;
        c->cap_refs = cap;
    }
    int k = c->n_refs++;
    c->refs[k].ref = strdup(ref);
    /* the target's rule number is known before its body is written, so references to it from inside work */
    int rule = c->refs[k].rule = new_rule(c);
    return visit_into(c, target, ref, rule);
}

/* Writes rule `sID ::= body` for schema s and returns id (-1 on error). */
static int visit_into(conv *c, json_t *s, const char *path, int id) {
    if (c->failed) return -1;
    if (++c->depth > 64) return cfail(c, path, "the schema nests deeper than 64 levels"), -1;
    desk_buf body = {0};
    desk_buf saved = c->out;
    c->out = body;
    bool ok = true;
    char sub[512];
    if (json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0)) {
        desk_buf_add(&c->out, "json-value", 10);
        goto done;
    }
    if (!json_is_object(s)) { ok = cfail(c, path, "a schema must be an object or true"); goto done; }
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (!in_list(key, ANNOTATIONS) && !in_list(key, HANDLED)) {
            ok = cfail(c, path, "the keyword '%s' is not supported", key);
            goto done;
        }
    }
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) { ok = cfail(c, path, "$ref must be a string"); goto done; }
        int r = ref_rule(c, json_string_value(ref), path);
        if (r < 0) { ok = false; goto done; }
        gb_printf(&c->out, "s%d", r);
        goto done;
    }
    json_t *type = json_object_get(s, "type"), *nullable = json_object_get(s, "nullable");
    json_t *types = json_array();
    if (json_is_string(type)) json_array_append(types, type);
    else if (json_is_array(type)) json_array_extend(types, type);
    else if (type) { json_decref(types); ok = cfail(c, path, "'type' must be a string or a list of strings"); goto done; }
    if (json_is_true(nullable) && json_array_size(types)) json_array_append_new(types, json_string("null"));
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en || cn) {
        json_t *vals = cn ? json_pack("[O]", cn) : json_incref(en);
        if (!json_is_array(vals) || !json_array_size(vals)) { json_decref(vals); json_decref(types); ok = cfail(c, path, "'enum' must be a non-empty list"); goto done; }
        size_t i;
        json_t *x;
        int n = 0;
        desk_buf_add(&c->out, "(", 1);
        json_array_foreach(vals, i, x) {
            bool fits = !json_array_size(types);
            size_t k;
            json_t *t;
            json_array_foreach(types, k, t) fits |= json_is_string(t) && type_of(x, json_string_value(t));
            if (!fits) continue;
            if (n++) desk_buf_add(&c->out, " | ", 3);
            if (!json_literal(c, x, path)) break;
        }
        desk_buf_add(&c->out, ")", 1);
        json_decref(vals);
        json_decref(types);
        if (!n) ok = cfail(c, path, "no enum/const value has the schema's type");
        goto done;
    }
    json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    if (any || one) {
        json_t *list = any ? any : one;
        if (any && one) { json_decref(types); ok = cfail(c, path, "anyOf together with oneOf is not supported"); goto done; }
        if (!json_is_array(list) || !json_array_size(list)) { json_decref(types); ok = cfail(c, path, "'%s' must be a non-empty list", any ? "anyOf" : "oneOf"); goto done; }
        if (type) { json_decref(types); ok = cfail(c, path, "'type' beside '%s' is not supported (put it in each branch)", any ? "anyOf" : "oneOf"); goto done; }
        if (one) { /* only branches of distinct types can never match twice */
            for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *ti = json_object_get(json_array_get(list, i), "type");
                for (size_t j = 0; j < i && ti; j++) {
                    json_t *tj = json_object_get(json_array_get(list, j), "type");
                    if (!json_is_string(ti) || !json_is_string(tj) || !strcmp(json_string_value(ti), json_string_value(tj)) ||
                        (!strcmp(json_string_value(ti), "number") && !strcmp(json_string_value(tj), "integer")) ||
                        (!strcmp(json_string_value(tj), "number") && !strcmp(json_string_value(ti), "integer"))) {
                        ti = NULL;
                    }
                }
                if (!ti) {
                    json_decref(types);
                    ok = cfail(c, path, "oneOf is supported only when every branch has a different single 'type' (use anyOf)");
                    goto done;
                }
            }
        }
        size_t i;
        json_t *x;
        desk_buf_add(&c->out, "(", 1);
        json_array_foreach(list, i, x) {
            snprintf(sub, sizeof sub, "%s/%s/%zu", path, any ? "anyOf" : "oneOf", i);
            int r = visit(c, x, sub);
            if (r < 0) { ok = false; break; }
            gb_printf(&c->out, "%ss%d", i ? " | " : "", r);
        }
        desk_buf_add(&c->out, ")", 1);
        json_decref(types);
        goto done;
    }
    if (!json_array_size(types)) { json_decref(types); ok = cfail(c, path, "a schema needs 'type', 'enum', 'const', 'anyOf', 'oneOf' or '$ref'"); goto done; }
    desk_buf_add(&c->out, "(", 1);
    size_t ti;
    json_t *t;
    json_array_foreach(types, ti, t) {
        if (!ok) break;
        const char *tn = json_is_string(t) ? json_string_value(t) : "";
        if (ti) desk_buf_add(&c->out, " | ", 3);
        if (!strcmp(tn, "null")) desk_buf_add(&c->out, "json-null", 9);
        else if (!strcmp(tn, "boolean")) desk_buf_add(&c->out, "json-bool", 9);
        else if (!strcmp(tn, "integer") || !strcmp(tn, "number")) ok = number_rule(c, s, tn[0] == 'i', path);
        else if (!strcmp(tn, "string")) {
            json_t *mnl = json_object_get(s, "minLength"), *mxl = json_object_get(s, "maxLength"), *pat = json_object_get(s, "pattern");
            if ((mnl && !json_is_integer(mnl)) || (mxl && !json_is_integer(mxl))) ok = cfail(c, path, "minLength/maxLength must be integers");
            else if (pat && (mnl || mxl)) ok = cfail(c, path, "'pattern' together with minLength/maxLength is not supported yet");
            else if (pat) ok = json_is_string(pat) ? pattern_rule(c, json_string_value(pat), path) : cfail(c, path, "'pattern' must be a string");
            else {
                long lo = mnl ? (long)json_integer_value(mnl) : 0, hi = mxl ? (long)json_integer_value(mxl) : -1;
                if (lo < 0 || (hi >= 0 && hi < lo) || hi > 10000 || lo > 10000)
                    ok = cfail(c, path, "minLength/maxLength must be 0..10000 with minLength <= maxLength");
                else string_len(&c->out, lo, hi);
            }
        } else if (!strcmp(tn, "array")) {
            json_t *items = json_object_get(s, "items"), *mni = json_object_get(s, "minItems"), *mxi = json_object_get(s, "maxItems");
            long lo = mni && json_is_integer(mni) ? (long)json_integer_value(mni) : 0;
            long hi = mxi && json_is_integer(mxi) ? (long)json_integer_value(mxi) : -1;
            if ((mni && !json_is_integer(mni)) || (mxi && !json_is_integer(mxi)) || lo < 0 || (hi >= 0 && hi < lo) || hi > 10000 || lo > 10000) {
                ok = cfail(c, path, "minItems/maxItems out of range");
                break;
            }
            snprintf(sub, sizeof sub, "%s/items", path);
            int r = items ? visit(c, items, sub) : -1;
            if (items && r < 0) { ok = false; break; }
            char item[32];
            snprintf(item, sizeof item, items ? "s%d" : "json-value", r);
            if (hi == 0) desk_buf_add(&c->out, "\"[\" ws \"]\"", 10);
            else if (lo == 0) {
                gb_printf(&c->out, "\"[\" ws (%s (ws \",\" ws %s)", item, item);
                if (hi < 0) desk_buf_add(&c->out, "*", 1);
                else gb_printf(&c->out, "{0,%ld}", hi - 1);
                desk_buf_add(&c->out, ")? ws \"]\"", 9);
            } else {
                gb_printf(&c->out, "\"[\" ws %s (ws \",\" ws %s)", item, item);
                if (hi < 0) gb_printf(&c->out, "{%ld,}", lo - 1);
                else gb_printf(&c->out, "{%ld,%ld}", lo - 1, hi - 1);
                desk_buf_add(&c->out, " ws \"]\"", 7);
            }
        } else if (!strcmp(tn, "object")) {
            json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"), *addl = json_object_get(s, "additionalProperties");
            if (props && !json_is_object(props)) { ok = cfail(c, path, "'properties' must be an object"); break; }
            if (req && !json_is_array(req)) { ok = cfail(c, path, "'required' must be a list"); break; }
            size_t np = props ? json_object_size(props) : 0;
            /* required names must be properties (or additional ones must be allowed, which is not supported with required) */
            size_t ri;
            json_t *rn;
            json_array_foreach(req, ri, rn) {
                if (!json_is_string(rn) || !json_object_get(props, json_string_value(rn))) {
                    ok = cfail(c, path, "required '%s' is not among the properties", json_is_string(rn) ? json_string_value(rn) : "?");
                    break;
                }
            }
            if (!ok) break;
            if (addl && !json_is_boolean(addl) && np) { ok = cfail(c, path, "additionalProperties with a schema beside properties is not supported yet"); break; }
            if (!np) { /* no named properties: none, or any (with a value schema) */
                if (json_is_false(addl) || !addl) desk_buf_add(&c->out, "\"{\" ws \"}\"", 10);
                else if (json_is_true(addl)) desk_buf_add(&c->out, "json-object", 11);
                else {
                    snprintf(sub, sizeof sub, "%s/additionalProperties", path);
                    int r = visit(c, addl, sub);
                    if (r < 0) { ok = false; break; }
                    gb_printf(&c->out, "\"{\" ws (json-string ws \":\" ws s%d (ws \",\" ws json-string ws \":\" ws s%d)*)? ws \"}\"", r, r);
                }
                break;
            }
            /* property values first, then the chain of optional members */
            int *vr = malloc(np * sizeof *vr);
            const char **names = malloc(np * sizeof *names);
            bool *isreq = calloc(np, 1);
            if (!vr || !names || !isreq) { free(vr); free(names); free(isreq); ok = cfail(c, path, "out of memory"); break; }
            size_t k = 0;
            const char *pk;
            json_t *pv;
            json_object_foreach(props, pk, pv) {
                names[k] = pk;
                json_array_foreach(req, ri, rn) isreq[k] |= !strcmp(json_string_value(rn), pk);
                snprintf(sub, sizeof sub, "%s/properties/%s", path, pk);
                if ((vr[k] = visit(c, pv, sub)) < 0) { ok = false; break; }
                k++;
            }
            if (ok) {
                /* m_k_c ::= (comma if c) "name" ws ":" ws value m_{k+1}_1 | m_{k+1}_c (when optional) */
                int base = c->next;
                c->next += 2 * (int)np + 2;
                gb_printf(&c->out, "\"{\" ws s%d ws \"}\"", base); /* m_0_0 */
                desk_buf rules = {0};
                for (size_t j = 0; j <= np; j++)
                    for (int cm = 0; cm < 2; cm++) {
                        int me = base + 2 * (int)j + cm;
                        gb_printf(&rules, "s%d ::= ", me);
                        if (j == np) { desk_buf_add(&rules, "\"\"\n", 3); continue; }
                        if (cm) desk_buf_add(&rules, "ws \",\" ws ", 10);
                        json_t *tmp = json_string(names[j]);
                        char *quoted = json_dumps(tmp, JSON_ENCODE_ANY);
                        json_decref(tmp);
                        if (quoted) lit(&rules, quoted, strlen(quoted));
                        free(quoted);
                        gb_printf(&rules, " ws \":\" ws s%d s%d", vr[j], base + 2 * (int)(j + 1) + 1);
                        if (!isreq[j]) gb_printf(&rules, " | s%d", base + 2 * (int)(j + 1) + cm);
                        desk_buf_add(&rules, "\n", 1);
                    }
                desk_buf_add(&c->rules, rules.p ? rules.p : "", rules.len);
                free(rules.p);
            }
            free(vr);
            free(names);
            free(isreq);
        } else {
            ok = cfail(c, path, "unknown type '%s'", tn);
        }
    }
    desk_buf_add(&c->out, ")", 1);
    json_decref(types);
done:
    body = c->out;
    c->out = saved;
    if (ok && !c->failed) {
        gb_printf(&c->rules, "s%d ::= %s\n", id, body.p ? body.p : "\"\"");
        if (body.oom) ok = cfail(c, path, "out of memory");
    }
    free(body.p);
    c->depth--;
    return ok && !c->failed ? id : -1;
}

/* A $ref that reaches itself again before any JSON text is matched
 * ({"$defs": {"n": {"$ref": "#/$defs/n"}}}, or one anyOf branch of
 * "#/$defs/a" being "#/$defs/a" itself) becomes a left-recursive rule, which
 * the grammar parser refuses. Such a schema either matches nothing finite or
 * needs the recursion rewritten; say so in the schema's terms, naming the
 * $ref, instead of handing over a grammar that cannot be used. The grammar
 * parser's own check decides (a second parse, once per schema, not per
 * token); its message names the rule, which maps back to the $ref. */
static bool refers_to_itself_first(conv *c) {
    dgrammar *g;
    desk_error ge;
    if (dgrammar_parse(c->rules.p, c->rules.len, &g, &ge) == DESK_OK) {
        dgrammar_free(g);
        return false;
    }
    if (!strstr(ge.msg, "left-recursive")) return false; /* size limits: the caller's parse reports them */
    const char *q = strstr(ge.msg, "rule 's");
    int rule = q ? atoi(q + 7) : -1;
    for (int i = 0; i < c->n_refs; i++)
        if (c->refs[i].rule == rule)
            return cfail(c, c->refs[i].ref, "$ref '%s' reaches itself again before any JSON text is matched (left recursion, which a grammar cannot use)",
                         c->refs[i].ref), true;
    /* the cycle runs through an anyOf branch: every cycle passes a $ref, so name them */
    char names[240] = "";
    for (int i = 0, n = 0; i < c->n_refs && n + strlen(c->refs[i].ref) + 8 < sizeof names; i++)
        n += snprintf(names + n, sizeof names - n, "%s'%s'", i ? ", " : "", c->refs[i].ref);
    cfail(c, c->n_refs == 1 ? c->refs[0].ref : "", "%s %s reaches itself again before any JSON text is matched (left recursion, which a grammar cannot use)",
          c->n_refs == 1 ? "$ref" : "one of the $refs", names);
    return true;
}

desk_status dschema_to_gbnf(const char *json, size_t len, char **gbnf, desk_error *err) {
    *gbnf = NULL;
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return desk_fail(err, DESK_EFORMAT, "the schema is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    conv c = {.root = root, .err = err};
    int r = visit(&c, root, "");
    if (r >= 0) {
        gb_printf(&c.rules, "root ::= s%d\n", r);
        desk_buf_add(&c.rules, PRIMITIVES, sizeof PRIMITIVES - 1);
        if (!c.rules.oom && refers_to_itself_first(&c)) r = -1;
    }
    free(c.out.p);
    for (int i = 0; i < c.n_refs; i++) free(c.refs[i].ref);
    free(c.refs);
    json_decref(root);
    if (r < 0 || c.rules.oom) {
        free(c.rules.p);
        if (!c.failed) return desk_fail(err, DESK_ENOMEM, "out of memory");
        return DESK_EUNSUPPORTED;
    }
    *gbnf = c.rules.p;
    return DESK_OK;
}

char *dschema_any_object_gbnf(void) {
    desk_buf b = {0};
    desk_buf_add(&b, "root ::= json-object\n", 21);
    desk_buf_add(&b, PRIMITIVES, sizeof PRIMITIVES - 1);
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}
