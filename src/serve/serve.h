/*
 * serve.h - `desk serve`: an OpenAI-compatible HTTP server over the
 * continuous-batching scheduler (desk.h part 9). HTTP parsing is
 * libmicrohttpd's and JSON is jansson's; this code is routing, the OpenAI
 * schema, streaming, authentication and logging.
 */
#ifndef DESK_SERVE_H
#define DESK_SERVE_H

#include "desk.h"

typedef struct {
    const char *model_path;
    const char *host;          /* "127.0.0.1" by default */
    int port;
    int n_ctx;                 /* per slot; 0 = the model's, capped at 4096 */
    int n_slots;               /* --parallel */
    int n_threads;
    int queue_max;
    int kv_type;
    const char *api_key;       /* NULL: no authentication */
    bool insecure_public;      /* allow a non-loopback address without a key */
    bool verbose_prompt;       /* log each chat request's rendered prompt */
    size_t max_body;           /* bytes */
} serve_config;

/* Runs until SIGINT or SIGTERM; returns the process exit status. */
int serve_run(const serve_config *cfg);

#endif
