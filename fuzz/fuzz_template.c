/*
 * fuzz_template.c - libFuzzer target for the chat-template engine
 * (src/text/jinja_*.c): any bytes as a template, parsed and, when that
 * succeeds, rendered with a small conversation. Must never crash, leak,
 * hang or read out of bounds; every failure must come with a message.
 */
#include "desk.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    desk_template *t;
    desk_error err;
    if (desk_template_parse((const char *)data, size, &t, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    desk_chat_msg m[3] = {{"system", "Be brief."}, {"user", "caf\xC3\xA9 {{ x }}"}, {"assistant", ""}};
    desk_chat_opts o = {.add_generation_prompt = size % 2, .bos_token = "<s>", .eos_token = "</s>", .now = 1764154800};
    char *out = NULL;
    size_t len = 0;
    if (desk_template_render(t, m, (int)(size % 4), &o, &out, &len, &err)) {
        if (!err.msg[0] || out) abort();
    } else if (!out || strlen(out) > len) {
        abort();
    }
    free(out);
    desk_template_free(t);
    return 0;
}
