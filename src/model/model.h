/*
 * model.h - the loaded model (immutable after desk_model_load) and the
 * context that runs it. Shared by model/llama.c and engine/context.c.
 */
#ifndef DESK_MODEL_H
#define DESK_MODEL_H

#include "kernels/ops.h"
#include "text/tokenizer.h"

#include <pthread.h>

typedef struct {
    desk_mat wq, wk, wv, wo;          /* (n_head*hd, d) (n_kv*hd, d) (n_kv*hd, d) (d, n_head*hd) */
    desk_mat w_gate, w_up, w_down;    /* (ff, d) (ff, d) (d, ff) */
    const float *attn_norm, *ffn_norm;/* (d) */
    const float *bq, *bk, *bv;        /* qwen2 biases, or NULL */
} desk_layer;

typedef enum { ROPE_NORM, ROPE_NEOX } rope_style;

struct desk_model {
    desk_gguf *gguf;
    desk_model_info info;
    int64_t n_rot;                    /* rotated dims per head */
    rope_style rope;
    float *rope_inv_freq;             /* (n_rot/2) base^(-2i/n_rot) / freq_factor_i */
    desk_mat tok_embd;                /* (vocab, d) */
    desk_mat output;                  /* (vocab, d); == tok_embd when tied */
    const float *output_norm;         /* (d) */
    desk_layer *layers;
    float *owned_f32;                 /* norms/biases converted from non-F32 storage */
    desk_vocab vocab;
    bool vocab_only;                  /* loaded by desk_model_load_vocab: no weights */
    void *packed;                     /* x8 copies of the matrices (see quant.h), one allocation, owned */
    pthread_mutex_t trie_mu;          /* guards the lazy build of trie */
    struct dgtrie *trie;              /* the text tokens as a prefix tree, for grammar masks */
};

/* The model's token trie (text/grammar.h), built on first use by any thread;
 * NULL when out of memory. */
const struct dgtrie *desk_model_token_trie(const desk_model *m);

/* The context's threads (internal: the scheduler samples its requests on
 * them between forward passes, while they would otherwise wait). */
desk_pool *desk_ctx_pool(desk_ctx *c);

#endif
