/* Architecture descriptions: parsing "784,512,10", validation, parameter counts, and the "784-512-10"
 * form that messages print. */
#include "blasnet.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int bn_arch_parse_sizes(bn_arch *arch, const char *list)
{
    int count = 0;
    const char *p = list;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > BN_MAX_WIDTH)
            return bn_fail(BN_E_INVALID, "layer size '%.*s' in '%s' is not an integer in 1..%d",
                           (int)(end > p ? end - p : 1), p, list, BN_MAX_WIDTH);
        if (count > BN_MAX_LAYERS)
            return bn_fail(BN_E_INVALID, "'%s' has more than %d layers", list, BN_MAX_LAYERS);
        arch->sizes[count++] = (int)v;
        if (*end == '\0')
            break;
        if (*end != ',')
            return bn_fail(BN_E_INVALID, "unexpected '%c' in layer list '%s' (write e.g. 784,512,10)", *end, list);
        p = end + 1;
    }
    if (count < 2)
        return bn_fail(BN_E_INVALID, "layer list '%s' needs at least an input and an output size", list);
    arch->depth = count - 1;
    return BN_OK;
}

int bn_arch_check(const bn_arch *arch)
{
    if (arch->depth < 1 || arch->depth > BN_MAX_LAYERS)
        return bn_fail(BN_E_INVALID, "network depth %d is outside 1..%d", arch->depth, BN_MAX_LAYERS);
    for (int l = 0; l <= arch->depth; l++)
        if (arch->sizes[l] < 1 || arch->sizes[l] > BN_MAX_WIDTH)
            return bn_fail(BN_E_INVALID, "layer %d has size %d, outside 1..%d", l, arch->sizes[l], BN_MAX_WIDTH);
    if (arch->sizes[arch->depth] < 2)
        return bn_fail(BN_E_INVALID, "the output layer needs at least 2 classes, has %d", arch->sizes[arch->depth]);
    if ((unsigned)arch->act >= BN_ACT_COUNT)
        return bn_fail(BN_E_INVALID, "unknown activation %d", (int)arch->act);
    if (!(arch->leaky_slope >= 0.0f && arch->leaky_slope < 1.0f))
        return bn_fail(BN_E_INVALID, "leaky slope %g is outside [0, 1)", (double)arch->leaky_slope);
    return BN_OK;
}

uint64_t bn_arch_param_count(const bn_arch *arch)
{
    uint64_t n = 0;
    for (int l = 0; l < arch->depth; l++)
        n += (uint64_t)arch->sizes[l] * (uint64_t)arch->sizes[l + 1] + (uint64_t)arch->sizes[l + 1];
    return n;
}

const char *bn_arch_format(const bn_arch *arch, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    for (int l = 0; l <= arch->depth && l <= BN_MAX_LAYERS && used < cap; l++) {
        int n = snprintf(buf + used, cap - used, l ? "-%d" : "%d", arch->sizes[l]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}
