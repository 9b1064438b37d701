/*
 * cli.h - shared pieces of the `desk` subcommands: option parsing helpers
 * that reject bad values with a message naming the flag, and text input.
 */
#ifndef DESK_CLI_H
#define DESK_CLI_H

#include "desk.h"

int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_chat(int argc, char **argv);

/* Parse helpers: print "desk CMD: FLAG: problem" and return false on error. */
bool cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
bool cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);
bool cli_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
/* "f16" or "q8_0" (any case) for --kv-type. */
bool cli_kv_type(const char *cmd, const char *flag, const char *s, int *type);
/* The sampler flags shared by run and chat (--temp, --top-k, --top-p,
 * --min-p, --repeat-penalty, --repeat-last-n, --frequency-penalty,
 * --presence-penalty, --seed): 1 if argv[*i] was one (its value consumed),
 * 0 if it is some other flag, -1 on a bad value (already reported). */
int cli_sampler_flag(const char *cmd, int argc, char **argv, int *i, desk_sampler_params *sp);
#define CLI_SAMPLER_USAGE                                                                          \
    "      --temp T             temperature; 0 = greedy (default 0.8)\n"                           \
    "      --top-k K            (default 40; 0 = off)\n"                                          \
    "      --top-p P            (default 0.95; 1 = off)\n"                                        \
    "      --min-p P            (default 0.05; 0 = off)\n"                                        \
    "      --repeat-penalty R   (default 1.0 = off)\n"                                            \
    "      --repeat-last-n N    tokens the penalties look back on (default 64)\n"                 \
    "      --frequency-penalty F, --presence-penalty P   (default 0)\n"                           \
    "      --seed S             sampler seed (default 0): same seed, same output\n"
/* The value after a flag, or an error if there is none. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Reads a whole file (or "-" for stdin). Returns malloc'd NUL-terminated text. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);
/* Size in human units into buf. */
const char *cli_bytes(uint64_t n, char *buf, size_t cap);

#endif
