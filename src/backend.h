/* The backend contract: every op a training step needs, filled by three tables (naive, naive-omp, blas).
 * Tests and the benchmark hold several tables in one binary and compare them.
 * Conventions: outputs first, then saved inputs, then parameters, then dimensions; row-major matrices;
 * every op overwrites its outputs (nothing accumulates). */
#ifndef BN_BACKEND_H
#define BN_BACKEND_H

#include "blasnet.h"
#include "gemm_plan.h"

struct bn_backend {
    const char *name;
    /* The product g (gemm_plan.h), spread over the threads as `plan` says; NULL: the cost model's plan for
     * the current team. Backends without a scheduler ignore the plan. */
    void (*gemm)(const bn_gemm *g, const bn_gemm_plan *plan);
    /* Two products with no data between them (dW and dA of one layer), side by side where the plan says. */
    void (*gemm_pair)(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan);
    /* Y (rows,n) <- act(Y + b): Y holds X.W on entry. Z (rows,n), if not NULL, receives X.W + b. */
    void (*bias_act)(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope);
    /* dZ (n) = dY (n) * act'(.), from Y (and Z for swish); dZ may alias dY. */
    void (*act_backward)(float *dZ, const float *dY, const float *Z, const float *Y, size_t n, bn_act act,
                         float slope);
    /* P (rows,C) <- softmax(P + b): P holds X.W on entry, so the output layer's bias is added here. With labels: returns the summed cross-entropy,
     * adds the count of argmax == label to *correct (if not NULL) and, if dlogits is not NULL, writes
     * dlogits = grad_scale * (P - onehot(label)). Without labels returns 0. */
    double (*bias_softmax_xent)(float *dlogits, float *P, const float *b, const int32_t *labels, int rows, int C,
                                float grad_scale, int *correct);
    /* db (n) = column sums of G (rows,n). */
    void (*bias_grad)(float *db, const float *G, int rows, int n);
    /* v = mu*v - lr*(g + wd*w); w += v, or w += mu*v - lr*(g + wd*w) with nesterov; with mu == 0 v is
     * neither read nor written. Returns sum(w^2) before the update when want_sqnorm, else 0. */
    double (*sgd_update)(float *w, float *v, const float *g, size_t n, float lr, float mu, float wd,
                         bool nesterov, bool want_sqnorm);
};

extern const bn_backend bn_backend_naive;
extern const bn_backend bn_backend_naive_omp;
extern const bn_backend bn_backend_blas;

#endif
