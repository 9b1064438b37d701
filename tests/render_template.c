/*
 * render_template.c - renders many (template, conversation) cases with
 * desk's chat-template engine, for the differential test against Jinja2
 * (tests/chat/diff_templates.py).
 *
 * usage: render_template CASES.json OUT.json
 *   CASES: [{"template", "messages": [{"role", "content"}], "add_generation_prompt",
 *            "bos_token", "eos_token", "now"}]
 *   OUT:   [{"ok": true, "text"} | {"ok": false, "error"}]
 */
#include "desk.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static const char *str_or(json_t *o, const char *k, const char *def) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : def;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: render_template CASES.json OUT.json\n");
        return 2;
    }
    json_error_t je;
    json_t *cases = json_load_file(argv[1], 0, &je);
    if (!json_is_array(cases)) {
        fprintf(stderr, "%s: %s\n", argv[1], je.text);
        return 1;
    }
    json_t *results = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        json_t *msgs = json_object_get(c, "messages");
        size_t n = json_array_size(msgs);
        desk_chat_msg *m = calloc(n + 1, sizeof *m);
        for (size_t k = 0; k < n; k++) {
            m[k].role = str_or(json_array_get(msgs, k), "role", "");
            m[k].content = str_or(json_array_get(msgs, k), "content", "");
        }
        desk_chat_opts o = {.add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
                            .bos_token = str_or(c, "bos_token", ""), .eos_token = str_or(c, "eos_token", ""),
                            .now = json_integer_value(json_object_get(c, "now"))};
        json_t *tj = json_object_get(c, "template");
        desk_error err;
        desk_template *t;
        char *out = NULL;
        size_t len = 0;
        desk_status st = desk_template_parse(json_string_value(tj), json_string_length(tj), &t, &err);
        if (!st) {
            st = desk_template_render(t, m, (int)n, &o, &out, &len, &err);
            desk_template_free(t);
        }
        if (st) json_array_append_new(results, json_pack("{s:b,s:s}", "ok", 0, "error", err.msg));
        else json_array_append_new(results, json_pack("{s:b,s:s%}", "ok", 1, "text", out, len));
        free(out);
        free(m);
    }
    int rc = json_dump_file(results, argv[2], JSON_INDENT(1)) ? 1 : 0;
    json_decref(results);
    json_decref(cases);
    return rc;
}
