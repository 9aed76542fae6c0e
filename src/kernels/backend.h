/* The backend contract: every op a training step needs, filled by three tables (naive, naive-omp, blas).
 * Tests and the benchmark hold several tables in one binary and compare them.
 * Conventions: outputs first, then saved inputs, then parameters, then dimensions; row-major matrices;
 * every op overwrites its outputs (nothing accumulates). */
#ifndef BN_BACKEND_H
#define BN_BACKEND_H

#include "blasnet.h"
#include "dropout.h"
#include "gemm_plan.h"
#include "optim.h"

/* One thread's share of the elementwise ops, for the parallel region a whole step runs in (net/step_run.c):
 * each works on the range it is given and opens no region; a sum comes back for the caller to add in thread
 * order. Rows [lo, hi) for the row-wise ops, columns for bias_grad, floats for update and sqnorm; the
 * meaning of every argument is that of the op of the same name below. */
typedef struct bn_team_kernels {
    void (*bias_act)(float *Y, float *Z, const float *b, size_t lo, size_t hi, int n, bn_act act, float slope,
                     const bn_dropout *drop);
    void (*act_backward)(float *dZ, const float *dY, const float *Z, const float *Y, size_t lo, size_t hi, int n,
                         bn_act act, float slope, const bn_dropout *drop);
    double (*bias_softmax_xent)(float *dlogits, float *P, const float *b, const int32_t *labels, size_t lo,
                                size_t hi, int C, float grad_scale, int *correct);
    void (*bias_grad)(float *db, const float *G, int rows, int n, size_t lo, size_t hi);
    double (*update)(float *w, float *m, float *v, const float *g, size_t lo, size_t hi, const bn_update *u,
                     float wd, bool want_sqnorm);
    double (*sqnorm)(const float *x, size_t lo, size_t hi);
} bn_team_kernels;

struct bn_backend {
    const char *name;
    /* The product g (gemm_plan.h), spread over the threads as `plan` says; NULL: the cost model's plan for
     * the current team. Backends without a scheduler ignore the plan. */
    void (*gemm)(const bn_gemm *g, const bn_gemm_plan *plan);
    /* Two products with no data between them (dW and dA of one layer), side by side where the plan says. */
    void (*gemm_pair)(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan);
    /* Y (rows,n) <- act(Y + b): Y holds X.W on entry. Z (rows,n), if not NULL, receives X.W + b. With drop,
     * each unit of Y the mask drops becomes 0 and each survivor is scaled by drop->scale (Z is not). */
    void (*bias_act)(float *Y, float *Z, const float *b, int rows, int n, bn_act act, float slope,
                     const bn_dropout *drop);
    /* dZ (rows,n) = dY * act'(.), from Y (and Z for swish); dZ may alias dY. With drop, Y is the dropped
     * output bias_act left: dropped units get 0, survivors dY * scale * act'(Y * keep). */
    void (*act_backward)(float *dZ, const float *dY, const float *Z, const float *Y, int rows, int n, bn_act act,
                         float slope, const bn_dropout *drop);
    /* P (rows,C) <- softmax(P + b): P holds X.W on entry, so the output layer's bias is added here. With labels: returns the summed cross-entropy,
     * adds the count of argmax == label to *correct (if not NULL) and, if dlogits is not NULL, writes
     * dlogits = grad_scale * (P - onehot(label)). Without labels returns 0. */
    double (*bias_softmax_xent)(float *dlogits, float *P, const float *b, const int32_t *labels, int rows, int C,
                                float grad_scale, int *correct);
    /* db (n) = column sums of G (rows,n). */
    void (*bias_grad)(float *db, const float *G, int rows, int n);
    /* The optimizer step u (blasnet.h, bn_optim) on n parameters with gradient g * u->grad_scale: sgd with
     * m its velocity (with momentum 0, m is neither read nor written), adam and adamw with m and v the
     * moments. wd is the decay of these parameters (0 for biases). Returns sum(w^2) before the update when
     * want_sqnorm, else 0. */
    double (*update)(float *w, float *m, float *v, const float *g, size_t n, const bn_update *u, float wd,
                     bool want_sqnorm);
    /* sum(x^2) in double, summed in an order fixed by the thread count. */
    double (*sqnorm)(const float *x, size_t n);
    /* y (n) += x (n): the node's ranks adding their gradients (net_share.c); the one op that accumulates. */
    void (*accumulate)(float *y, const float *x, size_t n);
    /* The same ops as shares of one region, or NULL: the naive backends run op by op, each in its own. */
    const bn_team_kernels *team;
};

extern const bn_backend bn_backend_naive;
extern const bn_backend bn_backend_naive_omp;
extern const bn_backend bn_backend_blas;

#endif
