/*
 * context.c - a context runs a model: it owns the KV-cache slots (one per
 * sequence, F16), the scratch buffers for up to n_batch tokens, and the
 * thread pool. desk_ctx_decode runs one forward pass over any mix of
 * sequences. All memory is allocated in desk_ctx_new; a forward pass
 * allocates nothing.
 *
 * Every output value is computed by code whose summation order depends only
 * on the token's own sequence, never on the batch or the thread split, so a
 * sequence's logits are bit-identical however it is batched.
 */
#include "model/model.h"

#include <math.h>
#include <stdlib.h>

struct desk_ctx {
    const desk_model *m;
    desk_ctx_params p;
    desk_pool *pool;
    int64_t kv_dim;                /* n_head_kv * head_dim */
    size_t v_row;                  /* bytes of one cached V row of one head */
    size_t k_head;                 /* bytes of one head's K: n_ctx positions in tiles of 16 (quant.h) */
    uint8_t *k_cache, *v_cache;    /* [n_seq][n_layer][n_head_kv] heads: K as k_head bytes of tiles, V as n_ctx
                                    * rows of head_dim elements of p.kv_type; each head's positions are contiguous
                                    * for the attention scan */
    int *seq_len;
    desk_ctx_timing timing;        /* desk_ctx_timing_get */
    /* scratch for n_batch tokens */
    float *x, *xb, *q, *k, *v, *att, *ff1, *ff2;
    void *act;
    float *scores;                 /* [n_threads][n_ctx] */
    float *rope;                   /* [n_batch][n_rot]: cos, then sin, of each token's angles */
    float *xn_out, *logits_out;    /* [n_outputs][d], [n_outputs][vocab] */
    int *out_index;                /* batch token -> output row, or -1 */
    float *seq_logits;             /* [n_seq][vocab], filled by desk_ctx_eval */
    float *logits_dst;             /* set by desk_ctx_eval: where a decode's one logits row goes */
    const float *logits_rows;      /* where the last decode put its rows (logits_out or logits_dst) */
    int *seq_tmp;                  /* [n_seq] */
    int32_t *eval_pos, *eval_seq;  /* [n_batch] */
    bool *eval_want;
    uint64_t bytes;
};

desk_ctx_params desk_ctx_default_params(void) {
    return (desk_ctx_params){.n_ctx = 0, .n_seq = 1, .n_batch = 256, .n_threads = 0, .n_outputs = 0};
}
/* Every buffer a context owns, with its size: one table used both to
 * allocate and to estimate memory before allocating. */
enum { B_K, B_V, B_SEQLEN, B_X, B_XB, B_Q, B_KT, B_VT, B_ATT, B_FF1, B_FF2, B_ACT, B_SCORES, B_XN, B_LOGITS,
       B_OUTIDX, B_SEQLOGITS, B_SEQTMP, B_EPOS, B_ESEQ, B_EWANT, B_ROPE, B_COUNT };

static bool normalize_params(const desk_model *m, desk_ctx_params *p, desk_error *err) {
    const desk_model_info *in = &m->info;
    if (p->n_ctx <= 0) p->n_ctx = (int)(in->n_ctx_train < 4096 ? in->n_ctx_train : 4096);
    if (p->n_seq <= 0) p->n_seq = 1;
    if (p->n_batch <= 0) p->n_batch = 256;
    if (p->n_threads <= 0) p->n_threads = desk_n_cores();
    if (p->n_outputs <= 0) p->n_outputs = p->n_seq;
    if (p->n_outputs > p->n_batch) p->n_outputs = p->n_batch;
    if (p->kv_type == 0) p->kv_type = DESK_TYPE_F16;
    if (p->kv_type != DESK_TYPE_F16 && p->kv_type != DESK_TYPE_Q8_0) {
        desk_fail(err, DESK_EINVAL, "KV cache type %s is not supported (F16, Q8_0 are)", desk_type_name(p->kv_type));
        return false;
    }
    if (p->kv_type == DESK_TYPE_Q8_0 && in->head_dim % 32) {
        desk_fail(err, DESK_EINVAL, "a Q8_0 KV cache needs a head size that is a multiple of 32 (this model's is %lld)",
                  (long long)in->head_dim);
        return false;
    }
    if (p->n_ctx > (1 << 22) || p->n_seq > 4096 || p->n_batch > 65536 || p->n_threads > 512) {
        desk_fail(err, DESK_EINVAL, "context parameters out of range (n_ctx %d, n_seq %d, n_batch %d, threads %d)",
                  p->n_ctx, p->n_seq, p->n_batch, p->n_threads);
        return false;
    }
    return true;
}

/* one KV head's K: its positions rounded up to whole tiles of 16 */
static size_t k_head_bytes(int kv_type, int64_t head_dim, int n_ctx) {
    return (size_t)((n_ctx + 15) / 16) * desk_kv_tile_bytes(kv_type, head_dim);
}

static void plan(const desk_model *m, const desk_ctx_params *p, size_t sz[B_COUNT]) {
    const desk_model_info *in = &m->info;
    size_t T = (size_t)p->n_batch, d = (size_t)in->n_embd, nq = (size_t)(in->n_head * in->head_dim),
           ff = (size_t)in->n_ff, V = (size_t)in->n_vocab, kvd = (size_t)(in->n_head_kv * in->head_dim);
    size_t heads = (size_t)p->n_seq * (size_t)in->n_layer * (size_t)in->n_head_kv;
    size_t kv = heads * (size_t)p->n_ctx * desk_type_row_size(p->kv_type, in->head_dim);
    size_t k_tiles = heads * k_head_bytes(p->kv_type, in->head_dim, p->n_ctx);
    size_t widest = d > ff ? d : ff;
    if (nq > widest) widest = nq;
    size_t act_row = desk_act_row_size(ACT_Q8A, (int64_t)widest) + desk_act_row_size(ACT_Q8K, (int64_t)widest) + 64;
    size_t s[B_COUNT] = {
        [B_K] = k_tiles, [B_V] = kv, [B_SEQLEN] = (size_t)p->n_seq * sizeof(int), [B_X] = T * d * 4, [B_XB] = T * d * 4,
        [B_Q] = T * nq * 4, [B_KT] = T * kvd * 4, [B_VT] = T * kvd * 4, [B_ATT] = T * nq * 4, [B_FF1] = T * ff * 4,
        [B_FF2] = T * ff * 4, [B_ACT] = T * act_row, [B_SCORES] = (size_t)p->n_threads * (size_t)p->n_ctx * (size_t)(in->n_head / in->n_head_kv) * 4,
        [B_XN] = (size_t)p->n_outputs * d * 4, [B_LOGITS] = (size_t)p->n_outputs * V * 4, [B_OUTIDX] = T * sizeof(int),
        [B_SEQLOGITS] = (size_t)p->n_seq * V * 4, [B_SEQTMP] = (size_t)p->n_seq * sizeof(int),
        [B_EPOS] = T * sizeof(int32_t), [B_ESEQ] = T * sizeof(int32_t), [B_EWANT] = T * sizeof(bool),
        [B_ROPE] = T * (size_t)(m->n_rot > 0 ? m->n_rot : 1) * 4};
    memcpy(sz, s, sizeof s);
}

uint64_t desk_ctx_estimate_memory(const desk_model *m, const desk_ctx_params *pp) {
    desk_ctx_params p = pp ? *pp : desk_ctx_default_params();
    if (!normalize_params(m, &p, NULL)) return 0;
    size_t sz[B_COUNT];
    plan(m, &p, sz);
    uint64_t total = 0;
    for (int i = 0; i < B_COUNT; i++) total += sz[i];
    return total;
}

desk_status desk_ctx_new(const desk_model *m, const desk_ctx_params *pp, desk_ctx **out, desk_error *err) {
    *out = NULL;
    desk_ctx_params p = pp ? *pp : desk_ctx_default_params();
    if (m->vocab_only) return desk_fail(err, DESK_EINVAL, "%s was loaded without weights (vocabulary only)", desk_gguf_path(m->gguf));
    if (!normalize_params(m, &p, err)) return err ? err->status : DESK_EINVAL;
    uint64_t kv_elems;
    if (!desk_mul_ok((uint64_t)p.n_seq * (uint64_t)m->info.n_layer,
                     (uint64_t)p.n_ctx * (uint64_t)(m->info.n_head_kv * m->info.head_dim), &kv_elems) ||
        kv_elems > (SIZE_MAX / 8))
        return desk_fail(err, DESK_ENOMEM, "KV cache of %d x %d positions is too large", p.n_seq, p.n_ctx);
    desk_ctx *c = calloc(1, sizeof *c);
    if (!c) return desk_fail(err, DESK_ENOMEM, "out of memory");
    c->m = m;
    c->p = p;
    c->kv_dim = m->info.n_head_kv * m->info.head_dim;
    c->v_row = desk_type_row_size(p.kv_type, m->info.head_dim);
    c->k_head = k_head_bytes(p.kv_type, m->info.head_dim, p.n_ctx);
    c->pool = desk_pool_new(p.n_threads);
    c->p.n_threads = desk_pool_size(c->pool);
    size_t sz[B_COUNT];
    plan(m, &c->p, sz);
    void **slot[B_COUNT] = {
        [B_K] = (void **)&c->k_cache, [B_V] = (void **)&c->v_cache, [B_SEQLEN] = (void **)&c->seq_len,
        [B_X] = (void **)&c->x, [B_XB] = (void **)&c->xb, [B_Q] = (void **)&c->q, [B_KT] = (void **)&c->k,
        [B_VT] = (void **)&c->v, [B_ATT] = (void **)&c->att, [B_FF1] = (void **)&c->ff1, [B_FF2] = (void **)&c->ff2,
        [B_ACT] = (void **)&c->act, [B_SCORES] = (void **)&c->scores, [B_XN] = (void **)&c->xn_out,
        [B_LOGITS] = (void **)&c->logits_out, [B_OUTIDX] = (void **)&c->out_index,
        [B_SEQLOGITS] = (void **)&c->seq_logits, [B_SEQTMP] = (void **)&c->seq_tmp, [B_EPOS] = (void **)&c->eval_pos,
        [B_ESEQ] = (void **)&c->eval_seq, [B_EWANT] = (void **)&c->eval_want, [B_ROPE] = (void **)&c->rope};
    bool ok = c->pool != NULL;
    for (int i = 0; i < B_COUNT && ok; i++) {
        *slot[i] = desk_aligned_alloc(sz[i]);
        ok = *slot[i] != NULL;
        c->bytes += sz[i];
    }
    if (!ok) {
        desk_ctx_free(c);
        return desk_fail(err, DESK_ENOMEM, "out of memory allocating a context (%d slots x %d positions)", p.n_seq, p.n_ctx);
    }
    *out = c;
    return DESK_OK;
}

desk_pool *desk_ctx_pool(desk_ctx *c) { return c->pool; }

void desk_ctx_free(desk_ctx *c) {
    if (!c) return;
    desk_pool_free(c->pool);
    void *bufs[] = {c->k_cache, c->v_cache, c->seq_len, c->x, c->xb, c->q, c->k, c->v, c->att, c->ff1, c->ff2,
                    c->act, c->scores, c->xn_out, c->logits_out, c->out_index, c->seq_logits, c->seq_tmp,
                    c->eval_pos, c->eval_seq, c->eval_want, c->rope};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) desk_aligned_free(bufs[i]);
    free(c);
}

int desk_ctx_n_ctx(const desk_ctx *c) { return c->p.n_ctx; }
int desk_ctx_n_seq(const desk_ctx *c) { return c->p.n_seq; }
uint64_t desk_ctx_memory(const desk_ctx *c) { return c->bytes; }
int desk_ctx_seq_len(const desk_ctx *c, int seq) { return seq >= 0 && seq < c->p.n_seq ? c->seq_len[seq] : 0; }
void desk_ctx_seq_truncate(desk_ctx *c, int seq, int n) {
    if (seq >= 0 && seq < c->p.n_seq && n >= 0 && n < c->seq_len[seq]) c->seq_len[seq] = n;
}

/* ------------------------------------------------------------ forward pass */

/* cos and sin of each rotation angle at position pos: cs[i], cs[half + i] */
static void rope_angles(const desk_model *m, int pos, float *cs) {
    int64_t half = m->n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        float theta = (float)pos * m->rope_inv_freq[i];
        cs[i] = cosf(theta);
        cs[half + i] = sinf(theta);
    }
}

/* rotate n_heads vectors of hd floats by the angles of one position */
static void rope_apply(const desk_model *m, float *v, int n_heads, int64_t hd, const float *angles) {
    int64_t half = m->n_rot / 2;
    const float *cs = angles, *sn = angles + half;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + h * hd;
        if (m->rope == ROPE_NEOX) { /* pairs (i, i + half) */
            for (int64_t i = 0; i < half; i++) {
                float x0 = x[i], x1 = x[i + half];
                x[i] = x0 * cs[i] - x1 * sn[i];
                x[i + half] = x0 * sn[i] + x1 * cs[i];
            }
        } else { /* adjacent pairs (2i, 2i + 1) */
            for (int64_t i = 0; i < half; i++) {
                float x0 = x[2 * i], x1 = x[2 * i + 1];
                x[2 * i] = x0 * cs[i] - x1 * sn[i];
                x[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
            }
        }
    }
}

static void add_bias(float *y, const float *b, int64_t n) {
    if (b)
        for (int64_t i = 0; i < n; i++) y[i] += b[i];
}

typedef struct {
    desk_ctx *c;
    const desk_batch *b;
    int layer;
    bool prepared;   /* prepare_item already ran for every item (its own job) */
    int64_t work;    /* positions the batch's items attend, all together (first_item_from) */
} attn_job;

/* One work item of a layer's attention, (token t, KV head kvh), prepared:
 * the biases and RoPE on the GQA group's query heads and on K head kvh, and
 * K and V head kvh stored in the cache at the token's position. Items touch
 * disjoint parts of q, k and v, so they can run on any thread in any order. */
static void prepare_item(desk_ctx *c, const desk_batch *b, int layer, int t, int64_t kvh) {
    const desk_model *m = c->m;
    const desk_model_info *in = &m->info;
    const desk_layer *L = &m->layers[layer];
    int64_t hd = in->head_dim, nq = in->n_head * hd, group = in->n_head / in->n_head_kv, kvd = c->kv_dim;
    const float *angles = c->rope + (size_t)t * (size_t)m->n_rot;
    float *q = c->q + (size_t)t * (size_t)nq + (size_t)(kvh * group * hd);
    float *k = c->k + (size_t)t * (size_t)kvd + (size_t)(kvh * hd), *v = c->v + (size_t)t * (size_t)kvd + (size_t)(kvh * hd);
    add_bias(q, L->bq ? L->bq + kvh * group * hd : NULL, group * hd);
    add_bias(k, L->bk ? L->bk + kvh * hd : NULL, hd);
    add_bias(v, L->bv ? L->bv + kvh * hd : NULL, hd);
    rope_apply(m, q, (int)group, hd, angles);
    rope_apply(m, k, 1, hd, angles);
    size_t base = ((size_t)b->seq[t] * (size_t)in->n_layer + (size_t)layer) * (size_t)in->n_head_kv + (size_t)kvh;
    desk_kv_store_k(c->p.kv_type, k, c->k_cache + base * c->k_head, b->pos[t], hd);
    desk_quantize_row(c->p.kv_type, v, c->v_cache + (base * (size_t)c->p.n_ctx + (size_t)b->pos[t]) * c->v_row, hd);
}

static void prepare_job(void *arg, int ith, int nth) {
    attn_job *j = arg;
    int64_t nkv = j->c->m->info.n_head_kv, total = (int64_t)j->b->n_tokens * nkv;
    for (int64_t i = total * ith / nth; i < total * (ith + 1) / nth; i++) prepare_item(j->c, j->b, j->layer, (int)(i / nkv), i % nkv);
}

/* The first item that starts at or after `target` units of work, counting
 * an item's work as the positions it attends (pos + 1) and items in their
 * order: (token 0, KV head 0), (token 0, KV head 1), ... Thread ith takes
 * the items from target W * ith / nth to W * (ith + 1) / nth of the total
 * W. Equal counts of items would leave the thread with a prompt's early
 * tokens idle: in a first chunk of 512, the later half attends three times
 * the positions. Which thread runs an item changes no result. */
static int64_t first_item_from(const desk_batch *b, int64_t nkv, int64_t target) {
    int64_t done = 0;
    for (int t = 0; t < b->n_tokens; t++) {
        int64_t w = b->pos[t] + 1;
        if (done + (nkv - 1) * w >= target) return t * nkv + (target <= done ? 0 : (target - done + w - 1) / w);
        done += nkv * w;
    }
    return (int64_t)b->n_tokens * nkv;
}

/* Work items are (token, KV head) pairs; the query heads of a GQA group go
 * to the attention kernel together, which reads each K and V row once for
 * all of them. Every kernel set gives the same bits (quant.h). Unless
 * `prepared` (prepare_job ran first), each item prepares itself just before
 * it attends. That is safe when every token of the batch belongs to another
 * sequence: an item then reads only K and V rows stored by earlier decodes
 * or by itself. When a sequence has two tokens in the batch, the second
 * reads the first's, so the caller runs prepare_job first. */
static void attention_job(void *arg, int ith, int nth) {
    attn_job *j = arg;
    desk_ctx *c = j->c;
    const desk_model_info *in = &c->m->info;
    int64_t hd = in->head_dim, nh = in->n_head, nkv = in->n_head_kv, group = nh / nkv;
    int64_t i0 = first_item_from(j->b, nkv, j->work * ith / nth), i1 = first_item_from(j->b, nkv, j->work * (ith + 1) / nth);
    float *sc = c->scores + (size_t)ith * (size_t)c->p.n_ctx * (size_t)group; /* [group][n_pos] */
    float scale = 1.0f / sqrtf((float)hd);
    desk_kv_fns kv = desk_kv_kernels();
    desk_kv_attend_fn attend = c->p.kv_type == DESK_TYPE_Q8_0 ? kv.q8_0 : kv.f16;
    for (int64_t i = i0; i < i1; i++) {
        int t = (int)(i / nkv);
        int64_t kvh = i % nkv;
        if (!j->prepared) prepare_item(c, j->b, j->layer, t, kvh);
        int seq = j->b->seq[t], pos = j->b->pos[t];
        size_t base = (size_t)seq * (size_t)in->n_layer + (size_t)j->layer;
        size_t head = (size_t)t * (size_t)(nh * hd) + (size_t)(kvh * group * hd);
        size_t kv_index = base * (size_t)nkv + (size_t)kvh;
        attend(c->q + head, (int)group, hd, c->k_cache + kv_index * c->k_head,
               c->v_cache + kv_index * (size_t)c->p.n_ctx * c->v_row, c->v_row, pos + 1, scale, sc, c->att + head);
    }
}

desk_status desk_ctx_decode(desk_ctx *c, const desk_batch *b, desk_error *err) {
    const desk_model *m = c->m;
    const desk_model_info *in = &m->info;
    int T = b->n_tokens;
    if (T <= 0 || T > c->p.n_batch)
        return desk_fail(err, DESK_EINVAL, "batch of %d tokens (1..%d allowed)", T, c->p.n_batch);
    /* validate: tokens, slots, and positions that continue each slot */
    for (int s = 0; s < c->p.n_seq; s++) c->seq_tmp[s] = c->seq_len[s];
    int n_out = 0;
    for (int t = 0; t < T; t++) {
        int s = b->seq[t];
        if (b->tokens[t] < 0 || b->tokens[t] >= in->n_vocab)
            return desk_fail(err, DESK_EINVAL, "token %d at batch index %d is outside the vocabulary (%lld)", b->tokens[t], t,
                             (long long)in->n_vocab);
        if (s < 0 || s >= c->p.n_seq)
            return desk_fail(err, DESK_EINVAL, "sequence %d at batch index %d (0..%d allowed)", s, t, c->p.n_seq - 1);
        if (b->pos[t] != c->seq_tmp[s])
            return desk_fail(err, DESK_EINVAL, "sequence %d: position %d at batch index %d, expected %d", s, b->pos[t], t,
                             c->seq_tmp[s]);
        if (b->pos[t] >= c->p.n_ctx)
            return desk_fail(err, DESK_ERANGE, "sequence %d is full: context of %d positions", s, c->p.n_ctx);
        c->seq_tmp[s]++;
    }
    for (int t = 0; t < T; t++) {
        bool want;
        if (b->want_logits) {
            want = b->want_logits[t];
        } else {
            want = true;
            for (int u = t + 1; u < T; u++)
                if (b->seq[u] == b->seq[t]) { want = false; break; }
        }
        c->out_index[t] = want ? n_out++ : -1;
    }
    if (n_out > c->p.n_outputs)
        return desk_fail(err, DESK_ERANGE, "batch asks for %d logit rows, the context keeps %d", n_out, c->p.n_outputs);

    /* does a sequence have two tokens in this batch (attention_job)? Its
     * first one continues the sequence, the next ones come after it */
    bool shared_seq = false;
    int64_t attn_work = 0; /* the same split for every layer */
    for (int t = 0; t < T; t++) {
        shared_seq |= b->pos[t] != c->seq_len[b->seq[t]];
        attn_work += ((int64_t)b->pos[t] + 1) * in->n_head_kv;
    }
    double t_start = desk_now_s(), t_attention = 0;
    int64_t d = in->n_embd;
    for (int t = 0; t < T; t++)
        desk_dequantize_row(m->tok_embd.type, (const char *)m->tok_embd.data + (size_t)b->tokens[t] * m->tok_embd.row_bytes,
                            c->x + (size_t)t * (size_t)d, d);
    for (int t = 0; t < T; t++) rope_angles(m, b->pos[t], c->rope + (size_t)t * (size_t)m->n_rot); /* all layers */
    for (int l = 0; l < in->n_layer; l++) {
        const desk_layer *L = &m->layers[l];
        for (int t = 0; t < T; t++)
            desk_rmsnorm(c->xb + (size_t)t * d, c->x + (size_t)t * d, L->attn_norm, d, in->rms_eps);
        const desk_mat *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->k, c->v};
        desk_matmul_n(c->pool, 3, qkv, qkv_out, c->xb, T, c->act, false);
        attn_job aj = {c, b, l, shared_seq, attn_work};
        double ta = desk_now_s();
        if (shared_seq) desk_pool_run(c->pool, prepare_job, &aj);
        desk_pool_run(c->pool, attention_job, &aj);
        t_attention += desk_now_s() - ta;
        desk_matmul(c->pool, &L->wo, c->att, T, c->xb, c->act);
        for (size_t i = 0; i < (size_t)T * d; i++) c->x[i] += c->xb[i];
        for (int t = 0; t < T; t++)
            desk_rmsnorm(c->xb + (size_t)t * d, c->x + (size_t)t * d, L->ffn_norm, d, in->rms_eps);
        const desk_mat *glu[2] = {&L->w_gate, &L->w_up};
        float *glu_out[2] = {c->ff1, c->ff2};
        desk_matmul_n(c->pool, 2, glu, glu_out, c->xb, T, c->act, true); /* ff1 = silu(gate) * up */
        desk_matmul(c->pool, &L->w_down, c->ff1, T, c->xb, c->act);
        for (size_t i = 0; i < (size_t)T * d; i++) c->x[i] += c->xb[i];
    }
    for (int s = 0; s < c->p.n_seq; s++) c->seq_len[s] = c->seq_tmp[s];
    if (n_out) {
        for (int t = 0; t < T; t++)
            if (c->out_index[t] >= 0)
                desk_rmsnorm(c->xn_out + (size_t)c->out_index[t] * d, c->x + (size_t)t * d, m->output_norm, d, in->rms_eps);
        /* desk_ctx_eval's row straight into its sequence's logits: a copy
         * of a 150k-token vocabulary's row cost as much as a layer's norms */
        float *rows = n_out == 1 && c->logits_dst ? c->logits_dst : c->logits_out;
        desk_matmul(c->pool, &m->output, c->xn_out, n_out, rows, c->act);
        c->logits_rows = rows;
    }
    double t_all = desk_now_s() - t_start;
    if (shared_seq) {
        c->timing.prompt_batches++;
        c->timing.prompt_s += t_all;
        c->timing.prompt_attention_s += t_attention;
    } else {
        c->timing.gen_steps++;
        c->timing.gen_s += t_all;
        c->timing.gen_attention_s += t_attention;
    }
    return DESK_OK;
}

desk_ctx_timing desk_ctx_timing_get(const desk_ctx *c) { return c->timing; }
void desk_ctx_timing_reset(desk_ctx *c) { memset(&c->timing, 0, sizeof c->timing); }

double desk_ctx_read_pass(desk_ctx *c, const void *buf, size_t bytes, size_t prefetch) {
    double t = desk_read_pass(c->pool, buf, bytes, prefetch);
    return t > 0 ? (double)bytes / t / 1e9 : 0;
}

const float *desk_ctx_batch_logits(const desk_ctx *c, int i) {
    if (i < 0 || i >= c->p.n_batch || c->out_index[i] < 0) return NULL;
    return c->logits_rows + (size_t)c->out_index[i] * (size_t)c->m->info.n_vocab;
}

desk_status desk_ctx_eval(desk_ctx *c, int seq, const int32_t *tokens, int n, desk_error *err) {
    if (seq < 0 || seq >= c->p.n_seq) return desk_fail(err, DESK_EINVAL, "sequence %d (0..%d allowed)", seq, c->p.n_seq - 1);
    if (n <= 0) return desk_fail(err, DESK_EINVAL, "nothing to evaluate");
    if (c->seq_len[seq] + n > c->p.n_ctx)
        return desk_fail(err, DESK_ERANGE, "%d tokens do not fit: sequence %d holds %d of %d positions", n, seq,
                         c->seq_len[seq], c->p.n_ctx);
    for (int done = 0; done < n;) {
        int k = n - done < c->p.n_batch ? n - done : c->p.n_batch;
        for (int i = 0; i < k; i++) {
            c->eval_pos[i] = c->seq_len[seq] + i;
            c->eval_seq[i] = seq;
            c->eval_want[i] = done + i == n - 1;
        }
        desk_batch b = {k, tokens + done, c->eval_pos, c->eval_seq, c->eval_want};
        c->logits_dst = c->seq_logits + (size_t)seq * (size_t)c->m->info.n_vocab; /* the last chunk's one row */
        desk_status s = desk_ctx_decode(c, &b, err);
        c->logits_dst = NULL;
        if (s) return s;
        done += k;
    }
    return DESK_OK;
}

const float *desk_ctx_logits(const desk_ctx *c, int seq) {
    if (seq < 0 || seq >= c->p.n_seq) return NULL;
    return c->seq_logits + (size_t)seq * (size_t)c->m->info.n_vocab;
}
