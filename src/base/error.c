/* Status codes and the per-thread error message. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[512];

const char *bn_strerror(int status)
{
    switch (status) {
    case BN_OK: return "success";
    case BN_E_NOMEM: return "out of memory or size overflow";
    case BN_E_IO: return "input/output error";
    case BN_E_FORMAT: return "malformed file";
    case BN_E_INVALID: return "invalid argument";
    case BN_E_MISMATCH: return "model and data disagree";
    case BN_E_DIVERGED: return "training diverged";
    case BN_E_INTERRUPTED: return "interrupted";
    default: return "unknown error";
    }
}

const char *bn_errmsg(void)
{
    return last_message[0] ? last_message : "no detail recorded";
}

int bn_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    return status;
}

int bn_fail_errno(int status, const char *fmt, ...)
{
    const char *reason = strerror(errno);
    va_list ap;
    va_start(ap, fmt);
    int used = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    if (used >= 0 && (size_t)used < sizeof last_message)
        snprintf(last_message + used, sizeof last_message - (size_t)used, ": %s", reason);
    return status;
}
