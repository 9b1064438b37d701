/*
 * grammar.h - GBNF grammars and an incremental recognizer over UTF-8 text
 * (internal; the first part of structured output, issue 6).
 *
 * A grammar is rules `name ::= alternatives` with "literals", [character
 * classes] (ranges, [^...] negation), `.`, rule references, ( groups ) and
 * the repetitions *, +, ?, {m}, {m,}, {m,n}; `#` starts a comment; `root`
 * is where matching starts. Groups and repetitions are compiled into helper
 * rules, so the compiled grammar is only sequences of character sets and
 * rule references. Left recursion (which a pushdown recognizer cannot
 * expand) is refused with the rule's name.
 *
 * The recognizer keeps every way the text so far can continue (a set of
 * stacks of grammar positions) and the bytes of an unfinished UTF-8
 * character, so it can say of any byte string (a token's bytes) whether it
 * keeps the text a prefix of the language, and whether the text is complete.
 * Work is bounded: a grammar that branches past the limits (stacks, depth,
 * expansion steps per character) allows nothing more rather than hang
 * (dgstate_limited says when that happened).
 * The parser is grammar.c; the recognizer and token masks, grammar_match.c.
 */
#ifndef DESK_GRAMMAR_H
#define DESK_GRAMMAR_H

#include "base/base.h"

typedef struct dgrammar dgrammar;
typedef struct dgstate dgstate;
typedef struct dgtrie dgtrie;

/* Parses GBNF text; errors name the line and what is wrong. */
desk_status dgrammar_parse(const char *text, size_t len, dgrammar **out, desk_error *err);
void dgrammar_free(dgrammar *g);

/* The state before any text. NULL when out of memory or when the grammar
 * branches too much to start. A state memoizes what it computes (it is a
 * lazily built automaton), so even the queries change it; one per thread. */
dgstate *dgstate_new(const dgrammar *g);
void dgstate_free(dgstate *s);
/* Whether the bytes keep the text a prefix of the grammar's language (the
 * text so far is not changed). */
bool dgstate_allows(dgstate *s, const char *bytes, size_t n);
/* Advances by the bytes; false (text unchanged) if they are not allowed. */
bool dgstate_advance(dgstate *s, const char *bytes, size_t n);
/* Whether the text so far is a whole sentence of the grammar (the end may come). */
bool dgstate_complete(const dgstate *s);
/* Whether some character was refused because a limit was passed rather
 * than by the grammar. Masks share work between positions that only a
 * limit can tell apart, so from then on a mask may allow a token that
 * dgstate_advance refuses: check the token drawn (the sampler does). */
bool dgstate_limited(const dgstate *s);
/* For tests: rebuild the tables past n states (default 8192), and how many
 * times they were rebuilt. */
void dgstate_limit_states(dgstate *s, int32_t n);
unsigned dgstate_rebuilds(const dgstate *s);

/* A vocabulary's text tokens as a prefix tree, for computing token masks:
 * bytes[t] (len[t] bytes, 1..DG_MAX_TOKEN) for each text token, NULL for
 * tokens that are never text (special, end of generation, empty). */
#define DG_MAX_TOKEN 1024
dgtrie *dgtrie_new(int32_t n_vocab, const char *const *bytes, const uint16_t *len);
void dgtrie_free(dgtrie *t);
int32_t dgtrie_vocab(const dgtrie *t);
/* A text token's bytes (NULL when the token is not text). */
const char *dgtrie_token(const dgtrie *t, int32_t tok, size_t *len);

/* Sets bit t of mask ((n_vocab + 63) / 64 words) exactly for the text
 * tokens whose bytes dgstate_allows, clearing the rest; end-of-generation is
 * the caller's (dgstate_complete). Masks are cached per grammar position, so
 * most steps cost a copy. False when out of memory. */
bool dgstate_mask(dgstate *s, const dgtrie *t, uint64_t *mask);

/* The compiled grammar behind a public desk_grammar. */
const dgrammar *desk_grammar_internal(const desk_grammar *g);

/* ---- the compiled form, shared by the parser (grammar.c) and the recognizer
 * (grammar_match.c). `el` holds every alternative of every rule as a run of
 * elements ended by G_END; rule r's alternatives start at
 * el[alts[rules[r].first .. + rules[r].n]]. */
enum { G_END, G_CHARS, G_RULE };
typedef struct { uint32_t lo, hi; } crange;
typedef struct { uint8_t kind; bool neg; int32_t a, n; } gelem;   /* G_CHARS: ranges [a, a+n); G_RULE: rule a */

/* Bounded repetitions x{m,n} compile into a chain of helper rules
 * O_k ::= x O_(k-1) | "" that differ only in k, laid out one after another.
 * A token of at most L bytes cannot tell O_k from O_L when k >= L (x never
 * empty), so the masks of positions deep in a repetition are computed once
 * per level L = DG_CHAIN_CUT << i, for the tokens of L/2 < length <= L,
 * and cached: chain_k[e] is k for an element of such an O_k (0 elsewhere),
 * chain_len[e] the elements in each O_k, so the element standing for e at
 * level L is e - (chain_k[e] - L) * chain_len[e] when chain_k[e] > L. */
#define DG_CHAIN_CUT 16
#define DG_LEVELS 7 /* 16 .. 1024 = DG_MAX_TOKEN */

struct dgrammar {
    gelem *el;
    int32_t *chain_k, *chain_len;
    int n_el;
    crange *rg;
    int n_rg;
    int *alts;                 /* element index of each alternative's start */
    struct { int first, n; } *rules;
    int n_rules, root;
};

#endif
