/*
 * openai.c - OpenAI request bodies into openai_request (see openai.h): field
 * types and ranges checked with messages that name the field, fields desk
 * does not implement refused (never ignored), chat messages rendered with
 * the model's own chat template (desk_template_render). JSON parsing is jansson's (it also rejects bad UTF-8).
 */
#include "serve/openai.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ request parsing */


void openai_request_free(openai_request *g) {
    free(g->prompt);
    desk_grammar_free(g->grammar);
    for (int i = 0; i < g->n_stop; i++) free(g->stop[i]);
}

/* Reads an optional number field into *out; false (with msg) if it has the wrong type or range. */
static bool num_field(json_t *req, const char *key, double lo, double hi, double *out, char *msg, size_t cap) {
    json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) {
        snprintf(msg, cap, "'%s' must be a number", key);
        return false;
    }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        snprintf(msg, cap, "'%s' is %g; it must be between %g and %g", key, d, lo, hi);
        return false;
    }
    *out = d;
    return true;
}

static bool int_field(json_t *req, const char *key, long lo, long hi, long *out, char *msg, size_t cap) {
    json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) {
        snprintf(msg, cap, "'%s' must be an integer", key);
        return false;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        snprintf(msg, cap, "'%s' is %lld; it must be between %ld and %ld", key, (long long)x, lo, hi);
        return false;
    }
    *out = (long)x;
    return true;
}

/* The fields both endpoints share. Returns the offending parameter's name, or NULL. */
static const char *parse_common(const char *model_id, bool chat, json_t *req, openai_request *g, char *msg, size_t cap) {
    g->sp = desk_sampler_default_params();
    g->sp.temperature = 1.0f; /* OpenAI's default */
    g->sp.top_k = 0;
    g->sp.seed = 0;
    g->max_tokens = -1;
    static const char *unsupported[] = {"tools", "tool_choice", "functions", "function_call",
                                        "logit_bias", "echo", "best_of", "suffix"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
        json_t *v = json_object_get(req, unsupported[i]);
        if (v && !json_is_null(v) && !json_is_false(v)) {
            snprintf(msg, cap, "'%s' is not supported by desk serve yet", unsupported[i]);
            return unsupported[i];
        }
    }
    /* response_format: the output must be JSON (json_object) or follow a schema (json_schema) */
    json_t *rf = json_object_get(req, "response_format");
    if (rf && !json_is_null(rf)) {
        json_t *type = json_object_get(rf, "type");
        const char *t = json_is_string(type) ? json_string_value(type) : NULL;
        desk_error err;
        if (!json_is_object(rf) || !t) return snprintf(msg, cap, "'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}"), "response_format";
        if (!strcmp(t, "json_object")) {
            if (desk_grammar_json_object(&g->grammar, &err)) return snprintf(msg, cap, "%s", err.msg), "response_format";
        } else if (!strcmp(t, "json_schema")) {
            json_t *js = json_object_get(rf, "json_schema"), *schema = js ? json_object_get(js, "schema") : NULL;
            if (!json_is_object(js) || !json_is_object(schema))
                return snprintf(msg, cap, "'response_format.json_schema.schema' must be a JSON Schema object"), "response_format";
            char *text = json_dumps(schema, JSON_COMPACT);
            desk_status st = text ? desk_grammar_from_json_schema(text, strlen(text), &g->grammar, &err) : DESK_ENOMEM;
            free(text);
            if (st) return snprintf(msg, cap, "response_format.json_schema.%s", st == DESK_ENOMEM ? "schema: out of memory" : err.msg), "response_format";
        } else if (strcmp(t, "text")) {
            return snprintf(msg, cap, "'response_format.type' '%s' is not supported (text, json_object, json_schema are)", t), "response_format";
        }
    }
    /* log-probabilities: chat has logprobs (bool) + top_logprobs (int); completions logprobs (int) */
    json_t *lp = json_object_get(req, "logprobs");
    if (lp && !json_is_null(lp)) {
        if (chat) {
            if (!json_is_boolean(lp)) return snprintf(msg, cap, "'logprobs' must be a boolean"), "logprobs";
            g->logprobs = json_is_true(lp);
        } else {
            long k = 0;
            if (!int_field(req, "logprobs", 0, DESK_MAX_TOP_LOGPROBS, &k, msg, cap)) return "logprobs";
            g->logprobs = true;
            g->top_logprobs = (int)k;
        }
    }
    json_t *tlp = json_object_get(req, "top_logprobs");
    if (tlp && !json_is_null(tlp)) {
        long k = 0;
        if (!chat) return snprintf(msg, cap, "'top_logprobs' is a chat parameter; completions take 'logprobs': N"), "top_logprobs";
        if (!int_field(req, "top_logprobs", 0, DESK_MAX_TOP_LOGPROBS, &k, msg, cap)) return "top_logprobs";
        if (!g->logprobs) return snprintf(msg, cap, "'top_logprobs' needs 'logprobs': true"), "top_logprobs";
        g->top_logprobs = (int)k;
    }
    json_t *model = json_object_get(req, "model");
    if (model && !json_is_string(model)) return snprintf(msg, cap, "'model' must be a string"), "model";
    if (model && strcmp(json_string_value(model), model_id) != 0)
        return snprintf(msg, cap, "the model '%s' does not exist; this server has '%s'", json_string_value(model),
                        model_id),
               "model";
    long n = 1, v;
    if (!int_field(req, "n", 1, 1, &n, msg, cap)) return snprintf(msg, cap, "only n = 1 is supported"), "n";
    double d;
    v = -1;
    if (!int_field(req, "max_tokens", 1, 1 << 24, &v, msg, cap)) return "max_tokens";
    if (v > 0) g->max_tokens = (int)v;
    v = -1;
    if (!int_field(req, "max_completion_tokens", 1, 1 << 24, &v, msg, cap)) return "max_completion_tokens";
    if (v > 0) g->max_tokens = (int)v;
    d = g->sp.temperature;
    if (!num_field(req, "temperature", 0, 2, &d, msg, cap)) return "temperature";
    g->sp.temperature = (float)d;
    d = 1;
    if (!num_field(req, "top_p", 0, 1, &d, msg, cap)) return "top_p";
    g->sp.top_p = d > 0 ? (float)d : 1e-9f;
    v = 0;
    if (!int_field(req, "top_k", 0, 1 << 20, &v, msg, cap)) return "top_k";
    g->sp.top_k = (int)v;
    d = 0;
    if (!num_field(req, "min_p", 0, 1, &d, msg, cap)) return "min_p";
    g->sp.min_p = (float)d;
    d = 0;
    if (!num_field(req, "presence_penalty", -2, 2, &d, msg, cap)) return "presence_penalty";
    g->sp.presence_penalty = (float)d;
    d = 0;
    if (!num_field(req, "frequency_penalty", -2, 2, &d, msg, cap)) return "frequency_penalty";
    g->sp.frequency_penalty = (float)d;
    json_t *seed = json_object_get(req, "seed");
    if (seed && !json_is_null(seed)) {
        if (!json_is_integer(seed)) return snprintf(msg, cap, "'seed' must be an integer"), "seed";
        g->sp.seed = (uint64_t)json_integer_value(seed);
    }
    json_t *user = json_object_get(req, "user");
    if (user && !json_is_null(user) && !json_is_string(user)) return snprintf(msg, cap, "'user' must be a string"), "user";
    json_t *stream = json_object_get(req, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream)) return snprintf(msg, cap, "'stream' must be a boolean"), "stream";
    g->stream = stream && json_is_true(stream);
    json_t *so = json_object_get(req, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return snprintf(msg, cap, "'stream_options' must be an object"), "stream_options";
        json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_boolean(iu)) return snprintf(msg, cap, "'stream_options.include_usage' must be a boolean"), "stream_options";
        g->include_usage = iu && json_is_true(iu);
    }
    json_t *stop = json_object_get(req, "stop");
    if (stop && !json_is_null(stop)) {
        if (json_is_string(stop)) {
            if (json_string_length(stop)) g->stop[g->n_stop++] = strdup(json_string_value(stop));
        } else if (json_is_array(stop) && json_array_size(stop) <= OPENAI_MAX_STOPS) {
            size_t i;
            json_t *e;
            json_array_foreach(stop, i, e) {
                if (!json_is_string(e)) return snprintf(msg, cap, "'stop' must be a string or a list of strings"), "stop";
                if (json_string_length(e)) g->stop[g->n_stop++] = strdup(json_string_value(e));
            }
        } else {
            return snprintf(msg, cap, "'stop' must be a string or a list of at most %d strings", OPENAI_MAX_STOPS), "stop";
        }
        for (int i = 0; i < g->n_stop; i++)
            if (!g->stop[i]) return snprintf(msg, cap, "out of memory"), "stop";
    }
    return NULL;
}

/* ------------------------------------------------------------ chat messages */

/* A message's content: a string, or OpenAI's list of parts of which only
 * {"type": "text"} ones are something a text model can read. */
static const char *content_text(json_t *content, size_t i, desk_buf *tmp, char *msg, size_t cap) {
    if (json_is_string(content)) return json_string_value(content);
    if (json_is_null(content)) return "";
    if (!json_is_array(content)) return snprintf(msg, cap, "messages[%zu].content must be a string or a list of text parts", i), NULL;
    size_t k;
    json_t *part;
    json_array_foreach(content, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(text))
            return snprintf(msg, cap, "messages[%zu].content[%zu]: only {\"type\": \"text\", \"text\": ...} parts are supported", i, k), NULL;
        desk_buf_add(tmp, json_string_value(text), json_string_length(text));
    }
    desk_buf_add(tmp, "", 0);
    return tmp->oom ? (snprintf(msg, cap, "out of memory"), NULL) : tmp->p ? tmp->p : "";
}

static const char *parse_chat(const openai_chat *ct, json_t *req, openai_request *g, char *msg, size_t cap) {
    json_t *msgs = json_object_get(req, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return snprintf(msg, cap, "'messages' must be a non-empty list of {role, content} objects"), "messages";
    if (json_array_size(msgs) > 100000) return snprintf(msg, cap, "'messages' has more than 100000 entries"), "messages";
    if (!ct || !ct->t) return snprintf(msg, cap, "%s", ct && ct->why ? ct->why : "this model has no chat template"), "messages";
    size_t n = json_array_size(msgs), i;
    desk_chat_msg *m = calloc(n, sizeof *m);
    desk_buf *parts = calloc(n, sizeof *parts);
    const char *bad = NULL;
    json_t *e;
    if (!m || !parts) {
        snprintf(msg, cap, "out of memory");
        bad = "messages";
    }
    json_array_foreach(msgs, i, e) {
        if (bad) break;
        json_t *role = json_object_get(e, "role");
        const char *r = json_is_string(role) ? json_string_value(role) : NULL;
        if (!r || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "developer"))) {
            snprintf(msg, cap, "messages[%zu].role must be system, developer, user or assistant", i);
            bad = "messages";
            break;
        }
        m[i].role = strcmp(r, "developer") ? r : "system";
        if (!(m[i].content = content_text(json_object_get(e, "content"), i, &parts[i], msg, cap))) bad = "messages";
    }
    if (!bad) {
        desk_chat_opts o = {.add_generation_prompt = true, .bos_token = ct->bos, .eos_token = ct->eos};
        desk_error err;
        size_t len;
        if (desk_template_render(ct->t, m, (int)n, &o, &g->prompt, &len, &err)) {
            snprintf(msg, cap, "the model's chat template could not lay out these messages: %s", err.msg);
            bad = "messages";
        } else if (strlen(g->prompt) != len) {
            snprintf(msg, cap, "a message contains a NUL character");
            bad = "messages";
        }
        g->chat = true;
    }
    for (size_t k = 0; parts && k < n; k++) free(parts[k].p);
    free(parts);
    free(m);
    return bad;
}

bool openai_parse(const char *body, size_t len, bool chat, const char *model_id, const openai_chat *ct,
                  openai_request *g, openai_error *e) {
    memset(g, 0, sizeof *g);
    e->status = 400;
    e->param = NULL;
    e->code = NULL;
    e->msg[0] = 0;
    json_error_t je;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!req) {
        e->code = "invalid_json";
        snprintf(e->msg, sizeof e->msg, "the body is not valid JSON (UTF-8): %s at byte %d", je.text, je.position);
        return false;
    }
    if (!json_is_object(req)) {
        json_decref(req);
        e->code = "invalid_json";
        snprintf(e->msg, sizeof e->msg, "the body must be a JSON object");
        return false;
    }
    const char *bad = chat ? parse_chat(ct, req, g, e->msg, sizeof e->msg) : NULL;
    if (!bad) bad = parse_common(model_id, chat, req, g, e->msg, sizeof e->msg);
    if (!bad && !chat) {
        json_t *p = json_object_get(req, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1) p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            bad = "prompt";
            snprintf(e->msg, sizeof e->msg, "'prompt' must be a string (or a list of one string)");
        } else if (!(g->prompt = strdup(json_string_value(p)))) {
            bad = "prompt";
            snprintf(e->msg, sizeof e->msg, "out of memory");
        }
    }
    json_decref(req);
    if (!bad) return true;
    e->param = bad;
    if (!strcmp(bad, "model") && strstr(e->msg, "does not exist")) {
        e->status = 404;
        e->code = "model_not_found";
    }
    return false;
}
