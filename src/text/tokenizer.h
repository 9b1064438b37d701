/*
 * tokenizer.h - the vocabulary read from GGUF metadata and the two tokenizer
 * algorithms desk implements:
 *   SPM  SentencePiece-style: score-ordered merges of UTF-8 characters, with
 *        byte fallback (<0xXX> tokens); Llama 2, Mistral, Phi-3.
 *   BPE  byte-level BPE: regex pre-tokenizer (PCRE2), GPT-2 byte-to-unicode
 *        mapping, rank-ordered merges; Llama 3, Qwen2, GPT-2, DeepSeek-Coder.
 */
#ifndef DESK_TOKENIZER_H
#define DESK_TOKENIZER_H

#include "base/base.h"

enum { TOKTYPE_NORMAL = 1, TOKTYPE_UNKNOWN = 2, TOKTYPE_CONTROL = 3, TOKTYPE_USER = 4,
       TOKTYPE_UNUSED = 5, TOKTYPE_BYTE = 6 };

typedef enum { VOCAB_SPM, VOCAB_BPE } vocab_kind;

typedef struct { const char *s; uint32_t len; } desk_str;

typedef struct {
    uint64_t key;      /* (left id << 32) | right id */
    int32_t rank, result;
} merge_entry;

typedef struct {
    vocab_kind kind;
    char pre[32];                 /* tokenizer.ggml.pre */
    int32_t n;
    desk_str *text;               /* token text, pointing into the GGUF mapping */
    float *scores;                /* SPM merge scores (NULL = all 0) */
    int32_t *types;               /* TOKTYPE_* */
    int32_t *hash;                /* open-addressed text -> id, size hash_cap */
    uint32_t hash_cap;
    merge_entry *merges;          /* open-addressed pair -> rank, size merge_cap */
    uint32_t merge_cap;
    int32_t bos, eos, unk, eot, eom, pad;
    bool add_bos, add_space_prefix, ignore_merges, nfc;
    int32_t byte_token[256];      /* SPM: <0xXX>; BPE: token of the mapped byte */
    int32_t *special;             /* ids of tokens matched in text when parsing specials, longest first */
    int32_t n_special;
    uint8_t special_first[32];    /* bitset of the first bytes of special tokens */
    bool *is_eog;                 /* per token */
    void *regex[8];               /* compiled PCRE2 pre-tokenizer patterns, applied in order */
    int n_regex;
} desk_vocab;

desk_status desk_vocab_load(desk_vocab *v, const desk_gguf *g, desk_error *err);
void desk_vocab_free(desk_vocab *v);
int32_t desk_vocab_find(const desk_vocab *v, const char *s, size_t len);   /* -1 if absent */
desk_status desk_vocab_tokenize(const desk_vocab *v, const char *text, size_t len, int flags,
                                int32_t *out, int cap, int *n_out, desk_error *err);
/* Bytes of token `tok` as text (SPM spaces restored, byte tokens decoded,
 * BPE unmapped). Returns length written to buf (cap >= 64 suffices for
 * normal vocabularies; longer pieces are cut). */
size_t desk_vocab_piece(const desk_vocab *v, int32_t tok, char *buf, size_t cap);

#endif
