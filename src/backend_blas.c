/* The "blas" backend: every matrix product is cblas_sgemm calls scheduled over the team by its plan; the
 * glue is the fused, OpenMP-parallel kernels. Dispatch on the activation happens once per call, outside
 * the loops, so each loop is specialised and vectorised by the compiler. */
#include "act.h"
#include "backend.h"
#include "parallel.h"

#include <math.h>

/* Products go through the scheduler (gemm_plan.c): each tile one serial sgemm on its own thread. */
static void blas_gemm(const bn_gemm *g, const bn_gemm_plan *plan)
{
    if (plan) {
        bn_plan_run(g, plan);
        return;
    }
    bn_gemm_plan estimate = bn_plan_estimate(g, omp_get_max_threads(), BN_PLAN_ESTIMATE, NULL, 0);
    bn_plan_run(g, &estimate);
}

static void blas_gemm_pair(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan)
{
    if (plan) {
        bn_plan_run_pair(first, second, plan);
        return;
    }
    bn_pair_plan estimate = bn_plan_pair(first, second, omp_get_max_threads(), BN_PLAN_ESTIMATE, NULL, 0);
    bn_plan_run_pair(first, second, &estimate);
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Each kernel is a block function over a range [lo, hi) and a driver that splits the range over threads.
 * With one thread the driver calls the block directly: libgomp allocates for every parallel region it
 * starts, even a one-thread region, and the training step must not allocate. */

/* Y (rows,n) <- act(Y + b), Z <- Y + b, rows [lo, hi); `act` is a constant in each caller, so the body is
 * specialised per activation. */
ALWAYS_INLINE void bias_act_block(float *restrict Y, float *restrict Z, const float *restrict b, size_t lo,
                                  size_t hi, int n, float slope, bn_act act)
{
    for (size_t i = lo; i < hi; i++) {
        float *restrict y = Y + i * n;
        if (Z) {
            float *restrict z = Z + i * n;
            for (int j = 0; j < n; j++) {
                z[j] = y[j] + b[j];
                y[j] = bn_act_fwd1(act, slope, z[j]);
            }
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++)
                y[j] = bn_act_fwd1(act, slope, y[j] + b[j]);
        }
    }
}

/* Calls fn(..., A) with the activation A as a compile-time constant, one case per activation, so each case
 * inlines fn's loop specialised for it: one switch per call and thread instead of one per element. It must
 * sit inside the parallel region: GCC outlines a region before it inlines, so a region inside an
 * always_inline helper would be compiled once, generic, with the switch back in the inner loop. The one
 * macro of this file: it stands for four copies of a six-case switch. */
#define CALL_WITH_CONST_ACT(act, fn, ...)                                                                      \
    switch (act) {                                                                                             \
    case BN_ACT_RELU: fn(__VA_ARGS__, BN_ACT_RELU); break;                                                     \
    case BN_ACT_LEAKY_RELU: fn(__VA_ARGS__, BN_ACT_LEAKY_RELU); break;                                         \
    case BN_ACT_SIGMOID: fn(__VA_ARGS__, BN_ACT_SIGMOID); break;                                               \
    case BN_ACT_TANH: fn(__VA_ARGS__, BN_ACT_TANH); break;                                                     \
    case BN_ACT_SWISH: fn(__VA_ARGS__, BN_ACT_SWISH); break;                                                   \
    case BN_ACT_SELU: fn(__VA_ARGS__, BN_ACT_SELU); break;                                                     \
    default: break;                                                                                            \
    }

static void bias_act_range(float *Y, float *Z, const float *b, size_t lo, size_t hi, int n, bn_act act,
                           float slope)
{
    CALL_WITH_CONST_ACT(act, bias_act_block, Y, Z, b, lo, hi, n, slope)
}

static void blas_bias_act(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope)
{
    int nt = bn_par_threads((size_t)rows * n);
    if (nt == 1) {
        bias_act_range(Y, Z, b, 0, (size_t)rows, n, act, slope);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range((size_t)rows, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        bias_act_range(Y, Z, b, lo, hi, n, act, slope);
    }
}

/* dG [lo, hi) *= act'(.), in place: dG is both dY and dZ, so it cannot be restrict twice. */
ALWAYS_INLINE void act_backward_inplace(float *restrict dG, const float *restrict Z, const float *restrict Y,
                                        size_t lo, size_t hi, float slope, bn_act act)
{
    if (Z) {
        for (size_t i = lo; i < hi; i++)
            dG[i] *= bn_act_deriv1(act, slope, Z[i], Y[i]);
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dG[i] *= bn_act_deriv1(act, slope, 0.0f, Y[i]);
    }
}

/* dZ [lo, hi) = dY * act'(.) */
ALWAYS_INLINE void act_backward_block(float *restrict dZ, const float *restrict dY, const float *restrict Z,
                                      const float *restrict Y, size_t lo, size_t hi, float slope, bn_act act)
{
    if (Z) {
        for (size_t i = lo; i < hi; i++)
            dZ[i] = dY[i] * bn_act_deriv1(act, slope, Z[i], Y[i]);
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dZ[i] = dY[i] * bn_act_deriv1(act, slope, 0.0f, Y[i]);
    }
}

/* dZ may alias dY (the backward pass works in place), so this range function drops restrict for that case. */
static void act_backward_range(float *dZ, const float *dY, const float *Z, const float *Y, size_t lo, size_t hi,
                               bn_act act, float slope)
{
    if (dZ == dY) {
        CALL_WITH_CONST_ACT(act, act_backward_inplace, dZ, Z, Y, lo, hi, slope)
    } else {
        CALL_WITH_CONST_ACT(act, act_backward_block, dZ, dY, Z, Y, lo, hi, slope)
    }
}

static void blas_act_backward(float *dZ, const float *dY, const float *Z, const float *Y, size_t n, bn_act act,
                              float slope)
{
    int nt = bn_par_threads(n);
    if (nt == 1) {
        act_backward_range(dZ, dY, Z, Y, 0, n, act, slope);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        act_backward_range(dZ, dY, Z, Y, lo, hi, act, slope);
    }
}

/* Rows [lo, hi): bias, max, exponentials, loss, argmax and gradient in one pass per row; exp once per
 * element. Returns the summed loss; adds to *right. */
static double bias_softmax_xent_block(float *dlogits, float *P, const float *b, const int32_t *labels, size_t lo,
                                 size_t hi, int C, float grad_scale, int *right)
{
    double loss = 0.0;
    for (size_t i = lo; i < hi; i++) {
        float *restrict p = P + i * C;
        float max = -INFINITY;
        int argmax = 0;
        for (int j = 0; j < C; j++) {
            p[j] += b[j];
            if (p[j] > max) {
                max = p[j];
                argmax = j;
            }
        }
        /* -log p_y = log(sum) - (z_y - max), taken before exp: exp(z_y - max) may underflow to 0. */
        float shifted_y = labels ? p[labels[i]] - max : 0.0f;
        float sum = 0.0f;
        for (int j = 0; j < C; j++) {
            p[j] = expf(p[j] - max);
            sum += p[j];
        }
        float inv = 1.0f / sum;
        if (labels) {
            loss += (double)logf(sum) - (double)shifted_y;
            *right += argmax == labels[i];
        }
        for (int j = 0; j < C; j++)
            p[j] *= inv;
        if (labels && dlogits) {
            float *restrict d = dlogits + i * C;
            for (int j = 0; j < C; j++)
                d[j] = grad_scale * p[j];
            d[labels[i]] -= grad_scale;
        }
    }
    return loss;
}

static double blas_bias_softmax_xent(float *dlogits, float *P, const float *b, const int32_t *labels, int rows,
                                int C, float grad_scale, int *correct)
{
    int nt = bn_par_threads((size_t)rows * C * 8); /* exp costs ~8 adds: weigh it so */
    int right = 0;
    double loss;
    if (nt == 1) {
        loss = bias_softmax_xent_block(dlogits, P, b, labels, 0, (size_t)rows, C, grad_scale, &right);
    } else {
        bn_partial loss_part[BN_MAX_THREADS];
        int right_part[BN_MAX_THREADS], team = 1;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            size_t lo, hi;
            bn_par_range((size_t)rows, 1, t, omp_get_num_threads(), &lo, &hi);
            right_part[t] = 0;
            loss_part[t].value = bias_softmax_xent_block(dlogits, P, b, labels, lo, hi, C, grad_scale, &right_part[t]);
#pragma omp single
            team = omp_get_num_threads();
        }
        for (int t = 0; t < team; t++)
            right += right_part[t];
        loss = bn_sum_partials(loss_part, team);
    }
    if (correct)
        *correct += right;
    return loss;
}

/* db [lo, hi) = column sums of G: walks the rows, vectorised across columns, the same order on every run. */
static void bias_grad_block(float *restrict db, const float *restrict G, int rows, int n, size_t lo, size_t hi)
{
    for (size_t j = lo; j < hi; j++)
        db[j] = 0.0f;
    for (int i = 0; i < rows; i++) {
        const float *restrict g = G + (size_t)i * n;
#pragma omp simd
        for (size_t j = lo; j < hi; j++)
            db[j] += g[j];
    }
}

static void blas_bias_grad(float *db, const float *G, int rows, int n)
{
    int nt = bn_par_threads((size_t)rows * n);
    if (nt == 1 || (size_t)n < 16 * (size_t)nt) {
        bias_grad_block(db, G, rows, n, 0, (size_t)n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range((size_t)n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        bias_grad_block(db, G, rows, n, lo, hi);
    }
}

/* [lo, hi): weight decay, momentum, the step, and (with want_sq) the squared norm of w before the step, in
 * one pass. `nesterov` and `want_sq` are constants in each caller, so every variant is its own loop: the
 * double-precision norm costs a third of the pass when nobody wants it. */
ALWAYS_INLINE double sgd_momentum(float *restrict w, float *restrict v, const float *restrict g, size_t lo,
                                  size_t hi, float lr, float mu, float wd, bool nesterov, bool want_sq)
{
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (size_t i = lo; i < hi; i++) {
        if (want_sq)
            sq += (double)w[i] * w[i];
        float step = -lr * (g[i] + wd * w[i]);
        v[i] = mu * v[i] + step;
        w[i] += nesterov ? mu * v[i] + step : v[i];
    }
    return sq;
}

ALWAYS_INLINE double sgd_plain(float *restrict w, const float *restrict g, size_t lo, size_t hi, float lr, float wd,
                               bool want_sq)
{
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (size_t i = lo; i < hi; i++) {
        if (want_sq)
            sq += (double)w[i] * w[i];
        w[i] += -lr * (g[i] + wd * w[i]);
    }
    return sq;
}

static double sgd_block(float *w, float *v, const float *g, size_t lo, size_t hi, float lr, float mu, float wd,
                        bool nesterov, bool want_sq)
{
    if (mu == 0.0f)
        return want_sq ? sgd_plain(w, g, lo, hi, lr, wd, true) : sgd_plain(w, g, lo, hi, lr, wd, false);
    if (nesterov)
        return want_sq ? sgd_momentum(w, v, g, lo, hi, lr, mu, wd, true, true)
                       : sgd_momentum(w, v, g, lo, hi, lr, mu, wd, true, false);
    return want_sq ? sgd_momentum(w, v, g, lo, hi, lr, mu, wd, false, true)
                   : sgd_momentum(w, v, g, lo, hi, lr, mu, wd, false, false);
}

static double blas_sgd_update(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd,
                              bool nesterov, bool want_sqnorm)
{
    int nt = bn_par_threads(n);
    double sq;
    if (nt == 1) {
        sq = sgd_block(w, v, g, 0, n, lr, mu, wd, nesterov, want_sqnorm);
    } else {
        bn_partial part[BN_MAX_THREADS];
        int team = 1;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            size_t lo, hi;
            bn_par_range(n, 16, t, omp_get_num_threads(), &lo, &hi);
            part[t].value = sgd_block(w, v, g, lo, hi, lr, mu, wd, nesterov, want_sqnorm);
#pragma omp single
            team = omp_get_num_threads();
        }
        sq = bn_sum_partials(part, team);
    }
    return want_sqnorm ? sq : 0.0;
}

const bn_backend bn_backend_blas = {
    .name = "blas",
    .gemm = blas_gemm,
    .gemm_pair = blas_gemm_pair,
    .bias_act = blas_bias_act,
    .act_backward = blas_act_backward,
    .bias_softmax_xent = blas_bias_softmax_xent,
    .bias_grad = blas_bias_grad,
    .sgd_update = blas_sgd_update,
};
