/*
 * tokenizer.c - vocabulary loading from GGUF metadata, special-token
 * parsing, the SPM and byte-level BPE algorithms, and detokenization.
 *
 * Pre-tokenizer regexes run on PCRE2 (UTF + Unicode properties); Qwen2's NFC
 * normalization runs on utf8proc. Both are checked, maintained C libraries
 * packaged by Debian and Homebrew.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/tokenizer.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ hashing */

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    return h;
}
static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

int32_t desk_vocab_find(const desk_vocab *v, const char *s, size_t len) {
    if (!v->hash) return -1;
    uint32_t mask = v->hash_cap - 1, i = (uint32_t)fnv1a(s, len) & mask;
    for (;;) {
        int32_t id = v->hash[i];
        if (id < 0) return -1;
        if (v->text[id].len == len && memcmp(v->text[id].s, s, len) == 0) return id;
        i = (i + 1) & mask;
    }
}

static const merge_entry *merge_find(const desk_vocab *v, int32_t a, int32_t b) {
    if (!v->merges) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t mask = v->merge_cap - 1, i = (uint32_t)mix64(key) & mask;
    for (;;) {
        const merge_entry *e = &v->merges[i];
        if (e->rank < 0) return NULL;
        if (e->key == key) return e;
        i = (i + 1) & mask;
    }
}

/* ------------------------------------------------------------ UTF-8 */

static int utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1; /* invalid lead byte: treat as one byte */
}
/* length of the valid UTF-8 character at s (1 for an invalid byte) */
static int utf8_char(const char *s, size_t avail) {
    int n = utf8_len((unsigned char)s[0]);
    if ((size_t)n > avail) return 1;
    for (int i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) return 1;
    return n;
}

/* GPT-2 byte <-> unicode mapping: printable bytes map to themselves, the rest
 * to U+0100 + k in byte order. */
static uint32_t byte_to_cp[256];
static int16_t cp_to_byte[512];
static void init_byte_map(void) {
    int k = 0;
    for (int i = 0; i < 512; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        byte_to_cp[b] = keep ? (uint32_t)b : (uint32_t)(256 + k++);
        cp_to_byte[byte_to_cp[b]] = (int16_t)b;
    }
}

/* ------------------------------------------------------------ loading */

static const char *PRE_LLAMA3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *PRE_QWEN2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *PRE_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *PRE_DEEPSEEK_CODER[] = {
    "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}"};

static desk_status add_regex(desk_vocab *v, const char *pat, const char *path, desk_error *err) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: pre-tokenizer regex failed to compile at %zu: %s", path,
                         (size_t)eo, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional speed-up; falls back to the interpreter */
    v->regex[v->n_regex++] = re;
    return DESK_OK;
}

static int32_t get_id(const desk_gguf *g, const char *key, int32_t n, int32_t dflt) {
    int64_t v;
    if (!desk_gguf_get_i64(g, key, &v)) return dflt;
    return v >= 0 && v < n ? (int32_t)v : -1;
}

/* qsort has no portable context argument: the vocabulary being sorted is
 * passed through this global, under sort_mu. */
static desk_vocab *sort_ctx;
static int cmp_special(const void *a, const void *b) {
    const desk_vocab *v = sort_ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->text[x].len != v->text[y].len) return v->text[x].len > v->text[y].len ? -1 : 1;
    return x < y ? -1 : x > y;
}

desk_status desk_vocab_load(desk_vocab *v, const desk_gguf *g, desk_error *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_byte_map);
    memset(v, 0, sizeof *v);
    const char *path = desk_gguf_path(g), *model;
    uint64_t mlen;
    if (!desk_gguf_get_str(g, "tokenizer.ggml.model", &model, &mlen))
        return desk_fail(err, DESK_EFORMAT, "%s: no tokenizer (tokenizer.ggml.model is missing)", path);
    if (mlen == 5 && memcmp(model, "llama", 5) == 0) v->kind = VOCAB_SPM;
    else if (mlen == 4 && memcmp(model, "gpt2", 4) == 0) v->kind = VOCAB_BPE;
    else
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: tokenizer model '%.*s' is not supported (llama and gpt2 are)",
                         path, (int)(mlen > 40 ? 40 : mlen), model);
    int64_t ti = desk_gguf_find(g, "tokenizer.ggml.tokens");
    if (ti < 0 || desk_gguf_kv_type(g, ti) != DESK_GGUF_ARRAY || desk_gguf_arr_type(g, ti) != DESK_GGUF_STRING)
        return desk_fail(err, DESK_EFORMAT, "%s: tokenizer.ggml.tokens is missing or not a string array", path);
    uint64_t n = desk_gguf_arr_n(g, ti);
    if (n == 0 || n > (1u << 24))
        return desk_fail(err, DESK_EFORMAT, "%s: vocabulary of %llu tokens is out of range", path, (unsigned long long)n);
    v->n = (int32_t)n;
    v->text = calloc(n, sizeof *v->text);
    v->types = calloc(n, sizeof *v->types);
    v->is_eog = calloc(n, sizeof *v->is_eog);
    v->hash_cap = 1;
    while (v->hash_cap < 2 * n) v->hash_cap <<= 1;
    v->hash = malloc(v->hash_cap * sizeof *v->hash);
    if (!v->text || !v->types || !v->is_eog || !v->hash) return desk_fail(err, DESK_ENOMEM, "out of memory");
    memset(v->hash, 0xff, v->hash_cap * sizeof *v->hash);
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t l;
        desk_gguf_arr_str(g, ti, i, &s, &l);
        if (l > 65535) return desk_fail(err, DESK_EFORMAT, "%s: token %llu is %llu bytes long", path, (unsigned long long)i, (unsigned long long)l);
        v->text[i] = (desk_str){s, (uint32_t)l};
        v->types[i] = TOKTYPE_NORMAL;
        if (desk_vocab_find(v, s, l) >= 0) continue; /* duplicate text: first id wins */
        uint32_t mask = v->hash_cap - 1, h = (uint32_t)fnv1a(s, l) & mask;
        while (v->hash[h] >= 0) h = (h + 1) & mask;
        v->hash[h] = (int32_t)i;
    }
    int64_t si = desk_gguf_find(g, "tokenizer.ggml.scores");
    if (si >= 0) {
        if (desk_gguf_arr_type(g, si) != DESK_GGUF_FLOAT32 || desk_gguf_arr_n(g, si) != n)
            return desk_fail(err, DESK_EFORMAT, "%s: tokenizer.ggml.scores must be %llu floats", path, (unsigned long long)n);
        v->scores = malloc(n * sizeof(float));
        if (!v->scores) return desk_fail(err, DESK_ENOMEM, "out of memory");
        memcpy(v->scores, desk_gguf_arr_data(g, si), n * sizeof(float));
    }
    int64_t tt = desk_gguf_find(g, "tokenizer.ggml.token_type");
    if (tt >= 0) {
        if (desk_gguf_arr_type(g, tt) != DESK_GGUF_INT32 || desk_gguf_arr_n(g, tt) != n)
            return desk_fail(err, DESK_EFORMAT, "%s: tokenizer.ggml.token_type must be %llu int32s", path, (unsigned long long)n);
        memcpy(v->types, desk_gguf_arr_data(g, tt), n * sizeof(int32_t));
    }
    v->bos = get_id(g, "tokenizer.ggml.bos_token_id", v->n, v->kind == VOCAB_SPM ? 1 : -1);
    v->eos = get_id(g, "tokenizer.ggml.eos_token_id", v->n, v->kind == VOCAB_SPM ? 2 : -1);
    v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", v->n, v->kind == VOCAB_SPM ? 0 : -1);
    v->eot = get_id(g, "tokenizer.ggml.eot_token_id", v->n, -1);
    v->eom = get_id(g, "tokenizer.ggml.eom_token_id", v->n, -1);
    v->pad = get_id(g, "tokenizer.ggml.padding_token_id", v->n, -1);
    bool b;
    v->add_bos = desk_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) ? b : v->kind == VOCAB_SPM;
    v->add_space_prefix = desk_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) ? b : v->kind == VOCAB_SPM;
    if (v->bos < 0) v->add_bos = false;

    /* end-of-generation tokens: the declared ones plus the well-known chat terminators */
    static const char *eog_names[] = {"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|endoftext|>", "<|end_of_text|>",
                                      "<end_of_turn>", "<|end|>", "</s>", "<｜end▁of▁sentence｜>"};
    if (v->eos >= 0) v->is_eog[v->eos] = true;
    if (v->eot >= 0) v->is_eog[v->eot] = true;
    if (v->eom >= 0) v->is_eog[v->eom] = true;
    for (size_t k = 0; k < sizeof eog_names / sizeof *eog_names; k++) {
        int32_t id = desk_vocab_find(v, eog_names[k], strlen(eog_names[k]));
        if (id >= 0 && (v->types[id] == TOKTYPE_CONTROL || v->types[id] == TOKTYPE_USER)) v->is_eog[id] = true;
    }

    /* special tokens recognised in text: control and user-defined, longest first */
    v->special = malloc(n * sizeof(int32_t));
    if (!v->special) return desk_fail(err, DESK_ENOMEM, "out of memory");
    for (int32_t i = 0; i < v->n; i++)
        if ((v->types[i] == TOKTYPE_CONTROL || v->types[i] == TOKTYPE_USER) && v->text[i].len > 0) {
            v->special[v->n_special++] = i;
            unsigned char c0 = (unsigned char)v->text[i].s[0];
            v->special_first[c0 >> 3] |= (uint8_t)(1u << (c0 & 7));
        }
    static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sort_mu);
    sort_ctx = v;
    qsort(v->special, (size_t)v->n_special, sizeof(int32_t), cmp_special);
    pthread_mutex_unlock(&sort_mu);

    if (v->kind == VOCAB_SPM) {
        for (int c = 0; c < 256; c++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            v->byte_token[c] = desk_vocab_find(v, name, 6);
        }
        return DESK_OK;
    }

    /* BPE: byte map, merges, pre-tokenizer */
    for (int c = 0; c < 256; c++) {
        char u[4];
        int l = desk_utf8_put(byte_to_cp[c], u);
        v->byte_token[c] = desk_vocab_find(v, u, (size_t)l);
    }
    int64_t mi = desk_gguf_find(g, "tokenizer.ggml.merges");
    if (mi < 0 || desk_gguf_arr_type(g, mi) != DESK_GGUF_STRING)
        return desk_fail(err, DESK_EFORMAT, "%s: BPE tokenizer without tokenizer.ggml.merges", path);
    uint64_t nm = desk_gguf_arr_n(g, mi);
    v->merge_cap = 1;
    while (v->merge_cap < 2 * nm + 2) v->merge_cap <<= 1;
    v->merges = malloc(v->merge_cap * sizeof *v->merges);
    if (!v->merges) return desk_fail(err, DESK_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < v->merge_cap; i++) v->merges[i].rank = -1;
    char buf[1024];
    for (uint64_t i = 0; i < nm; i++) {
        const char *s;
        uint64_t l;
        desk_gguf_arr_str(g, mi, i, &s, &l);
        const char *sp = l < sizeof buf ? memchr(s + 1, ' ', l > 1 ? l - 1 : 0) : NULL;
        if (!sp) return desk_fail(err, DESK_EFORMAT, "%s: merge %llu is not 'left right'", path, (unsigned long long)i);
        size_t la = (size_t)(sp - s), lb = (size_t)(l - la - 1);
        int32_t a = desk_vocab_find(v, s, la), bb = desk_vocab_find(v, sp + 1, lb);
        memcpy(buf, s, la);
        memcpy(buf + la, sp + 1, lb);
        int32_t r = desk_vocab_find(v, buf, la + lb);
        if (a < 0 || bb < 0 || r < 0) continue; /* merge of unknown tokens can never apply */
        uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)bb;
        uint32_t mask = v->merge_cap - 1, h = (uint32_t)mix64(key) & mask;
        while (v->merges[h].rank >= 0 && v->merges[h].key != key) h = (h + 1) & mask;
        if (v->merges[h].rank < 0) v->merges[h] = (merge_entry){key, (int32_t)i, r};
    }
    const char *pre = "default";
    uint64_t plen = 7;
    desk_gguf_get_str(g, "tokenizer.ggml.pre", &pre, &plen);
    snprintf(v->pre, sizeof v->pre, "%.*s", (int)(plen < 31 ? plen : 31), pre);
    desk_status st;
    if (!strcmp(v->pre, "llama-bpe") || !strcmp(v->pre, "llama3") || !strcmp(v->pre, "smaug-bpe")) {
        v->ignore_merges = true;
        st = add_regex(v, PRE_LLAMA3, path, err);
    } else if (!strcmp(v->pre, "qwen2") || !strcmp(v->pre, "deepseek-r1-qwen")) {
        v->nfc = true;
        st = add_regex(v, PRE_QWEN2, path, err);
    } else if (!strcmp(v->pre, "gpt-2") || !strcmp(v->pre, "default")) {
        st = add_regex(v, PRE_GPT2, path, err);
    } else if (!strcmp(v->pre, "deepseek-coder")) {
        st = DESK_OK;
        for (size_t k = 0; k < 5 && !st; k++) st = add_regex(v, PRE_DEEPSEEK_CODER[k], path, err);
    } else {
        return desk_fail(err, DESK_EUNSUPPORTED,
                         "%s: BPE pre-tokenizer '%s' is not supported (llama-bpe, qwen2, gpt-2, deepseek-coder are)",
                         path, v->pre);
    }
    return st;
}

void desk_vocab_free(desk_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n_regex; i++) pcre2_code_free(v->regex[i]);
    free(v->text); free(v->scores); free(v->types); free(v->hash); free(v->merges);
    free(v->special); free(v->is_eog);
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------ output buffer */

typedef struct {
    int32_t *out;
    int cap, n;
} tokbuf;
static void emit(tokbuf *b, int32_t t) {
    if (b->n < b->cap) b->out[b->n] = t;
    b->n++;
}

/* ------------------------------------------------------------ SPM */

/* ------------------------------------------------------------ merge queue */

/* A candidate merge of two adjacent symbols, shared by SPM and BPE. Lower
 * `prio` goes first (SPM: minus the merged token's score; BPE: the merge
 * rank), then the leftmost. A candidate is stale once either symbol changed;
 * `size` (SPM) or `lid`/`rid` (BPE) detect that when it is popped. */
typedef struct {
    int left, right;
    float prio;
    uint32_t size;
    int32_t result, lid, rid;
} merge_cand;

typedef struct {
    merge_cand *a;
    int n, cap;
} merge_queue;

static bool cand_before(const merge_cand *x, const merge_cand *y) {
    return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}
static bool queue_push(merge_queue *h, merge_cand b) {
    if (h->n == h->cap) {
        int nc = h->cap ? h->cap * 2 : 64;
        merge_cand *na = realloc(h->a, (size_t)nc * sizeof *na);
        if (!na) return false;
        h->a = na;
        h->cap = nc;
    }
    int i = h->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_before(&b, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
    return true;
}
static merge_cand queue_pop(merge_queue *h) {
    merge_cand top = h->a[0], last = h->a[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_before(&h->a[c + 1], &h->a[c])) c++;
        if (!cand_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

/* ------------------------------------------------------------ SPM */

typedef struct { int prev, next; const char *s; uint32_t len; } spm_sym;

static bool spm_try_pair(const desk_vocab *v, spm_sym *sy, int l, int r, merge_queue *h) {
    if (l < 0 || r < 0) return true;
    int32_t id = desk_vocab_find(v, sy[l].s, sy[l].len + sy[r].len);
    if (id < 0) return true;
    return queue_push(h, (merge_cand){l, r, v->scores ? -v->scores[id] : 0.0f, sy[l].len + sy[r].len, id, 0, 0});
}

/* Tokenizes one text fragment (already with spaces as U+2581). */
static desk_status spm_fragment(const desk_vocab *v, const char *s, size_t n, tokbuf *out, desk_error *err) {
    if (n == 0) return DESK_OK;
    spm_sym *sy = malloc(n * sizeof *sy);
    merge_queue h = {0};
    if (!sy) return desk_fail(err, DESK_ENOMEM, "out of memory");
    int ns = 0;
    for (size_t i = 0; i < n;) {
        int l = utf8_char(s + i, n - i);
        sy[ns] = (spm_sym){ns - 1, -1, s + i, (uint32_t)l};
        if (ns) sy[ns - 1].next = ns;
        ns++;
        i += (size_t)l;
    }
    bool ok = true;
    for (int i = 1; i < ns && ok; i++) ok = spm_try_pair(v, sy, i - 1, i, &h);
    while (ok && h.n) {
        merge_cand b = queue_pop(&h);
        spm_sym *L = &sy[b.left], *R = &sy[b.right];
        if (L->len == 0 || R->len == 0 || L->len + R->len != b.size || L->next != b.right) continue;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = b.left;
        ok = spm_try_pair(v, sy, L->prev, b.left, &h) && spm_try_pair(v, sy, b.left, L->next, &h);
    }
    for (int i = 0; ok && i >= 0 && i < ns; i = sy[i].next) {
        int32_t id = desk_vocab_find(v, sy[i].s, sy[i].len);
        if (id >= 0) {
            emit(out, id);
        } else {
            for (uint32_t k = 0; k < sy[i].len; k++) {
                int32_t bt = v->byte_token[(unsigned char)sy[i].s[k]];
                emit(out, bt >= 0 ? bt : v->unk);
            }
        }
    }
    free(sy);
    free(h.a);
    return ok ? DESK_OK : desk_fail(err, DESK_ENOMEM, "out of memory");
}

static desk_status spm_text(const desk_vocab *v, const char *s, size_t n, bool prefix, tokbuf *out, desk_error *err) {
    /* spaces become U+2581 (3 bytes) */
    size_t cap = (n + 1) * 3;
    char *buf = malloc(cap), *o = buf;
    if (!buf) return desk_fail(err, DESK_ENOMEM, "out of memory");
    if (prefix) { memcpy(o, "\xE2\x96\x81", 3); o += 3; }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') { memcpy(o, "\xE2\x96\x81", 3); o += 3; }
        else *o++ = s[i];
    }
    desk_status st = spm_fragment(v, buf, (size_t)(o - buf), out, err);
    free(buf);
    return st;
}

/* ------------------------------------------------------------ BPE */

typedef struct { int32_t id; int prev, next; } bpe_sym;

static bool bpe_try(const desk_vocab *v, bpe_sym *sy, int l, int r, merge_queue *h) {
    if (l < 0 || r < 0) return true;
    const merge_entry *m = merge_find(v, sy[l].id, sy[r].id);
    if (!m) return true;
    return queue_push(h, (merge_cand){l, r, (float)m->rank, 0, m->result, sy[l].id, sy[r].id});
}

/* One pre-token: map bytes, then merge. `mapped` is scratch of 2*n+4 bytes. */
static desk_status bpe_word(const desk_vocab *v, const char *s, size_t n, tokbuf *out, char *mapped,
                            bpe_sym *sy, merge_queue *h, desk_error *err) {
    size_t ml = 0;
    for (size_t i = 0; i < n; i++) ml += (size_t)desk_utf8_put(byte_to_cp[(unsigned char)s[i]], mapped + ml);
    if (v->ignore_merges) {
        int32_t id = desk_vocab_find(v, mapped, ml);
        if (id >= 0) { emit(out, id); return DESK_OK; }
    }
    int ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = v->byte_token[(unsigned char)s[i]];
        sy[ns] = (bpe_sym){id, ns - 1, ns + 1 < (int)n ? ns + 1 : -1};
        ns++;
    }
    h->n = 0;
    bool ok = true;
    for (int i = 1; i < ns && ok; i++) ok = bpe_try(v, sy, i - 1, i, h);
    while (ok && h->n) {
        merge_cand p = queue_pop(h);
        bpe_sym *L = &sy[p.left], *R = &sy[p.right];
        if (L->id != p.lid || R->id != p.rid || L->next != p.right) continue; /* stale */
        L->id = p.result;
        R->id = -2;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = p.left;
        ok = bpe_try(v, sy, L->prev, p.left, h) && bpe_try(v, sy, p.left, L->next, h);
    }
    if (!ok) return desk_fail(err, DESK_ENOMEM, "out of memory");
    for (int i = 0; i >= 0 && i < ns; i = sy[i].next) emit(out, sy[i].id >= 0 ? sy[i].id : v->unk);
    return DESK_OK;
}

/* Splits [s, s+n) by regex k (pieces: matches and the gaps between), then
 * passes each piece to regex k+1, and finally to bpe_word. */
typedef struct {
    const desk_vocab *v;
    tokbuf *out;
    char *mapped;
    bpe_sym *sy;
    merge_queue heap;
    pcre2_match_data *md;
    desk_error *err;
} bpe_state;

static desk_status bpe_split(bpe_state *st, int k, const char *s, size_t n) {
    if (n == 0) return DESK_OK;
    if (k == st->v->n_regex) return bpe_word(st->v, s, n, st->out, st->mapped, st->sy, &st->heap, st->err);
    pcre2_code *re = st->v->regex[k];
    size_t pos = 0, gap = 0;
    desk_status rc;
    while (pos < n) {
        int r = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, st->md, NULL);
        if (r < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: step one character */
            pos = ms + (size_t)utf8_char(s + ms, n - ms);
            continue;
        }
        if ((rc = bpe_split(st, k + 1, s + gap, ms - gap))) return rc;
        if ((rc = bpe_split(st, k + 1, s + ms, me - ms))) return rc;
        gap = pos = me;
    }
    return bpe_split(st, k + 1, s + gap, n - gap);
}

static desk_status bpe_text(const desk_vocab *v, const char *s, size_t n, tokbuf *out, desk_error *err) {
    if (n == 0) return DESK_OK;
    uint8_t *norm = NULL;
    if (v->nfc) {
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &norm,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r >= 0) { s = (const char *)norm; n = (size_t)r; }
        else norm = NULL; /* invalid UTF-8: tokenize the bytes as they are */
    }
    bpe_state st = {v, out, malloc(4 * n + 8), malloc((n + 1) * sizeof(bpe_sym)), {0}, NULL, err};
    st.md = pcre2_match_data_create(4, NULL);
    desk_status rc;
    if (!st.mapped || !st.sy || !st.md) rc = desk_fail(err, DESK_ENOMEM, "out of memory");
    else rc = bpe_split(&st, 0, s, n);
    pcre2_match_data_free(st.md);
    free(st.mapped);
    free(st.sy);
    free(st.heap.a);
    free(norm);
    return rc;
}

/* ------------------------------------------------------------ entry point */

/* Longest special token starting at s, or -1. User-defined tokens (added
 * vocabulary) always match, as in Hugging Face tokenizers; control tokens
 * only when the caller asks to parse specials. */
static int32_t match_special(const desk_vocab *v, const char *s, size_t n, bool control) {
    unsigned char c0 = (unsigned char)s[0];
    if (!(v->special_first[c0 >> 3] & (1u << (c0 & 7)))) return -1;
    for (int32_t i = 0; i < v->n_special; i++) {
        if (!control && v->types[v->special[i]] == TOKTYPE_CONTROL) continue;
        const desk_str *t = &v->text[v->special[i]];
        if (t->len <= n && memcmp(t->s, s, t->len) == 0) return v->special[i];
    }
    return -1;
}

desk_status desk_vocab_tokenize(const desk_vocab *v, const char *text, size_t len, int flags, int32_t *out,
                                int cap, int *n_out, desk_error *err) {
    tokbuf b = {out, cap < 0 ? 0 : cap, 0};
    desk_status st = DESK_OK;
    if ((flags & DESK_TOK_ADD_BOS) && v->add_bos) emit(&b, v->bos);
    bool prev_special = true;  /* SPM: a space prefix goes on the first fragment and after specials */
    size_t i = 0, frag = 0;
    while (i <= len && !st) {
        int32_t sp = -1;
        if (i < len) sp = match_special(v, text + i, len - i, flags & DESK_TOK_PARSE_SPECIAL);
        if (sp < 0 && i < len) { i++; continue; }
        if (i > frag) {
            if (v->kind == VOCAB_SPM) st = spm_text(v, text + frag, i - frag, v->add_space_prefix && prev_special, &b, err);
            else st = bpe_text(v, text + frag, i - frag, &b, err);
            prev_special = false;
        }
        if (sp >= 0) {
            emit(&b, sp);
            i += v->text[sp].len;
            frag = i;
            prev_special = true;
        } else {
            break;
        }
    }
    *n_out = b.n;
    if (st) return st;
    if (b.n > b.cap) return desk_fail(err, DESK_ERANGE, "text needs %d tokens, buffer holds %d", b.n, b.cap);
    return DESK_OK;
}

size_t desk_vocab_piece(const desk_vocab *v, int32_t tok, char *buf, size_t cap) {
    if (tok < 0 || tok >= v->n || cap == 0) return 0;
    const desk_str *t = &v->text[tok];
    size_t o = 0;
    if (v->kind == VOCAB_SPM) {
        if (v->types[tok] == TOKTYPE_BYTE && t->len == 6 && memcmp(t->s, "<0x", 3) == 0) {
            buf[0] = (char)strtol((char[3]){t->s[3], t->s[4], 0}, NULL, 16);
            return 1;
        }
        for (uint32_t i = 0; i < t->len && o < cap;) {
            if (i + 3 <= t->len && memcmp(t->s + i, "\xE2\x96\x81", 3) == 0) { buf[o++] = ' '; i += 3; }
            else buf[o++] = t->s[i++];
        }
        return o;
    }
    /* BPE: special tokens are literal text; others unmap each code point to a byte */
    if (v->types[tok] == TOKTYPE_CONTROL || v->types[tok] == TOKTYPE_USER) {
        o = t->len < cap ? t->len : cap;
        memcpy(buf, t->s, o);
        return o;
    }
    for (uint32_t i = 0; i < t->len && o < cap;) {
        int l = utf8_char(t->s + i, t->len - i);
        uint32_t cp = (unsigned char)t->s[i];
        if (l == 2) cp = ((cp & 0x1F) << 6) | ((unsigned char)t->s[i + 1] & 0x3F);
        if (l <= 2 && cp < 512 && cp_to_byte[cp] >= 0) buf[o++] = (char)cp_to_byte[cp];
        else for (int k = 0; k < l && o < cap; k++) buf[o++] = t->s[i + k];
        i += (uint32_t)l;
    }
    return o;
}
