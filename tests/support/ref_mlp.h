/* The double-precision oracle for the whole network: plain loops, any depth, every activation, softmax with
 * the batch-mean cross-entropy and the L2 term lambda/2 * ||W||^2 (weights only). Same layouts as the
 * library (W (in,out), batches (B,n), row-major), but none of its code: derivatives are taken from the
 * pre-activation z, the library takes them from the output y. Header-only (static) so each test is one file. */
#ifndef BN_TEST_REF_MLP_H
#define BN_TEST_REF_MLP_H

#include "blasnet.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REF_SELU_ALPHA 1.6732632423543772848
#define REF_SELU_SCALE 1.0507009873554804934

typedef struct ref_net {
    int depth;                    /* weight layers */
    int sizes[BN_MAX_LAYERS + 1]; /* sizes[0] inputs ... sizes[depth] classes */
    bn_act act;                   /* hidden layers; the output is softmax */
    double slope;                 /* leaky_relu */
    double lambda;                /* L2 coefficient */
    double *w[BN_MAX_LAYERS], *b[BN_MAX_LAYERS];   /* (in,out) and (out) */
    double *dw[BN_MAX_LAYERS], *db[BN_MAX_LAYERS]; /* gradients of the full loss, L2 included */
    double *params, *grads;                        /* the two blocks the views above point into */
    size_t count;                                  /* doubles in each block */
    /* Scratch of the last pass, sized for `batch` rows: z[l] pre-activations (B, sizes[l+1]), a[l] outputs
     * (hidden activations; the last layer holds the probabilities). */
    double *z[BN_MAX_LAYERS], *a[BN_MAX_LAYERS];
    double *scratch;
    int batch;
} ref_net;

static double ref_sigmoid(double x)
{
    return x >= 0.0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

static double ref_act_fwd(bn_act act, double slope, double z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0 ? z : 0.0;
    case BN_ACT_LEAKY_RELU: return z > 0.0 ? z : slope * z;
    case BN_ACT_SIGMOID: return ref_sigmoid(z);
    case BN_ACT_TANH: return tanh(z);
    case BN_ACT_SWISH: return z * ref_sigmoid(z);
    case BN_ACT_SELU: return z > 0.0 ? REF_SELU_SCALE * z : REF_SELU_SCALE * REF_SELU_ALPHA * expm1(z);
    default: return NAN;
    }
}

/* d act / d z, written from z alone (the textbook form), so it shares nothing with src/act.h. */
static double ref_act_deriv(bn_act act, double slope, double z)
{
    switch (act) {
    case BN_ACT_RELU: return z > 0.0 ? 1.0 : 0.0;
    case BN_ACT_LEAKY_RELU: return z > 0.0 ? 1.0 : slope;
    case BN_ACT_SIGMOID: {
        double s = ref_sigmoid(z);
        return s * (1.0 - s);
    }
    case BN_ACT_TANH: {
        double t = tanh(z);
        return 1.0 - t * t;
    }
    case BN_ACT_SWISH: {
        double s = ref_sigmoid(z);
        return s + z * s * (1.0 - s);
    }
    case BN_ACT_SELU: return z > 0.0 ? REF_SELU_SCALE : REF_SELU_SCALE * REF_SELU_ALPHA * exp(z);
    default: return NAN;
    }
}

/* True for the activations whose derivative jumps at z = 0. */
static int ref_act_has_kink(bn_act act)
{
    return act == BN_ACT_RELU || act == BN_ACT_LEAKY_RELU || act == BN_ACT_SELU;
}

static void ref_net_free(ref_net *r)
{
    free(r->params);
    free(r->grads);
    free(r->scratch);
    memset(r, 0, sizeof *r);
}

/* Allocates parameters (zero), gradients and scratch for up to max_batch rows. Returns 0, or -1 when out of
 * memory. */
static int ref_net_alloc(ref_net *r, const bn_arch *arch, int max_batch, double lambda)
{
    memset(r, 0, sizeof *r);
    r->depth = arch->depth;
    memcpy(r->sizes, arch->sizes, sizeof r->sizes);
    r->act = arch->act;
    r->slope = arch->leaky_slope;
    r->lambda = lambda;
    size_t count = 0, act_count = 0;
    for (int l = 0; l < r->depth; l++) {
        count += (size_t)r->sizes[l] * r->sizes[l + 1] + r->sizes[l + 1];
        act_count += (size_t)max_batch * r->sizes[l + 1];
    }
    r->count = count;
    r->params = calloc(count, sizeof(double));
    r->grads = calloc(count, sizeof(double));
    r->scratch = calloc(2 * act_count, sizeof(double));
    if (!r->params || !r->grads || !r->scratch) {
        ref_net_free(r);
        return -1;
    }
    size_t off = 0, aoff = 0;
    for (int l = 0; l < r->depth; l++) {
        size_t nw = (size_t)r->sizes[l] * r->sizes[l + 1];
        r->w[l] = r->params + off;
        r->dw[l] = r->grads + off;
        off += nw;
        r->b[l] = r->params + off;
        r->db[l] = r->grads + off;
        off += r->sizes[l + 1];
        r->z[l] = r->scratch + aoff;
        aoff += (size_t)max_batch * r->sizes[l + 1];
        r->a[l] = r->scratch + aoff;
        aoff += (size_t)max_batch * r->sizes[l + 1];
    }
    r->batch = max_batch;
    return 0;
}

/* Forward pass over x (B, sizes[0]); probabilities land in a[depth-1]. Returns the mean cross-entropy over
 * the batch plus lambda/2 * ||W||^2 when labels are given, else 0. B must not exceed the allocated batch. */
static double ref_net_forward(ref_net *r, const double *x, const int32_t *labels, int B)
{
    const int L = r->depth;
    const double *in = x;
    for (int l = 0; l < L; l++) {
        const int n_in = r->sizes[l], n_out = r->sizes[l + 1];
        /* Z (B, out) = IN (B, in) . W (in, out) + b */
        for (int i = 0; i < B; i++) {
            for (int j = 0; j < n_out; j++) {
                double s = r->b[l][j];
                for (int k = 0; k < n_in; k++)
                    s += in[(size_t)i * n_in + k] * r->w[l][(size_t)k * n_out + j];
                r->z[l][(size_t)i * n_out + j] = s;
                if (l < L - 1)
                    r->a[l][(size_t)i * n_out + j] = ref_act_fwd(r->act, r->slope, s);
            }
        }
        in = r->a[l];
    }
    /* Softmax rows: P (B, C) from Z, the row max subtracted so exp never overflows. */
    const int C = r->sizes[L];
    double loss = 0.0;
    for (int i = 0; i < B; i++) {
        const double *z = r->z[L - 1] + (size_t)i * C;
        double *p = r->a[L - 1] + (size_t)i * C;
        double max = z[0];
        for (int j = 1; j < C; j++)
            max = z[j] > max ? z[j] : max;
        double sum = 0.0;
        for (int j = 0; j < C; j++)
            sum += exp(z[j] - max);
        for (int j = 0; j < C; j++)
            p[j] = exp(z[j] - max) / sum;
        if (labels)
            loss += -(z[labels[i]] - max - log(sum)); /* -log p_y, finite where p_y underflows */
    }
    if (!labels)
        return 0.0;
    double sq = 0.0;
    for (int l = 0; l < L; l++)
        for (size_t k = 0; k < (size_t)r->sizes[l] * r->sizes[l + 1]; k++)
            sq += r->w[l][k] * r->w[l][k];
    return loss / B + 0.5 * r->lambda * sq;
}

/* Forward and backward: returns the loss (as ref_net_forward) and writes every dW and db. */
static double ref_net_backprop(ref_net *r, const double *x, const int32_t *labels, int B)
{
    const int L = r->depth;
    double loss = ref_net_forward(r, x, labels, B);
    size_t widest = 0;
    for (int l = 0; l <= L; l++)
        widest = (size_t)r->sizes[l] > widest ? (size_t)r->sizes[l] : widest;
    double *g = malloc((size_t)B * widest * sizeof(double));
    double *g_prev = malloc((size_t)B * widest * sizeof(double));
    if (!g || !g_prev) {
        free(g);
        free(g_prev);
        return NAN; /* the caller's comparisons then fail loudly */
    }
    /* G (B, C) = (P - onehot(y)) / B: d(mean cross-entropy) / d logits */
    const int C = r->sizes[L];
    for (int i = 0; i < B; i++)
        for (int j = 0; j < C; j++)
            g[(size_t)i * C + j] = (r->a[L - 1][(size_t)i * C + j] - (j == labels[i] ? 1.0 : 0.0)) / B;
    for (int l = L - 1; l >= 0; l--) {
        const int n_in = r->sizes[l], n_out = r->sizes[l + 1];
        const double *in = l == 0 ? x : r->a[l - 1];
        /* dW (in, out) = IN^T (in, B) . G (B, out) + lambda * W */
        for (int k = 0; k < n_in; k++) {
            for (int j = 0; j < n_out; j++) {
                double s = 0.0;
                for (int i = 0; i < B; i++)
                    s += in[(size_t)i * n_in + k] * g[(size_t)i * n_out + j];
                r->dw[l][(size_t)k * n_out + j] = s + r->lambda * r->w[l][(size_t)k * n_out + j];
            }
        }
        /* db (out) = column sums of G */
        for (int j = 0; j < n_out; j++) {
            double s = 0.0;
            for (int i = 0; i < B; i++)
                s += g[(size_t)i * n_out + j];
            r->db[l][j] = s;
        }
        if (l == 0)
            break;
        /* G_prev (B, in) = (G (B, out) . W^T (out, in)) * act'(Z_{l-1}) */
        for (int i = 0; i < B; i++) {
            for (int k = 0; k < n_in; k++) {
                double s = 0.0;
                for (int j = 0; j < n_out; j++)
                    s += g[(size_t)i * n_out + j] * r->w[l][(size_t)k * n_out + j];
                double z = r->z[l - 1][(size_t)i * n_in + k];
                g_prev[(size_t)i * n_in + k] = s * ref_act_deriv(r->act, r->slope, z);
            }
        }
        double *t = g;
        g = g_prev;
        g_prev = t;
    }
    free(g);
    free(g_prev);
    return loss;
}

/* The smallest |z| over the hidden pre-activations of the last pass: how close any unit sits to a kink. */
static double ref_net_min_abs_hidden_z(const ref_net *r, int B)
{
    double m = INFINITY;
    for (int l = 0; l < r->depth - 1; l++)
        for (size_t k = 0; k < (size_t)B * r->sizes[l + 1]; k++)
            m = fabs(r->z[l][k]) < m ? fabs(r->z[l][k]) : m;
    return m;
}

#endif
