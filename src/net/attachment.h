/* What a later layer keeps with a network, which the network holds without knowing what it is. */
#ifndef BN_NET_ATTACHMENT_H
#define BN_NET_ATTACHMENT_H

#include "blasnet.h"

/* What a later layer keeps with a network (dist/: the communicator and the node's shared memory). The
 * network holds it and calls release when another is attached or the network is destroyed; it knows
 * nothing else of it. */
typedef struct bn_net_attachment bn_net_attachment;
struct bn_net_attachment {
    void (*release)(bn_net *net, bn_net_attachment *self);
};

#endif
