/* Comparing two networks' parameters in tests that train the same run two ways. */
#ifndef BN_TEST_PARAM_DIFF_H
#define BN_TEST_PARAM_DIFF_H

#include "blasnet.h"

#include <math.h>

/* Largest |a - b| over the parameter blocks of two networks of the same architecture (infinite when the
 * blocks differ in size). */
static inline double max_param_diff(bn_net *a, bn_net *b)
{
    size_t na, nb;
    const float *pa = bn_net_params(a, &na), *pb = bn_net_params(b, &nb);
    double worst = na == nb ? 0.0 : INFINITY;
    for (size_t i = 0; i < na && na == nb; i++)
        worst = fmax(worst, fabs((double)pa[i] - pb[i]));
    return worst;
}

#endif
