/* Every op of the backend table, blas and naive-omp held equal to naive (and gemm to a double oracle) on odd
 * shapes (1, 3, 17, 127) and on one shape past the OpenMP threshold (BN_PAR_MIN_ELEMS), first at one thread,
 * then again at two threads, so the threaded partitions and reductions are exercised too. */
#include "act.h"
#include "rng.h"
#include "backend.h"
#include "blasnet.h"
#include "harness.h"
#include "parallel.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#define U 0x1.0p-24 /* float32 unit roundoff */
/* Elementwise ops run the same inline functions of src/act.h in every backend. The activations forward and
 * backward are held bit for bit (the blas ones run as the CPU's AVX2 or AVX-512 clone, and -ffp-contract=off
 * keeps a clone's arithmetic the baseline's); the others may differ by the odd ulp from vectorised code or
 * from x/s written as x*(1/s): 1e-6 relative is ~8 ulp. */
#define ELEM_REL 1e-6
#define ELEM_ABS 1e-12

static const bn_backend *naive, *fast[2];
static int threads_now = 1;
enum { W_GEMM, W_ORACLE, W_BIAS_ACT, W_ACT_BWD, W_SOFTMAX, W_BIAS_GRAD, W_SGD, W_COUNT };
static double worst[W_COUNT]; /* per op: the largest error seen, as a fraction of its tolerance */
static const char *const worst_names[] = {"gemm", "gemm/oracle", "bias_act", "act_backward", "softmax_xent",
                                          "bias_grad", "sgd_update"};

static float *alloc_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "out of memory for %zu floats\n", n);
        exit(EXIT_FAILURE);
    }
    return p;
}

static void fill(float *a, size_t n, double scale, bn_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(scale * bn_rng_normal(rng));
}

/* Counts entries with |got - want| > tol (tol[i] if tol is given, else abs + rel |want|), tracks the worst
 * ratio for the op, and prints the first few misses. */
static int compare(int op, const char *what, const float *got, const float *want, const double *tol, size_t n,
                   double abs_tol, double rel_tol)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double t = tol ? tol[i] : abs_tol + rel_tol * fabs((double)want[i]);
        double err = fabs((double)got[i] - (double)want[i]);
        double ratio = t > 0 ? err / t : (err > 0 ? INFINITY : 0.0);
        if (ratio > worst[op] || isnan(ratio))
            worst[op] = isnan(ratio) ? INFINITY : ratio;
        if (!(err <= t) && bad++ < 3)
            fprintf(stderr, "%s [%d threads]: [%zu] = %.9g, want %.9g (tolerance %.3g)\n", what, threads_now, i,
                    (double)got[i], (double)want[i], t);
    }
    return bad;
}

/* ---- gemm ---------------------------------------------------------------------------------------------- */
static float plan_scratch[BN_PLAN_SCRATCH_FLOATS];

/* g (whose C is the output buffer) through naive-omp, and through blas with every partition kind planned
 * for teams of 1 to 7 threads, each against the naive result Cn: a plan made for more threads than the
 * process has runs its tiles round-robin, so odd tile counts are covered on any machine. */
static void check_every_plan(const bn_gemm *g, const float *C0, const float *Cn, const double *tol)
{
    static const bn_plan_mode modes[] = {BN_PLAN_ESTIMATE, BN_PLAN_ONE,  BN_PLAN_LIBRARY, BN_PLAN_ROWS,
                                         BN_PLAN_COLS,     BN_PLAN_TILES, BN_PLAN_K};
    static const int teams[] = {1, 2, 3, 4, 7};
    const size_t size = (size_t)g->M * g->ldc;
    char what[200];
    memcpy(g->C, C0, size * sizeof(float));
    fast[1]->gemm(g, NULL);
    snprintf(what, sizeof what, "gemm naive-omp vs naive, ta %d tb %d M %d N %d K %d alpha %g beta %g", g->ta,
             g->tb, g->M, g->N, g->K, g->alpha, g->beta);
    CHECKF(compare(W_GEMM, what, g->C, Cn, tol, size, 0, 0) == 0, "%s", what);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++) {
            bn_gemm_plan plan = bn_plan_estimate(g, teams[t], modes[m], plan_scratch, BN_PLAN_SCRATCH_FLOATS);
            char desc[32];
            memcpy(g->C, C0, size * sizeof(float));
            fast[0]->gemm(g, &plan);
            snprintf(what, sizeof what, "gemm blas plan %s (%s, team %d) vs naive, ta %d tb %d M %d N %d K %d "
                     "alpha %g beta %g", bn_plan_describe(&plan, desc, sizeof desc), bn_plan_mode_name(modes[m]),
                     teams[t], g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->beta);
            CHECKF(compare(W_GEMM, what, g->C, Cn, tol, size, 0, 0) == 0, "%s", what);
        }
    }
}

/* Any order of summing K products carries an error of at most K u sum|a_k b_k| (plus one rounding each for
 * alpha, beta and the final add), so two float implementations differ by at most twice that and each differs
 * from the exact (double) result by at most that. The bound is per entry and scales with K. */
static void check_gemm(int M, int N, int K, int pad, bn_rng *rng)
{
    static const float alphas[] = {1.0f, 0.5f, 1.0f, -2.0f}, betas[] = {0.0f, 0.0f, 1.0f, 0.25f};
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            /* Stored shapes: A is (M,K), or (K,M) when transposed; B is (K,N), or (N,K). */
            int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
            int lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
            float *A = alloc_floats((size_t)a_rows * lda), *B = alloc_floats((size_t)b_rows * ldb);
            float *C0 = alloc_floats((size_t)M * ldc), *Cn = alloc_floats((size_t)M * ldc);
            float *Cf = alloc_floats((size_t)M * ldc), *exact = alloc_floats((size_t)M * ldc);
            double *tol = malloc((size_t)M * ldc * sizeof(double));
            double *tol_oracle = malloc((size_t)M * ldc * sizeof(double));
            if (!tol || !tol_oracle) {
                fprintf(stderr, "out of memory\n");
                exit(EXIT_FAILURE);
            }
            fill(A, (size_t)a_rows * lda, 1.0, rng);
            fill(B, (size_t)b_rows * ldb, 1.0, rng);
            fill(C0, (size_t)M * ldc, 1.0, rng);
            for (size_t v = 0; v < sizeof alphas / sizeof alphas[0]; v++) {
                float alpha = alphas[v], beta = betas[v];
                /* The double oracle and the per-entry bounds; padding columns of C must stay untouched. */
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < ldc; j++) {
                        size_t c = (size_t)i * ldc + j;
                        if (j >= N) {
                            exact[c] = C0[c];
                            tol[c] = tol_oracle[c] = 0.0;
                            continue;
                        }
                        double sum = 0.0, mag = 0.0;
                        for (int k = 0; k < K; k++) {
                            double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                            double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                            sum += a * b;
                            mag += fabs(a * b);
                        }
                        double cterm = beta == 0.0f ? 0.0 : (double)beta * C0[c];
                        exact[c] = (float)(alpha * sum + cterm);
                        double bound = (K + 3) * U * (fabs(alpha) * mag + fabs(cterm));
                        tol_oracle[c] = bound + U * fabs(alpha * sum + cterm) + 1e-30; /* + the rounding to float */
                        tol[c] = 2 * bound + 1e-30;
                    }
                }
                memcpy(Cn, C0, (size_t)M * ldc * sizeof(float));
                bn_gemm g = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = alpha, .A = A, .lda = lda,
                             .B = B, .ldb = ldb, .beta = beta, .C = Cn, .ldc = ldc};
                naive->gemm(&g, NULL);
                char what[160];
                snprintf(what, sizeof what, "gemm naive vs double, ta %d tb %d M %d N %d K %d alpha %g beta %g",
                         ta, tb, M, N, K, alpha, beta);
                CHECKF(compare(W_ORACLE, what, Cn, exact, tol_oracle, (size_t)M * ldc, 0, 0) == 0, "%s", what);
                g.C = Cf;
                check_every_plan(&g, C0, Cn, tol);
            }
            free(A);
            free(B);
            free(C0);
            free(Cn);
            free(Cf);
            free(exact);
            free(tol);
            free(tol_oracle);
        }
    }
}

/* ---- bias + activation, activation backward -------------------------------------------------------------- */
/* A dropout of probability 0.3 at an arbitrary key and first row, as net.c builds one. */
static bn_dropout test_dropout(void)
{
    return (bn_dropout){.layer_key = bn_dropout_layer_key(7, 42, 1), .first_row = 1000,
                        .threshold = (uint32_t)(0.3 * 4294967296.0), .keep = 0.7f, .scale = 1.0f / 0.7f};
}

static void check_bias_act(int rows, int n, bn_rng *rng)
{
    size_t count = (size_t)rows * n;
    float *X = alloc_floats(count), *b = alloc_floats((size_t)n);
    float *Yn = alloc_floats(count), *Zn = alloc_floats(count), *Yf = alloc_floats(count),
          *Zf = alloc_floats(count);
    fill(X, count, 3.0, rng); /* wide enough to reach the saturated ends of sigmoid and tanh */
    fill(b, (size_t)n, 1.0, rng);
    const bn_dropout dropout = test_dropout();
    for (int act = 0; act < BN_ACT_COUNT; act++) {
        for (int variant = 0; variant < 4; variant++) {
            const int with_z = variant & 1;
            const bn_dropout *drop = variant & 2 ? &dropout : NULL;
            memcpy(Yn, X, count * sizeof(float));
            naive->bias_act(Yn, with_z ? Zn : NULL, b, rows, n, (bn_act)act, 0.1f, drop);
            for (int f = 0; f < 2; f++) {
                char what[128];
                snprintf(what, sizeof what, "bias_act %s %s, %d x %d, Z %s%s", fast[f]->name,
                         bn_act_name((bn_act)act), rows, n, with_z ? "kept" : "not kept", drop ? ", dropout" : "");
                memcpy(Yf, X, count * sizeof(float));
                fast[f]->bias_act(Yf, with_z ? Zf : NULL, b, rows, n, (bn_act)act, 0.1f, drop);
                int bad = compare(W_BIAS_ACT, what, Yf, Yn, NULL, count, 0, 0);
                if (with_z) /* one float add: identical everywhere */
                    bad += compare(W_BIAS_ACT, what, Zf, Zn, NULL, count, 0, 0);
                CHECKF(bad == 0, "%s", what);
            }
        }
    }
    /* The naive kernel itself against the definition, for one activation whose value is exact: leaky relu. */
    memcpy(Yn, X, count * sizeof(float));
    naive->bias_act(Yn, NULL, b, rows, n, BN_ACT_LEAKY_RELU, 0.25f, NULL);
    int bad = 0;
    for (size_t k = 0; k < count; k++) {
        float z = X[k] + b[k % (size_t)n];
        bad += Yn[k] != (z > 0 ? z : 0.25f * z);
    }
    CHECKF(bad == 0, "naive leaky relu %d x %d: %d entries differ from the definition", rows, n, bad);
    free(X);
    free(b);
    free(Yn);
    free(Zn);
    free(Yf);
    free(Zf);
}

static void check_act_backward(int rows, int cols, bn_rng *rng)
{
    const size_t n = (size_t)rows * cols;
    float *Z = alloc_floats(n), *Y = alloc_floats(n), *dY = alloc_floats(n), *dn = alloc_floats(n),
          *df = alloc_floats(n), *zero = alloc_floats((size_t)cols);
    memset(zero, 0, (size_t)cols * sizeof(float));
    const bn_dropout dropout = test_dropout();
    for (int act = 0; act < BN_ACT_COUNT; act++) {
        for (int dropped = 0; dropped < 2; dropped++) {
            const bn_dropout *drop = dropped ? &dropout : NULL;
            /* A consistent (Z, Y) pair from the naive forward kernel: derivatives are taken from Y. */
            fill(Y, n, 3.0, rng);
            naive->bias_act(Y, Z, zero, rows, cols, (bn_act)act, 0.1f, drop);
            fill(dY, n, 1.0, rng);
            const float *zin = bn_act_needs_z((bn_act)act) ? Z : NULL;
            naive->act_backward(dn, dY, zin, Y, rows, cols, (bn_act)act, 0.1f, drop);
            for (int f = 0; f < 2; f++) {
                for (int alias = 0; alias < 2; alias++) {
                    char what[128];
                    snprintf(what, sizeof what, "act_backward %s %s, %d x %d%s%s", fast[f]->name,
                             bn_act_name((bn_act)act), rows, cols, alias ? ", dZ aliasing dY" : "",
                             drop ? ", dropout" : "");
                    if (alias) {
                        memcpy(df, dY, n * sizeof(float));
                        fast[f]->act_backward(df, df, zin, Y, rows, cols, (bn_act)act, 0.1f, drop);
                    } else {
                        fast[f]->act_backward(df, dY, zin, Y, rows, cols, (bn_act)act, 0.1f, drop);
                    }
                    CHECKF(compare(W_ACT_BWD, what, df, dn, NULL, n, 0, 0) == 0, "%s", what);
                }
            }
        }
    }
    free(Z);
    free(Y);
    free(dY);
    free(dn);
    free(df);
    free(zero);
}

/* ---- softmax + cross-entropy ------------------------------------------------------------------------------ */
static void check_softmax_xent(int rows, int C, bn_rng *rng)
{
    size_t count = (size_t)rows * C;
    float *L0 = alloc_floats(count), *b = alloc_floats((size_t)C), *Pn = alloc_floats(count),
          *Pf = alloc_floats(count), *Dn = alloc_floats(count), *Df = alloc_floats(count);
    int32_t *labels = malloc((size_t)rows * sizeof(int32_t));
    if (!labels)
        exit(EXIT_FAILURE);
    fill(L0, count, 3.0, rng);
    fill(b, (size_t)C, 1.0, rng);
    for (int i = 0; i < rows; i++)
        labels[i] = (int32_t)bn_rng_below(rng, (uint64_t)C);
    const float scale = 1.0f / (float)rows;
    /* mode 0: no labels (probabilities only); 1: labels, no gradient; 2: labels and dlogits */
    for (int mode = 0; mode < 3; mode++) {
        memcpy(Pn, L0, count * sizeof(float));
        int cn = 7; /* *correct is added to, never overwritten */
        double ln = naive->bias_softmax_xent(mode == 2 ? Dn : NULL, Pn, b, mode ? labels : NULL, rows, C, scale, &cn);
        if (!mode)
            CHECK(ln == 0.0 && cn == 7);
        for (int f = 0; f < 2; f++) {
            char what[128];
            snprintf(what, sizeof what, "bias_softmax_xent %s, %d x %d, mode %d", fast[f]->name, rows, C, mode);
            memcpy(Pf, L0, count * sizeof(float));
            int cf = 7;
            double lf = fast[f]->bias_softmax_xent(mode == 2 ? Df : NULL, Pf, b, mode ? labels : NULL, rows, C, scale,
                                              &cf);
            int bad = compare(W_SOFTMAX, what, Pf, Pn, NULL, count, ELEM_ABS, ELEM_REL);
            /* dlogits = scale (p - onehot): the label entry is a difference near 1, where one ulp of 1 is
             * 1.2e-7 times scale, whatever its result. */
            if (mode == 2)
                bad += compare(W_SOFTMAX, what, Df, Dn, NULL, count, 1e-6 * scale, ELEM_REL);
            CHECKF(bad == 0, "%s", what);
            /* Each row's -log p_y is computed as log(sum) - log(e_y) or as max - z_y + log(sum): a few ulp of
             * the row loss apart, summed over the rows. */
            CHECKF(fabs(lf - ln) <= 1e-6 * rows + 1e-6 * fabs(ln), "%s: loss %.9g, naive %.9g", what, lf, ln);
            CHECKF(cf == cn, "%s: correct %d, naive %d", what, cf, cn);
        }
    }
    free(L0);
    free(b);
    free(Pn);
    free(Pf);
    free(Dn);
    free(Df);
    free(labels);
}

/* ---- bias gradient ------------------------------------------------------------------------------------------ */
static void check_bias_grad(int rows, int n, bn_rng *rng)
{
    float *G = alloc_floats((size_t)rows * n), *dn = alloc_floats((size_t)n), *df = alloc_floats((size_t)n);
    double *tol = malloc((size_t)n * sizeof(double));
    if (!tol)
        exit(EXIT_FAILURE);
    fill(G, (size_t)rows * n, 1.0, rng);
    /* Column sums of `rows` terms: any order is within rows u sum|g| of the exact sum, so twice that apart. */
    for (int j = 0; j < n; j++) {
        double mag = 0.0;
        for (int i = 0; i < rows; i++)
            mag += fabs(G[(size_t)i * n + j]);
        tol[j] = 2 * rows * U * mag + 1e-30;
    }
    for (int j = 0; j < n; j++)
        dn[j] = df[j] = NAN; /* overwritten, not accumulated */
    naive->bias_grad(dn, G, rows, n);
    for (int f = 0; f < 2; f++) {
        for (int j = 0; j < n; j++)
            df[j] = NAN;
        fast[f]->bias_grad(df, G, rows, n);
        char what[96];
        snprintf(what, sizeof what, "bias_grad %s, %d x %d", fast[f]->name, rows, n);
        CHECKF(compare(W_BIAS_GRAD, what, df, dn, tol, (size_t)n, 0, 0) == 0, "%s", what);
    }
    free(G);
    free(dn);
    free(df);
    free(tol);
}

/* ---- optimizer step --------------------------------------------------------------------------------------- */
static void check_sgd_update(size_t n, bn_rng *rng)
{
    float *w0 = alloc_floats(n), *v0 = alloc_floats(n), *g = alloc_floats(n);
    float *wn = alloc_floats(n), *vn = alloc_floats(n), *wf = alloc_floats(n), *vf = alloc_floats(n);
    fill(w0, n, 1.0, rng);
    fill(v0, n, 0.1, rng);
    fill(g, n, 1.0, rng);
    double exact_sq = 0.0;
    for (size_t i = 0; i < n; i++)
        exact_sq += (double)w0[i] * w0[i];
    static const struct {
        float mu, wd;
        bool nesterov;
    } variants[] = {{0.0f, 0.0f, false}, {0.0f, 0.01f, false}, {0.0f, 0.01f, true}, {0.9f, 0.0f, false},
                    {0.9f, 0.01f, false}, {0.9f, 0.0f, true}, {0.9f, 0.01f, true}};
    for (size_t vi = 0; vi < sizeof variants / sizeof variants[0]; vi++) {
        for (int want_sq = 0; want_sq < 2; want_sq++) {
            float mu = variants[vi].mu, wd = variants[vi].wd;
            bool nest = variants[vi].nesterov;
            memcpy(wn, w0, n * sizeof(float));
            /* With mu == 0 the velocity is neither read nor written: NaN there must not leak into w. */
            for (size_t i = 0; i < n; i++)
                vn[i] = mu == 0.0f ? NAN : v0[i];
            const bn_update u = {.kind = BN_OPT_SGD, .lr = 0.1f, .momentum = mu, .nesterov = nest,
                                 .grad_scale = 1.0f};
            double sn = naive->update(wn, vn, NULL, g, n, &u, wd, want_sq);
            CHECK_CLOSE(sn, want_sq ? exact_sq : 0.0, 0, 1e-12);
            for (int f = 0; f < 2; f++) {
                char what[128];
                snprintf(what, sizeof what, "sgd_update %s, n %zu, mu %g, wd %g%s%s", fast[f]->name, n, mu, wd,
                         nest ? ", nesterov" : "", want_sq ? ", sqnorm" : "");
                memcpy(wf, w0, n * sizeof(float));
                for (size_t i = 0; i < n; i++)
                    vf[i] = mu == 0.0f ? NAN : v0[i];
                double sf = fast[f]->update(wf, vf, NULL, g, n, &u, wd, want_sq);
                int bad = compare(W_SGD, what, wf, wn, NULL, n, ELEM_ABS, ELEM_REL);
                if (mu != 0.0f) {
                    bad += compare(W_SGD, what, vf, vn, NULL, n, ELEM_ABS, ELEM_REL);
                } else {
                    size_t touched = 0;
                    for (size_t i = 0; i < n; i++)
                        touched += !isnan(vf[i]);
                    CHECKF(touched == 0, "%s: %zu velocity entries written with mu = 0", what, touched);
                }
                CHECKF(bad == 0, "%s", what);
                /* Double sums of the same squares in another order: they agree to ~n * 1e-16 relative. */
                CHECKF(fabs(sf - (want_sq ? exact_sq : 0.0)) <= 1e-12 * exact_sq, "%s: sqnorm %.17g, want %.17g",
                       what, sf, want_sq ? exact_sq : 0.0);
            }
        }
    }
    /* One step of the naive kernel against the formula, written out in double. */
    memcpy(wn, w0, n * sizeof(float));
    memcpy(vn, v0, n * sizeof(float));
    const bn_update nesterov = {.kind = BN_OPT_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = true,
                                .grad_scale = 1.0f};
    naive->update(wn, vn, NULL, g, n, &nesterov, 0.01f, false);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double step = -0.1 * ((double)g[i] + 0.01 * w0[i]), v = 0.9 * v0[i] + step, w = w0[i] + 0.9 * v + step;
        bad += fabs(vn[i] - v) > 1e-6 * (1 + fabs(v)) || fabs(wn[i] - w) > 1e-6 * (1 + fabs(w));
    }
    CHECKF(bad == 0, "naive nesterov step, n %zu: %d entries differ from the formula", n, bad);
    free(w0);
    free(v0);
    free(g);
    free(wn);
    free(vn);
    free(wf);
    free(vf);
}

/* Adam and AdamW, with and without decay and a clipping scale: fast equals naive, and one naive step equals
 * the formula written out in double. */
static void check_adam_update(size_t n, bn_rng *rng)
{
    float *w0 = alloc_floats(n), *m0 = alloc_floats(n), *v0 = alloc_floats(n), *g = alloc_floats(n);
    float *w[2], *m[2], *v[2];
    for (int k = 0; k < 2; k++) {
        w[k] = alloc_floats(n);
        m[k] = alloc_floats(n);
        v[k] = alloc_floats(n);
    }
    fill(w0, n, 1.0, rng);
    fill(m0, n, 0.1, rng);
    fill(g, n, 1.0, rng);
    for (size_t i = 0; i < n; i++)
        v0[i] = m0[i] * m0[i] + 1e-3f; /* a second moment is positive */
    for (int kind = BN_OPT_ADAM; kind <= BN_OPT_ADAMW; kind++) {
        for (int variant = 0; variant < 4; variant++) {
            const float wd = variant & 1 ? 0.01f : 0.0f, scale = variant & 2 ? 0.5f : 1.0f;
            const bn_optim opt = {.kind = (bn_optimizer)kind, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f,
                                  .eps = 1e-8f, .t = 3};
            const bn_update u = bn_update_for(&opt, scale);
            for (int k = 0; k < 2; k++) {
                memcpy(w[k], w0, n * sizeof(float));
                memcpy(m[k], m0, n * sizeof(float));
                memcpy(v[k], v0, n * sizeof(float));
            }
            naive->update(w[0], m[0], v[0], g, n, &u, wd, false);
            for (int f = 0; f < 2; f++) {
                char what[128];
                snprintf(what, sizeof what, "update %s %s, n %zu, wd %g, scale %g", fast[f]->name,
                         bn_optimizer_name((bn_optimizer)kind), n, wd, scale);
                memcpy(w[1], w0, n * sizeof(float));
                memcpy(m[1], m0, n * sizeof(float));
                memcpy(v[1], v0, n * sizeof(float));
                fast[f]->update(w[1], m[1], v[1], g, n, &u, wd, false);
                int bad = compare(W_SGD, what, w[1], w[0], NULL, n, ELEM_ABS, ELEM_REL) +
                          compare(W_SGD, what, m[1], m[0], NULL, n, ELEM_ABS, ELEM_REL) +
                          compare(W_SGD, what, v[1], v[0], NULL, n, ELEM_ABS, ELEM_REL);
                CHECKF(bad == 0, "%s", what);
            }
            int bad = 0;
            const double bc1 = 1 - pow(0.9, 3), bc2 = 1 - pow(0.999, 3);
            for (size_t i = 0; i < n; i++) {
                double wi = w0[i], gi = (double)g[i] * scale;
                if (kind == BN_OPT_ADAMW)
                    wi -= 1e-3 * wd * wi;
                else
                    gi += wd * wi;
                double mi = 0.9 * m0[i] + 0.1 * gi, vi = 0.999 * v0[i] + 0.001 * gi * gi;
                double want = wi - 1e-3 * (mi / bc1) / (sqrt(vi / bc2) + 1e-8);
                bad += fabs(w[0][i] - want) > 1e-6 * (1 + fabs(want)) || fabs(m[0][i] - mi) > 1e-6 * (1 + fabs(mi));
            }
            CHECKF(bad == 0, "naive %s step, n %zu, wd %g: %d entries differ from the formula",
                   bn_optimizer_name((bn_optimizer)kind), n, wd, bad);
        }
    }
    free(w0);
    free(m0);
    free(v0);
    free(g);
    for (int k = 0; k < 2; k++) {
        free(w[k]);
        free(m[k]);
        free(v[k]);
    }
}

static void check_sqnorm(size_t n, bn_rng *rng)
{
    float *x = alloc_floats(n);
    fill(x, n, 1.0, rng);
    double exact = 0.0;
    for (size_t i = 0; i < n; i++)
        exact += (double)x[i] * x[i];
    for (int f = 0; f < 2; f++)
        CHECKF(fabs(fast[f]->sqnorm(x, n) - exact) <= 1e-12 * exact, "sqnorm %s, n %zu", fast[f]->name, n);
    CHECK(fabs(naive->sqnorm(x, n) - exact) <= 1e-12 * exact);
    free(x);
}

/* y += x is exact per element, so every backend must give the reference's bits. */
static void check_accumulate(size_t n, bn_rng *rng)
{
    float *x = alloc_floats(n), *want = alloc_floats(n), *got = alloc_floats(n);
    fill(x, n, 1.0, rng);
    fill(want, n, 1.0, rng);
    memcpy(got, want, n * sizeof(float));
    naive->accumulate(want, x, n);
    CHECK(want[n - 1] == got[n - 1] + x[n - 1]);
    for (int f = 0; f < 2; f++) {
        float *y = alloc_floats(n);
        memcpy(y, got, n * sizeof(float));
        fast[f]->accumulate(y, x, n);
        CHECKF(memcmp(y, want, n * sizeof(float)) == 0, "accumulate %s, n %zu", fast[f]->name, n);
        free(y);
    }
    free(x);
    free(want);
    free(got);
}

static void run_all(uint64_t seed)
{
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    /* gemm: (M, N, K); the last one has M*N = 77100 > BN_PAR_MIN_ELEMS outputs. */
    static const int gemm_shapes[][3] = {{1, 1, 1}, {3, 17, 1}, {17, 3, 127}, {127, 1, 17}, {1, 127, 3},
                                         {17, 127, 17}, {300, 257, 127}};
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++)
        for (int pad = 0; pad <= 3; pad += 3)
            check_gemm(gemm_shapes[s][0], gemm_shapes[s][1], gemm_shapes[s][2], pad, &rng);
    static const int mats[][2] = {{1, 1}, {1, 2}, {3, 17}, {17, 3}, {127, 127}, {127, 10}, {300, 257}};
    for (size_t s = 0; s < sizeof mats / sizeof mats[0]; s++) {
        check_bias_act(mats[s][0], mats[s][1], &rng);
        check_bias_grad(mats[s][0], mats[s][1], &rng);
        if (mats[s][1] >= 2)
            check_softmax_xent(mats[s][0], mats[s][1], &rng);
    }
    for (size_t s = 0; s < sizeof mats / sizeof mats[0]; s++)
        check_act_backward(mats[s][0], mats[s][1], &rng);
    static const size_t lens[] = {1, 3, 17, 127, 300 * 257};
    for (size_t s = 0; s < sizeof lens / sizeof lens[0]; s++) {
        check_sgd_update(lens[s], &rng);
        check_adam_update(lens[s], &rng);
        check_sqnorm(lens[s], &rng);
        check_accumulate(lens[s], &rng);
    }
}

/* One pass per call: at 1 thread, then at 2. */
static void one_pass(void)
{
    static int passes_done;
    const int pass = passes_done++;
    threads_now = pass + 1;
    bn_set_threads(threads_now);
    CHECKF(omp_get_max_threads() == threads_now, "asked for %d threads, OpenMP has %d", threads_now,
           omp_get_max_threads());
    memset(worst, 0, sizeof worst);
    run_all(1000 + (uint64_t)pass);
    printf("%d thread(s), worst error as a fraction of the tolerance:", threads_now);
    for (int op = 0; op < W_COUNT; op++)
        printf(" %s %.3g%s", worst_names[op], worst[op], op + 1 < W_COUNT ? "," : "\n");
}

int main(void)
{
    _Static_assert(300 * 257 > BN_PAR_MIN_ELEMS, "the large shape must cross the OpenMP threshold");
    naive = bn_backend_find("naive");
    fast[0] = bn_backend_find("blas");
    fast[1] = bn_backend_find("naive-omp");
    CHECK(naive && fast[0] && fast[1]);
    if (!naive || !fast[0] || !fast[1])
        return bn_test_exit("kernels");

    /* Meson runs tests at one thread; the second pass sets two in-process (OpenMP and OpenBLAS together). */
    bn_test_case("every kernel of every backend against naive, 1 thread", one_pass);
    bn_test_case("every kernel of every backend against naive, 2 threads", one_pass);
    return bn_test_exit("kernels");
}
