/* e^x and e^x - 1 for x <= 0, as straight-line float code. libm's expf is a call per element, so a loop that
 * uses it stays scalar (a sigmoid layer of 128x300 took 0.1 ms, more than its product); these inline into the
 * kernels' loops and vectorise. Every exponential blasnet takes has a non-positive argument (the sigmoid of
 * -|z|, softmax's z - max, SELU's and tanh's negative side), so no overflow path is needed. test_exp checks
 * every 97th float of [-87.3, 0]: both within 1.5 ulp of double-precision libm (1.0 and 0.86 measured). */
#ifndef BN_FAST_EXP_H
#define BN_FAST_EXP_H

#include <stdint.h>
#include <string.h>

/* The float just above ln FLT_MIN: below it e^x would be subnormal, which costs ~100 cycles per operation
 * on x86, and 0 is returned instead. */
#define BN_EXP_MIN_ARG (-87.33654022f)

/* x = k ln2 + r with |r| <= ln2 / 2, for x in [BN_EXP_MIN_ARG, 0] (x > 0 counts as 0; NaN passes through):
 * returns e^r - 1 (a Taylor polynomial to r^7, 5e-9 relative) and sets *pow2k24 = 2^(k + 24). The caller
 * scales by 2^-24 last: at k = -126, 2^k * (e^r - 1) itself would be subnormal, and slow. */
static inline float bn_exp_split(float x, float *pow2k24)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer, kept in the low bits */
    float xc = x > 0.0f ? 0.0f : x;
    /* Below the range any stand-in will do (the callers discard what it gives) */
    xc = xc < BN_EXP_MIN_ARG ? -80.0f : xc;
    float t = xc * 1.44269504088896341f + shifter;
    float kf = t - shifter;
    uint32_t t_bits;
    memcpy(&t_bits, &t, sizeof t_bits);
    /* ln 2 in two parts (Cody and Waite): kf * the first is exact for |k| <= 126 */
    float r = xc - kf * 0.693145751953125f;
    r = r - kf * 1.428606765330187e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    /* k from t's low bits rather than (int)kf: no float-to-int conversion, undefined for NaN; unsigned, so
     * NaN's bits wrap instead of overflowing */
    uint32_t pow_bits = (t_bits - 0x4B400000u + 127u + 24u) << 23;
    memcpy(pow2k24, &pow_bits, sizeof *pow2k24);
    return p * r * r + r;
}

/* e^x for x <= 0 (x > 0 gives 1); 0 below BN_EXP_MIN_ARG, never a subnormal. */
static inline float bn_exp_nonpos(float x)
{
    float s24, q = bn_exp_split(x, &s24);
    return x < BN_EXP_MIN_ARG ? 0.0f : (s24 * q + s24) * 0x1p-24f;
}

/* e^x - 1 for x <= 0 (x > 0 gives 0), accurate near 0 where e^x - 1 would cancel. Below -30 it is -1 in
 * float (e^-30 is under half an ulp of 1), so x is clamped there and 2^k stays far from subnormal. */
static inline float bn_expm1_nonpos(float x)
{
    float s24, q = bn_exp_split(x < -30.0f ? -30.0f : x, &s24);
    float s = s24 * 0x1p-24f;
    return s * q + (s - 1.0f);
}

#endif
