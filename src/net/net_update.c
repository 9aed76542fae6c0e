/* A layer's update and gradient norm by the backend's whole ops, and the clipping scale: what a pass run op by
 * op (step_run.c), the update after the backward pass (net.c) and the ranks' step (dist/net_share.c) share. */
#include "net_update.h"
#include "net_struct.h"

#include <math.h>

/* The update of layer l's W and b by the backend's whole op (the naive backends, a pass run op by op, the
 * ranks' step); returns ||W||^2 read before it when want_sq. Biases get no decay. */
double bn_net_update_layer(bn_net *net, int l, const bn_update *u, float weight_decay, bool want_sq)
{
    const bn_backend *be = net->backend;
    const int *n = net->arch.sizes;
    const size_t w = net->w_offset[l], b = net->b_offset[l];
    double sq = be->update(net->params + w, net->velocity + w, net->moment2 + w, net->grads + w,
                           (size_t)n[l] * (size_t)n[l + 1], u, weight_decay, want_sq);
    be->update(net->params + b, net->velocity + b, net->moment2 + b, net->grads + b, (size_t)n[l + 1], u, 0.0f,
               false);
    return sq;
}

/* ||dW_l||^2 + ||db_l||^2 */
double bn_net_layer_grad_sqnorm(const bn_net *net, int l)
{
    const int *n = net->arch.sizes;
    return net->backend->sqnorm(net->grads + net->w_offset[l], (size_t)n[l] * (size_t)n[l + 1]) +
           net->backend->sqnorm(net->grads + net->b_offset[l], (size_t)n[l + 1]);
}

/* The clipping scale for a gradient of squared norm sq, recording the norm. */
float bn_net_clip_scale(bn_net *net, double sq, float clip_norm)
{
    net->grad_norm = sqrt(sq);
    return net->grad_norm > clip_norm ? (float)(clip_norm / net->grad_norm) : 1.0f;
}
