/*
 * desk.h - the public API of libdesk, and its table of contents.
 *
 * libdesk loads GGUF language models by mmap and runs Llama- and Qwen2-family
 * transformers on the CPU with quantized SIMD kernels. Everything the `desk`
 * command does, it does through this header.
 *
 * Parts, in the order a program uses them:
 *   1. Status and errors    desk_status, desk_error
 *   2. GGUF files           desk_gguf_* (reader), desk_gguf_writer_* (writer)
 *   3. Tensor types         desk_type_*, desk_quantize_row, desk_dequantize_row
 *   4. Models               desk_model_* (immutable once loaded; share it freely)
 *   5. Tokenizer            desk_tokenize, desk_token_text, desk_token_bytes, desk_detok_*
 *   6. Contexts             desk_ctx_* (KV-cache slots, scratch, thread pool)
 *   7. Sampling             desk_sampler_*, desk_logprobs
 *   8. Machine              desk_cpu_features
 *   9. Scheduler            desk_sched_*, desk_request_* (continuous batching of many
 *                           requests over one context, on its own thread)
 *  10. Chat templates       desk_template_* (the model's own Jinja chat template, rendered in C)
 *  11. Structured output    desk_grammar_* (GBNF grammars, JSON Schema), desk_sampler_set_grammar
 *
 * Example: greedy completion.
 *
 *     desk_error err;
 *     desk_model *m;
 *     if (desk_model_load("model.gguf", &m, &err) != DESK_OK) { puts(err.msg); return 1; }
 *     desk_ctx_params cp = desk_ctx_default_params();
 *     desk_ctx *c;
 *     if (desk_ctx_new(m, &cp, &c, &err) != DESK_OK) { ... }
 *     int32_t toks[512]; int n;
 *     desk_tokenize(m, "Once upon a time", 16, DESK_TOK_ADD_BOS, toks, 512, &n, &err);
 *     desk_ctx_eval(c, 0, toks, n, &err);               // prefill slot 0
 *     const float *logits = desk_ctx_logits(c, 0);      // last token's logits
 *     ... pick a token, desk_ctx_eval(c, 0, &tok, 1, &err), repeat ...
 *     desk_ctx_free(c); desk_model_free(m);
 *
 * Conventions: every object has a create/free pair and free(NULL) is harmless;
 * functions that can fail return desk_status and fill a desk_error whose
 * message names the file, tensor, key or byte offset at fault. The library
 * never prints and never exits.
 */
#ifndef DESK_H
#define DESK_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DESK_VERSION "0.1.0"

/* ---------------------------------------------------------------- 1. status */

typedef enum {
    DESK_OK = 0,
    DESK_EIO,          /* could not open, read, map or write a file */
    DESK_EFORMAT,      /* bytes that do not follow the format (file is corrupt or truncated) */
    DESK_EUNSUPPORTED, /* valid, but not something desk implements (architecture, type) */
    DESK_EINVAL,       /* a bad argument from the caller */
    DESK_ENOMEM,       /* an allocation failed */
    DESK_ERANGE,       /* a limit was hit (context full, buffer too small) */
    DESK_EBUSY         /* every slot and queue place is taken: try again later */
} desk_status;

typedef struct {
    desk_status status;
    char msg[512];
} desk_error;

const char *desk_status_name(desk_status s);

/* ----------------------------------------------------------- 2. GGUF files */

typedef enum {
    DESK_GGUF_UINT8 = 0, DESK_GGUF_INT8 = 1, DESK_GGUF_UINT16 = 2, DESK_GGUF_INT16 = 3,
    DESK_GGUF_UINT32 = 4, DESK_GGUF_INT32 = 5, DESK_GGUF_FLOAT32 = 6, DESK_GGUF_BOOL = 7,
    DESK_GGUF_STRING = 8, DESK_GGUF_ARRAY = 9, DESK_GGUF_UINT64 = 10, DESK_GGUF_INT64 = 11,
    DESK_GGUF_FLOAT64 = 12
} desk_gguf_vtype;

typedef struct desk_gguf desk_gguf;

typedef struct {
    const char *name;      /* NUL-terminated copy of the tensor name */
    int type;              /* desk_type */
    int n_dims;            /* 1..4 */
    int64_t ne[4];         /* elements per dimension, ne[0] is the row length */
    uint64_t offset;       /* from the start of the data section */
    uint64_t nbytes;
    const void *data;      /* points into the read-only mapping */
} desk_tensor_info;

/* Maps `path` read-only and validates the whole header, every string length,
 * count, tensor shape, type, offset and size against the file size. */
desk_status desk_gguf_open(const char *path, desk_gguf **out, desk_error *err);
/* Same, over bytes the caller owns (they must outlive the handle). */
desk_status desk_gguf_open_memory(const void *data, size_t size, const char *name,
                                  desk_gguf **out, desk_error *err);
void desk_gguf_close(desk_gguf *g);

uint32_t    desk_gguf_version(const desk_gguf *g);
uint64_t    desk_gguf_file_size(const desk_gguf *g);
const char *desk_gguf_path(const desk_gguf *g);
int64_t     desk_gguf_n_kv(const desk_gguf *g);
const char *desk_gguf_key(const desk_gguf *g, int64_t i);
int64_t     desk_gguf_find(const desk_gguf *g, const char *key);      /* -1 if absent */
desk_gguf_vtype desk_gguf_kv_type(const desk_gguf *g, int64_t i);
desk_gguf_vtype desk_gguf_arr_type(const desk_gguf *g, int64_t i);   /* element type of an array */
uint64_t    desk_gguf_arr_n(const desk_gguf *g, int64_t i);
/* Typed getters: return false if the key is absent or has another type.
 * Integer getters accept any integer type whose value fits. */
bool desk_gguf_get_u64(const desk_gguf *g, const char *key, uint64_t *v);
bool desk_gguf_get_i64(const desk_gguf *g, const char *key, int64_t *v);
bool desk_gguf_get_f32(const desk_gguf *g, const char *key, float *v);
bool desk_gguf_get_bool(const desk_gguf *g, const char *key, bool *v);
/* Strings are not NUL-terminated in the file: this gives pointer and length. */
bool desk_gguf_get_str(const desk_gguf *g, const char *key, const char **s, uint64_t *len);
/* Element j of a string array. */
bool desk_gguf_arr_str(const desk_gguf *g, int64_t i, uint64_t j, const char **s, uint64_t *len);
/* Pointer to the raw little-endian elements of a numeric array. */
const void *desk_gguf_arr_data(const desk_gguf *g, int64_t i);
/* Writes the value of KV i as text (arrays abbreviated) for display. */
void desk_gguf_kv_format(const desk_gguf *g, int64_t i, char *buf, size_t cap);

int64_t desk_gguf_n_tensors(const desk_gguf *g);
const desk_tensor_info *desk_gguf_tensor(const desk_gguf *g, int64_t i);
const desk_tensor_info *desk_gguf_find_tensor(const desk_gguf *g, const char *name);

typedef struct desk_gguf_writer desk_gguf_writer;

desk_gguf_writer *desk_gguf_writer_new(void);
void desk_gguf_writer_free(desk_gguf_writer *w);
/* Setters replace an existing key of the same name. */
desk_status desk_gguf_set_str(desk_gguf_writer *w, const char *key, const char *val);
desk_status desk_gguf_set_u32(desk_gguf_writer *w, const char *key, uint32_t val);
desk_status desk_gguf_set_i32(desk_gguf_writer *w, const char *key, int32_t val);
desk_status desk_gguf_set_f32(desk_gguf_writer *w, const char *key, float val);
desk_status desk_gguf_set_bool(desk_gguf_writer *w, const char *key, bool val);
desk_status desk_gguf_set_arr(desk_gguf_writer *w, const char *key, desk_gguf_vtype elem,
                              const void *data, uint64_t n);            /* numeric elements */
desk_status desk_gguf_set_arr_str(desk_gguf_writer *w, const char *key,
                                  const char *const *strs, const uint64_t *lens, uint64_t n);
/* Copies a KV pair from an open file (any type). */
desk_status desk_gguf_copy_kv(desk_gguf_writer *w, const desk_gguf *src, int64_t i);
/* Adds a tensor; `data` (desk_type_row_size(type, ne[0]) * rows bytes) is
 * copied. With data == NULL the bytes are produced at write time by the
 * callback given to desk_gguf_write_with, one tensor at a time, so a large
 * file never has to fit in memory. */
desk_status desk_gguf_add_tensor(desk_gguf_writer *w, const char *name, int type,
                                 int n_dims, const int64_t *ne, const void *data);
desk_status desk_gguf_write(desk_gguf_writer *w, const char *path, desk_error *err);
typedef desk_status (*desk_gguf_fill_fn)(void *ctx, int64_t index, const char *name, void *out,
                                         uint64_t nbytes, desk_error *err);
desk_status desk_gguf_write_with(desk_gguf_writer *w, const char *path, desk_gguf_fill_fn fill,
                                 void *ctx, desk_error *err);

/* Converts a model file to another tensor type: "Q8_0", "Q4_0" (every
 * matrix), or "Q4_K_M" (Q4_K, with Q6_K for the output/tied embedding and for
 * attn_v and ffn_down in the first and last eighth of the layers and every
 * third layer between, as llama.cpp does). Rows that a K-quant cannot cover
 * (length not a multiple of 256) fall back to Q5_0 / Q8_0. 1-D tensors stay
 * F32. The input must be F32/F16/BF16 unless allow_requantize. */
desk_status desk_quantize_file(const char *in, const char *out, const char *type, int n_threads,
                               bool allow_requantize, desk_error *err);
/* The type desk_quantize_file gives a tensor (-1 for an unknown mix). */
int desk_quant_mix_type(const char *mix, const char *tensor_name, int n_dims, int64_t ne0,
                        int64_t n_layer, bool tied);

/* ---------------------------------------------------------- 3. tensor types */

/* Values are the GGML type ids used in GGUF files. */
typedef enum {
    DESK_TYPE_F32 = 0, DESK_TYPE_F16 = 1, DESK_TYPE_Q4_0 = 2, DESK_TYPE_Q4_1 = 3,
    DESK_TYPE_Q5_0 = 6, DESK_TYPE_Q5_1 = 7, DESK_TYPE_Q8_0 = 8,
    DESK_TYPE_Q2_K = 10, DESK_TYPE_Q3_K = 11, DESK_TYPE_Q4_K = 12, DESK_TYPE_Q5_K = 13,
    DESK_TYPE_Q6_K = 14, DESK_TYPE_BF16 = 30,
    DESK_TYPE_COUNT = 31
} desk_type;

bool        desk_type_supported(int type);
const char *desk_type_name(int type);              /* "Q4_K", or "type 17" for unknown ids */
int         desk_type_from_name(const char *name); /* -1 if unknown */
int64_t     desk_type_block_elems(int type);       /* elements per block */
int64_t     desk_type_block_bytes(int type);
/* Bytes for a row of n elements; 0 if n is not a multiple of the block size. */
uint64_t    desk_type_row_size(int type, int64_t n);
/* Reference (scalar) conversions of one row; n must be a multiple of the block. */
void desk_quantize_row(int type, const float *x, void *out, int64_t n);
void desk_dequantize_row(int type, const void *x, float *out, int64_t n);

/* ----------------------------------------------------------------- 4. model */

typedef struct desk_model desk_model;

typedef struct {
    char arch[32];          /* "llama" or "qwen2" */
    char name[128];         /* general.name, if present */
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_ctx_train;
    float rope_base, rms_eps;
    bool tied_embeddings;
    int64_t n_params;
    uint64_t file_size, weight_bytes;
    uint64_t packed_bytes;                /* matrices copied into a SIMD-friendly layout at load
                                           * (their mapped pages are released: not counted twice) */
    uint64_t bytes_per_token;             /* weight bytes one decode step reads: every layer
                                           * matrix and the output matrix (not the embedding table) */
    int64_t type_count[DESK_TYPE_COUNT];   /* tensors per type */
    int64_t type_params[DESK_TYPE_COUNT];  /* parameters per type */
} desk_model_info;

desk_status desk_model_load(const char *path, desk_model **out, desk_error *err);
/* The same, with the weights laid out for contexts of `threads` threads
 * (each thread's part of every matrix in one run of memory, in the order a
 * decode step reads them; at most 16); desk_model_load lays them out for the
 * number of cores. Contexts of any thread count work with any layout and
 * give the same bits; a matching one streams the weights fastest. */
desk_status desk_model_load_for(const char *path, int threads, desk_model **out, desk_error *err);
/* Loads only the tokenizer (any GGUF with tokenizer metadata, weights or
 * not): enough for desk_tokenize and detokenization, not for a context. */
desk_status desk_model_load_vocab(const char *path, desk_model **out, desk_error *err);
void desk_model_free(desk_model *m);
void desk_model_get_info(const desk_model *m, desk_model_info *info);
const desk_gguf *desk_model_gguf(const desk_model *m);
/* Bytes of KV cache for n_ctx positions in one sequence, K and V stored as
 * kv_type (DESK_TYPE_F16 or DESK_TYPE_Q8_0), K in whole tiles of 16
 * positions; also what attention reads per token at n_ctx positions. */
uint64_t desk_model_kv_bytes(const desk_model *m, int64_t n_ctx, int kv_type);

/* ------------------------------------------------------------- 5. tokenizer */

enum {
    DESK_TOK_ADD_BOS = 1,       /* prepend BOS if the vocabulary asks for it */
    DESK_TOK_PARSE_SPECIAL = 2  /* "<|eot_id|>" written in the text becomes that token */
};

int32_t desk_vocab_size(const desk_model *m);
int32_t desk_token_bos(const desk_model *m);   /* -1 if none */
int32_t desk_token_eos(const desk_model *m);
bool    desk_token_is_eog(const desk_model *m, int32_t tok);  /* end of generation */
bool    desk_token_is_special(const desk_model *m, int32_t tok);
/* The token's text as stored in the vocabulary, for display. */
const char *desk_token_text(const desk_model *m, int32_t tok, size_t *len);
/* The bytes the token stands for in output text (byte-level BPE unmapped,
 * SentencePiece's U+2581 as a space, <0xNN> as that byte; special tokens as
 * their text). Not NUL-terminated and maybe not whole UTF-8 characters.
 * Returns the length (at most cap; 1024 always suffices). */
size_t desk_token_bytes(const desk_model *m, int32_t tok, char *buf, size_t cap);

/* Tokenizes UTF-8 text. On DESK_ERANGE *n_out holds the count needed. */
desk_status desk_tokenize(const desk_model *m, const char *text, size_t len, int flags,
                          int32_t *out, int cap, int *n_out, desk_error *err);

/* Streaming detokenizer: bytes of pieces are buffered until they form whole
 * UTF-8 characters, so the text it yields is always valid UTF-8. */
typedef struct {
    unsigned char pending[8];
    int n_pending;
    bool first;          /* strip the SPM leading space of the first piece */
} desk_detok;

void desk_detok_init(desk_detok *d);
/* For text that continues the tokens prev[0, n_prev) (a prompt): the first
 * piece keeps its SentencePiece leading space unless prev holds no text
 * (only BOS and other special tokens), so prompt + output reads right. */
void desk_detok_init_after(desk_detok *d, const desk_model *m, const int32_t *prev, int n_prev);
/* Appends the text of `tok` to buf (NUL-terminated); returns bytes written
 * (excluding NUL). cap >= 1024 always suffices for one token. Special tokens
 * (BOS, EOS) produce no text unless `show_special`. */
size_t desk_detok_push(const desk_model *m, desk_detok *d, int32_t tok, bool show_special,
                       char *buf, size_t cap);
/* Flushes an incomplete trailing sequence as U+FFFD. */
size_t desk_detok_flush(desk_detok *d, char *buf, size_t cap);

/* --------------------------------------------------------------- 6. context */

typedef struct desk_ctx desk_ctx;

typedef struct {
    int n_ctx;      /* positions per sequence slot (0 = the model's training context, capped at 4096) */
    int n_seq;      /* sequence slots (each has its own KV cache) */
    int n_batch;    /* most tokens in one forward pass */
    int n_threads;  /* 0 = every core */
    int n_outputs;  /* most logit rows one decode may keep (0 = n_seq) */
    int kv_type;    /* KV cache element type: DESK_TYPE_F16 (default; 0 means it too) or
                     * DESK_TYPE_Q8_0 (about half the memory; head size must be a multiple of 32) */
} desk_ctx_params;

desk_ctx_params desk_ctx_default_params(void);
desk_status desk_ctx_new(const desk_model *m, const desk_ctx_params *p, desk_ctx **out,
                         desk_error *err);
void desk_ctx_free(desk_ctx *c);
int  desk_ctx_n_ctx(const desk_ctx *c);
int  desk_ctx_n_seq(const desk_ctx *c);
/* Bytes a context with these parameters would allocate (KV cache + scratch). */
uint64_t desk_ctx_estimate_memory(const desk_model *m, const desk_ctx_params *p);
/* Bytes the context allocated: KV cache and scratch. */
uint64_t desk_ctx_memory(const desk_ctx *c);

/* One forward pass over tokens of one or more sequences. Token i goes to slot
 * seq[i] at position pos[i]; positions of a slot must continue that slot's
 * cache (pos == slot length). Logits are kept for tokens whose want_logits[i]
 * is set (NULL = the last token of each sequence in the batch). */
typedef struct {
    int n_tokens;
    const int32_t *tokens;
    const int32_t *pos;
    const int32_t *seq;
    const bool *want_logits;
} desk_batch;

desk_status desk_ctx_decode(desk_ctx *c, const desk_batch *b, desk_error *err);
/* Logits (n_vocab floats) of batch token i of the last decode, or NULL. */
const float *desk_ctx_batch_logits(const desk_ctx *c, int i);
/* Convenience: append n tokens to slot `seq` (splitting into n_batch chunks)
 * and keep the last token's logits, available from desk_ctx_logits(). */
desk_status desk_ctx_eval(desk_ctx *c, int seq, const int32_t *tokens, int n, desk_error *err);
const float *desk_ctx_logits(const desk_ctx *c, int seq);
int  desk_ctx_seq_len(const desk_ctx *c, int seq);
/* Forgets positions >= n of a slot (0 clears it). */
void desk_ctx_seq_truncate(desk_ctx *c, int seq, int n);
/* Where the context's forward passes spent their wall time since it was
 * made or last reset: prompt batches (a sequence has more than one token in
 * the batch) and generation steps (one token per sequence) apart, each with
 * the share spent in attention (from the scores to the weighted sum; the
 * rest is mostly the weight matrices). Two clock reads a layer. */
typedef struct {
    int64_t prompt_batches, gen_steps;   /* desk_ctx_decode calls of each kind */
    double prompt_s, prompt_attention_s; /* seconds in them, and in their attention */
    double gen_s, gen_attention_s;
} desk_ctx_timing;
desk_ctx_timing desk_ctx_timing_get(const desk_ctx *c);
void desk_ctx_timing_reset(desk_ctx *c);
/* One pass of the bandwidth probe's read loop (desk_probe_bandwidth) over
 * `bytes` of buf on the context's own threads, `prefetch` bytes of software
 * prefetch ahead (0: none); returns GB/s. For benchmarks: a pass between two
 * decode steps sees the memory in the same state as the steps around it. */
double desk_ctx_read_pass(desk_ctx *c, const void *buf, size_t bytes, size_t prefetch);
/* A buffer for such passes, laid out as the packed weights are: zeroed,
 * 64-byte aligned, and from 4 MiB up on 2 MiB boundaries, advised as huge
 * pages where the system has them (on 4 KiB pages a read pass runs 10-20%
 * slower than the weights stream). NULL without memory; free with
 * desk_read_buffer_free. */
void *desk_read_buffer_alloc(size_t bytes);
void desk_read_buffer_free(void *p);

/* -------------------------------------------------------------- 7. sampling */

typedef struct {
    float temperature;        /* <= 0: greedy */
    int   top_k;              /* 0 = off */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off */
    float repeat_penalty;     /* 1 = off; divides positive logits of recent tokens */
    int   repeat_last_n;      /* tokens looked back for the penalties */
    float frequency_penalty;  /* 0 = off; minus count * f */
    float presence_penalty;   /* 0 = off; minus p if seen */
    uint64_t seed;
} desk_sampler_params;

typedef struct desk_sampler desk_sampler;

desk_sampler_params desk_sampler_default_params(void);
desk_status desk_sampler_new(const desk_sampler_params *p, int32_t n_vocab, desk_sampler **out,
                             desk_error *err);
void desk_sampler_free(desk_sampler *s);
/* Picks a token from logits (not modified). Deterministic for a seed. */
int32_t desk_sampler_sample(desk_sampler *s, const float *logits);
/* Records a token of the sequence (prompt and generated) for the penalties. */
void desk_sampler_accept(desk_sampler *s, int32_t tok);
void desk_sampler_reset(desk_sampler *s);

/* Log-probabilities of the model's distribution: log-softmax of the raw
 * logits (before penalties, temperature and truncation, as OpenAI and vLLM
 * report them), for one chosen token and the n_top most likely tokens (ties
 * to the lower id), best first. */
#define DESK_MAX_TOP_LOGPROBS 20
typedef struct { int32_t tok; float logprob; } desk_token_logprob;
typedef struct {
    int32_t tok;
    float logprob;
    int n_top;
    desk_token_logprob top[DESK_MAX_TOP_LOGPROBS];
} desk_token_info;
/* n_top is clamped to 0 .. DESK_MAX_TOP_LOGPROBS. */
void desk_logprobs(const float *logits, int32_t n_vocab, int32_t tok, int n_top, desk_token_info *out);

/* --------------------------------------------------------------- 8. machine */

typedef struct {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vnni, avxvnni, neon, dotprod;
    int n_cores;
    const char *kernel;   /* the kernel set in use: "avx512", "avx2", "neon", "scalar" */
} desk_cpu_info;

void desk_cpu_features(desk_cpu_info *info);
/* Measured memory read bandwidth in GB/s (1e9 bytes/s): n_threads (0 = all
 * cores) stream a `bytes` buffer (at least 64 MiB) `passes` times in each of
 * four ways (vector loads without, and with three distances of, software
 * prefetch, up to 8 KiB); the best pass counts. Returns 0 if the buffer cannot be allocated. */
double desk_probe_bandwidth(int n_threads, size_t bytes, int passes);
/* Forces a kernel set ("scalar", "avx2", "avx512", "neon"); for tests and
 * benchmarks. Returns false if this CPU cannot run it. Not thread-safe.
 * Models loaded afterwards lay their weights out for that set; one loaded
 * before gives the same bits, more slowly where its layout does not suit
 * the set (it then reads those matrices as they are in the file). */
bool desk_set_kernels(const char *name);

/* ------------------------------------------------------------- 9. scheduler */

/* A scheduler owns a context with n_slots sequence slots and a thread that
 * runs it: requests wait in a bounded queue for a free slot, then every step
 * decodes one token for each generating request and a chunk of prompt for
 * requests still reading theirs, all in one forward pass. Because the engine
 * is bit-reproducible across batch composition, a request's tokens are the
 * same as when it runs alone (and as `desk run` with the same seed). */
typedef struct desk_sched desk_sched;
typedef struct desk_request desk_request;
typedef struct desk_grammar desk_grammar;   /* part 11 */

typedef struct {
    int n_slots;       /* requests generating at once (each has its own KV cache slot) */
    int n_ctx;         /* positions per slot: the prompt plus what is generated */
    int n_batch;       /* most tokens per forward pass (prompt chunks fill what decode leaves) */
    int n_threads;     /* 0 = every core */
    int queue_max;     /* requests waiting for a slot before submit says DESK_EBUSY */
    int kv_type;       /* as in desk_ctx_params */
} desk_sched_params;

typedef struct {
    const int32_t *prompt;   /* copied at submit */
    int n_prompt;            /* 1 .. n_ctx - 1 */
    int max_tokens;          /* generated tokens at most (>= 1) */
    bool ignore_eos;         /* keep going past end-of-generation tokens */
    desk_sampler_params sampling;
    bool logprobs;           /* compute each token's log-probability (desk_request_next_info) */
    int top_logprobs;        /* and that many alternatives (0 .. DESK_MAX_TOP_LOGPROBS) */
    desk_grammar *grammar;   /* output constraint, or NULL; a submitted request takes it (and frees it) */
} desk_request_params;

typedef enum {
    DESK_FINISH_NONE = 0,    /* still running */
    DESK_FINISH_STOP,        /* the model produced an end-of-generation token (not delivered) */
    DESK_FINISH_LENGTH,      /* max_tokens reached */
    DESK_FINISH_CONTEXT,     /* the slot's context is full */
    DESK_FINISH_CANCELLED,   /* desk_request_cancel, or the scheduler was freed */
    DESK_FINISH_ERROR        /* the forward pass failed (message in desk_request_error) */
} desk_finish;

desk_sched_params desk_sched_default_params(void);
desk_status desk_sched_new(const desk_model *m, const desk_sched_params *p, desk_sched **out, desk_error *err);
/* Stops the thread; unfinished requests finish as DESK_FINISH_CANCELLED
 * (their handles stay valid until desk_request_free). */
void desk_sched_free(desk_sched *s);
/* Queues a request. DESK_EINVAL for bad parameters, DESK_ERANGE if the
 * prompt does not fit a slot's context (the message says how many tokens it
 * has and how many fit), DESK_EBUSY when queue_max requests already wait. */
desk_status desk_sched_submit(desk_sched *s, const desk_request_params *p, desk_request **out, desk_error *err);
/* Waits up to timeout_ms (< 0: forever) for the request's next token.
 * Returns 1 with *tok set, 0 when the request has finished and every token
 * was taken, -1 on timeout. */
int desk_request_next(desk_request *r, int32_t *tok, int timeout_ms);
/* The same, with the token's log-probabilities when the request asked for
 * them (otherwise logprob is 0 and n_top 0). */
int desk_request_next_info(desk_request *r, desk_token_info *info, int timeout_ms);
desk_finish desk_request_finish(const desk_request *r);
const char *desk_request_error(const desk_request *r);
/* Stops generating and frees the slot at once (safe to call at any time). */
void desk_request_cancel(desk_request *r);
/* Releases the handle (cancels first if still running). */
void desk_request_free(desk_request *r);

typedef struct {
    int slots, slots_busy, queued;
    uint64_t requests, prompt_tokens, generated_tokens, steps;
    uint64_t kv_positions_used, kv_positions_total;
} desk_sched_stats;
void desk_sched_get_stats(desk_sched *s, desk_sched_stats *st);

/* -------------------------------------------------------- 10. chat templates */

/* A chat template is the Jinja text a model publishes (GGUF key
 * tokenizer.chat_template) to lay out a conversation the way it was
 * trained. desk renders it with Jinja2's semantics as Hugging Face's
 * apply_chat_template configures them (trim_blocks, lstrip_blocks, its
 * tojson and raise_exception, strftime_now); syntax or filters it does not
 * implement are errors that name the line and the construct. Render, then
 * tokenize the text with DESK_TOK_PARSE_SPECIAL and without DESK_TOK_ADD_BOS
 * (the template writes the BOS token itself where the model wants one). */
typedef struct desk_template desk_template;

typedef struct {
    const char *role;       /* "system", "user", "assistant", ... */
    const char *content;    /* UTF-8 */
} desk_chat_msg;

typedef struct {
    bool add_generation_prompt;   /* end with the header of the assistant's turn */
    const char *bos_token;        /* the template's bos_token / eos_token (NULL: "") */
    const char *eos_token;
    int64_t now;                  /* what strftime_now formats (Unix seconds, local time); 0 = now */
} desk_chat_opts;

desk_status desk_template_parse(const char *text, size_t len, desk_template **out, desk_error *err);
/* The model's tokenizer.chat_template (DESK_EUNSUPPORTED if it has none). */
desk_status desk_template_from_model(const desk_model *m, desk_template **out, desk_error *err);
void desk_template_free(desk_template *t);
/* Renders the conversation; *out is malloc'ed and NUL-terminated, *len its
 * length. A template's raise_exception(...) comes back as DESK_EINVAL with
 * its message. */
desk_status desk_template_render(const desk_template *t, const desk_chat_msg *msgs, int n_msgs, const desk_chat_opts *o,
                                 char **out, size_t *len, desk_error *err);

/* ------------------------------------------------------- 11. structured output */

/* A grammar the output must follow: GBNF text (rules `name ::= ...` with
 * "literals", [classes], ., ( groups ), * + ? {m,n}; `root` starts), or a
 * JSON Schema, converted to one. A schema keyword desk cannot enforce is an
 * error naming the keyword and its path (DESK_EUNSUPPORTED), never ignored. */
desk_status desk_grammar_from_gbnf(const char *text, size_t len, desk_grammar **out, desk_error *err);
desk_status desk_grammar_from_json_schema(const char *json, size_t len, desk_grammar **out, desk_error *err);
/* any JSON object (OpenAI's response_format json_object) */
desk_status desk_grammar_json_object(desk_grammar **out, desk_error *err);
void desk_grammar_free(desk_grammar *g);

/* Constrains a sampler (the grammar must outlive it): each sampled token
 * keeps the output a prefix of the grammar's language, and end-of-generation
 * tokens are allowed only where the output is complete. The sampler first
 * samples as usual and keeps the token if the grammar allows it; otherwise
 * it masks every token the grammar does not allow and samples again.
 * desk_sampler_reset starts the output over. */
desk_status desk_sampler_set_grammar(desk_sampler *s, const desk_model *m, const desk_grammar *g, desk_error *err);

#ifdef __cplusplus
}
#endif
#endif
