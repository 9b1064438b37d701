/*
 * openai.h - the OpenAI request schema of `desk serve`: a request body (JSON
 * text from the network, untrusted) becomes an openai_request, or an error
 * naming the parameter at fault. Pure functions of their inputs (no model,
 * no sockets), so they have their own fuzz target (fuzz/fuzz_request.c).
 */
#ifndef DESK_OPENAI_H
#define DESK_OPENAI_H

#include "base/base.h"

#include <stddef.h>

#define OPENAI_MAX_STOPS 4


/* How chat messages become a prompt: the model's own template (parsed once
 * at startup), or, when it has none or desk cannot parse it, why not. */
typedef struct {
    const desk_template *t;        /* NULL: chat requests get `why` as a 400 */
    const char *why;
    const char *bos, *eos;         /* the template's bos_token / eos_token */
} openai_chat;

typedef struct {
    char *prompt;                  /* text to tokenize (for chat, the rendered template) */
    bool chat;
    int max_tokens;                /* -1: as many as the slot holds */
    desk_sampler_params sp;
    char *stop[OPENAI_MAX_STOPS];
    int n_stop;
    bool stream, include_usage;
    bool logprobs;                 /* report each token's log-probability */
    int top_logprobs;              /* and that many alternatives (0..20) */
    desk_grammar *grammar;         /* response_format json_object / json_schema, or NULL */
} openai_request;

typedef struct {
    int status;                    /* 400, 404 or 500 */
    const char *param;             /* the field at fault, or NULL */
    const char *code;              /* OpenAI error code, or NULL */
    char msg[600];
} openai_error;

/* Parses a /v1/completions (chat false) or /v1/chat/completions body. The
 * served model's id decides what `model` may be; chat messages are rendered
 * with the template in `ct` (a template's raise_exception becomes a 400
 * with its message). Returns true, or false with *e set; either way call
 * openai_request_free. */
bool openai_parse(const char *body, size_t len, bool chat, const char *model_id, const openai_chat *ct,
                  openai_request *out, openai_error *e);
void openai_request_free(openai_request *r);

#endif
