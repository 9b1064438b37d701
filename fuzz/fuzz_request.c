/*
 * fuzz_request.c - libFuzzer target for desk serve's request parsing
 * (src/serve/openai.c): any bytes as a /v1/completions and a
 * /v1/chat/completions body, chat messages rendered with a ChatML template
 * or refused for want of one. Must never crash, leak or read out of bounds;
 * on success the parsed request is sanity-checked.
 */
#include "serve/openai.h"

#include <stdlib.h>
#include <string.h>

static const char chatml[] =
    "{%- for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static desk_template *t;
    if (!t) {
        desk_error err;
        if (desk_template_parse(chatml, sizeof chatml - 1, &t, &err)) abort();
    }
    openai_chat with = {t, NULL, "", "<|im_end|>"}, without = {NULL, "no template", NULL, NULL};
    for (int chat = 0; chat < 2; chat++) {
        openai_request r;
        openai_error e;
        if (openai_parse((const char *)data, size, chat, "model.gguf", size % 2 ? &with : &without, &r, &e)) {
            if (!r.prompt || r.n_stop < 0 || r.n_stop > OPENAI_MAX_STOPS || (r.max_tokens != -1 && r.max_tokens < 1)) abort();
            for (int i = 0; i < r.n_stop; i++)
                if (!r.stop[i] || !*r.stop[i]) abort();
        } else if (!e.msg[0] || (e.status != 400 && e.status != 404)) {
            abort();
        }
        openai_request_free(&r);
    }
    return 0;
}
