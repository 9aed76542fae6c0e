/* Layer l's three products for a batch of B rows, as the passes run them and the plans are made for them
 * (products.c); x is the input batch. */
#ifndef BN_NET_PRODUCTS_H
#define BN_NET_PRODUCTS_H

#include "net_struct.h"

/* Z (B, n[l+1]) = A (B, n[l]) . W (n[l], n[l+1]) */
bn_gemm bn_net_forward_product(const bn_net *net, int l, const float *x, int B);
/* dW (n[l], n[l+1]) = A^T (n[l], B) . G (B, n[l+1]) */
bn_gemm bn_net_dweight_product(const bn_net *net, int l, const float *x, int B);
/* dA (B, n[l]) = G (B, n[l+1]) . W^T (n[l+1], n[l]): the delta of the layer below, before act'. */
bn_gemm bn_net_dinput_product(const bn_net *net, int l, int B);

#endif
