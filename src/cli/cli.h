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

/* Parse helpers: print "desk CMD: FLAG: problem" and return false on error. */
bool cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);
bool cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out);
bool cli_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
/* "f16" or "q8_0" (any case) for --kv-type. */
bool cli_kv_type(const char *cmd, const char *flag, const char *s, int *type);
/* The value after a flag, or an error if there is none. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Reads a whole file (or "-" for stdin). Returns malloc'd NUL-terminated text. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);
/* Size in human units into buf. */
const char *cli_bytes(uint64_t n, char *buf, size_t cap);

#endif
