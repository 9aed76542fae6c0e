/* A network's wisdom (wisdom.h): what TUNED plans are chosen from, taken in and given out as text. The
 * library never reads or writes the file it is kept in: its caller does (the CLI: plans.c). */
#include "net_wisdom.h"

#include "error.h"
#include "wisdom.h"

#include <stdlib.h>

int bn_net_wisdom_ready(bn_net *net)
{
    if (net->wisdom)
        return BN_OK;
    net->wisdom = malloc(sizeof *net->wisdom);
    if (!net->wisdom)
        return bn_fail(BN_E_NOMEM, "no memory for the plans' wisdom");
    return bn_wisdom_init(net->wisdom);
}

int bn_net_wisdom_import(bn_net *net, const char *text, size_t len, unsigned flags)
{
    if (!net || (!text && len))
        return bn_fail(BN_E_INVALID, "bn_net_wisdom_import: %s", net ? "text NULL with a length" : "no network");
    int status = bn_net_wisdom_ready(net);
    if (status)
        return status;
    net->wisdom_flags = flags;
    return len ? bn_wisdom_parse(net->wisdom, text, len) : BN_OK;
}

size_t bn_net_wisdom_export(const bn_net *net, char *buf, size_t size)
{
    if (net->wisdom)
        return bn_wisdom_format(net->wisdom, buf, size);
    bn_wisdom empty;
    if (bn_wisdom_init(&empty))
        return 0;
    size_t n = bn_wisdom_format(&empty, buf, size);
    bn_wisdom_free(&empty);
    return n;
}

bn_net_wisdom_counts bn_net_wisdom_take_counts(bn_net *net)
{
    bn_net_wisdom_counts c = {0};
    if (!net->wisdom)
        return c;
    c.measured = net->wisdom->measured;
    c.missing = net->wisdom->missing;
    c.seconds = net->wisdom->measure_seconds;
    net->wisdom->measured = net->wisdom->missing = 0;
    net->wisdom->measure_seconds = 0.0;
    return c;
}

void bn_net_wisdom_release(bn_net *net)
{
    if (net->wisdom)
        bn_wisdom_free(net->wisdom);
    free(net->wisdom);
    net->wisdom = NULL;
}
