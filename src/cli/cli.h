/* Shared pieces of the command-line tool: exit codes, flag parsing with range checks, one-line errors.
 * Only the CLI prints and exits; the library returns statuses. */
#ifndef BN_CLI_H
#define BN_CLI_H

#include "blasnet.h"

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_SIGINT = 130, EXIT_SIGTERM = 143 };

#define DEFAULT_DATA_DIR "data/mnist"

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* "blasnet CMD: message" on stderr; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* "blasnet CMD: <library detail>" and, if hint is not NULL, its hint; returns EXIT_RUNTIME. */
int runtime_error(const char *cmd, int status, const char *hint);

/* Each returns 0, or prints which flag is wrong and its valid range and returns EXIT_USAGE. */
int parse_int(const char *cmd, const char *flag, const char *text, long min, long max, int *out);
int parse_u64(const char *cmd, const char *flag, const char *text, uint64_t *out);
/* Range [min, max]; an open end when the matching *_open is true. */
int parse_float(const char *cmd, const char *flag, const char *text, double min, bool min_open, double max,
                bool max_open, float *out);

/* The data folder: --data, else $BLASNET_DATA, else data/mnist. */
const char *data_dir_or_default(const char *flag_value);
const char *data_hint(void);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_weights(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_moons(int argc, char **argv);

/* OpenBLAS kernel choice: warns when OPENBLAS_CORETYPE holds back this CPU, and with --blas-core re-executes
 * the program with the variable set (the kernel is chosen when OpenBLAS loads, so there is no other way). */
void blas_core_notice(void);
int blas_core_apply(const char *cmd, const char *choice, char **argv);

#endif
