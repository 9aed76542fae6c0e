/* The per-step constants of an optimizer step (optim.h). */
#include "optim.h"

#include <float.h>
#include <math.h>

bn_update bn_update_for(const bn_optim *opt, float grad_scale)
{
    bn_update u = {.kind = opt->kind, .lr = opt->lr, .momentum = opt->momentum, .nesterov = opt->nesterov,
                   .beta1 = opt->beta1, .beta2 = opt->beta2, .eps = opt->eps, .step_size = opt->lr,
                   .bc2_sqrt = 1.0f, .grad_scale = grad_scale};
    if (opt->kind != BN_OPT_SGD) {
        /* Adam's bias corrections, in double: 1 - beta^t loses every digit in float for small t. */
        double t = (double)(opt->t ? opt->t : 1);
        u.step_size = (float)(opt->lr / (1.0 - pow(opt->beta1, t)));
        u.bc2_sqrt = (float)sqrt(1.0 - pow(opt->beta2, t));
        double one_minus = fmin(1.0 - opt->beta1, 1.0 - opt->beta2);
        u.grad_floor = (float)(2.0 * sqrt(FLT_MIN / (one_minus > 1e-30 ? one_minus : 1e-30)));
    }
    return u;
}
