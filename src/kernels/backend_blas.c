/* The "blas" backend: every matrix product is cblas_sgemm calls scheduled over the team by its plan; the
 * glue is the fused, OpenMP-parallel kernels. Dispatch on the activation happens once per call, outside
 * the loops, so each loop is specialised and vectorised by the compiler. */
#include "act.h"
#include "backend.h"
#include "parallel.h"

#include <float.h>
#include <math.h>

/* Products go through the scheduler (gemm_plan.h; plan_run.c runs them): each tile one serial sgemm on its own thread. */
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
/* The activations' exponentials make their loops compute-bound, so these are also built for AVX2 and AVX-512
 * and the CPU picks one when the library loads (an ifunc), as OpenBLAS picks its kernels: 2.7x and 4.6x the
 * baseline SSE2 loop for a sigmoid. -ffp-contract=off (meson.build) keeps every clone's bits those of the
 * baseline and of the reference loops. A clone reaches only what is inlined into it: its callees must be
 * ALWAYS_INLINE, or they run at the baseline width. */
#if defined(__x86_64__) && defined(__ELF__) /* target_clones needs ifunc: x86-64 ELF (Linux) here */
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

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
#pragma omp simd
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

/* Rows [lo, hi) of Y: each unit the mask drops becomes 0, each survivor is scaled. One pass over rows that
 * bias_act_block just wrote, so they are still in L1; the hash is 32-bit integer work that vectorises. */
ALWAYS_INLINE void dropout_rows(float *restrict Y, size_t lo, size_t hi, int n, const bn_dropout *d)
{
    const uint32_t threshold = d->threshold;
    const float scale = d->scale;
    for (size_t i = lo; i < hi; i++) {
        float *restrict y = Y + i * n;
        const uint32_t row_key = bn_dropout_row_key(d, (uint64_t)i);
#pragma omp simd
        for (int j = 0; j < n; j++)
            y[j] = bn_dropout_keeps(row_key, (uint32_t)j, threshold) ? y[j] * scale : 0.0f;
    }
}

VECTOR_CLONES static void bias_act_range(float *Y, float *Z, const float *b, size_t lo, size_t hi, int n,
                                         bn_act act, float slope, const bn_dropout *drop)
{
    CALL_WITH_CONST_ACT(act, bias_act_block, Y, Z, b, lo, hi, n, slope)
    if (drop)
        dropout_rows(Y, lo, hi, n, drop);
}

static void blas_bias_act(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope,
                          const bn_dropout *drop)
{
    int nt = bn_par_threads((size_t)rows * n);
    if (nt == 1) {
        bias_act_range(Y, Z, b, 0, (size_t)rows, n, act, slope, drop);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range((size_t)rows, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        bias_act_range(Y, Z, b, lo, hi, n, act, slope, drop);
    }
}

/* dG [lo, hi) *= act'(.), in place: dG is both dY and dZ, so it cannot be restrict twice. */
ALWAYS_INLINE void act_backward_inplace(float *restrict dG, const float *restrict Z, const float *restrict Y,
                                        size_t lo, size_t hi, float slope, bn_act act)
{
    if (Z) {
#pragma omp simd
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
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dZ[i] = dY[i] * bn_act_deriv1(act, slope, Z[i], Y[i]);
    } else {
#pragma omp simd
        for (size_t i = lo; i < hi; i++)
            dZ[i] = dY[i] * bn_act_deriv1(act, slope, 0.0f, Y[i]);
    }
}

/* Rows [lo, hi) under dropout: dropped units get 0, survivors dY * scale * act'(.) of the output before it
 * was scaled. dZ may alias dY. */
ALWAYS_INLINE void act_backward_dropout(float *dZ, const float *dY, const float *restrict Z,
                                        const float *restrict Y, size_t lo, size_t hi, int n, float slope,
                                        const bn_dropout *d, bn_act act)
{
    const uint32_t threshold = d->threshold;
    const float scale = d->scale, keep = d->keep;
    for (size_t i = lo; i < hi; i++) {
        const uint32_t row_key = bn_dropout_row_key(d, (uint64_t)i);
        const size_t row = i * (size_t)n;
#pragma omp simd
        for (int j = 0; j < n; j++) {
            float z = Z ? Z[row + j] : 0.0f;
            float d1 = dY[row + j] * scale * bn_act_deriv1(act, slope, z, Y[row + j] * keep);
            dZ[row + j] = bn_dropout_keeps(row_key, (uint32_t)j, threshold) ? d1 : 0.0f;
        }
    }
}

/* Rows [lo, hi). dZ may alias dY (the backward pass works in place), so this range function drops restrict
 * for that case. */
VECTOR_CLONES static void act_backward_range(float *dZ, const float *dY, const float *Z, const float *Y, size_t lo,
                                             size_t hi, int n, bn_act act, float slope, const bn_dropout *drop)
{
    if (drop) {
        CALL_WITH_CONST_ACT(act, act_backward_dropout, dZ, dY, Z, Y, lo, hi, n, slope, drop)
    } else if (dZ == dY) {
        CALL_WITH_CONST_ACT(act, act_backward_inplace, dZ, Z, Y, lo * n, hi * n, slope)
    } else {
        CALL_WITH_CONST_ACT(act, act_backward_block, dZ, dY, Z, Y, lo * n, hi * n, slope)
    }
}

static void blas_act_backward(float *dZ, const float *dY, const float *Z, const float *Y, int rows, int n,
                              bn_act act, float slope, const bn_dropout *drop)
{
    int nt = bn_par_threads((size_t)rows * n);
    if (nt == 1) {
        act_backward_range(dZ, dY, Z, Y, 0, (size_t)rows, n, act, slope, drop);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range((size_t)rows, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        act_backward_range(dZ, dY, Z, Y, lo, hi, n, act, slope, drop);
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
            p[j] = bn_exp_nonpos(p[j] - max);
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
                                  size_t hi, const bn_update *u, float wd, bool nesterov, bool want_sq)
{
    const float lr = u->lr, mu = u->momentum, gs = u->grad_scale;
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (size_t i = lo; i < hi; i++) {
        if (want_sq)
            sq += (double)w[i] * w[i];
        float step = -lr * (g[i] * gs + wd * w[i]);
        v[i] = mu * v[i] + step;
        w[i] += nesterov ? mu * v[i] + step : v[i];
    }
    return sq;
}

ALWAYS_INLINE double sgd_plain(float *restrict w, const float *restrict g, size_t lo, size_t hi, const bn_update *u,
                               float wd, bool want_sq)
{
    const float lr = u->lr, gs = u->grad_scale;
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (size_t i = lo; i < hi; i++) {
        if (want_sq)
            sq += (double)w[i] * w[i];
        w[i] += -lr * (g[i] * gs + wd * w[i]);
    }
    return sq;
}

/* Adam and AdamW (`decoupled`), each a constant in its caller; the same expressions, in the same order, as
 * the reference loop, so the two agree bit for bit. */
ALWAYS_INLINE double adam_block(float *restrict w, float *restrict m, float *restrict v, const float *restrict g,
                                size_t lo, size_t hi, const bn_update *u, float wd, bool decoupled, bool want_sq)
{
    const float gs = u->grad_scale, lr = u->lr, b1 = u->beta1, b2 = u->beta2, eps = u->eps;
    const float step_size = u->step_size, bc2_sqrt = u->bc2_sqrt, floor = u->grad_floor;
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (size_t i = lo; i < hi; i++) {
        if (want_sq)
            sq += (double)w[i] * w[i];
        float grad = g[i] * gs;
        if (decoupled)
            w[i] -= lr * wd * w[i];
        else
            grad += wd * w[i];
        grad = fabsf(grad) < floor ? 0.0f : grad; /* optim.h: no subnormal moments */
        float mi = b1 * m[i] + (1.0f - b1) * grad, vi = b2 * v[i] + (1.0f - b2) * grad * grad;
        m[i] = fabsf(mi) < FLT_MIN ? 0.0f : mi;
        v[i] = vi < FLT_MIN ? 0.0f : vi;
        w[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
    return sq;
}

ALWAYS_INLINE double sgd_block(float *w, float *v, const float *g, size_t lo, size_t hi, const bn_update *u, float wd,
                               bool want_sq)
{
    if (u->momentum == 0.0f)
        return want_sq ? sgd_plain(w, g, lo, hi, u, wd, true) : sgd_plain(w, g, lo, hi, u, wd, false);
    if (u->nesterov)
        return want_sq ? sgd_momentum(w, v, g, lo, hi, u, wd, true, true)
                       : sgd_momentum(w, v, g, lo, hi, u, wd, true, false);
    return want_sq ? sgd_momentum(w, v, g, lo, hi, u, wd, false, true)
                   : sgd_momentum(w, v, g, lo, hi, u, wd, false, false);
}

/* Adam's square root and division make its loop compute-bound at SSE2's width: cloned, its step's cost over
 * SGD's fell from 1.25-1.31x to 1.10-1.16x (784-512-10, batch 64). */
VECTOR_CLONES static double update_block(float *w, float *m, float *v, const float *g, size_t lo, size_t hi,
                                         const bn_update *u, float wd, bool want_sq)
{
    if (u->kind == BN_OPT_SGD)
        return sgd_block(w, m, g, lo, hi, u, wd, want_sq);
    if (u->kind == BN_OPT_ADAMW)
        return want_sq ? adam_block(w, m, v, g, lo, hi, u, wd, true, true)
                       : adam_block(w, m, v, g, lo, hi, u, wd, true, false);
    return want_sq ? adam_block(w, m, v, g, lo, hi, u, wd, false, true)
                   : adam_block(w, m, v, g, lo, hi, u, wd, false, false);
}

/* A sum over [0, n) in blocks, one per thread, added in thread order (parallel.h): block(ctx, lo, hi) does
 * the work of its range and returns its part of the sum. */
static double parallel_sum(size_t n, double (*block)(const void *ctx, size_t lo, size_t hi), const void *ctx)
{
    int nt = bn_par_threads(n);
    if (nt == 1)
        return block(ctx, 0, n);
    bn_partial part[BN_MAX_THREADS];
    int team = 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        size_t lo, hi;
        bn_par_range(n, 16, t, omp_get_num_threads(), &lo, &hi);
        part[t].value = block(ctx, lo, hi);
#pragma omp single
        team = omp_get_num_threads();
    }
    return bn_sum_partials(part, team);
}

typedef struct {
    float *w, *m, *v;
    const float *g;
    const bn_update *u;
    float wd;
    bool want_sq;
} update_args;

static double update_range(const void *ctx, size_t lo, size_t hi)
{
    const update_args *a = ctx;
    return update_block(a->w, a->m, a->v, a->g, lo, hi, a->u, a->wd, a->want_sq);
}

static double blas_update(float *w, float *m, float *v, const float *g, size_t n, const bn_update *u, float wd,
                          bool want_sqnorm)
{
    const update_args args = {w, m, v, g, u, wd, want_sqnorm};
    double sq = parallel_sum(n, update_range, &args);
    return want_sqnorm ? sq : 0.0;
}

static double sqnorm_block(const float *restrict x, size_t lo, size_t hi)
{
    double sq = 0.0;
#pragma omp simd reduction(+ : sq)
    for (size_t i = lo; i < hi; i++)
        sq += (double)x[i] * x[i];
    return sq;
}

static double sqnorm_range(const void *ctx, size_t lo, size_t hi)
{
    return sqnorm_block(ctx, lo, hi);
}

static double blas_sqnorm(const float *x, size_t n)
{
    return parallel_sum(n, sqnorm_range, x);
}

static void accumulate_range(float *restrict y, const float *restrict x, size_t lo, size_t hi)
{
#pragma omp simd
    for (size_t i = lo; i < hi; i++)
        y[i] += x[i];
}

/* No parallel region below the threshold: even one with if(0) allocates a team in libgomp. */
static void blas_accumulate(float *y, const float *x, size_t n)
{
    const int nt = bn_par_threads(n);
    if (nt == 1) {
        accumulate_range(y, x, 0, n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        accumulate_range(y, x, lo, hi);
    }
}

/* The same blocks the ops above split over their own regions: a step in one region gives the same bits. */
static const bn_team_kernels blas_team = {
    .bias_act = bias_act_range,
    .act_backward = act_backward_range,
    .bias_softmax_xent = bias_softmax_xent_block,
    .bias_grad = bias_grad_block,
    .update = update_block,
    .sqnorm = sqnorm_block,
};

const bn_backend bn_backend_blas = {
    .name = "blas",
    .gemm = blas_gemm,
    .gemm_pair = blas_gemm_pair,
    .bias_act = blas_bias_act,
    .act_backward = blas_act_backward,
    .bias_softmax_xent = blas_bias_softmax_xent,
    .bias_grad = blas_bias_grad,
    .update = blas_update,
    .sqnorm = blas_sqnorm,
    .accumulate = blas_accumulate,
    .team = &blas_team,
};
