/*
 * chat.c - the public face of chat templates (desk.h part 10): a template
 * parsed once, then rendered per conversation with the context Hugging
 * Face's apply_chat_template gives it (messages, add_generation_prompt,
 * bos_token, eos_token; raise_exception and strftime_now are globals of
 * the engine in jinja_eval.c).
 */
#include "model/model.h"
#include "text/jinja.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct desk_template {
    jtemplate *t;
};

desk_status desk_template_parse(const char *text, size_t len, desk_template **out, desk_error *err) {
    *out = NULL;
    desk_template *t = calloc(1, sizeof *t);
    if (!t) return desk_fail(err, DESK_ENOMEM, "out of memory");
    desk_status st = jinja_parse(text, len, &t->t, err);
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    return DESK_OK;
}

desk_status desk_template_from_model(const desk_model *m, desk_template **out, desk_error *err) {
    *out = NULL;
    const char *s;
    uint64_t len;
    if (!desk_gguf_get_str(desk_model_gguf(m), "tokenizer.chat_template", &s, &len))
        return desk_fail(err, DESK_EUNSUPPORTED, "the model file has no chat template (tokenizer.chat_template)");
    desk_status st = desk_template_parse(s, (size_t)len, out, err);
    if (st) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return desk_fail(err, st, "the model's chat template: %s", msg);
    }
    return DESK_OK;
}

void desk_template_free(desk_template *t) {
    if (!t) return;
    jinja_free(t->t);
    free(t);
}

typedef struct {
    const desk_chat_msg *msgs;
    int n;
    const desk_chat_opts *o;
} fill_arg;

static jvalue *cstr(jrender *r, const char *s) { return jv_str(r, s ? s : "", s ? strlen(s) : 0); }

static bool fill(jrender *r, void *arg) {
    const fill_arg *f = arg;
    jvalue *msgs = jv_list(r);
    if (!msgs) return false;
    for (int i = 0; i < f->n; i++) {
        jvalue *m = jv_dict(r);
        if (!m || !jv_dict_set(r, m, "role", cstr(r, f->msgs[i].role)) || !jv_dict_set(r, m, "content", cstr(r, f->msgs[i].content)) ||
            !jv_append(r, msgs, m))
            return false;
    }
    return jinja_set_global(r, "messages", msgs) &&
           jinja_set_global(r, "add_generation_prompt", jv_bool(r, f->o->add_generation_prompt)) &&
           jinja_set_global(r, "bos_token", cstr(r, f->o->bos_token)) && jinja_set_global(r, "eos_token", cstr(r, f->o->eos_token));
}

desk_status desk_template_render(const desk_template *t, const desk_chat_msg *msgs, int n_msgs, const desk_chat_opts *o,
                                 char **out, size_t *len, desk_error *err) {
    *out = NULL;
    *len = 0;
    desk_chat_opts def = {0};
    if (!o) o = &def;
    if (n_msgs < 0 || (n_msgs > 0 && !msgs)) return desk_fail(err, DESK_EINVAL, "bad message list");
    fill_arg f = {msgs, n_msgs, o};
    return jinja_render(t->t, fill, &f, o->now, out, len, err);
}
