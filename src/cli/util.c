/*
 * util.c - option parsing and file reading for the subcommands.
 */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "desk %s: %s: '%s' is not an integer in %ld..%ld\n", cmd, flag, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "desk %s: %s: '%s' is not a number in %g..%g\n", cmd, flag, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_u64(const char *cmd, const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-' || *s == 0) goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) goto bad;
    *out = v;
    return true;
bad:
    fprintf(stderr, "desk %s: %s: '%s' is not an unsigned 64-bit integer\n", cmd, flag, s);
    return false;
}

bool cli_kv_type(const char *cmd, const char *flag, const char *s, int *type) {
    int t = desk_type_from_name(s);
    if (t != DESK_TYPE_F16 && t != DESK_TYPE_Q8_0) {
        fprintf(stderr, "desk %s: %s: '%s' is not a KV cache type (f16, q8_0)\n", cmd, flag, s);
        return false;
    }
    *type = t;
    return true;
}

int cli_sampler_flag(const char *cmd, int argc, char **argv, int *i, desk_sampler_params *sp) {
    const char *a = argv[*i], *val;
    static const char *const flags[] = {"--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n",
                                        "--frequency-penalty", "--presence-penalty", "--seed", NULL};
    int k = 0;
    while (flags[k] && strcmp(flags[k], a)) k++;
    if (!flags[k]) return 0;
    if (!(val = cli_value(cmd, argc, argv, i))) return -1;
    double f;
    long v;
    switch (k) {
    case 0: if (!cli_float(cmd, a, val, 0, 100, &f)) return -1; sp->temperature = (float)f; break;
    case 1: if (!cli_int(cmd, a, val, 0, 1 << 24, &v)) return -1; sp->top_k = (int)v; break;
    case 2: if (!cli_float(cmd, a, val, 1e-9, 1, &f)) return -1; sp->top_p = (float)f; break;
    case 3: if (!cli_float(cmd, a, val, 0, 1, &f)) return -1; sp->min_p = (float)f; break;
    case 4: if (!cli_float(cmd, a, val, 1e-3, 100, &f)) return -1; sp->repeat_penalty = (float)f; break;
    case 5: if (!cli_int(cmd, a, val, 0, 65536, &v)) return -1; sp->repeat_last_n = (int)v; break;
    case 6: if (!cli_float(cmd, a, val, -100, 100, &f)) return -1; sp->frequency_penalty = (float)f; break;
    case 7: if (!cli_float(cmd, a, val, -100, 100, &f)) return -1; sp->presence_penalty = (float)f; break;
    default: if (!cli_u64(cmd, a, val, &sp->seed)) return -1; break;
    }
    return 1;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "desk %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

char *cli_read_file(const char *cmd, const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "desk %s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool failed = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || failed) {
        fprintf(stderr, "desk %s: %s: read failed\n", cmd, path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

const char *cli_bytes(uint64_t n, char *buf, size_t cap) {
    if (n >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", (double)n / (double)(1ull << 30));
    else if (n >= (1ull << 20)) snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1ull << 20));
    else if (n >= 1024) snprintf(buf, cap, "%.1f KiB", (double)n / 1024.0);
    else snprintf(buf, cap, "%llu B", (unsigned long long)n);
    return buf;
}
