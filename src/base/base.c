/*
 * base.c - errors, half-precision conversion, file mapping, aligned memory.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

desk_status desk_fail(desk_error *err, desk_status s, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = s;
    }
    return s;
}

double desk_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *desk_status_name(desk_status s) {
    switch (s) {
    case DESK_OK: return "ok";
    case DESK_EIO: return "i/o error";
    case DESK_EFORMAT: return "bad format";
    case DESK_EUNSUPPORTED: return "unsupported";
    case DESK_EINVAL: return "invalid argument";
    case DESK_ENOMEM: return "out of memory";
    case DESK_ERANGE: return "out of range";
    case DESK_EBUSY: return "busy";
    }
    return "unknown status";
}

/* ---------------------------------------------------------------- halves */

float desk_fp16_table[65536];

static float fp16_to_fp32_slow(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            mant &= 0x3ff;
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    union { uint32_t u; float f; } v = { bits };
    return v.f;
}

float desk_fp16_to_fp32(uint16_t h) { return fp16_to_fp32_slow(h); }

uint16_t desk_fp32_to_fp16(float f) {
    union { float f; uint32_t u; } v = { f };
    uint32_t x = v.u, sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25 rounds to 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        int shift = (int)(126 - e); /* 14..24: bits to drop beyond the 10 kept */
        uint32_t kept = m >> (shift), rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (kept & 1))) kept++;
        return (uint16_t)(sign | kept);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1); /* round to nearest even */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

uint16_t desk_fp32_to_bf16(float f) {
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1)) >> 16);
}

static pthread_once_t base_once = PTHREAD_ONCE_INIT;
static void base_init_once(void) {
    for (uint32_t i = 0; i < 65536; i++) desk_fp16_table[i] = fp16_to_fp32_slow((uint16_t)i);
}
void desk_base_init(void) { pthread_once(&base_once, base_init_once); }

/* ---------------------------------------------------------------- mapping */

desk_status desk_map_file(const char *path, desk_mapping *m, desk_error *err) {
    m->addr = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return desk_fail(err, DESK_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return desk_fail(err, DESK_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return desk_fail(err, DESK_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return desk_fail(err, DESK_EFORMAT, "%s: file is empty", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return desk_fail(err, DESK_EIO, "%s: cannot mmap: %s", path, strerror(e));
    m->addr = p;
    m->size = (size_t)st.st_size;
    return DESK_OK;
}

void desk_release_pages(const void *p, size_t n) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)p + page - 1) & ~(page - 1),
              e = ((uintptr_t)p + n) & ~(page - 1);
    if (e > a) madvise((void *)a, e - a, MADV_DONTNEED);
}

void desk_unmap(desk_mapping *m) {
    if (m && m->addr) munmap(m->addr, m->size);
    if (m) { m->addr = NULL; m->size = 0; }
}

/* ---------------------------------------------------------------- memory */

/* Large buffers (packed weights, KV cache) start on a 2 MiB boundary and ask
 * for transparent huge pages before they are first touched: streaming them
 * then takes far fewer TLB misses (about 8% faster prefill on this machine's
 * cold weights). Where the system has no huge pages the advice is a no-op. */
void *desk_aligned_alloc(size_t size) {
    void *p = NULL;
    if (size == 0) size = 64;
    size_t align = size >= ((size_t)4 << 20) ? (size_t)2 << 20 : 64;
    if (posix_memalign(&p, align, (size + 63) & ~(size_t)63) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(p, (size + align - 1) & ~(align - 1), MADV_HUGEPAGE);
#endif
    memset(p, 0, size);
    return p;
}
void desk_aligned_free(void *p) { free(p); }

int desk_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

/* ---------------------------------------------------------------- text */

void desk_buf_add(desk_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

int desk_utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
