/* Error detail for the calling thread: library code records what failed with the numbers that explain it,
 * then returns the status; only the CLI prints. */
#ifndef BN_ERROR_H
#define BN_ERROR_H

#include "blasnet.h"

#if defined(__GNUC__)
#define BN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BN_PRINTF(a, b)
#endif

/* Records the message and returns status, so callers write `return bn_fail(BN_E_IO, "...", ...)`. */
int bn_fail(int status, const char *fmt, ...) BN_PRINTF(2, 3);
/* As bn_fail, appending ": " and strerror(errno). */
int bn_fail_errno(int status, const char *fmt, ...) BN_PRINTF(2, 3);

#endif
