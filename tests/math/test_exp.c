/* The exponentials every kernel inlines (fast_exp.h) and the activations built on them (act.h), against
 * double-precision libm over a sweep of the float bit patterns: e^x and e^x - 1 within 1.5 ulp, tanh and
 * sigmoid within 3, and at the edges: 0 and -1 below the range instead of subnormals, NaN kept. */
#include "act.h"
#include "harness.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

/* One ulp of the float nearest `want` (the gap above its magnitude; FLT_MIN's below the normal range). */
static double ulp_of(double want)
{
    float f = fabsf((float)want);
    if (f < FLT_MIN)
        f = FLT_MIN;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

typedef struct {
    const char *name;
    double worst_ulp;
    float worst_x;
} error_record;

static void record(error_record *r, float x, float got, double want)
{
    double err = fabs((double)got - want) / ulp_of(want);
    if (err > r->worst_ulp || got != got) {
        r->worst_ulp = got != got ? INFINITY : err;
        r->worst_x = x;
    }
}

static void expect_within(const error_record *r, double ulps)
{
    printf("%-8s worst %.3f ulp at x = %.9g\n", r->name, r->worst_ulp, (double)r->worst_x);
    CHECKF(r->worst_ulp <= ulps, "%s: %.3f ulp at x = %.9g, allowed %.1f", r->name, r->worst_ulp,
           (double)r->worst_x, ulps);
}

static float float_of(uint32_t bits)
{
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* Every `stride`-th float from -0 down to BN_EXP_MIN_ARG (there are about 1.1e9; stride 97 takes 11.5
 * million), and the same magnitudes with a positive sign for the activations, which take any z. */
static void sweep(uint32_t stride)
{
    error_record e = {.name = "exp"}, em1 = {.name = "expm1"}, th = {.name = "tanh"}, sg = {.name = "sigmoid"};
    for (uint32_t bits = 0x80000000u; bits < 0xC2AEAC4Fu; bits += stride) {
        float x = float_of(bits), pos = -x;
        record(&e, x, bn_exp_nonpos(x), exp((double)x));
        record(&em1, x, bn_expm1_nonpos(x), expm1((double)x));
        record(&th, x, bn_tanhf(x), tanh((double)x));
        record(&th, pos, bn_tanhf(pos), tanh((double)pos));
        record(&sg, x, bn_sigmoidf(x), 1.0 / (1.0 + exp(-(double)x)));
        record(&sg, pos, bn_sigmoidf(pos), 1.0 / (1.0 + exp(-(double)pos)));
    }
    expect_within(&e, 1.5);
    expect_within(&em1, 1.5);
    expect_within(&th, 3.0);
    expect_within(&sg, 3.0);
}

static void edges(void)
{
    const float below = nextafterf(BN_EXP_MIN_ARG, -INFINITY);
    CHECK(bn_exp_nonpos(0.0f) == 1.0f && bn_exp_nonpos(-0.0f) == 1.0f);
    CHECK(bn_expm1_nonpos(0.0f) == 0.0f);
    CHECKF(bn_exp_nonpos(BN_EXP_MIN_ARG) >= FLT_MIN, "e^min = %g", (double)bn_exp_nonpos(BN_EXP_MIN_ARG));
    CHECK(bn_exp_nonpos(below) == 0.0f && bn_exp_nonpos(-1e4f) == 0.0f && bn_exp_nonpos(-INFINITY) == 0.0f);
    CHECK(bn_expm1_nonpos(below) == -1.0f && bn_expm1_nonpos(-INFINITY) == -1.0f);
    CHECK(isnan(bn_exp_nonpos(NAN)) && isnan(bn_expm1_nonpos(NAN)));
    CHECK(isnan(bn_sigmoidf(NAN)) && isnan(bn_tanhf(NAN)));
    /* near 0, tanh z and e^z - 1 are z to the last bit, where a subtraction from 1 would have cancelled */
    CHECK(bn_tanhf(1e-30f) == 1e-30f && bn_tanhf(-1e-30f) == -1e-30f);
    CHECK(bn_expm1_nonpos(-1e-30f) == -1e-30f);
    CHECK(bn_sigmoidf(-1e4f) == 0.0f && bn_sigmoidf(1e4f) == 1.0f && bn_tanhf(-1e4f) == -1.0f);
    /* tanh keeps the sign of zero, as libm's does */
    CHECK(bn_tanhf(0.0f) == 0.0f && !signbit(bn_tanhf(0.0f)) && signbit(bn_tanhf(-0.0f)));
    /* outside the domain the documented values, not garbage: x > 0 counts as 0 */
    CHECK(bn_exp_nonpos(1.0f) == 1.0f && bn_exp_nonpos(INFINITY) == 1.0f);
    CHECK(bn_expm1_nonpos(1.0f) == 0.0f && bn_expm1_nonpos(INFINITY) == 0.0f);
    /* the last normal results are exact to 1.5 ulp too, where 2^-126 * (e^r - 1) would be subnormal */
    for (float x = BN_EXP_MIN_ARG; x < -86.0f; x = nextafterf(x, 0.0f) + 1e-4f) {
        const double want = exp((double)x);
        CHECKF(fabs((double)bn_exp_nonpos(x) - want) <= 1.5 * ulp_of(want), "e^%.9g = %.9g", (double)x,
               (double)bn_exp_nonpos(x));
    }
    /* every result is 0 or normal: a subnormal would cost ~100 cycles in each later operation on it */
    for (float x = -80.0f; x > -200.0f; x -= 0.0625f) {
        float y = bn_exp_nonpos(x);
        CHECKF(y == 0.0f || y >= FLT_MIN, "e^%g = %g is subnormal", (double)x, (double)y);
    }
}

static void sweep_every_97th(void)
{
    sweep(97);
}

int main(void)
{
    bn_test_case("every 97th float of [-87.3, 0] against double libm", sweep_every_97th);
    bn_test_case("NaN, infinities, signed zeros and x > 0", edges);
    return bn_test_exit("exp");
}
