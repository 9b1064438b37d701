/*
 * grammar_match.c - the grammar recognizer, and which tokens of a
 * vocabulary may come next (token masks) at the cost of a table lookup per
 * trie node, most steps at the cost of a copy (see grammar.h).
 *
 * Stacks. A recognizer stack lists the element positions still to match,
 * innermost on top; a stack whose top is a character set is waiting for a
 * character; the empty stack has matched the whole root. Rule references at
 * the end of an alternative push nothing for the caller (tail calls), so
 * `x*` keeps the stack flat however long it runs. Stacks are persistent
 * linked lists of interned nodes (elem, parent): pushing and popping copy
 * nothing, and equal stacks are the same node.
 *
 * States. The text so far is a set of stacks (every way it can continue)
 * plus the bytes of an unfinished UTF-8 character. States are interned too,
 * and each remembers its transitions by byte as they are computed: the
 * recognizer is a deterministic automaton built lazily. Tables are bounded;
 * when full they are rebuilt holding only the states still in use.
 *
 * Masks. The vocabulary's tokens form a prefix tree stored in preorder, so
 * a mask is one pass over it, following transitions and skipping every
 * subtree whose prefix is refused. Masks are cached per state and token-
 * length level; a position deep in a long bounded repetition shares, for
 * each level, the mask of a canonical state that tokens of that length
 * cannot tell from it (grammar.h: chain_k), so only the levels near the
 * repetition's end are walked again from the real state.
 */
#include "text/grammar.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STACKS 8192      /* ways a prefix may continue */
#define MAX_DEPTH 4096       /* positions on one stack, and expansion recursion */
#define MAX_EXPAND 200000    /* expansion steps for one character (nullable repetitions can branch a lot) */
#define MAX_NODES (1 << 20)  /* interned stack nodes before the tables are rebuilt */
#define MAX_STATES 8192      /* interned states (each may hold a 1 KiB transition row) */
#define MAX_POOL (1 << 22)   /* stack ids held by all states */
#define N_MASKS 32           /* cached masks */

enum { UNKNOWN = -1, DEAD = -2, FULL = -3 };

typedef struct { int32_t elem, parent, depth; } snode; /* node 0: the empty stack */
typedef struct {
    int32_t first, n;        /* its stacks: pool[first .. first + n), ascending node ids */
    uint8_t partial[3], n_partial;
    bool complete;
    int32_t canon[DG_LEVELS];/* per level: UNKNOWN, or the state whose masks it shares (itself when none) */
    int32_t *next;           /* [256] transitions (UNKNOWN, DEAD or a state), once one is asked */
} sstate;

struct dgstate {
    const dgrammar *g;
    int32_t cur;             /* the text so far */
    snode *nodes;
    int32_t n_nodes, cap_nodes, *node_hash, node_hcap;
    int32_t *pool, n_pool, cap_pool;
    sstate *states;
    int32_t n_states, cap_states, *state_hash, state_hcap;
    int32_t *tmp, n_tmp, cap_tmp; /* stacks being collected for a new state */
    long work;
    uint64_t *seen;          /* (elem, parent) pairs already expanded for this character: open addressing, 0 empty */
    int32_t *seen_used, n_seen, seen_cap; /* the slots in use, to clear them */
    bool overflow;           /* the grammar's limits were passed: this character is refused */
    bool full;               /* the tables are full: rebuild and try again */
    bool limited;            /* some character was refused for a limit, not by the grammar */
    unsigned rebuilds;
    uint64_t *scratch;       /* a mask being walked */
    int scratch_words;
    int32_t max_states;      /* MAX_STATES, or lower for tests */
    struct { int32_t key; uint64_t *bits; } masks[N_MASKS];
    int n_masks, evict;
};

/* ------------------------------------------------------------ interning */

static uint32_t mix(uint32_t h, uint32_t v) {
    h ^= v + 0x9E3779B9u + (h << 6) + (h >> 2);
    return h;
}

static bool grow(void **v, int32_t *cap, int32_t need, size_t size) {
    if (need <= *cap) return true;
    int32_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *n = realloc(*v, (size_t)c * size);
    if (!n) return false;
    *v = n;
    *cap = c;
    return true;
}

/* a fresh open-addressing table of `cap` slots (a power of two), all empty */
static int32_t *new_hash(int32_t cap) {
    int32_t *h = malloc((size_t)cap * sizeof *h);
    if (h) memset(h, 0xFF, (size_t)cap * sizeof *h);
    return h;
}

/* a 32-bit key whose low bits (the slot) depend on every input bit:
 * linear probing clusters badly on keys that differ only in a few low
 * bits, which is what (elem, parent) pairs and small id lists are */
static uint32_t finish(uint64_t x) {
    x ^= x >> 30, x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27, x *= 0x94D049BB133111EBull;
    return (uint32_t)(x ^ x >> 31);
}

static uint32_t node_key(int32_t elem, int32_t parent) { return finish((uint64_t)(uint32_t)elem << 32 | (uint32_t)parent); }

static bool node_rehash(dgstate *s, int32_t cap) {
    int32_t *h = new_hash(cap);
    if (!h) return false;
    for (int32_t i = 1; i < s->n_nodes; i++) {
        uint32_t k = node_key(s->nodes[i].elem, s->nodes[i].parent) & (uint32_t)(cap - 1);
        while (h[k] >= 0) k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = i;
    }
    free(s->node_hash);
    s->node_hash = h;
    s->node_hcap = cap;
    return true;
}

/* the stack `elem` on top of stack `parent`; -1 when a limit is passed */
static int32_t node(dgstate *s, int32_t elem, int32_t parent) {
    uint32_t mask = (uint32_t)s->node_hcap - 1, k = node_key(elem, parent) & mask;
    for (int32_t i; (i = s->node_hash[k]) >= 0; k = (k + 1) & mask)
        if (s->nodes[i].elem == elem && s->nodes[i].parent == parent) return i;
    int32_t depth = s->nodes[parent].depth + 1;
    if (depth > MAX_DEPTH) { s->overflow = true; return -1; }
    if (s->n_nodes >= MAX_NODES || !grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof *s->nodes)) {
        s->full = true;
        return -1;
    }
    int32_t id = s->n_nodes++;
    s->nodes[id] = (snode){elem, parent, depth};
    s->node_hash[k] = id;
    if (2 * s->n_nodes > s->node_hcap && !node_rehash(s, 2 * s->node_hcap)) s->full = true; /* retried after a rebuild */
    return id;
}

static uint32_t state_key(const int32_t *v, int32_t n, const uint8_t *partial, int n_partial) {
    uint32_t h = mix(0x5bd1e995u, (uint32_t)n_partial);
    for (int i = 0; i < n_partial; i++) h = mix(h, partial[i]);
    for (int32_t i = 0; i < n; i++) h = mix(h, (uint32_t)v[i]);
    return finish(h);
}

static bool state_equal(const dgstate *s, const sstate *t, const int32_t *v, int32_t n, const uint8_t *partial, int n_partial) {
    return t->n == n && t->n_partial == n_partial && (!n_partial || !memcmp(t->partial, partial, (size_t)n_partial)) &&
           (!n || !memcmp(s->pool + t->first, v, (size_t)n * sizeof *v));
}

static bool state_rehash(dgstate *s, int32_t cap) {
    int32_t *h = new_hash(cap);
    if (!h) return false;
    for (int32_t i = 0; i < s->n_states; i++) {
        const sstate *t = &s->states[i];
        uint32_t k = state_key(s->pool + t->first, t->n, t->partial, t->n_partial) & (uint32_t)(cap - 1);
        while (h[k] >= 0) k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = i;
    }
    free(s->state_hash);
    s->state_hash = h;
    s->state_hcap = cap;
    return true;
}

/* the state of these stacks (ascending ids, no repeats) and partial bytes; FULL when the tables are */
static int32_t state(dgstate *s, const int32_t *v, int32_t n, const uint8_t *partial, int n_partial) {
    uint32_t mask = (uint32_t)s->state_hcap - 1, k = state_key(v, n, partial, n_partial) & mask;
    for (int32_t i; (i = s->state_hash[k]) >= 0; k = (k + 1) & mask)
        if (state_equal(s, &s->states[i], v, n, partial, n_partial)) return i;
    if (s->n_states >= s->max_states || s->n_pool + n > MAX_POOL ||
        !grow((void **)&s->states, &s->cap_states, s->n_states + 1, sizeof *s->states) ||
        !grow((void **)&s->pool, &s->cap_pool, s->n_pool + n, sizeof *s->pool))
        return FULL;
    int32_t id = s->n_states++;
    sstate *t = &s->states[id];
    *t = (sstate){.first = s->n_pool, .n = n, .n_partial = (uint8_t)n_partial};
    for (int i = 0; i < DG_LEVELS; i++) t->canon[i] = UNKNOWN;
    if (n_partial) memcpy(t->partial, partial, (size_t)n_partial);
    if (n) memcpy(s->pool + s->n_pool, v, (size_t)n * sizeof *v);
    s->n_pool += n;
    t->complete = n_partial == 0 && n > 0 && v[0] == 0;
    s->state_hash[k] = id;
    if (2 * s->n_states > s->state_hcap && !state_rehash(s, 2 * s->state_hcap)) return FULL;
    return id;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* the state of the stacks collected in tmp */
static int32_t state_of_tmp(dgstate *s, const uint8_t *partial, int n_partial) {
    qsort(s->tmp, (size_t)s->n_tmp, sizeof *s->tmp, cmp_i32);
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_tmp; i++)
        if (!n || s->tmp[n - 1] != s->tmp[i]) s->tmp[n++] = s->tmp[i];
    if (n > MAX_STACKS) return DEAD;
    return state(s, s->tmp, n, partial, n_partial);
}

static void collect(dgstate *s, int32_t stack) {
    if (s->n_tmp >= 4 * MAX_STACKS) { s->overflow = true; return; }
    if (!grow((void **)&s->tmp, &s->cap_tmp, s->n_tmp + 1, sizeof *s->tmp)) { s->full = true; return; }
    s->tmp[s->n_tmp++] = stack;
}

/* ------------------------------------------------------------ the tables, new and rebuilt */

static void drop_tables(dgstate *s) {
    for (int32_t i = 0; i < s->n_states; i++) free(s->states[i].next);
    free(s->nodes);
    free(s->node_hash);
    free(s->pool);
    free(s->states);
    free(s->state_hash);
    s->nodes = NULL, s->node_hash = NULL, s->pool = NULL, s->states = NULL, s->state_hash = NULL;
    s->n_nodes = s->cap_nodes = s->n_pool = s->cap_pool = s->n_states = s->cap_states = 0;
    for (int i = 0; i < s->n_masks; i++) free(s->masks[i].bits);
    s->n_masks = s->evict = 0;
}

static bool init_tables(dgstate *s) {
    s->node_hcap = 1024;
    s->state_hcap = 256;
    s->node_hash = new_hash(s->node_hcap);
    s->state_hash = new_hash(s->state_hcap);
    if (!s->node_hash || !s->state_hash || !grow((void **)&s->nodes, &s->cap_nodes, 1, sizeof *s->nodes)) return false;
    s->nodes[0] = (snode){-1, -1, 0};
    s->n_nodes = 1;
    return true;
}

/* the node of old stack `id` re-interned in s (old_nodes: the tables before) */
static int32_t reintern(dgstate *s, const snode *old_nodes, int32_t *map, int32_t id) {
    if (map[id] >= 0) return map[id];
    int32_t parent = reintern(s, old_nodes, map, old_nodes[id].parent);
    return parent < 0 ? -1 : (map[id] = node(s, old_nodes[id].elem, parent));
}

/* Rebuilds the tables holding only the current state and keep[0..n) (whose
 * ids are updated). False when out of memory. */
static bool rebuild(dgstate *s, int32_t *keep, int n) {
    dgstate old = *s;
    s->rebuilds++;
    s->nodes = NULL, s->node_hash = NULL, s->pool = NULL, s->states = NULL, s->state_hash = NULL;
    s->n_nodes = s->cap_nodes = s->n_pool = s->cap_pool = s->n_states = s->cap_states = 0;
    s->n_masks = s->evict = 0;
    s->full = s->overflow = false;
    int32_t *map = malloc((size_t)old.n_nodes * sizeof *map);
    bool ok = map && init_tables(s);
    if (map) memset(map, 0xFF, (size_t)old.n_nodes * sizeof *map);
    if (map) map[0] = 0;
    for (int i = -1; ok && i < n; i++) {
        int32_t *id = i < 0 ? &s->cur : &keep[i];
        if (*id < 0) continue;
        const sstate *t = &old.states[*id];
        s->n_tmp = 0;
        for (int32_t k = 0; ok && k < t->n; k++) {
            int32_t v = reintern(s, old.nodes, map, old.pool[t->first + k]);
            ok = v >= 0 && (collect(s, v), !s->full);
        }
        int32_t st = ok ? state_of_tmp(s, t->partial, t->n_partial) : FULL;
        ok = st >= 0;
        *id = st;
    }
    free(map);
    drop_tables(&old);
    return ok;
}

/* ------------------------------------------------------------ transitions */

/* forgets the pairs expanded for the last character */
static void seen_clear(dgstate *s) {
    for (int32_t i = 0; i < s->n_seen; i++) s->seen[s->seen_used[i]] = 0;
    s->n_seen = 0;
}

/* Has (e, parent) been expanded already for this character? Marks it if
 * not. Expanding a pair twice adds nothing (tmp is a set), and nullable
 * repetitions reach the same pair along very many paths. */
static bool seen_before(dgstate *s, int32_t e, int32_t parent) {
    if (2 * (s->n_seen + 1) > s->seen_cap) { /* grow and re-insert */
        int32_t cap = s->seen_cap ? 2 * s->seen_cap : 1024;
        uint64_t *t = calloc((size_t)cap, sizeof *t);
        int32_t *u = malloc((size_t)cap / 2 * sizeof *u);
        if (!t || !u) {
            free(t), free(u);
            s->full = true;
            return true;
        }
        for (int32_t i = 0; i < s->n_seen; i++) {
            uint64_t key = s->seen[s->seen_used[i]];
            uint32_t k = finish(key) & (uint32_t)(cap - 1);
            while (t[k]) k = (k + 1) & (uint32_t)(cap - 1);
            t[k] = key;
            u[i] = (int32_t)k;
        }
        free(s->seen), free(s->seen_used);
        s->seen = t, s->seen_used = u, s->seen_cap = cap;
    }
    uint64_t key = ((uint64_t)(uint32_t)e << 32 | (uint32_t)parent) + 1; /* never 0 */
    uint32_t mask = (uint32_t)s->seen_cap - 1, k = finish(key) & mask;
    for (; s->seen[k]; k = (k + 1) & mask)
        if (s->seen[k] == key) return true;
    s->seen[k] = key;
    s->seen_used[s->n_seen++] = (int32_t)k;
    return false;
}

/* Adds to tmp every stack that (e on top of `parent`) can become by
 * expanding rule references and finishing alternatives, up to a character
 * set (or the empty stack: the root is matched). */
static void expand(dgstate *s, int32_t e, int32_t parent, int depth) {
    if (s->overflow || s->full || seen_before(s, e, parent)) return;
    if (depth > MAX_DEPTH || ++s->work > MAX_EXPAND) { s->overflow = true; return; }
    const dgrammar *g = s->g;
    gelem x = g->el[e];
    if (x.kind == G_END) {
        if (parent == 0) collect(s, 0);
        else expand(s, s->nodes[parent].elem, s->nodes[parent].parent, depth + 1);
        return;
    }
    if (x.kind == G_CHARS) {
        int32_t v = node(s, e, parent);
        if (v >= 0) collect(s, v);
        return;
    }
    int32_t cont = g->el[e + 1].kind == G_END ? parent : node(s, e + 1, parent); /* a tail call pushes nothing */
    if (cont < 0) return;
    for (int a = 0; a < g->rules[x.a].n; a++) expand(s, g->alts[g->rules[x.a].first + a], cont, depth + 1);
}

/* does the set contain some code point in [lo, hi]? */
static bool chars_match(const dgrammar *g, gelem e, uint32_t lo, uint32_t hi) {
    const crange *r = e.n ? g->rg + e.a : NULL; /* [] has no ranges (and a grammar may have none at all) */
    if (!e.neg) {
        for (int i = 0; i < e.n; i++)
            if (r[i].lo <= hi && r[i].hi >= lo) return true;
        return false;
    }
    uint32_t cur = lo; /* negated: is some point of [lo, hi] outside every range? */
    for (bool moved = true; moved && cur <= hi;) {
        moved = false;
        for (int i = 0; i < e.n; i++)
            if (r[i].lo <= cur && r[i].hi >= cur) {
                if (r[i].hi >= hi) return false;
                cur = r[i].hi + 1;
                moved = true;
            }
    }
    return cur <= hi;
}

static int utf8_len(uint8_t b0) {
    return b0 < 0x80 ? 1 : b0 >= 0xC2 && b0 <= 0xDF ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
}

/* the code points whose UTF-8 encoding starts with these bytes (1-3 of
 * them); false when there are none (bad bytes, overlong, surrogates) */
static bool prefix_range(const uint8_t *b, int n, uint32_t *lo, uint32_t *hi) {
    int len = utf8_len(b[0]);
    if (len < 2 || n >= len) return false;
    uint32_t v = b[0] & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (int k = 1; k < n; k++) {
        if ((b[k] & 0xC0) != 0x80) return false;
        v = (v << 6) | (b[k] & 0x3F);
    }
    int rest = 6 * (len - n);
    *lo = v << rest;
    *hi = *lo | ((1u << rest) - 1);
    uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (*hi < min || *lo > 0x10FFFF || (*lo >= 0xD800 && *hi <= 0xDFFF)) return false;
    if (*lo < min) *lo = min;
    if (*hi > 0x10FFFF) *hi = 0x10FFFF;
    return true;
}

/* the state after byte b from state `from`: DEAD, FULL or a state */
static int32_t transition(dgstate *s, int32_t from, uint8_t b) {
    const dgrammar *g = s->g;
    sstate f = s->states[from]; /* a copy: interning may move the array */
    uint8_t buf[4];
    memcpy(buf, f.partial, f.n_partial);
    int n = f.n_partial;
    buf[n++] = b;
    int len = utf8_len(buf[0]);
    if (!len) return DEAD;
    s->n_tmp = 0;
    s->work = 0;
    s->overflow = s->full = false;
    seen_clear(s);
    if (n < len) { /* an unfinished character: some top must allow a character it can become */
        uint32_t lo, hi;
        if (!prefix_range(buf, n, &lo, &hi)) return DEAD;
        bool any = false;
        for (int32_t i = 0; i < f.n && !any; i++) {
            int32_t v = s->pool[f.first + i];
            any = v && chars_match(g, g->el[s->nodes[v].elem], lo, hi);
        }
        if (!any) return DEAD;
        for (int32_t i = 0; i < f.n; i++) collect(s, s->pool[f.first + i]);
        return s->full ? FULL : state_of_tmp(s, buf, n);
    }
    uint32_t cp = len == 1 ? buf[0] : buf[0] & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (int k = 1; k < len; k++) {
        if ((buf[k] & 0xC0) != 0x80) return DEAD;
        cp = (cp << 6) | (buf[k] & 0x3F);
    }
    uint32_t min = len == 1 ? 0 : len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return DEAD;
    for (int32_t i = 0; i < f.n; i++) {
        int32_t v = s->pool[f.first + i];
        if (!v || !chars_match(g, g->el[s->nodes[v].elem], cp, cp)) continue;
        expand(s, s->nodes[v].elem + 1, s->nodes[v].parent, 0);
    }
    if (s->full) return FULL;
    if (s->overflow) s->limited = true;
    if (s->overflow || !s->n_tmp) return DEAD;
    int32_t to = state_of_tmp(s, NULL, 0);
    if (to == DEAD) s->limited = true; /* too many stacks */
    return to;
}

/* transition(), remembered; FULL asks the caller to rebuild and ask again */
static int32_t next(dgstate *s, int32_t from, uint8_t b) {
    int32_t *row = s->states[from].next;
    if (row && row[b] != UNKNOWN) return row[b];
    int32_t t = transition(s, from, b);
    if (t == FULL) return FULL;
    if (!(row = s->states[from].next)) {
        if (!(row = malloc(256 * sizeof *row))) return FULL;
        memset(row, 0xFF, 256 * sizeof *row);
        s->states[from].next = row;
    }
    return row[b] = t;
}

/* next() from *from, rebuilding the tables (keeping *from) when they are
 * full; DEAD also when memory runs out or one character is too big for
 * empty tables */
static int32_t next_or_rebuild(dgstate *s, int32_t *from, uint8_t b) {
    int32_t t = next(s, *from, b);
    if (t != FULL) return t;
    if (!rebuild(s, from, 1)) return DEAD;
    t = next(s, *from, b);
    return t == FULL ? DEAD : t;
}

/* ------------------------------------------------------------ text */

dgstate *dgstate_new(const dgrammar *g) {
    dgstate *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->g = g;
    s->cur = DEAD;
    s->max_states = MAX_STATES;
    if (!init_tables(s)) {
        dgstate_free(s);
        return NULL;
    }
    for (int a = 0; a < g->rules[g->root].n; a++) expand(s, g->alts[g->rules[g->root].first + a], 0, 0);
    s->cur = s->overflow || s->full || !s->n_tmp ? DEAD : state_of_tmp(s, NULL, 0);
    if (s->cur < 0) {
        dgstate_free(s);
        return NULL;
    }
    return s;
}

void dgstate_free(dgstate *s) {
    if (!s) return;
    drop_tables(s);
    free(s->seen);
    free(s->seen_used);
    free(s->tmp);
    free(s->scratch);
    free(s);
}

/* the state after the bytes from the current one, or DEAD */
static int32_t run(dgstate *s, const char *bytes, size_t n) {
    int32_t st = s->cur;
    for (size_t i = 0; i < n && st >= 0; i++) st = next_or_rebuild(s, &st, (uint8_t)bytes[i]);
    return st;
}

bool dgstate_allows(dgstate *s, const char *bytes, size_t n) { return run(s, bytes, n) >= 0; }

bool dgstate_advance(dgstate *s, const char *bytes, size_t n) {
    int32_t st = run(s, bytes, n);
    if (st < 0) return false;
    s->cur = st;
    return true;
}

bool dgstate_complete(const dgstate *s) { return s->states[s->cur].complete; }
bool dgstate_limited(const dgstate *s) { return s->limited; }

void dgstate_limit_states(dgstate *s, int32_t n) { s->max_states = n < 4 ? 4 : n > MAX_STATES ? MAX_STATES : n; }
unsigned dgstate_rebuilds(const dgstate *s) { return s->rebuilds; }

/* ------------------------------------------------------------ the token trie */

struct dgtrie {
    int32_t n_vocab, n;
    uint8_t *byte;           /* [n] the byte leading into node k (preorder) */
    uint16_t *depth;         /* [n] the node's depth: the length of its prefix (1..) */
    int32_t *end;            /* [n] the node after its subtree */
    int32_t *tok;            /* [n] a token ending here, or -1 */
    uint8_t *levels;         /* [n] bit i: its subtree ends a token of level i (see level_of) */
    int32_t *same;           /* [n_vocab] another token with the same bytes, or -1 */
    char *blob;              /* every text token's bytes */
    int64_t *off;            /* [n_vocab] where a token's bytes start in blob, -1 if not text */
    uint16_t *len;           /* [n_vocab] */
};

/* the level of a token of n bytes: 0 up to DG_CHAIN_CUT, then i for
 * DG_CHAIN_CUT << (i - 1) < n <= DG_CHAIN_CUT << i */
static int level_of(int n) {
    int i = 0;
    while (i + 1 < DG_LEVELS && n > DG_CHAIN_CUT << i) i++;
    return i;
}

typedef struct { const uint8_t *b; uint16_t n; int32_t id; } tref;

static int cmp_tref(const void *x, const void *y) {
    const tref *a = x, *b = y;
    int c = memcmp(a->b, b->b, a->n < b->n ? a->n : b->n);
    if (c) return c;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

void dgtrie_free(dgtrie *t) {
    if (!t) return;
    free(t->byte);
    free(t->depth);
    free(t->end);
    free(t->tok);
    free(t->levels);
    free(t->same);
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t);
}

dgtrie *dgtrie_new(int32_t n_vocab, const char *const *bytes, const uint16_t *len) {
    dgtrie *t = calloc(1, sizeof *t);
    tref *r = malloc((size_t)(n_vocab ? n_vocab : 1) * sizeof *r);
    int32_t *path = malloc((DG_MAX_TOKEN + 1) * sizeof *path);
    if (!t || !r || !path) goto fail;
    t->n_vocab = n_vocab;
    int64_t total = 0;
    int32_t n_text = 0;
    for (int32_t i = 0; i < n_vocab; i++)
        if (bytes[i] && len[i] >= 1 && len[i] <= DG_MAX_TOKEN) total += len[i], n_text++;
    t->blob = malloc((size_t)(total ? total : 1));
    t->off = malloc((size_t)(n_vocab ? n_vocab : 1) * sizeof *t->off);
    t->len = calloc((size_t)(n_vocab ? n_vocab : 1), sizeof *t->len);
    t->same = malloc((size_t)(n_vocab ? n_vocab : 1) * sizeof *t->same);
    /* at most one node per byte, and a root-less preorder: nodes <= total */
    size_t cap = (size_t)(total ? total : 1);
    t->byte = malloc(cap);
    t->depth = malloc(cap * sizeof *t->depth);
    t->end = malloc(cap * sizeof *t->end);
    t->tok = malloc(cap * sizeof *t->tok);
    t->levels = calloc(cap, 1);
    if (!t->blob || !t->off || !t->len || !t->same || !t->byte || !t->depth || !t->end || !t->tok || !t->levels) goto fail;
    int64_t o = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < n_vocab; i++) {
        t->off[i] = -1;
        t->same[i] = -1;
        if (!bytes[i] || len[i] < 1 || len[i] > DG_MAX_TOKEN) continue;
        memcpy(t->blob + o, bytes[i], len[i]);
        t->off[i] = o;
        t->len[i] = len[i];
        r[k++] = (tref){(const uint8_t *)t->blob + o, len[i], i};
        o += len[i];
    }
    qsort(r, (size_t)n_text, sizeof *r, cmp_tref);
    /* path[d]: the node at depth d + 1 on the way to the previous token */
    int depth = 0;
    for (int32_t i = 0; i < n_text; i++) {
        int lcp = 0;
        if (i) {
            int m = r[i - 1].n < r[i].n ? r[i - 1].n : r[i].n;
            while (lcp < m && r[i - 1].b[lcp] == r[i].b[lcp]) lcp++;
        }
        if (lcp == r[i].n && i && r[i - 1].n == r[i].n) { /* the same bytes as the previous token */
            int32_t last = t->tok[path[lcp - 1]];
            while (t->same[last] >= 0) last = t->same[last];
            t->same[last] = r[i].id;
            continue;
        }
        while (depth > lcp) t->end[path[--depth]] = t->n; /* leave the previous token's branch */
        for (int d = lcp; d < r[i].n; d++) {
            int32_t v = t->n++;
            t->byte[v] = r[i].b[d];
            t->depth[v] = (uint16_t)(d + 1);
            t->tok[v] = -1;
            path[depth++] = v;
        }
        t->tok[path[depth - 1]] = r[i].id;
        for (int d = 0; d < depth; d++) t->levels[path[d]] |= (uint8_t)(1u << level_of(r[i].n));
    }
    while (depth > 0) t->end[path[--depth]] = t->n;
    free(r);
    free(path);
    return t;
fail:
    free(r);
    free(path);
    dgtrie_free(t);
    return NULL;
}

int32_t dgtrie_vocab(const dgtrie *t) { return t->n_vocab; }

const char *dgtrie_token(const dgtrie *t, int32_t tok, size_t *len) {
    if (tok < 0 || tok >= t->n_vocab || t->off[tok] < 0) return NULL;
    *len = t->len[tok];
    return t->blob + t->off[tok];
}

/* ------------------------------------------------------------ masks */

/* Sets the bits of the tokens allowed from `start` among those of level
 * `level` (and, if `above`, of every higher level). False when out of memory. */
static bool walk(dgstate *s, const dgtrie *t, int32_t start, int level, bool above, uint64_t *mask) {
    int32_t st[DG_MAX_TOKEN + 1];
    unsigned want = above ? ~0u << level : 1u << level;
    int max_depth = above ? DG_MAX_TOKEN : DG_CHAIN_CUT << level;
    st[0] = start;
    for (int32_t k = 0; k < t->n;) {
        int d = t->depth[k];
        if (d > max_depth || !(t->levels[k] & want)) {
            k = t->end[k];
            continue;
        }
        int32_t *row = s->states[st[d - 1]].next, v = row ? row[t->byte[k]] : UNKNOWN;
        if (v == UNKNOWN) {
            v = next(s, st[d - 1], t->byte[k]);
            if (v == FULL) { /* rebuild keeping the states on the path, then go on */
                if (!rebuild(s, st, d)) return false;
                v = next(s, st[d - 1], t->byte[k]);
                if (v == FULL) v = DEAD;
            }
        }
        if (v < 0) {
            k = t->end[k];
            continue;
        }
        st[d] = v;
        if ((want >> level_of(d)) & 1)
            for (int32_t tok = t->tok[k]; tok >= 0; tok = t->same[tok]) mask[tok >> 6] |= 1ull << (tok & 63);
        k++;
    }
    return true;
}

/* the state standing for the current one at a level (grammar.h: chain_k):
 * itself when it is in no repetition deeper than the level; FULL when the
 * tables are */
static int32_t canonical(dgstate *s, int level) {
    int32_t c = s->states[s->cur].canon[level];
    if (c != UNKNOWN) return c;
    const sstate t = s->states[s->cur];
    const dgrammar *g = s->g;
    int32_t L = DG_CHAIN_CUT << level;
    bool moved = false;
    s->n_tmp = 0;
    s->full = s->overflow = false;
    for (int32_t i = 0; i < t.n; i++) {
        int32_t v = s->pool[t.first + i], elems[MAX_DEPTH + 1], n = 0;
        for (int32_t u = v; u; u = s->nodes[u].parent) {
            int32_t e = s->nodes[u].elem;
            if (g->chain_k[e] > L) e -= (g->chain_k[e] - L) * g->chain_len[e], moved = true;
            elems[n++] = e;
        }
        int32_t w = 0; /* re-push bottom to top */
        while (n > 0 && w >= 0) w = node(s, elems[--n], w);
        if (w < 0) return s->full ? FULL : s->cur; /* no room or no depth: no sharing */
        collect(s, w);
    }
    if (!moved) c = s->cur;
    else if (s->full || (c = state_of_tmp(s, t.partial, t.n_partial)) == FULL) return FULL;
    if (c == DEAD) c = s->cur;
    return s->states[s->cur].canon[level] = c;
}

/* ORs into mask the tokens of level `level` (and above, if `above`) allowed
 * from `from`, cached under (from, level, above); not cached when the tables
 * were rebuilt during the walk (state ids changed). False when out of memory. */
static bool level_mask(dgstate *s, const dgtrie *t, int32_t from, int level, bool above, uint64_t *mask, int words,
                       uint64_t *scratch) {
    int32_t key = (from * DG_LEVELS + level) * 2 + above;
    for (int i = 0; i < s->n_masks; i++)
        if (s->masks[i].key == key) {
            for (int w = 0; w < words; w++) mask[w] |= s->masks[i].bits[w];
            return true;
        }
    memset(scratch, 0, (size_t)words * sizeof *scratch);
    unsigned rebuilds = s->rebuilds;
    if (!walk(s, t, from, level, above, scratch)) return false;
    for (int w = 0; w < words; w++) mask[w] |= scratch[w];
    if (s->rebuilds != rebuilds) return true; /* the key's state id is stale: do not cache */
    uint64_t *bits = s->n_masks < N_MASKS ? malloc((size_t)words * sizeof *bits) : s->masks[s->evict].bits;
    if (!bits) return true;
    memcpy(bits, scratch, (size_t)words * sizeof *bits);
    int i = s->n_masks < N_MASKS ? s->n_masks++ : s->evict;
    if (i == s->evict && s->n_masks == N_MASKS) s->evict = (s->evict + 1) % N_MASKS;
    s->masks[i].key = key;
    s->masks[i].bits = bits;
    return true;
}

bool dgstate_mask(dgstate *s, const dgtrie *t, uint64_t *mask) {
    int words = (t->n_vocab + 63) / 64;
    if (!s->scratch || s->scratch_words < words) {
        free(s->scratch);
        if (!(s->scratch = malloc((size_t)words * sizeof *s->scratch))) return false;
        s->scratch_words = words;
    }
    memset(mask, 0, (size_t)words * sizeof *mask);
    /* levels whose tokens cannot tell the current state from a canonical one
     * share cached masks; from the first level where the state is its own
     * canonical one, every longer token is walked from the state itself */
    for (int level = 0; level < DG_LEVELS; level++) {
        int32_t c = canonical(s, level);
        if (c == FULL) {
            if (!rebuild(s, NULL, 0)) return false;
            if ((c = canonical(s, level)) == FULL) c = s->cur;
        }
        if (c == s->cur) return level_mask(s, t, c, level, true, mask, words, s->scratch);
        if (!level_mask(s, t, c, level, false, mask, words, s->scratch)) return false;
    }
    return true;
}
