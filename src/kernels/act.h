/* Activation functions and their derivatives, one element at a time. Both backends build on these, so the
 * math is written once; the fast kernels inline them into loops specialised per activation.
 * Derivatives are taken from the output y where the math allows (every activation but swish), so the
 * forward pass need not keep its pre-activations. leaky_relu assumes slope >= 0, so sign(y) == sign(z). */
#ifndef BN_ACT_H
#define BN_ACT_H

#include "blasnet.h"
#include "fast_exp.h"

#include <math.h>

#define BN_SELU_ALPHA 1.6732632423543772848f
#define BN_SELU_SCALE 1.0507009873554804934f

/* exp is only taken of -|x|, so it never overflows; one division, and selects rather than branches. */
static inline float bn_sigmoidf(float x)
{
    float e = bn_exp_nonpos(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

/* tanh |x| = -m / (2 + m) with m = e^(-2|x|) - 1, which keeps tanh x ~ x accurate near 0; the sign copied
 * from x, so tanh(-0) = -0 and tanh(+0) = +0. */
static inline float bn_tanhf(float x)
{
    float m = bn_expm1_nonpos(-2.0f * fabsf(x));
    return copysignf(-m / (2.0f + m), x);
}

static inline float bn_act_fwd1(bn_act act, float slope, float z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0f ? z : 0.0f;
    case BN_ACT_LEAKY_RELU: return z > 0.0f ? z : slope * z;
    case BN_ACT_SIGMOID: return bn_sigmoidf(z);
    case BN_ACT_TANH: return bn_tanhf(z);
    case BN_ACT_SWISH: return z * bn_sigmoidf(z);
    case BN_ACT_SELU: return z > 0.0f ? BN_SELU_SCALE * z : BN_SELU_SCALE * BN_SELU_ALPHA * bn_expm1_nonpos(z);
    default: return NAN;
    }
}

/* d act / d z, from the output y (and the input z for swish). */
static inline float bn_act_deriv1(bn_act act, float slope, float z, float y)
{
    switch (act) {
    case BN_ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case BN_ACT_LEAKY_RELU: return y > 0.0f ? 1.0f : slope;
    case BN_ACT_SIGMOID: return y * (1.0f - y);
    case BN_ACT_TANH: return 1.0f - y * y;
    case BN_ACT_SWISH: {
        float s = bn_sigmoidf(z);
        return s + y * (1.0f - s);
    }
    case BN_ACT_SELU: return y > 0.0f ? BN_SELU_SCALE : y + BN_SELU_SCALE * BN_SELU_ALPHA;
    default: return NAN;
    }
}

static inline bool bn_act_needs_z(bn_act act)
{
    return act == BN_ACT_SWISH;
}

#endif
