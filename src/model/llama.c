/*
 * llama.c - binds a GGUF file's tensors to the llama-family architecture:
 * `llama` (Llama 2, Llama 3.x, Mistral) and `qwen2` (Qwen2, Qwen2.5,
 * Qwen2.5-Coder). Reads the hyperparameters, checks every tensor's presence,
 * type and shape, prepares RoPE frequencies (with Llama 3.1 scaling), and
 * loads the tokenizer. The result is immutable and may be shared by any
 * number of contexts and threads.
 */
#include "model/model.h"
#include "text/grammar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const desk_gguf *g;
    const char *path, *arch;
    desk_error *err;
} binder;

static bool get_hp(binder *b, const char *name, int64_t *out, bool required, int64_t dflt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", b->arch, name);
    int64_t v;
    if (!desk_gguf_get_i64(b->g, key, &v)) {
        if (required) {
            desk_fail(b->err, DESK_EFORMAT, "%s: required metadata '%s' is missing or not an integer", b->path, key);
            return false;
        }
        v = dflt;
    }
    if (v <= 0 || v > (1 << 24)) {
        desk_fail(b->err, DESK_EFORMAT, "%s: metadata '%s' = %lld is out of range", b->path, key, (long long)v);
        return false;
    }
    *out = v;
    return true;
}

static float get_f(binder *b, const char *name, float dflt) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", b->arch, name);
    float v;
    return desk_gguf_get_f32(b->g, key, &v) ? v : dflt;
}

/* Finds tensor `name` and checks it is a rows x cols matrix of a supported type. */
static desk_status bind_mat(binder *b, desk_mat *m, const char *name, int64_t rows, int64_t cols, bool optional) {
    const desk_tensor_info *t = desk_gguf_find_tensor(b->g, name);
    if (!t) {
        if (optional) { m->data = NULL; return DESK_OK; }
        return desk_fail(b->err, DESK_EFORMAT, "%s: tensor '%s' is missing", b->path, name);
    }
    if (t->n_dims > 2 || t->ne[0] != cols || t->ne[1] != rows)
        return desk_fail(b->err, DESK_EFORMAT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", b->path,
                         name, (long long)t->ne[0], (long long)t->ne[1], (long long)cols, (long long)rows);
    m->type = t->type;
    m->data = t->data;
    m->rows = rows;
    m->cols = cols;
    m->row_bytes = desk_type_row_size(t->type, cols);
    return DESK_OK;
}

/* A 1-D f32 vector (norm weight or bias). Non-F32 storage is converted into
 * model-owned memory (a few KB per layer). */
static desk_status bind_vec(binder *b, desk_model *m, const float **out, const char *name, int64_t n,
                            bool optional, size_t *owned_used) {
    const desk_tensor_info *t = desk_gguf_find_tensor(b->g, name);
    if (!t) {
        *out = NULL;
        if (optional) return DESK_OK;
        return desk_fail(b->err, DESK_EFORMAT, "%s: tensor '%s' is missing", b->path, name);
    }
    if (t->n_dims != 1 || t->ne[0] != n)
        return desk_fail(b->err, DESK_EFORMAT, "%s: tensor '%s' has %lld elements in %d dims, expected a vector of %lld",
                         b->path, name, (long long)t->ne[0], t->n_dims, (long long)n);
    if (t->type == DESK_TYPE_F32 && ((uintptr_t)t->data % 4) == 0) {
        *out = t->data;
        return DESK_OK;
    }
    float *dst = m->owned_f32 + *owned_used;
    desk_dequantize_row(t->type, t->data, dst, n);
    *owned_used += (size_t)n;
    *out = dst;
    return DESK_OK;
}

/* Llama 3.1 "llama3" RoPE scaling: long wavelengths are slowed by `factor`,
 * short ones kept, the band between interpolated. Returns the divisor of
 * each frequency. */
static float llama3_freq_factor(float inv_freq, float factor, float lo, float hi, float orig_ctx) {
    float wavelen = 2.0f * (float)M_PI / inv_freq;
    float lo_wavelen = orig_ctx / lo, hi_wavelen = orig_ctx / hi;
    if (wavelen < hi_wavelen) return 1.0f;
    if (wavelen > lo_wavelen) return factor;
    float smooth = (orig_ctx / wavelen - lo) / (hi - lo);
    return 1.0f / ((1.0f - smooth) / factor + smooth);
}

/* ------------------------------------------------------------ packed copies
 *
 * Row-group copies (x16 pairs or x8 groups, quant.h and ops.h) of every
 * matrix the kernel set in use has row-group kernels for, in one allocation
 * (so that all of it sits on huge pages), striped by thread: stripe s
 * holds, for each job of a decode step in the order the step runs them
 * (each layer's Q+K+V, O, gate+up, down, then the output matrix), the
 * units the matrix product driver first gives
 * thread s of `stripes` (desk_share_start; Q, K and V are one job whose
 * units run on from one matrix to the next, gate and up are split alike).
 * Gate and up alternate unit by unit (16 rows of each), the order the
 * driver computes them in. So with that many threads each one reads a
 * single run of memory through a whole step, as a plain read of memory
 * does, instead of starting a new stream in every matrix next to the other
 * thread's. Two threads, the 0.5B shape's matrices in decode order, fast
 * memory phase (bench/RESULTS.md): 84-91% of a read pass with one run per
 * matrix, 87-93% striped. Each job's mapped pages are released once its
 * matrices are copied, so memory holds about one copy of the weights. */
typedef struct {
    desk_mat *w[3];
    int n;
    bool glu; /* gate and up: both split by the units of one */
} pack_job;

static int64_t units_of(const desk_mat *w) { return (w->rows + DESK_UNIT_ROWS - 1) / DESK_UNIT_ROWS; }
static bool packable(const desk_mat *w) { return desk_repack8_supported(w->type) && desk_gemv8(w->type) && w->rows >= 8; }

/* units [*a, *b) of job matrix k that stripe s of `stripes` holds */
static void stripe_units(const pack_job *jb, int k, int s, int stripes, int64_t *a, int64_t *b) {
    int64_t total = 0, first = 0;
    for (int i = 0; i < (jb->glu ? 1 : jb->n); i++) {
        if (i == k) first = total;
        total += units_of(jb->w[i]);
    }
    if (jb->glu) first = 0;
    int64_t lo = desk_share_start(total, s, stripes) - first, hi = desk_share_start(total, s + 1, stripes) - first;
    int64_t u = units_of(jb->w[k]);
    *a = lo < 0 ? 0 : lo > u ? u : lo;
    *b = hi < *a ? *a : hi > u ? u : hi;
}

/* gate and up alternate unit by unit in each stripe when they pack alike */
static bool interleaved(const pack_job *jb) {
    const desk_mat *g = jb->w[0], *u = jb->w[1];
    return jb->glu && packable(g) && packable(u) && g->type == u->type && g->rows == u->rows && g->cols == u->cols;
}

/* bytes that units [a, b) of job matrix k take in a stripe (both matrices
 * for interleaved gate and up, then k = 0: four groups a unit; the last
 * unit's missing groups are left as a gap), rounded up to 64 */
static size_t stripe_bytes(const pack_job *jb, int k, int64_t a, int64_t b) {
    const desk_mat *w = jb->w[k];
    size_t group = desk_repack8_bytes(w->type, w->cols);
    if (interleaved(jb)) return k == 0 ? ((size_t)(b - a) * 4 * group + 63) / 64 * 64 : 0;
    int64_t g0 = a * (DESK_UNIT_ROWS / 8), g1 = b * (DESK_UNIT_ROWS / 8), ng = w->rows / 8;
    if (g1 > ng) g1 = ng;
    return g1 > g0 ? ((size_t)(g1 - g0) * group + 63) / 64 * 64 : 0;
}

static desk_status pack_matrices(desk_model *m, int stripes, desk_error *err) {
    desk_model_info *in = &m->info;
    int nj = 0;
    pack_job *jobs = calloc((size_t)(4 * in->n_layer + 1), sizeof *jobs);
    if (!jobs) return desk_fail(err, DESK_ENOMEM, "out of memory");
    for (int64_t l = 0; l < in->n_layer; l++) {
        desk_layer *L = &m->layers[l];
        jobs[nj++] = (pack_job){{&L->wq, &L->wk, &L->wv}, 3, false};
        jobs[nj++] = (pack_job){{&L->wo}, 1, false};
        jobs[nj++] = (pack_job){{&L->w_gate, &L->w_up}, 2, true};
        jobs[nj++] = (pack_job){{&L->w_down}, 1, false};
    }
    jobs[nj++] = (pack_job){{&m->output}, 1, false};
    size_t arena = 0;
    for (int s = 0; s < stripes; s++)
        for (int j = 0; j < nj; j++)
            for (int k = 0; k < jobs[j].n; k++) {
                int64_t a, b;
                stripe_units(&jobs[j], k, s, stripes, &a, &b);
                if (packable(jobs[j].w[k])) arena += stripe_bytes(&jobs[j], k, a, b);
            }
    if (arena && !(m->packed = desk_aligned_alloc(arena))) {
        free(jobs);
        return desk_fail(err, DESK_ENOMEM, "out of memory repacking %s", desk_gguf_path(m->gguf));
    }
    /* where each stripe of each matrix goes */
    char *next = m->packed;
    for (int s = 0; s < stripes; s++)
        for (int j = 0; j < nj; j++) {
            bool il = interleaved(&jobs[j]);
            for (int k = 0; k < jobs[j].n; k++) {
                desk_mat *w = jobs[j].w[k];
                if (!packable(w)) continue;
                int64_t a, b;
                stripe_units(&jobs[j], k, s, stripes, &a, &b);
                size_t group = desk_repack8_bytes(w->type, w->cols);
                /* interleaved: unit u of gate at (u - a) * 4 groups, of up 2 groups after it */
                w->stripe_at[s] = il && k == 1 && a < b ? jobs[j].w[0]->stripe_at[s] + 2 * group : next;
                w->packed_group = group;
                w->unit_stride = (il ? 4 : 2) * group;
                w->stripes = stripes;
                w->stripe_unit[s] = a;
                w->stripe_unit[s + 1] = b;
                next += stripe_bytes(&jobs[j], k, a, b);
            }
        }
    /* then the groups, a job at a time, releasing each job's mapped pages
     * once its matrices are copied: memory never holds much more than one
     * copy of the weights (a 40 GB model on a 48 GB machine) */
    for (int j = 0; j < nj; j++)
        for (int k = 0; k < jobs[j].n; k++) {
            desk_mat *w = jobs[j].w[k];
            if (!packable(w)) continue;
            int64_t ng = w->rows / 8;
            bool pairs = w->pairs = desk_pairs(w->type);
            for (int s = 0; s < stripes; s++)
                for (int64_t u = w->stripe_unit[s]; u < w->stripe_unit[s + 1]; u++)
                    desk_repack_unit(w->type, (const char *)w->data + (size_t)(u * DESK_UNIT_ROWS) * w->row_bytes,
                                     w->row_bytes, w->cols, (int)(ng - 2 * u < 2 ? ng - 2 * u : 2), pairs,
                                     (char *)w->stripe_at[s] + (size_t)(u - w->stripe_unit[s]) * w->unit_stride);
            in->packed_bytes += (uint64_t)ng * w->packed_group;
            /* whole groups of 8 rows are packed; the last rows % 8 stay in the mapping */
            desk_release_pages(w->data, (size_t)(ng * 8) * w->row_bytes); /* embedding lookups (tied output) fault single rows back in */
        }
    free(jobs);
    return DESK_OK;
}

static desk_status model_bind(desk_model *m, int stripes, desk_error *err) {
    const desk_gguf *g = m->gguf;
    desk_model_info *in = &m->info;
    binder b = {g, desk_gguf_path(g), NULL, err};
    const char *arch;
    uint64_t alen;
    if (!desk_gguf_get_str(g, "general.architecture", &arch, &alen))
        return desk_fail(err, DESK_EFORMAT, "%s: general.architecture is missing (is this a model file?)", b.path);
    snprintf(in->arch, sizeof in->arch, "%.*s", (int)(alen < 31 ? alen : 31), arch);
    if (strcmp(in->arch, "llama") && strcmp(in->arch, "qwen2"))
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: architecture '%s' is not supported (llama and qwen2 are)", b.path,
                         in->arch);
    b.arch = in->arch;
    const char *name;
    uint64_t nlen;
    if (desk_gguf_get_str(g, "general.name", &name, &nlen))
        snprintf(in->name, sizeof in->name, "%.*s", (int)(nlen < 127 ? nlen : 127), name);

    if (!get_hp(&b, "embedding_length", &in->n_embd, true, 0) || !get_hp(&b, "block_count", &in->n_layer, true, 0) ||
        !get_hp(&b, "feed_forward_length", &in->n_ff, true, 0) ||
        !get_hp(&b, "attention.head_count", &in->n_head, true, 0) ||
        !get_hp(&b, "attention.head_count_kv", &in->n_head_kv, false, in->n_head) ||
        !get_hp(&b, "context_length", &in->n_ctx_train, false, 2048))
        return err->status;
    if (in->n_embd % in->n_head)
        return desk_fail(err, DESK_EFORMAT, "%s: embedding_length %lld is not a multiple of head_count %lld", b.path,
                         (long long)in->n_embd, (long long)in->n_head);
    if (!get_hp(&b, "attention.key_length", &in->head_dim, false, in->n_embd / in->n_head)) return err->status;
    if (in->head_dim > DESK_MAX_HEAD)
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: head size %lld is larger than %d", b.path, (long long)in->head_dim, DESK_MAX_HEAD);
    int64_t vlen;
    if (!get_hp(&b, "attention.value_length", &vlen, false, in->head_dim)) return err->status;
    if (vlen != in->head_dim)
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: key_length %lld != value_length %lld is not supported", b.path,
                         (long long)in->head_dim, (long long)vlen);
    if (in->n_head % in->n_head_kv)
        return desk_fail(err, DESK_EFORMAT, "%s: head_count %lld is not a multiple of head_count_kv %lld", b.path,
                         (long long)in->n_head, (long long)in->n_head_kv);
    if (!get_hp(&b, "rope.dimension_count", &m->n_rot, false, in->head_dim)) return err->status;
    if (m->n_rot > in->head_dim || m->n_rot % 2)
        return desk_fail(err, DESK_EFORMAT, "%s: rope.dimension_count %lld does not fit head size %lld", b.path,
                         (long long)m->n_rot, (long long)in->head_dim);
    in->rope_base = get_f(&b, "rope.freq_base", 10000.0f);
    in->rms_eps = get_f(&b, "attention.layer_norm_rms_epsilon", 1e-5f);
    if (!(in->rope_base > 0) || !(in->rms_eps > 0) || !isfinite(in->rope_base))
        return desk_fail(err, DESK_EFORMAT, "%s: rope.freq_base or rms epsilon is invalid", b.path);
    m->rope = strcmp(in->arch, "qwen2") == 0 ? ROPE_NEOX : ROPE_NORM;

    desk_status s = desk_vocab_load(&m->vocab, g, err);
    if (s) return s;

    int64_t d = in->n_embd, hd = in->head_dim, nq = in->n_head * hd, nkv = in->n_head_kv * hd, ff = in->n_ff;
    const desk_tensor_info *te = desk_gguf_find_tensor(g, "token_embd.weight");
    if (!te) return desk_fail(err, DESK_EFORMAT, "%s: tensor 'token_embd.weight' is missing", b.path);
    in->n_vocab = te->n_dims == 2 ? te->ne[1] : 0;
    if (in->n_vocab < m->vocab.n)
        return desk_fail(err, DESK_EFORMAT, "%s: token_embd.weight has %lld rows but the tokenizer has %d tokens", b.path,
                         (long long)in->n_vocab, m->vocab.n);
    if ((s = bind_mat(&b, &m->tok_embd, "token_embd.weight", in->n_vocab, d, false))) return s;
    if ((s = bind_mat(&b, &m->output, "output.weight", in->n_vocab, d, true))) return s;
    in->tied_embeddings = m->output.data == NULL;
    if (in->tied_embeddings) m->output = m->tok_embd;

    /* owned f32 space for vectors not stored as aligned F32 */
    size_t owned_need = (size_t)d * (1 + 2 * (size_t)in->n_layer) + (size_t)(nq + 2 * nkv) * (size_t)in->n_layer;
    m->owned_f32 = malloc(owned_need * sizeof(float));
    m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
    if (!m->owned_f32 || !m->layers) return desk_fail(err, DESK_ENOMEM, "out of memory");
    size_t used = 0;
    if ((s = bind_vec(&b, m, &m->output_norm, "output_norm.weight", d, false, &used))) return s;
    bool biases = strcmp(in->arch, "qwen2") == 0;
    for (int64_t l = 0; l < in->n_layer; l++) {
        desk_layer *L = &m->layers[l];
        char n[96];
#define T(suffix) (snprintf(n, sizeof n, "blk.%lld." suffix, (long long)l), n)
        if ((s = bind_vec(&b, m, &L->attn_norm, T("attn_norm.weight"), d, false, &used)) ||
            (s = bind_vec(&b, m, &L->ffn_norm, T("ffn_norm.weight"), d, false, &used)) ||
            (s = bind_mat(&b, &L->wq, T("attn_q.weight"), nq, d, false)) ||
            (s = bind_mat(&b, &L->wk, T("attn_k.weight"), nkv, d, false)) ||
            (s = bind_mat(&b, &L->wv, T("attn_v.weight"), nkv, d, false)) ||
            (s = bind_mat(&b, &L->wo, T("attn_output.weight"), d, nq, false)) ||
            (s = bind_mat(&b, &L->w_gate, T("ffn_gate.weight"), ff, d, false)) ||
            (s = bind_mat(&b, &L->w_up, T("ffn_up.weight"), ff, d, false)) ||
            (s = bind_mat(&b, &L->w_down, T("ffn_down.weight"), d, ff, false)) ||
            (s = bind_vec(&b, m, &L->bq, T("attn_q.bias"), nq, !biases, &used)) ||
            (s = bind_vec(&b, m, &L->bk, T("attn_k.bias"), nkv, !biases, &used)) ||
            (s = bind_vec(&b, m, &L->bv, T("attn_v.bias"), nkv, !biases, &used)))
            return s;
#undef T
    }

    /* RoPE inverse frequencies, divided by the Llama 3.1 factors when present */
    int64_t half = m->n_rot / 2;
    m->rope_inv_freq = malloc((size_t)half * sizeof(float));
    if (!m->rope_inv_freq) return desk_fail(err, DESK_ENOMEM, "out of memory");
    for (int64_t i = 0; i < half; i++)
        m->rope_inv_freq[i] = (float)pow((double)in->rope_base, -2.0 * (double)i / (double)m->n_rot);
    const desk_tensor_info *rf = desk_gguf_find_tensor(g, "rope_freqs.weight");
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", in->arch);
    const char *st;
    uint64_t stl;
    bool llama3_meta = desk_gguf_get_str(g, key, &st, &stl) && stl == 6 && memcmp(st, "llama3", 6) == 0;
    if (rf) {
        if (rf->type != DESK_TYPE_F32 || rf->n_dims != 1 || rf->ne[0] != half)
            return desk_fail(err, DESK_EFORMAT, "%s: rope_freqs.weight must be %lld F32 values", b.path, (long long)half);
        const float *f = rf->data;
        for (int64_t i = 0; i < half; i++) {
            if (!(f[i] > 0)) return desk_fail(err, DESK_EFORMAT, "%s: rope_freqs.weight[%lld] is not positive", b.path, (long long)i);
            m->rope_inv_freq[i] /= f[i];
        }
    } else if (llama3_meta) {
        float factor = get_f(&b, "rope.scaling.factor", 8.0f), lo = get_f(&b, "rope.scaling.low_freq_factor", 1.0f),
              hi = get_f(&b, "rope.scaling.high_freq_factor", 4.0f),
              orig = get_f(&b, "rope.scaling.original_context_length", 8192.0f);
        int64_t oc;
        snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", in->arch);
        if (desk_gguf_get_i64(g, key, &oc)) orig = (float)oc;
        if (!(factor >= 1) || !(hi > lo) || !(orig > 0))
            return desk_fail(err, DESK_EFORMAT, "%s: llama3 rope scaling parameters are invalid", b.path);
        for (int64_t i = 0; i < half; i++)
            m->rope_inv_freq[i] /= llama3_freq_factor(m->rope_inv_freq[i], factor, lo, hi, orig);
    }

    desk_status ps = pack_matrices(m, stripes, err);
    if (ps) return ps;

    /* statistics for `desk info` */
    for (int64_t i = 0; i < desk_gguf_n_tensors(g); i++) {
        const desk_tensor_info *t = desk_gguf_tensor(g, i);
        int64_t ne = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        in->n_params += ne;
        in->type_count[t->type]++;
        in->type_params[t->type] += ne;
        in->weight_bytes += t->nbytes;
    }
    in->file_size = desk_gguf_file_size(g);
    const desk_mat *per_token[] = {&m->output};
    in->bytes_per_token = (uint64_t)per_token[0]->rows * per_token[0]->row_bytes;
    for (int64_t l = 0; l < in->n_layer; l++) {
        const desk_layer *L = &m->layers[l];
        const desk_mat *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t k = 0; k < sizeof ms / sizeof *ms; k++) in->bytes_per_token += (uint64_t)ms[k]->rows * ms[k]->row_bytes;
    }
    return DESK_OK;
}

static desk_status model_open(const char *path, bool vocab_only, int threads, desk_model **out, desk_error *err) {
    *out = NULL;
    desk_model *m = calloc(1, sizeof *m);
    if (!m) return desk_fail(err, DESK_ENOMEM, "out of memory");
    pthread_mutex_init(&m->trie_mu, NULL);
    desk_status s = desk_gguf_open(path, &m->gguf, err);
    if (!s && vocab_only) {
        s = desk_vocab_load(&m->vocab, m->gguf, err);
        m->info.n_vocab = m->vocab.n;
        m->vocab_only = true;
    } else if (!s) {
        int stripes = threads > 0 ? threads : desk_n_cores();
        s = model_bind(m, stripes < 1 ? 1 : stripes > DESK_MAX_STRIPES ? DESK_MAX_STRIPES : stripes, err);
    }
    if (s) {
        desk_model_free(m);
        return s;
    }
    *out = m;
    return DESK_OK;
}

desk_status desk_model_load(const char *path, desk_model **out, desk_error *err) {
    return model_open(path, false, 0, out, err);
}

desk_status desk_model_load_for(const char *path, int threads, desk_model **out, desk_error *err) {
    return model_open(path, false, threads, out, err);
}

desk_status desk_model_load_vocab(const char *path, desk_model **out, desk_error *err) {
    return model_open(path, true, 0, out, err);
}

void desk_model_free(desk_model *m) {
    if (!m) return;
    desk_vocab_free(&m->vocab);
    desk_aligned_free(m->packed);
    free(m->layers);
    free(m->owned_f32);
    free(m->rope_inv_freq);
    desk_gguf_close(m->gguf);
    dgtrie_free(m->trie);
    pthread_mutex_destroy(&m->trie_mu);
    free(m);
}

const struct dgtrie *desk_model_token_trie(const desk_model *cm) {
    desk_model *m = (desk_model *)cm; /* the lazily built trie is the one mutable part, under its lock */
    pthread_mutex_lock(&m->trie_mu);
    if (!m->trie) {
        int32_t n = m->vocab.n;
        char **bytes = calloc((size_t)(n ? n : 1), sizeof *bytes);
        uint16_t *len = calloc((size_t)(n ? n : 1), sizeof *len);
        char *buf = malloc(DG_MAX_TOKEN);
        bool ok = bytes && len && buf;
        for (int32_t i = 0; ok && i < n; i++) {
            if (desk_token_is_eog(m, i) || desk_token_is_special(m, i)) continue; /* not text */
            size_t k = desk_token_bytes(m, i, buf, DG_MAX_TOKEN);
            if (!k || k > DG_MAX_TOKEN) continue;
            ok = (bytes[i] = malloc(k)) != NULL;
            if (ok) memcpy(bytes[i], buf, k), len[i] = (uint16_t)k;
        }
        if (ok) m->trie = dgtrie_new(n, (const char *const *)bytes, len);
        for (int32_t i = 0; bytes && i < n; i++) free(bytes[i]);
        free(bytes);
        free(len);
        free(buf);
    }
    pthread_mutex_unlock(&m->trie_mu);
    return m->trie;
}

void desk_model_get_info(const desk_model *m, desk_model_info *info) { *info = m->info; }
const desk_gguf *desk_model_gguf(const desk_model *m) { return m->gguf; }

uint64_t desk_model_kv_bytes(const desk_model *m, int64_t n_ctx, int kv_type) {
    int type = kv_type == DESK_TYPE_Q8_0 ? DESK_TYPE_Q8_0 : DESK_TYPE_F16;
    uint64_t v_row = desk_type_row_size(type, m->info.n_head_kv * m->info.head_dim);
    uint64_t k_head = (uint64_t)((n_ctx + 15) / 16) * desk_kv_tile_bytes(type, m->info.head_dim); /* whole tiles */
    return (uint64_t)m->info.n_layer * ((uint64_t)n_ctx * v_row + (uint64_t)m->info.n_head_kv * k_head);
}

/* ------------------------------------------------------------ tokenizer API */

int32_t desk_vocab_size(const desk_model *m) { return (int32_t)m->info.n_vocab; }
int32_t desk_token_bos(const desk_model *m) { return m->vocab.bos; }
int32_t desk_token_eos(const desk_model *m) { return m->vocab.eos; }
bool desk_token_is_eog(const desk_model *m, int32_t t) { return t >= 0 && t < m->vocab.n && m->vocab.is_eog[t]; }
bool desk_token_is_special(const desk_model *m, int32_t t) {
    return t >= 0 && t < m->vocab.n && (m->vocab.types[t] == TOKTYPE_CONTROL || m->vocab.types[t] == TOKTYPE_USER ||
                                        m->vocab.types[t] == TOKTYPE_UNKNOWN);
}
const char *desk_token_text(const desk_model *m, int32_t t, size_t *len) {
    if (t < 0 || t >= m->vocab.n) { *len = 0; return ""; }
    *len = m->vocab.text[t].len;
    return m->vocab.text[t].s;
}
size_t desk_token_bytes(const desk_model *m, int32_t t, char *buf, size_t cap) {
    return desk_vocab_piece(&m->vocab, t, buf, cap);
}

desk_status desk_tokenize(const desk_model *m, const char *text, size_t len, int flags, int32_t *out, int cap,
                          int *n_out, desk_error *err) {
    return desk_vocab_tokenize(&m->vocab, text, len, flags, out, cap, n_out, err);
}
