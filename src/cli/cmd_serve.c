/*
 * cmd_serve.c - `desk serve`: flags into a serve_config, then serve_run
 * (src/serve/server.c) until SIGINT or SIGTERM.
 */
#include "cli/cli.h"
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: desk serve -m MODEL.gguf [options]\n"
            "  an OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions (streaming\n"
            "  or not), /v1/models, /health, /metrics (Prometheus)\n"
            "  --host ADDR         IPv4 address to listen on (default 127.0.0.1)\n"
            "  --port N            (default 8080)\n"
            "  -c, --ctx N         positions per request slot: prompt + completion (default: the\n"
            "                      model's training context, at most 4096)\n"
            "  --parallel N        requests generating at once, batched together (default 4)\n"
            "  --queue N           requests waiting for a slot before 503 (default 64)\n"
            "  -t, --threads N     (default: every core)\n"
            "  --kv-type f16|q8_0  KV cache element type (default f16)\n"
            "  --api-key KEY       require 'Authorization: Bearer KEY'\n"
            "  --api-key-file F    the same, the key read from a file (first line)\n"
            "  --insecure-public   allow a non-loopback --host without an API key\n"
            "  --verbose-prompt    log the prompt each chat request renders to (the model's chat template)\n"
            "  --max-body BYTES    largest request body (default 8388608)\n");
}

int cmd_serve(int argc, char **argv) {
    const char *C = "desk serve";
    serve_config cfg = {.host = "127.0.0.1", .port = 8080, .n_slots = 4, .queue_max = 64, .max_body = 8u << 20};
    char *key_owned = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        long v;
#define VAL() if (!(val = cli_value(C, argc, argv, &i))) { free(key_owned); return 2; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); cfg.model_path = val; }
        else if (!strcmp(a, "--host")) { VAL(); cfg.host = val; }
        else if (!strcmp(a, "--port")) { VAL(); if (!cli_int(C, a, val, 1, 65535, &v)) return 2; cfg.port = (int)v; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { VAL(); if (!cli_int(C, a, val, 2, 1 << 20, &v)) return 2; cfg.n_ctx = (int)v; }
        else if (!strcmp(a, "--parallel")) { VAL(); if (!cli_int(C, a, val, 1, 256, &v)) return 2; cfg.n_slots = (int)v; }
        else if (!strcmp(a, "--queue")) { VAL(); if (!cli_int(C, a, val, 0, 100000, &v)) return 2; cfg.queue_max = (int)v; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (!cli_int(C, a, val, 1, 512, &v)) return 2; cfg.n_threads = (int)v; }
        else if (!strcmp(a, "--kv-type")) { VAL(); if (!cli_kv_type(C, a, val, &cfg.kv_type)) return 2; }
        else if (!strcmp(a, "--api-key")) { VAL(); cfg.api_key = val; }
        else if (!strcmp(a, "--api-key-file")) {
            VAL();
            size_t len;
            free(key_owned);
            if (!(key_owned = cli_read_file(C, val, &len))) return 2;
            key_owned[strcspn(key_owned, "\r\n")] = 0;
            if (!*key_owned) { fprintf(stderr, "desk serve: --api-key-file %s: the first line is empty\n", val); free(key_owned); return 2; }
            cfg.api_key = key_owned;
        }
        else if (!strcmp(a, "--insecure-public")) cfg.insecure_public = true;
        else if (!strcmp(a, "--verbose-prompt")) cfg.verbose_prompt = true;
        else if (!strcmp(a, "--max-body")) { VAL(); if (!cli_int(C, a, val, 1024, 1L << 30, &v)) return 2; cfg.max_body = (size_t)v; }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { serve_usage(stdout); free(key_owned); return 0; }
        else { fprintf(stderr, "desk serve: unknown option '%s'\n", a); serve_usage(stderr); free(key_owned); return 2; }
#undef VAL
    }
    if (!cfg.model_path) { fprintf(stderr, "desk serve: -m MODEL is required\n"); free(key_owned); return 2; }
    if (cfg.api_key && !*cfg.api_key) { fprintf(stderr, "desk serve: --api-key is empty\n"); free(key_owned); return 2; }
    int rc = serve_run(&cfg);
    free(key_owned);
    return rc;
}
