/*
 * cmd_bench.c - `desk bench`: prefill and decode speed of a model on this
 * machine, as mean +- sd over repetitions, with time to first token, peak
 * RSS, and decode expressed as bytes/s and as a fraction of the read
 * bandwidth measured in the same run. Output as a table, JSON or CSV.
 */
#include "cli/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The first index of the largest logit. Eight running maxima that the
 * compiler keeps in one vector register, then a scan for the first match:
 * a single compare-and-select chain over 150,000 logits took 5% of a 0.5B
 * model's decode step (perf). */
static int32_t argmax(const float *x, int32_t n) {
    float l[8];
    for (int k = 0; k < 8; k++) l[k] = x[0];
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) l[k] = x[i + k] > l[k] ? x[i + k] : l[k];
    float mx = l[0];
    for (int k = 1; k < 8; k++) mx = l[k] > mx ? l[k] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (i = 0; i < n; i++)
        if (x[i] == mx) return i;
    return 0; /* x[0] is NaN and nothing is larger */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
/* the median of x[0..n), n >= 1; 0 if out of memory */
static double median(const double *x, int n) {
    double *y = malloc((size_t)n * sizeof *y), m;
    if (!y) return 0;
    memcpy(y, x, (size_t)n * sizeof *y);
    qsort(y, (size_t)n, sizeof *y, cmp_double);
    m = n % 2 ? y[n / 2] : 0.5 * (y[n / 2 - 1] + y[n / 2]);
    free(y);
    return m;
}

typedef struct { double mean, sd; } stat2;
static stat2 stats(const double *x, int n) {
    double m = 0, v = 0;
    for (int i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    return (stat2){m, n > 1 ? sqrt(v / (n - 1)) : 0};
}

static uint64_t peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
#if defined(__APPLE__)
    return (uint64_t)ru.ru_maxrss;
#else
    return (uint64_t)ru.ru_maxrss * 1024;
#endif
}

static double probe_in_child(int threads) {
    int fd[2];
    if (pipe(fd) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) { close(fd[0]); close(fd[1]); return 0; }
    if (pid == 0) {
        double bw = desk_probe_bandwidth(threads, (size_t)512 << 20, 5);
        ssize_t w = write(fd[1], &bw, sizeof bw);
        _exit(w == (ssize_t)sizeof bw ? 0 : 1);
    }
    close(fd[1]);
    double bw = 0;
    if (read(fd[0], &bw, sizeof bw) != (ssize_t)sizeof bw) bw = 0;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    return bw;
}

typedef struct { double fraction, read_gb_s; } paired;

/* cmd_bench's paired decode: nd tokens after the np-token prompt, a read
 * pass before each and after the last; medians over the tokens. Without
 * memory for the read passes it says so and leaves *out zero (no figure:
 * the table leaves the line out, JSON and CSV give 0). */
static desk_status pair_decode(desk_ctx *c, const int32_t *toks, long np, long nd, int32_t V, uint64_t bytes_per_token,
                               paired *out, desk_error *err) {
    const size_t region = (size_t)64 << 20;
    char *buf = desk_read_buffer_alloc(2 * region); /* on huge pages, as the weights are */
    double *rd = malloc((size_t)(nd + 1) * sizeof *rd), *fr = malloc((size_t)nd * sizeof *fr), *step = malloc((size_t)nd * sizeof *step);
    desk_status st = DESK_OK;
    if (!buf || !rd || !fr || !step) {
        fprintf(stderr, "desk bench: no paired decode figure: out of memory for its 128 MiB read buffer\n");
        goto done;
    }
    desk_ctx_seq_truncate(c, 0, 0);
    if ((st = desk_ctx_eval(c, 0, toks, (int)np, err))) goto done;
    int32_t t = argmax(desk_ctx_logits(c, 0), V);
    for (long k = 0; k <= nd; k++) {
        double a = desk_ctx_read_pass(c, buf + (size_t)(k % 2) * region, region, 8192);
        double b = desk_ctx_read_pass(c, buf + (size_t)((k + 1) % 2) * region, region, 0);
        rd[k] = a > b ? a : b;
        if (k == nd) break;
        double t0 = now_s();
        if ((st = desk_ctx_eval(c, 0, &t, 1, err))) goto done;
        t = argmax(desk_ctx_logits(c, 0), V);
        step[k] = now_s() - t0;
    }
    for (long k = 0; k < nd; k++) fr[k] = (double)bytes_per_token / step[k] / 1e9 / (0.5 * (rd[k] + rd[k + 1]));
    out->fraction = median(fr, (int)nd);
    out->read_gb_s = median(rd, (int)nd + 1);
done:
    desk_read_buffer_free(buf); free(rd); free(fr); free(step);
    return st;
}

static void bench_usage(FILE *f) {
    fprintf(f, "usage: desk bench -m MODEL.gguf [-p 512] [-n 128] [-t THREADS] [-r REPS] [-b BATCH] [--kv-type T] [--json | --csv]\n"
               "  -p N     prompt tokens to prefill (default 512)\n"
               "  -n N     tokens to decode after it (default 128)\n"
               "  -r N     repetitions (default 3), after one warm-up\n"
               "  -b N     prompt tokens per forward pass (default: all of them, at most 512)\n"
               "  --kv-type f16|q8_0  KV cache element type (default f16)\n");
}

int cmd_bench(int argc, char **argv) {
    const char *C = "bench", *model = NULL, *val;
    long np = 512, nd = 128, threads = 0, reps = 3, batch = 0;
    int fmt = 0; /* 0 table, 1 json, 2 csv */
    int kv_type = DESK_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define INT(lo, hi, dst) do { if (!(val = cli_value(C, argc, argv, &i)) || !cli_int(C, a, val, lo, hi, &dst)) return 2; } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(val = cli_value(C, argc, argv, &i))) return 2; model = val; }
        else if (!strcmp(a, "-p")) INT(1, 1 << 20, np);
        else if (!strcmp(a, "-n")) INT(0, 1 << 20, nd);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) INT(1, 512, threads);
        else if (!strcmp(a, "-r")) INT(1, 1000, reps);
        else if (!strcmp(a, "-b")) INT(1, 65536, batch);
        else if (!strcmp(a, "--json")) fmt = 1;
        else if (!strcmp(a, "--kv-type")) { if (!(val = cli_value(C, argc, argv, &i)) || !cli_kv_type(C, a, val, &kv_type)) return 2; }
        else if (!strcmp(a, "--csv")) fmt = 2;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { bench_usage(stdout); return 0; }
        else { fprintf(stderr, "desk bench: unknown option '%s'\n", a); bench_usage(stderr); return 2; }
#undef INT
    }
    if (!model) { fprintf(stderr, "desk bench: -m MODEL is required\n"); return 2; }
    desk_error err;
    desk_model *m = NULL;
    desk_ctx *c = NULL;
    int rc = 1;
    int32_t *toks = NULL;
    double *pre = NULL, *dec = NULL, *ttft = NULL, *probe = NULL, *frac = NULL, *rbw = NULL;
    if (desk_model_load_for(model, (int)threads, &m, &err)) { fprintf(stderr, "desk bench: %s\n", err.msg); goto done; }
    desk_model_info in;
    desk_model_get_info(m, &in);
    desk_ctx_params cp = desk_ctx_default_params();
    cp.n_ctx = (int)(np + nd + 1);
    cp.n_threads = (int)threads;
    cp.n_batch = (int)(batch ? batch : (np < 512 ? np : 512));
    cp.kv_type = kv_type;
    if (desk_ctx_new(m, &cp, &c, &err)) { fprintf(stderr, "desk bench: %s\n", err.msg); goto done; }
    desk_cpu_info cpu;
    desk_cpu_features(&cpu);
    int n_threads = threads ? (int)threads : cpu.n_cores;
    toks = malloc((size_t)np * sizeof *toks);
    pre = calloc((size_t)reps, sizeof *pre);
    dec = calloc((size_t)reps, sizeof *dec);
    ttft = calloc((size_t)reps, sizeof *ttft);
    probe = calloc((size_t)reps + 1, sizeof *probe);
    frac = calloc((size_t)reps, sizeof *frac);
    rbw = calloc((size_t)reps, sizeof *rbw);
    if (!toks || !pre || !dec || !ttft || !probe || !frac || !rbw) { fprintf(stderr, "desk bench: out of memory\n"); goto done; }
    uint64_t s = 12345;
    int32_t V = desk_vocab_size(m);
    for (long i = 0; i < np; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        toks[i] = (int32_t)(s % (uint64_t)V);
    }
    /* Bandwidth is probed before and after every counted repetition (in a
     * child process, so its buffer stays out of this process's peak RSS), and
     * each repetition's decode is divided by the higher of its two probes:
     * this machine's memory switches between a slow and a fast phase from one
     * second to the next, so a probe minutes away says little, and a phase
     * change mid-repetition can only make the fraction look worse. */
    for (long r = -1; r < reps; r++) { /* r = -1: warm-up, not counted */
        if (r == 0) {
            probe[0] = probe_in_child(n_threads);
            desk_ctx_timing_reset(c); /* attention's share, over the counted repetitions */
        }
        desk_ctx_seq_truncate(c, 0, 0);
        double t0 = now_s();
        if (desk_ctx_eval(c, 0, toks, (int)np, &err)) { fprintf(stderr, "desk bench: %s\n", err.msg); goto done; }
        int32_t t = argmax(desk_ctx_logits(c, 0), V);
        double t1 = now_s();
        for (long k = 0; k < nd; k++) {
            if (desk_ctx_eval(c, 0, &t, 1, &err)) { fprintf(stderr, "desk bench: %s\n", err.msg); goto done; }
            t = argmax(desk_ctx_logits(c, 0), V);
        }
        double t2 = now_s();
        if (r < 0) continue;
        pre[r] = (double)np / (t1 - t0);
        ttft[r] = (t1 - t0) * 1e3;
        dec[r] = nd ? (double)nd / (t2 - t1) : 0;
        probe[r + 1] = probe_in_child(n_threads);
        rbw[r] = probe[r] > probe[r + 1] ? probe[r] : probe[r + 1];
        frac[r] = rbw[r] > 0 ? dec[r] * (double)in.bytes_per_token / (rbw[r] * 1e9) : 0;
    }
    uint64_t rss = peak_rss(); /* before the paired read passes' buffer */
    /* Decode paired with read passes: once more, each decoded token between
     * two read passes on the same threads, and the token's weight bytes/s
     * divided by the mean of the passes either side of it. Token and passes
     * see the memory in the same phase (bench/stream does the same for the
     * matrix products alone), where the probes above, around whole
     * repetitions, may catch the other one. Each pass reads 64 MiB with and
     * 64 MiB without software prefetch and counts the faster of the two, as
     * the probe keeps its best way of reading. */
    paired pr = {0};
    if (nd > 0 && pair_decode(c, toks, np, nd, V, in.bytes_per_token, &pr, &err)) {
        fprintf(stderr, "desk bench: %s\n", err.msg);
        goto done;
    }
    stat2 sp = stats(pre, (int)reps), sd = stats(dec, (int)reps), st = stats(ttft, (int)reps);
    double bps = sd.mean * (double)in.bytes_per_token, bw = median(rbw, (int)reps), fr = median(frac, (int)reps);
    /* Attention reads the KV cache of every position so far: decoded token k
     * (0-based) attends over np + k + 1 positions. Its mean over the decode,
     * with the weights, is the decode's whole memory traffic. */
    double kv_tok = 0;
    for (long k = 0; k < nd; k++) kv_tok += (double)desk_model_kv_bytes(m, np + k + 1, kv_type);
    kv_tok = nd ? kv_tok / (double)nd : 0;
    double total_bps = sd.mean * ((double)in.bytes_per_token + kv_tok), total_fr = bw > 0 ? total_bps / (bw * 1e9) : 0;
    desk_ctx_timing tm = desk_ctx_timing_get(c);
    double att_pre = tm.prompt_s > 0 ? tm.prompt_attention_s / tm.prompt_s : 0;
    double att_dec = tm.gen_s > 0 ? tm.gen_attention_s / tm.gen_s : 0;
    desk_cpu_info ci;
    desk_cpu_features(&ci);
    const char *name = strrchr(model, '/') ? strrchr(model, '/') + 1 : model;
    if (fmt == 1) {
        printf("{\"model\":\"%s\",\"arch\":\"%s\",\"params\":%lld,\"bytes_per_token\":%llu,\"threads\":%d,\"kernels\":\"%s\","
               "\"kv_type\":\"%s\",\"prompt_tokens\":%ld,\"decode_tokens\":%ld,\"reps\":%ld,"
               "\"prefill_tok_s\":{\"mean\":%.2f,\"sd\":%.2f},\"decode_tok_s\":{\"mean\":%.2f,\"sd\":%.2f},"
               "\"ttft_ms\":{\"mean\":%.2f,\"sd\":%.2f},\"decode_gb_s\":%.3f,\"read_bandwidth_gb_s\":%.3f,"
               "\"bandwidth_fraction\":%.4f,\"kv_bytes_per_token\":%.0f,\"decode_total_gb_s\":%.3f,"
               "\"total_bandwidth_fraction\":%.4f,\"prefill_attention_fraction\":%.4f,\"decode_attention_fraction\":%.4f,"
               "\"paired_fraction\":%.4f,\"paired_read_gb_s\":%.3f,\"peak_rss_bytes\":%llu}\n",
               name, in.arch, (long long)in.n_params, (unsigned long long)in.bytes_per_token, n_threads, ci.kernel,
               desk_type_name(kv_type), np, nd, reps,
               sp.mean, sp.sd, sd.mean, sd.sd, st.mean, st.sd, bps / 1e9, bw, fr, kv_tok, total_bps / 1e9, total_fr,
               att_pre, att_dec, pr.fraction, pr.read_gb_s, (unsigned long long)rss);
    } else if (fmt == 2) {
        printf("model,threads,kernels,prompt_tokens,decode_tokens,reps,prefill_tok_s,prefill_sd,decode_tok_s,decode_sd,ttft_ms,"
               "decode_gb_s,read_bandwidth_gb_s,bandwidth_fraction,peak_rss_bytes,kv_bytes_per_token,decode_total_gb_s,"
               "total_bandwidth_fraction,prefill_attention_fraction,decode_attention_fraction,paired_fraction,paired_read_gb_s\n");
        printf("%s,%d,%s,%ld,%ld,%ld,%.2f,%.2f,%.2f,%.2f,%.2f,%.3f,%.3f,%.4f,%llu,%.0f,%.3f,%.4f,%.4f,%.4f,%.4f,%.3f\n", name,
               n_threads, ci.kernel, np, nd, reps, sp.mean, sp.sd, sd.mean, sd.sd, st.mean, bps / 1e9, bw, fr, (unsigned long long)rss,
               kv_tok, total_bps / 1e9, total_fr, att_pre, att_dec, pr.fraction, pr.read_gb_s);
    } else {
        char b1[32], b2[32];
        printf("model            %s (%s, %.2f B parameters, %s read per token)\n", name, in.arch, (double)in.n_params / 1e9,
               cli_bytes(in.bytes_per_token, b1, sizeof b1));
        printf("machine          %d threads, %s kernels, read bandwidth %.1f GB/s (median of the probes around each repetition)\n",
               n_threads, ci.kernel, bw);
        printf("prefill (pp%ld)   %8.1f +- %.1f tok/s   time to first token %.1f +- %.1f ms\n", np, sp.mean, sp.sd, st.mean, st.sd);
        printf("decode (tg%ld)    %8.1f +- %.1f tok/s   %.1f GB/s; median %.0f%% of the read bandwidth probed around each repetition (",
               nd, sd.mean, sd.sd, bps / 1e9, fr * 100);
        for (long r = 0; r < reps && r < 9; r++) printf("%s%.0f%% of %.1f", r ? ", " : "", frac[r] * 100, rbw[r]);
        printf("%s)\n", reps > 9 ? ", ..." : "");
        if (pr.fraction > 0)
            printf("decode paired    median %.0f%% of the read passes either side of each token (tokens alternated with read\n"
                   "                 passes on the same threads; median pass %.1f GB/s)\n", pr.fraction * 100, pr.read_gb_s);
        printf("KV cache read    %s per decoded token (mean); with the weights %.1f GB/s, %.0f%% of the read bandwidth\n",
               cli_bytes((uint64_t)kv_tok, b1, sizeof b1), total_bps / 1e9, total_fr * 100);
        printf("attention        %.0f%% of prefill time, %.0f%% of decode time (scores, softmax, weighted sum over the KV cache)\n",
               att_pre * 100, att_dec * 100);
        printf("peak RSS         %s (weights are mapped: resident pages of the file count)\n", cli_bytes(rss, b2, sizeof b2));
    }
    rc = 0;
done:
    free(toks); free(pre); free(dec); free(ttft); free(probe); free(frac); free(rbw);
    desk_ctx_free(c);
    desk_model_free(m);
    return rc;
}
