/* A layer's update and gradient norm by the backend's whole ops, and the clipping scale (net_update.c). */
#ifndef BN_NET_UPDATE_H
#define BN_NET_UPDATE_H

#include "blasnet.h"
#include "optim.h"

#include <stdbool.h>

/* The update of layer l's W and b; returns ||W||^2 read before it when want_sq. Biases get no decay. */
double bn_net_update_layer(bn_net *net, int l, const bn_update *u, float weight_decay, bool want_sq);
/* ||dW_l||^2 + ||db_l||^2 */
double bn_net_layer_grad_sqnorm(const bn_net *net, int l);
/* The clipping scale for a gradient of squared norm sq, recording the norm. */
float bn_net_clip_scale(bn_net *net, double sq, float clip_norm);

#endif
