/*
 * base.h - what every part of libdesk shares: error filling, checked
 * arithmetic, half-precision conversion, file mapping and the thread pool.
 */
#ifndef DESK_BASE_H
#define DESK_BASE_H

#include "desk.h"
#include <stdarg.h>
#include <string.h>

#if defined(__GNUC__)
#define DESK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DESK_PRINTF(a, b)
#endif

/* Growable text: desk_buf_add appends n bytes and keeps p NUL-terminated; if
 * memory runs out, oom is set and later adds are ignored (check it once at
 * the end). Free p. */
typedef struct { char *p; size_t len, cap; bool oom; } desk_buf;
void desk_buf_add(desk_buf *b, const char *s, size_t n);
static inline void desk_buf_str(desk_buf *b, const char *s) { desk_buf_add(b, s, strlen(s)); }

/* Writes the UTF-8 encoding of code point cp (<= U+10FFFF) to o; returns its length (1-4). */
int desk_utf8_put(uint32_t cp, char *o);

/* Fills err (if not NULL) and returns s, so callers can `return desk_fail(...)`. */
desk_status desk_fail(desk_error *err, desk_status s, const char *fmt, ...) DESK_PRINTF(3, 4);

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool desk_mul_ok(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_mul_overflow(a, b, r);
}
static inline bool desk_add_ok(uint64_t a, uint64_t b, uint64_t *r) {
    return !__builtin_add_overflow(a, b, r);
}

/* Seconds on the monotonic clock (for intervals). */
double desk_now_s(void);

/* ---- half precision (IEEE binary16) and bfloat16 ---- */
float    desk_fp16_to_fp32(uint16_t h);
uint16_t desk_fp32_to_fp16(float f);      /* round to nearest even */
static inline float desk_bf16_to_fp32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
uint16_t desk_fp32_to_bf16(float f);      /* round to nearest even */
extern float desk_fp16_table[65536];      /* filled by desk_base_init() */
static inline float desk_h2f(uint16_t h) { return desk_fp16_table[h]; }
void desk_base_init(void);                /* idempotent, thread-safe */

/* ---- read-only file mapping ---- */
typedef struct {
    void *addr;
    size_t size;
} desk_mapping;
desk_status desk_map_file(const char *path, desk_mapping *m, desk_error *err);
void desk_unmap(desk_mapping *m);
/* Drops the resident pages wholly inside [p, p + n) of a read-only file
 * mapping (they are read back from the file if touched again). */
void desk_release_pages(const void *p, size_t n);

/* ---- persistent thread pool ----
 * desk_pool_run calls fn(arg, i, n) for i in [0, n) with n = number of
 * threads, the caller taking i = 0, and returns when all are done. Which rows
 * each i computes is up to fn; kernels split by output rows only, so results
 * never depend on n. */
typedef struct desk_pool desk_pool;
typedef void (*desk_pool_fn)(void *arg, int ith, int nth);
desk_pool *desk_pool_new(int n_threads);
void desk_pool_free(desk_pool *p);
int  desk_pool_size(const desk_pool *p);
void desk_pool_run(desk_pool *p, desk_pool_fn fn, void *arg);

/* One read pass of the bandwidth probe (bandwidth.c): the pool's threads
 * stream their contiguous shares of buf (bytes, 32-byte aligned) with vector
 * loads and software prefetch `prefetch` bytes ahead (0: none). Returns the
 * seconds it took. */
double desk_read_pass(desk_pool *pool, const void *buf, size_t bytes, size_t prefetch);

int desk_n_cores(void);

/* ---- small helpers ---- */
void *desk_aligned_alloc(size_t size);   /* 64-byte aligned, zeroed; free with desk_aligned_free */
void  desk_aligned_free(void *p);

#endif
