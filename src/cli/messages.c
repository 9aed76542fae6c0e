/* The CLI's messages: one line on stderr per error, "blasnet CMD: what; what to do", with the rank on ranks
 * other than 0, and the exit code it goes with; counts in words. Every command and helper of the CLI prints
 * through these, so a message's form is decided once. */
#include "cli.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

static char rank_tag[48]; /* " (rank R of K)" on ranks other than 0 */

void cli_set_rank(int rank, int size)
{
    if (rank > 0)
        snprintf(rank_tag, sizeof rank_tag, " (rank %d of %d)", rank, size);
}

cli_exit cli_error(cli_exit code, const char *cmd, const char *fmt, ...)
{
    assert(code != EXIT_OK);
    fprintf(stderr, "blasnet %s%s: ", cmd, rank_tag);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (code == EXIT_USAGE)
        fprintf(stderr, " (see: blasnet %s --help)", cmd);
    fputc('\n', stderr);
    return code;
}

/* What to do about a failed library call, when the caller knows nothing better. */
static const char *status_advice(int status)
{
    switch (status) {
    case BN_E_NOMEM: return "choose smaller sizes or free memory";
    case BN_E_IO: return "check the path, its folder's permissions and the free space";
    case BN_E_FORMAT: return "the file is damaged or of another kind; write it again";
    case BN_E_MISMATCH: return "give a model and data that belong together";
    case BN_E_DIVERGED: return "lower the learning rate (--lr)";
    default: return bn_strerror(status);
    }
}

cli_exit runtime_error(const char *cmd, int status, const char *hint)
{
    assert(status != BN_OK);
    fprintf(stderr, "blasnet %s%s: %s; %s\n", cmd, rank_tag, bn_errmsg(), hint ? hint : status_advice(status));
    return EXIT_RUNTIME;
}

const char *cli_count(char *buf, size_t size, long long n, const char *word)
{
    snprintf(buf, size, "%lld %s%s", n, word, n == 1 ? "" : "s");
    return buf;
}

const char *data_hint(void)
{
    return "fetch MNIST with ./data/fetch-mnist.sh, or point --data at a folder of IDX files (plain or .gz) or at a "
           ".csv file";
}
