/* A layer's products as gemm descriptions over the network's buffers: what the passes run (net.c) and what the
 * plans are made for (net_plan.c), described once. */
#include "products.h"

bn_gemm bn_net_forward_product(const bn_net *net, int l, const float *x, int B)
{
    const int *n = net->arch.sizes;
    return (bn_gemm){.M = B, .N = n[l + 1], .K = n[l], .alpha = 1.0f, .A = bn_net_layer_input(net, l, x),
                     .lda = n[l], .B = net->params + net->w_offset[l], .ldb = n[l + 1], .C = net->layer_out[l],
                     .ldc = n[l + 1]};
}

bn_gemm bn_net_dweight_product(const bn_net *net, int l, const float *x, int B)
{
    const int *n = net->arch.sizes;
    return (bn_gemm){.ta = true, .M = n[l], .N = n[l + 1], .K = B, .alpha = 1.0f, .A = bn_net_layer_input(net, l, x),
                     .lda = n[l], .B = bn_net_delta_buffer(net, l), .ldb = n[l + 1],
                     .C = net->grads + net->w_offset[l], .ldc = n[l + 1]};
}

bn_gemm bn_net_dinput_product(const bn_net *net, int l, int B)
{
    const int *n = net->arch.sizes;
    return (bn_gemm){.tb = true, .M = B, .N = n[l], .K = n[l + 1], .alpha = 1.0f, .A = bn_net_delta_buffer(net, l),
                     .lda = n[l + 1], .B = net->params + net->w_offset[l], .ldb = n[l + 1],
                     .C = bn_net_delta_buffer(net, l - 1), .ldc = n[l]};
}
