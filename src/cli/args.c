/* Flag parsing with range checks and the CLI's one-line error messages. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int usage_error(const char *cmd, const char *fmt, ...)
{
    fprintf(stderr, "blasnet %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see: blasnet %s --help)\n", cmd);
    return EXIT_USAGE;
}

int runtime_error(const char *cmd, int status, const char *hint)
{
    fprintf(stderr, "blasnet %s: %s%s%s\n", cmd, bn_errmsg(), hint ? "; " : "", hint ? hint : "");
    (void)status;
    return EXIT_RUNTIME;
}

int parse_int(const char *cmd, const char *flag, const char *text, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno || v < min || v > max)
        return usage_error(cmd, "%s '%s' must be an integer in %ld..%ld", flag, text, min, max);
    *out = (int)v;
    return 0;
}

int parse_u64(const char *cmd, const char *flag, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    if (text[0] == '-')
        return usage_error(cmd, "%s '%s' must be a non-negative integer", flag, text);
    unsigned long long v = strtoull(text, &end, 0);
    if (end == text || *end != '\0' || errno)
        return usage_error(cmd, "%s '%s' must be a non-negative integer below 2^64", flag, text);
    *out = (uint64_t)v;
    return 0;
}

int parse_float(const char *cmd, const char *flag, const char *text, double min, bool min_open, double max,
                bool max_open, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    bool ok = end != text && *end == '\0' && !errno && isfinite(v) && (min_open ? v > min : v >= min) &&
              (max_open ? v < max : v <= max);
    if (!ok)
        return usage_error(cmd, "%s '%s' must be a number in %s%g, %g%s", flag, text, min_open ? "(" : "[", min,
                           max, max_open ? ")" : "]");
    *out = (float)v;
    return 0;
}

const char *data_dir_or_default(const char *flag_value)
{
    if (flag_value)
        return flag_value;
    const char *env = getenv("BLASNET_DATA");
    return env && *env ? env : DEFAULT_DATA_DIR;
}

const char *data_hint(void)
{
    return "fetch MNIST with ./data/fetch-mnist.sh or point --data at a folder of IDX files";
}
