/* The "blas" backend: every matrix product is one cblas_sgemm; the glue is the fused, OpenMP-parallel
 * kernels. Dispatch on the activation happens once per call, outside the loops, so each loop is
 * specialised and vectorised by the compiler. */
#include "act.h"
#include "backend.h"
#include "parallel.h"

#include <cblas.h>
#include <math.h>

static void blas_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Y (rows,n) <- act(Y + b), Z <- Y + b; `act` is a constant in each caller, so this body is specialised. */
static inline __attribute__((always_inline)) void bias_act_rows(float *restrict Y, float *restrict Z,
                                                                const float *restrict b, int rows, int n,
                                                                bn_act act, float slope)
{
    int nt = bn_par_threads((size_t)rows * n);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int i = 0; i < rows; i++) {
        float *restrict y = Y + (size_t)i * n;
        if (Z) {
            float *restrict z = Z + (size_t)i * n;
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

static void blas_bias_act(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope)
{
    switch (act) {
    case BN_ACT_RELU: bias_act_rows(Y, Z, b, rows, n, BN_ACT_RELU, slope); break;
    case BN_ACT_LEAKY_RELU: bias_act_rows(Y, Z, b, rows, n, BN_ACT_LEAKY_RELU, slope); break;
    case BN_ACT_SIGMOID: bias_act_rows(Y, Z, b, rows, n, BN_ACT_SIGMOID, slope); break;
    case BN_ACT_TANH: bias_act_rows(Y, Z, b, rows, n, BN_ACT_TANH, slope); break;
    case BN_ACT_SWISH: bias_act_rows(Y, Z, b, rows, n, BN_ACT_SWISH, slope); break;
    case BN_ACT_SELU: bias_act_rows(Y, Z, b, rows, n, BN_ACT_SELU, slope); break;
    default: break;
    }
}

static inline __attribute__((always_inline)) void act_backward_n(float *dZ, const float *dY, const float *Z,
                                                                 const float *Y, size_t n, bn_act act,
                                                                 float slope)
{
    int nt = bn_par_threads(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        bn_par_range(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (Z) {
            for (size_t i = lo; i < hi; i++)
                dZ[i] = dY[i] * bn_act_deriv1(act, slope, Z[i], Y[i]);
        } else {
#pragma omp simd
            for (size_t i = lo; i < hi; i++)
                dZ[i] = dY[i] * bn_act_deriv1(act, slope, 0.0f, Y[i]);
        }
    }
}

static void blas_act_backward(float *dZ, const float *dY, const float *Z, const float *Y, size_t n, bn_act act,
                              float slope)
{
    switch (act) {
    case BN_ACT_RELU: act_backward_n(dZ, dY, NULL, Y, n, BN_ACT_RELU, slope); break;
    case BN_ACT_LEAKY_RELU: act_backward_n(dZ, dY, NULL, Y, n, BN_ACT_LEAKY_RELU, slope); break;
    case BN_ACT_SIGMOID: act_backward_n(dZ, dY, NULL, Y, n, BN_ACT_SIGMOID, slope); break;
    case BN_ACT_TANH: act_backward_n(dZ, dY, NULL, Y, n, BN_ACT_TANH, slope); break;
    case BN_ACT_SWISH: act_backward_n(dZ, dY, Z, Y, n, BN_ACT_SWISH, slope); break;
    case BN_ACT_SELU: act_backward_n(dZ, dY, NULL, Y, n, BN_ACT_SELU, slope); break;
    default: break;
    }
}

/* One pass per row: bias, max, exponentials, loss, argmax and gradient; exp is taken once per element. */
static double blas_softmax_xent(float *dlogits, float *P, const float *b, const int32_t *labels, int rows,
                                int C, float grad_scale, int *correct)
{
    bn_partial loss_part[BN_MAX_THREADS];
    int right_part[BN_MAX_THREADS];
    int nt = bn_par_threads((size_t)rows * C * 8); /* exp is ~8x the cost of an add: weigh it so */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), team = omp_get_num_threads();
        size_t lo, hi;
        bn_par_range((size_t)rows, 1, t, team, &lo, &hi);
        double loss = 0.0;
        int right = 0;
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
                right += argmax == labels[i];
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
        loss_part[t].value = loss;
        right_part[t] = right;
        if (t == 0) /* every thread sets its slot; the team size is read once */
            nt = team;
    }
    int right = 0;
    for (int t = 0; t < nt; t++)
        right += right_part[t];
    if (correct)
        *correct += right;
    return bn_sum_partials(loss_part, nt);
}

/* Each thread owns a block of columns and walks the rows, so sums are vectorised across columns and the
 * order of additions is the same on every run. */
static void blas_bias_grad(float *db, const float *G, int rows, int n)
{
    int nt = bn_par_threads((size_t)rows * n);
    if ((size_t)n < 16 * (size_t)nt)
        nt = 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        bn_par_range((size_t)n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (size_t j = lo; j < hi; j++)
            db[j] = 0.0f;
        for (int i = 0; i < rows; i++) {
            const float *restrict g = G + (size_t)i * n;
#pragma omp simd
            for (size_t j = lo; j < hi; j++)
                db[j] += g[j];
        }
    }
}

/* One pass over the parameters: weight decay, momentum, step and the squared norm, all fused. */
static double blas_sgd_update(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd,
                              bool nesterov, bool want_sqnorm)
{
    bn_partial part[BN_MAX_THREADS];
    int nt = bn_par_threads(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = omp_get_thread_num(), team = omp_get_num_threads();
        size_t lo, hi;
        bn_par_range(n, 16, t, team, &lo, &hi);
        float *restrict wp = w;
        float *restrict vp = v;
        const float *restrict gp = g;
        double sq = 0.0; /* read in the same pass: free, the loop is bound by memory traffic */
        if (mu == 0.0f) {
#pragma omp simd reduction(+ : sq)
            for (size_t i = lo; i < hi; i++) {
                sq += (double)wp[i] * wp[i];
                wp[i] += -lr * (gp[i] + wd * wp[i]);
            }
        } else if (nesterov) {
#pragma omp simd reduction(+ : sq)
            for (size_t i = lo; i < hi; i++) {
                sq += (double)wp[i] * wp[i];
                float step = -lr * (gp[i] + wd * wp[i]);
                vp[i] = mu * vp[i] + step;
                wp[i] += mu * vp[i] + step;
            }
        } else {
#pragma omp simd reduction(+ : sq)
            for (size_t i = lo; i < hi; i++) {
                sq += (double)wp[i] * wp[i];
                float step = -lr * (gp[i] + wd * wp[i]);
                vp[i] = mu * vp[i] + step;
                wp[i] += vp[i];
            }
        }
        part[t].value = sq;
        if (t == 0)
            nt = team;
    }
    return want_sqnorm ? bn_sum_partials(part, nt) : 0.0;
}

const bn_backend bn_backend_blas = {
    .name = "blas",
    .gemm = blas_gemm,
    .bias_act = blas_bias_act,
    .act_backward = blas_act_backward,
    .softmax_xent = blas_softmax_xent,
    .bias_grad = blas_bias_grad,
    .sgd_update = blas_sgd_update,
};
