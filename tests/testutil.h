/*
 * testutil.h - the tiny test harness shared by the test programs: CHECK macros that
 * count failures, a skip helper, and file loading. Each test binary ends with
 * a line "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef DESK_TESTUTIL_H
#define DESK_TESTUTIL_H

#include "desk.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) t_pass++;                                                \
        else {                                                             \
            t_fail++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

static inline int t_done(const char *name) {
    printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
    return t_fail ? 1 : 0;
}

/* DESK_SHARED (default ../shared) holds the shared test data. */
static inline const char *t_shared(void) {
    const char *s = getenv("DESK_SHARED");
    return s && *s ? s : "../shared";
}

static inline char *t_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; if (len) *len = (size_t)n; }
    return b;
}

/* Deterministic pseudo-random numbers for test data. */
static inline uint64_t t_rand(uint64_t *s) {
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}
static inline float t_randf(uint64_t *s) { /* uniform in [-1, 1) */
    return (float)((double)(t_rand(s) >> 11) / 4503599627370496.0 - 1.0);
}

#endif
