/* A network's wisdom (net_wisdom.c): made when TUNED plans first need it, its counts, and its end. The
 * public import and export are in blasnet.h. */
#ifndef BN_NET_WISDOM_H
#define BN_NET_WISDOM_H

#include "net_struct.h"

/* The wisdom TUNED plans from, made empty for this machine when there is none yet. */
int bn_net_wisdom_ready(bn_net *net);
void bn_net_wisdom_release(bn_net *net); /* bn_net_destroy's */
/* What TUNED planning did since the last call : entries measured, and the seconds, and
 * products planned by the model for want of wisdom under BN_WISDOM_NO_MEASURE; the counts restart. */
typedef struct {
    int measured, missing;
    double seconds;
} bn_net_wisdom_counts;
bn_net_wisdom_counts bn_net_wisdom_take_counts(bn_net *net);

#endif
