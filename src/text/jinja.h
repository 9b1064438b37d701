/*
 * jinja.h - desk's Jinja template engine (internal), the subset chat
 * templates use, with Jinja2's semantics as Hugging Face configures it
 * (trim_blocks, lstrip_blocks, no autoescape).
 *
 * jinja_parse.c turns template text into a tree of nodes (every node keeps
 * its line for error messages); jinja_eval.c renders the tree with values
 * that live in one arena per render (freed at once, so nothing leaks
 * whatever a template does). Templates are untrusted: parsing has depth and
 * size limits, rendering has limits on output, memory, loop iterations and
 * macro recursion, and anything unsupported is an error naming the line and
 * the construct, never skipped.
 */
#ifndef DESK_JINJA_H
#define DESK_JINJA_H

#include "base/base.h"

#include <stdint.h>

/* ------------------------------------------------------------ syntax tree */

typedef enum {
    /* statements */
    N_TEXT,      /* str */
    N_OUTPUT,    /* {{ a }} */
    N_IF,        /* a = condition, body = then, alt = else (elif is a nested N_IF) */
    N_FOR,       /* names/n_names = targets, a = iterable, b = filter (or NULL), body, alt = else */
    N_SET,       /* names[0] (and attr for ns.attr) = a */
    N_SET_BLOCK, /* {% set x %}body{% endset %} */
    N_MACRO,     /* str = name, names = params, args = defaults (NULL where none), body */
    N_BREAK,     /* {% break %} / {% continue %} (Jinja2's loopcontrols, which Hugging Face enables) */
    N_CONTINUE,
    /* expressions */
    N_LIT,       /* lit */
    N_NAME,      /* str */
    N_LIST,      /* args */
    N_DICT,      /* args = key, value, key, value, ... */
    N_ATTR,      /* a.str */
    N_ITEM,      /* a[b] */
    N_SLICE,     /* a[args[0]:args[1]:args[2]] (NULL parts omitted) */
    N_CALL,      /* a(args; kw names in names, kw values in kwargs) */
    N_FILTER,    /* a | str(args, kwargs) */
    N_TEST,      /* a is [not] str(args); neg */
    N_UNARY,     /* op a: '-', '+', '!' (not) */
    N_BINARY,    /* a op b: + - * / F(//) % P(**) ~ = (==) ! (!=) < L(<=) > G(>=) i(in) n(not in) & (and) | (or) */
    N_COND,      /* a if b else c (c may be NULL) */
} jnode_kind;

typedef struct jvalue jvalue;
typedef struct jnode jnode;

struct jnode {
    jnode_kind kind;
    int line;
    int op;
    bool neg;
    const char *str;          /* names, text, filter/test names */
    size_t len;               /* of str when it is text */
    jnode *a, *b, *c;
    jnode **body, **alt;      /* statement lists */
    int n_body, n_alt;
    jnode **args;             /* positional arguments / list items */
    int n_args;
    const char **names;       /* for-targets, macro params, keyword names */
    jnode **kwargs;           /* keyword argument values (parallel to names for calls) */
    int n_names;
    const char *attr;         /* set ns.attr */
    jvalue *lit;              /* literal value (N_LIT) */
};

/* ------------------------------------------------------------ values */

typedef enum { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_NS, JV_MACRO, JV_FUNC } jvalue_kind;

typedef struct jarena jarena;
typedef struct jrender jrender;
typedef bool (*jfunc)(jrender *r, int line, jvalue **args, int n, const char **kw, jvalue **kwv, int nkw, jvalue **out);

struct jvalue {
    jvalue_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        struct { const char *s; size_t len; } str;
        struct { jvalue **items; int n, cap; } list;              /* also JV_DICT values */
        const jnode *macro;
        jfunc func;
    } u;
    jvalue **keys;            /* JV_DICT / JV_NS: keys (strings) parallel to u.list.items */
    const char *undef_name;   /* JV_UNDEF: what was missing, for error messages */
    bool tuple;               /* JV_LIST made as a Python tuple: (a, b), dict items */
    jvalue *self;             /* JV_FUNC: a bound method's object (method names it) */
    const char *method;
};

/* ------------------------------------------------------------ parsing */

typedef struct jtemplate {
    jarena *arena;            /* owns every node and literal */
    jnode **body;
    int n_body;
} jtemplate;

/* Parses template text; on failure err says "line N: ..." */
desk_status jinja_parse(const char *text, size_t len, jtemplate **out, desk_error *err);
void jinja_free(jtemplate *t);

/* ------------------------------------------------------------ rendering */

typedef struct {
    const char *name;
    jvalue *value;
} jglobal;

/* Builds values for a render's context in the render's arena. */
jvalue *jv_str(jrender *r, const char *s, size_t len);
jvalue *jv_bool(jrender *r, bool b);
jvalue *jv_list(jrender *r);
jvalue *jv_dict(jrender *r);
bool jv_append(jrender *r, jvalue *list, jvalue *v);
bool jv_dict_set(jrender *r, jvalue *dict, const char *key, jvalue *v);

typedef bool (*jinja_fill_fn)(jrender *r, void *arg);

/* Renders t: fill (called once at the start) adds the context's variables
 * with jinja_set_global; `now` is the time strftime_now formats (local time).
 * On success *out is malloc'ed, NUL-terminated text of *out_len bytes. */
desk_status jinja_render(const jtemplate *t, jinja_fill_fn fill, void *arg, int64_t now, char **out, size_t *out_len,
                         desk_error *err);
bool jinja_set_global(jrender *r, const char *name, jvalue *v);

/* ------------------------------------------------------------ arena */

jarena *jarena_new(size_t limit);
void jarena_free(jarena *a);
void *jarena_alloc(jarena *a, size_t n);          /* zeroed; NULL when the limit is reached */
char *jarena_strdup(jarena *a, const char *s, size_t n);

#endif
