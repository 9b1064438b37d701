/*
 * fuzz_request.c - libFuzzer target for desk serve's request parsing
 * (src/serve/openai.c): any bytes as a /v1/completions and a
 * /v1/chat/completions body, with each chat layout. Must never crash, leak
 * or read out of bounds; on success the parsed request is sanity-checked.
 */
#include "serve/openai.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const chat_kind layouts[3] = {CHAT_NONE, CHAT_LLAMA3, CHAT_CHATML};
    for (int chat = 0; chat < 2; chat++) {
        openai_request r;
        openai_error e;
        chat_kind k = layouts[size % 3];
        if (openai_parse((const char *)data, size, chat, "model.gguf", k, "no template", &r, &e)) {
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
