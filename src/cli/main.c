/*
 * main.c - the `desk` command: dispatches to one function per subcommand.
 * Uses only the public API in desk.h.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "desk %s - private, local LLM inference\n"
            "\n"
            "usage: desk COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run       generate text: desk run -m MODEL.gguf -p TEXT [-n N] [--temp T] [--seed S]\n"
            "  chat      talk to an instruct model in the terminal (or from a pipe): desk chat -m MODEL.gguf\n"
            "  tokenize  show tokens:   desk tokenize -m MODEL.gguf -p TEXT [--ids]\n"
            "  info      describe a model file: desk info MODEL.gguf [-c CTX]\n"
            "  quantize  make a smaller file:  desk quantize IN.gguf OUT.gguf Q8_0|Q4_0|Q4_K_M\n"
            "  bench     measure speed:        desk bench -m MODEL.gguf [-p 512] [-n 128] [-r 3]\n"
            "  doctor    this machine: cores, SIMD, memory, bandwidth, what models fit\n"
            "  serve     OpenAI-compatible server: desk serve -m MODEL.gguf [--port 8080] [--parallel 4]\n"
            "\n"
            "`desk COMMAND --help` lists every option of a command.\n",
            DESK_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "doctor")) return cmd_doctor(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("desk %s\n", DESK_VERSION);
        return 0;
    }
    fprintf(stderr, "desk: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
