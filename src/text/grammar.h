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
 * expansion steps per character) allows nothing more rather than hang.
 */
#ifndef DESK_GRAMMAR_H
#define DESK_GRAMMAR_H

#include "base/base.h"

typedef struct dgrammar dgrammar;
typedef struct dgstate dgstate;

/* Parses GBNF text; errors name the line and what is wrong. */
desk_status dgrammar_parse(const char *text, size_t len, dgrammar **out, desk_error *err);
void dgrammar_free(dgrammar *g);

/* The state before any text. NULL when out of memory. */
dgstate *dgstate_new(const dgrammar *g);
dgstate *dgstate_clone(const dgstate *s);
void dgstate_free(dgstate *s);
/* Whether the bytes keep the text a prefix of the grammar's language (the
 * state is not changed). */
bool dgstate_allows(const dgstate *s, const char *bytes, size_t n);
/* Advances by the bytes; false (state unchanged) if they are not allowed. */
bool dgstate_advance(dgstate *s, const char *bytes, size_t n);
/* Whether the text so far is a whole sentence of the grammar (the end may come). */
bool dgstate_complete(const dgstate *s);
/* The compiled grammar behind a public desk_grammar. */
const dgrammar *desk_grammar_internal(const desk_grammar *g);

#endif
