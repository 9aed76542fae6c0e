/* The backend contract: every op a training step needs, filled by three tables (naive, naive-omp, blas).
 * Tests and the benchmark hold several tables in one binary and compare them.
 * Conventions: outputs first, then saved inputs, then parameters, then dimensions; row-major matrices;
 * every op overwrites its outputs (nothing accumulates). */
#ifndef BN_BACKEND_H
#define BN_BACKEND_H

#include "blasnet.h"

struct bn_backend {
    const char *name;
    /* C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C; op(X) = X^T when its flag is set; row-major
     * leading dimensions. */
    void (*gemm)(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
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
