/*
 * test_grammar.c - the GBNF recognizer (src/text/grammar.c) against PCRE2 as
 * an independent oracle: for grammars with an equivalent regular
 * expression, every string over a small alphabet up to a length must be
 * accepted as a whole sentence exactly when PCRE2 matches it whole, and
 * allowed as a prefix exactly when PCRE2 reports a (partial) match; the
 * same when its bytes arrive split at every position (inside UTF-8
 * characters too). Plus a recursive grammar with known answers, and errors.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "testutil.h"
#include "text/grammar.h"

#include <pcre2.h>

typedef struct {
    const char *gbnf, *regex;
    const char *alphabet[8];
    int max_len;
} gcase;

static int n_strings;

static bool ours(const dgrammar *g, const char *s, size_t n, bool *prefix) {
    dgstate *st = dgstate_new(g);
    *prefix = dgstate_allows(st, s, n);
    bool whole = dgstate_advance(st, s, n) && dgstate_complete(st);
    dgstate_free(st);
    return whole;
}

static void check_string(const gcase *c, const dgrammar *g, pcre2_code *re, pcre2_match_data *md, const char *s, size_t n) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, NULL);
    bool want_whole = rc >= 0;
    /* a prefix of the language: PCRE2's DFA matcher follows every alternative at once and reports a
     * partial match when some path needs more characters; otherwise its longest match (first in the
     * ovector; rc 0 means more matches than pairs) must end at n */
    int ws[4096];
    rc = pcre2_dfa_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_ANCHORED | PCRE2_PARTIAL_HARD, md, NULL, ws, sizeof ws / sizeof *ws);
    bool want_prefix = n == 0 || rc == PCRE2_ERROR_PARTIAL || (rc >= 0 && pcre2_get_ovector_pointer(md)[1] == n); /* "" starts every sentence */
    bool prefix, whole = ours(g, s, n, &prefix);
    CHECK(whole == want_whole && prefix == want_prefix, "%s on '%.*s': whole %d prefix %d, PCRE2 %d %d", c->gbnf, (int)n, s, whole,
          prefix, want_whole, want_prefix);
    /* the same bytes in two pieces, split anywhere */
    for (size_t k = 1; k < n; k++) {
        dgstate *st = dgstate_new(g);
        bool a = dgstate_advance(st, s, k), b = a && dgstate_advance(st, s + k, n - k);
        CHECK(b == prefix && (!b || dgstate_complete(st) == whole), "%s on '%.*s' split at %zu", c->gbnf, (int)n, s, k);
        dgstate_free(st);
    }
    n_strings++;
}

static void enumerate(const gcase *c, const dgrammar *g, pcre2_code *re, pcre2_match_data *md, char *buf, size_t n, int depth) {
    check_string(c, g, re, md, buf, n);
    if (depth == c->max_len) return;
    for (int i = 0; c->alphabet[i]; i++) {
        size_t l = strlen(c->alphabet[i]);
        memcpy(buf + n, c->alphabet[i], l);
        enumerate(c, g, re, md, buf, n + l, depth + 1);
    }
}

static void expect_error(const char *gbnf, const char *want) {
    dgrammar *g;
    desk_error err;
    desk_status st = dgrammar_parse(gbnf, strlen(gbnf), &g, &err);
    CHECK(st != DESK_OK && strstr(err.msg, want), "%s: status %d '%s', wanted '%s'", gbnf, st, st ? err.msg : "", want);
    if (!st) dgrammar_free(g);
}

int main(void) {
    static const gcase cases[] = {
        {"root ::= \"a\" | \"b\"", "a|b", {"a", "b", "c"}, 3},
        {"root ::= [a-c]+ \"x\"?", "[a-c]+x?", {"a", "c", "d", "x"}, 4},
        {"root ::= (\"ab\" | \"c\")* \"d\"", "(ab|c)*d", {"a", "b", "c", "d"}, 5},
        {"root ::= item (\",\" item){0,2}\nitem ::= [0-9]{1,2}", "[0-9]{1,2}(,[0-9]{1,2}){0,2}", {"1", "9", ","}, 7},
        {"root ::= \"\\\"\" [^\"\\\\]* \"\\\"\"", "\"[^\"\\\\]*\"", {"\"", "\\", "a"}, 5},
        {"root ::= \"é\" [α-γ]+ \"✓\"?", "é[α-γ]+✓?", {"é", "α", "γ", "δ", "✓"}, 4},
        {"root ::= . \"z\"", "(?s).z", {"z", "\n", "€"}, 3},
        {"root ::= (\"a\" (\"b\" | \"\"))+", "(ab?)+", {"a", "b"}, 6},
        {"# a comment\nroot ::= x{3,} # trailing comment\nx ::= [xy]", "[xy]{3,}", {"x", "y", "z"}, 5},
        {"root ::= ws \"{\" ws \"}\" ws\nws ::= [ \\t\\n]{0,2}", "[ \\t\\n]{0,2}\\{[ \\t\\n]{0,2}\\}[ \\t\\n]{0,2}", {" ", "{", "}", "\n"}, 6},
        {"root ::= \"a\"\n    | \"b\" \"c\"", "a|bc", {"a", "b", "c"}, 3},
    };
    char buf[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const gcase *c = &cases[i];
        dgrammar *g;
        desk_error err;
        if (dgrammar_parse(c->gbnf, strlen(c->gbnf), &g, &err)) {
            CHECK(0, "%s: %s", c->gbnf, err.msg);
            continue;
        }
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)c->regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
        if (!re) {
            CHECK(0, "regex %s does not compile", c->regex);
            dgrammar_free(g);
            continue;
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        enumerate(c, g, re, md, buf, 0, 0);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        dgrammar_free(g);
    }
    printf("%d strings compared with PCRE2\n", n_strings);

    /* a recursive (not regular) grammar: nested lists of numbers */
    const char *lists = "root ::= value\nvalue ::= \"[\" ( value (\",\" value)* )? \"]\" | [0-9]+";
    dgrammar *g;
    desk_error err;
    CHECK(dgrammar_parse(lists, strlen(lists), &g, &err) == DESK_OK, "lists: %s", err.msg);
    static const struct { const char *s; bool whole, prefix; } known[] = {
        {"[1,[2,3],[]]", true, true}, {"[1,[2,3],[]", false, true}, {"[1,]", false, false}, {"[[[[", false, true},
        {"12", true, true}, {"[1,,", false, false}, {"", false, true}, {"]", false, false}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        bool prefix, whole = ours(g, known[i].s, strlen(known[i].s), &prefix);
        CHECK(whole == known[i].whole && prefix == known[i].prefix, "lists on '%s': whole %d prefix %d", known[i].s, whole, prefix);
    }
    /* deep nesting stays within the limits or is refused, never a crash */
    {
        static char deep[20001];
        memset(deep, '[', 20000);
        dgstate *st = dgstate_new(g);
        bool ok = dgstate_advance(st, deep, 20000);
        CHECK(!ok || !dgstate_complete(st), "20000 open brackets are not a sentence");
        dgstate_free(st);
    }
    dgrammar_free(g);
    /* nullable items in long repetitions reach the same (position, stack)
     * pair along very many paths; each is expanded once per character, so
     * these stay far inside the limits (expanding every path, the first
     * could not even start and the second refused its 13th character) */
    static const struct { const char *gbnf, *text; } nullable[] = {
        {"root ::= ((\"a\"? \"b\"?){0,10} \"c\"?){0,30} \"z\"", "abcabcabcabcabababababcz"},
        {"root ::= (\"a\"? \"b\"? \"c\"?){0,400} \"z\"", "abcabcabcabcabababababcz"},
    };
    for (size_t i = 0; i < sizeof nullable / sizeof *nullable; i++) {
        CHECK(dgrammar_parse(nullable[i].gbnf, strlen(nullable[i].gbnf), &g, &err) == DESK_OK, "%s: %s", nullable[i].gbnf, err.msg);
        dgstate *ns = dgstate_new(g);
        CHECK(ns && dgstate_advance(ns, nullable[i].text, strlen(nullable[i].text)) && dgstate_complete(ns) &&
                  !dgstate_limited(ns),
              "%s accepts %s within the limits", nullable[i].gbnf, nullable[i].text);
        dgstate_free(ns);
        dgrammar_free(g);
    }
    /* invalid UTF-8 is never allowed */
    const char *any = "root ::= .*";
    CHECK(dgrammar_parse(any, strlen(any), &g, &err) == DESK_OK, "any");
    dgstate *st = dgstate_new(g);
    CHECK(!dgstate_allows(st, "\xC0\xAF", 2) && !dgstate_allows(st, "\xED\xA0\x80", 3) && !dgstate_allows(st, "\xFF", 1) &&
          dgstate_allows(st, "\xE2\x82", 2) && dgstate_allows(st, "\xE2\x82\xAC", 3), "UTF-8 validity");
    dgstate_free(st);
    dgrammar_free(g);

    /* an empty class matches nothing, a negated empty one any character (a fuzzer found [] crashing) */
    const char *empty = "root ::= (| []) [^]";
    CHECK(dgrammar_parse(empty, strlen(empty), &g, &err) == DESK_OK, "empty class: %s", err.msg);
    bool pre, whole = ours(g, "x", 1, &pre);
    CHECK(whole && pre, "(| []) [^] accepts one character");
    whole = ours(g, "", 0, &pre);
    CHECK(!whole && pre, "(| []) [^] needs its character");
    dgrammar_free(g);

    expect_error("root ::= root \"a\" | \"b\"", "left-recursive");
    expect_error("root ::= x\nx ::= y \"a\"\ny ::= \"\" | x", "left-recursive");
    expect_error("root ::= missing", "'missing' is used but never defined");
    expect_error("start ::= \"a\"", "no 'root' rule");
    expect_error("root ::= \"a\"\nroot ::= \"b\"", "line 2: rule 'root' is defined twice");
    expect_error("root ::= \"abc", "unterminated string");
    expect_error("root ::= [a-", "unterminated character class");
    expect_error("root ::= [z-a]", "out of order");
    expect_error("root ::= * \"a\"", "nothing before it to repeat");
    expect_error("root ::= \"a\"{3,1}", "below the minimum");
    expect_error("root ::= \"a\"{100000}", "above 10000");
    expect_error("root ::= (\"a\"", "expected ')'");
    expect_error("root = \"a\"", "expected '::='");
    expect_error("\n\nroot ::= \"a\" @", "line 3: unexpected '@'");
    return t_done("grammar");
}
