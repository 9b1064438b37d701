/*
 * cmd_quantize.c - `desk quantize IN.gguf OUT.gguf TYPE`: makes Q8_0, Q4_0
 * or Q4_K_M files from F32/F16/BF16 ones.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void q_usage(FILE *f) {
    fprintf(f, "usage: desk quantize IN.gguf OUT.gguf TYPE [-t THREADS] [--allow-requantize]\n"
               "  TYPE  Q8_0, Q4_0 or Q4_K_M (Q4_K with Q6_K for the output, and for attn_v and\n"
               "        ffn_down in the first and last eighth of the layers and every third between)\n"
               "  --allow-requantize  accept an input that is already quantized (loses quality)\n");
}

int cmd_quantize(int argc, char **argv) {
    const char *C = "quantize", *pos[3] = {0}, *val;
    int np = 0;
    long threads = 0;
    bool requant = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(val = cli_value(C, argc, argv, &i)) || !cli_int(C, a, val, 1, 512, &threads)) return 2;
        } else if (!strcmp(a, "--allow-requantize")) requant = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { q_usage(stdout); return 0; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "desk quantize: unknown option '%s'\n", a); return 2; }
        else if (np < 3) pos[np++] = a;
        else { fprintf(stderr, "desk quantize: too many arguments\n"); return 2; }
    }
    if (np != 3) { q_usage(stderr); return 2; }
    if (!strcmp(pos[0], pos[1])) { fprintf(stderr, "desk quantize: input and output are the same file\n"); return 2; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    desk_error err;
    if (desk_quantize_file(pos[0], pos[1], pos[2], (int)threads, requant, &err)) {
        fprintf(stderr, "desk quantize: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    desk_gguf *in = NULL, *out = NULL;
    if (desk_gguf_open(pos[0], &in, &err) == DESK_OK && desk_gguf_open(pos[1], &out, &err) == DESK_OK) {
        char b1[32], b2[32];
        fprintf(stderr, "desk quantize: %s (%s) -> %s (%s, %s) in %.1f s\n", pos[0], cli_bytes(desk_gguf_file_size(in), b1, sizeof b1),
                pos[1], pos[2], cli_bytes(desk_gguf_file_size(out), b2, sizeof b2),
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    desk_gguf_close(in);
    desk_gguf_close(out);
    return 0;
}
