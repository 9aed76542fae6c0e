/* The optimizer steps of bn_net_train_step against a double-precision reference: SGD with momentum (plain and
 * Nesterov), Adam and AdamW with and without weight decay, over steps t = 1..4 (so Adam's bias corrections
 * change from step to step), unclipped and clipped by global norm, on small networks of four activations, on
 * every backend, on 1 and 2 threads (naive, serial, on 1). The reference gradient is ref_mlp.h's; the
 * optimizer step is written out below in double from the formulas in blasnet.h, sharing no code or constant
 * with src/.
 *
 * Each step starts the reference from the library's weights (a weight difference would change the next
 * gradient by an amount no gradient bound covers), while the moments are the reference's own, carried in
 * double from t = 1 together with a bound on how far the library's may be from them.
 *
 * Bounds. The library's gradient is within GRAD_ABS + GRAD_REL |g| of the reference's (test_gradients: the
 * existing bounds, and their derivation). That error is propagated through each update by hand, elementwise:
 *   clipping  s = C / ||g||: | ||g_lib|| - ||g_ref|| | <= ||dg|| (triangle inequality), so s is off by at most
 *             ||dg|| / (||g|| - ||dg||) relative, and s g by s (1 + that) dg + |g| s (that);
 *   sgd       v = mu v - lr (s g + lambda w): dv' = mu dv + lr d(s g); w' = w + v (Nesterov: + mu v' + step);
 *   adam      m' = b1 m + (1 - b1) g', v' = b2 v + (1 - b2) g'^2 with dm, dv carried the same way
 *             (d(g'^2) <= 2 |g'| dg' + dg'^2), and the step S m / D, S = lr / (1 - b1^t),
 *             D = sqrt(v) / sqrt(1 - b2^t) + eps, bounded over the interval the library's (m, v) may lie in:
 *             |dstep| <= S (dm / D_lo + |m| (D_hi - D_lo) / (D_lo D)).
 * Every float operation adds at most one unit of rounding (2^-24 relative); ULP is four of them, and is counted
 * once or twice per operation. Measured worst: 0.1 of the bound on weights, 0.002 on moments (printed at the end).
 * Adam's m / sqrt(v) is insensitive to the gradient's scale: where |g| lies within its bound of 0, the library
 * and the reference may even take opposite signs, and the interval bound above (D_lo reaching eps) grows
 * without limit. Such elements are still compared, against Adam's own limit on a step: by Cauchy-Schwarz,
 * |m_t| / sqrt(v_t) <= (1 - b1) / sqrt(1 - b2) sqrt(sum_{k<t} (b1^2 / b2)^k) for moments started at 0, so two
 * steps differ by at most twice lr (1 - b2^t)^(1/2) / (1 - b1^t) times that. The elements where this cap is
 * the smaller bound are counted ("capped"), and must stay under 1% (measured: 0.03%), so the check keeps its
 * teeth.
 *
 * Clipping, beyond the above: the global norm bn_net_grad_norm reports matches the reference's within ||dg||
 * and to 1e-6 relative (the figure; measured: 1.5e-7 at worst); and a plain SGD step (momentum 0, no
 * decay, a rate large enough that the weights' own rounding stays below 2e-7 of the step) lets the applied
 * clipped gradient be read back as (w_before - w_after) / lr: its norm must be C to 1e-6 relative, and each
 * element the reference's C / ||g_ref|| g_ref within the bound. With decay on, the reference adds the decay
 * term unscaled: blasnet.h says clipping leaves it out. */
#include "blasnet.h"
#include "rng.h"
#include "net.h"
#include "harness.h"
#include "ref_mlp.h"

#include <float.h>
#include <omp.h>
#include <string.h>

#define GRAD_ABS 1e-5
#define GRAD_REL 1e-4
#define KINK_MARGIN 1e-4 /* test_gradients: a unit this far from 0 takes the same branch in float and double */
#define ULP (2.0 * FLT_EPSILON) /* 2^-22: four units of float rounding */
#define FLOOR_ABS 1e-16 /* the library takes a gradient below ~7e-18 as 0 (optim.h) */
#define NORM_REL 1e-6
#define CAPPED_MAX 0.01 /* the largest fraction of Adam's elements the cap may decide */
#define MAX_B 33
#define MAX_IN 8
#define STEPS 4

/* One element's optimizer state in the reference: sgd's velocity in m, adam's moments; d*: bounds on how far
 * the library's may be. */
typedef struct {
    double m, v, dm, dv;
} ref_moments;

typedef struct {
    bn_net *net;
    ref_net r;            /* lambda 0: the loss gradient alone; each optimizer adds its decay below */
    size_t *lib;          /* lib[k]: where the reference's element k lives in the library's blocks */
    unsigned char *decay; /* 1 for weights, 0 for biases */
    ref_moments *mo;
    double *dg;           /* this step's bound on |library gradient - reference gradient| */
    float *before;        /* the library's parameters before the step */
    float x[MAX_B * MAX_IN];
    double xd[MAX_B * MAX_IN];
    int32_t labels[MAX_B];
    bn_rng rng;
    char cfg[160];
} fixture;

static struct {
    double worst[3]; /* |lib - ref| / bound: weights, first moments, second moments */
    double norm_rel, applied_rel;
    size_t adam_elems, capped;
    int steps;
} st;

static const char *const what_names[3] = {"w", "m", "v"};

static void expect(fixture *f, int what, size_t k, double got, double want, double bound, int *bad)
{
    double ratio = fabs(got - want) / bound;
    st.worst[what] = ratio > st.worst[what] ? ratio : st.worst[what];
    if (ratio <= 1.0)
        return;
    if ((*bad)++ < 4)
        fprintf(stderr, "%s: %s[%zu] = %.9g, reference %.9g, bound %.3g\n", f->cfg, what_names[what], k, got,
                want, bound);
}

/* He weights, N(0, 0.2^2) biases, zero moments, in the library; the reference is synced before each step. */
static void draw_params(fixture *f)
{
    const bn_arch *arch = bn_net_arch(f->net);
    bn_net_init(f->net, BN_INIT_HE, 0.0f, &f->rng);
    for (int l = 0; l < arch->depth; l++) {
        float *b = bn_net_bias(f->net, l);
        for (int j = 0; j < arch->sizes[l + 1]; j++)
            b[j] = (float)(0.2 * bn_rng_normal(&f->rng));
    }
    size_t n;
    float *v = bn_net_velocity(f->net, &n);
    memset(v, 0, n * sizeof(float));
    v = bn_net_moment2(f->net, &n);
    memset(v, 0, n * sizeof(float));
    memset(f->mo, 0, f->r.count * sizeof *f->mo);
}

static void fixture_close(fixture *f)
{
    bn_net_destroy(&f->net);
    ref_net_free(&f->r);
    free(f->lib);
    free(f->decay);
    free(f->mo);
    free(f->dg);
    free(f->before);
}

/* The index map: the reference keeps W_l, b_l layer by layer, the library every W, then every b. */
static void map_layout(fixture *f)
{
    size_t k = 0;
    for (int l = 0; l < f->r.depth; l++) {
        size_t nw = (size_t)f->r.sizes[l] * (size_t)f->r.sizes[l + 1], nb = (size_t)f->r.sizes[l + 1];
        for (size_t i = 0; i < nw; i++, k++) {
            f->lib[k] = bn_net_weight_offset(f->net, l) + i;
            f->decay[k] = 1;
        }
        for (size_t i = 0; i < nb; i++, k++)
            f->lib[k] = bn_net_bias_offset(f->net, l) + i;
    }
}

static bool fixture_open(fixture *f, const char *backend, const char *sizes, bn_act act, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    bn_arch arch = {.act = act, .leaky_slope = 0.1f};
    bool ok = bn_arch_parse_sizes(&arch, sizes) == BN_OK && arch.sizes[0] <= MAX_IN;
    ok = ok && bn_net_create(&f->net, &arch, MAX_B, bn_backend_find(backend)) == BN_OK;
    CHECKF(ok, "%s %s: bn_net_create: %s", backend, sizes, bn_errmsg());
    if (!ok || ref_net_alloc(&f->r, &arch, MAX_B, 0.0)) {
        CHECKF(!ok, "out of memory");
        bn_net_destroy(&f->net);
        return false;
    }
    size_t n, count = f->r.count;
    bn_net_params(f->net, &n);
    f->lib = calloc(count, sizeof *f->lib);
    f->decay = calloc(count, 1);
    f->mo = calloc(count, sizeof *f->mo);
    f->dg = calloc(count, sizeof *f->dg);
    f->before = calloc(n, sizeof *f->before);
    if (!f->lib || !f->decay || !f->mo || !f->dg || !f->before) {
        CHECKF(0, "out of memory");
        fixture_close(f);
        return false;
    }
    map_layout(f);
    bn_rng_seed(&f->rng, seed);
    draw_params(f);
    return true;
}

/* A batch of B rows, N(0, 1) inputs; drawn again while a hidden unit of a kinked activation sits within
 * KINK_MARGIN of 0 (the reference holds the library's weights by then). */
static bool draw_batch(fixture *f, int B)
{
    const int inputs = f->r.sizes[0], classes = f->r.sizes[f->r.depth];
    for (int tries = 0; tries < 1000; tries++) {
        for (int k = 0; k < B * inputs; k++) {
            f->x[k] = (float)bn_rng_normal(&f->rng);
            f->xd[k] = f->x[k];
        }
        for (int i = 0; i < B; i++)
            f->labels[i] = (int32_t)bn_rng_below(&f->rng, (uint64_t)classes);
        if (!ref_act_has_kink(f->r.act))
            return true;
        ref_net_forward(&f->r, f->xd, f->labels, B);
        if (ref_net_min_abs_hidden_z(&f->r, B) >= KINK_MARGIN)
            return true;
    }
    CHECKF(0, "%s: no batch kept the units off the kink", f->cfg);
    return false;
}

/* Syncs the reference's weights to the library's, draws a batch and takes the reference gradient with its
 * elementwise bound. Returns ||g_ref||; *dn = ||dg||, the bound on the library's norm's error. */
static double ref_gradient(fixture *f, int B, double *dn)
{
    size_t n;
    const float *p = bn_net_params(f->net, &n);
    memcpy(f->before, p, n * sizeof(float));
    for (size_t k = 0; k < f->r.count; k++)
        f->r.params[k] = p[f->lib[k]];
    if (!draw_batch(f, B))
        return NAN;
    ref_net_backprop(&f->r, f->xd, f->labels, B);
    double sq = 0.0, dsq = 0.0;
    for (size_t k = 0; k < f->r.count; k++) {
        double g = f->r.grads[k];
        f->dg[k] = GRAD_ABS + GRAD_REL * fabs(g);
        sq += g * g;
        dsq += f->dg[k] * f->dg[k];
    }
    *dn = sqrt(dsq);
    return sqrt(sq);
}

/* The per-step constants of the reference step, in double from blasnet.h's formulas. */
typedef struct {
    const bn_optim *opt;
    double s, rel_s; /* clipping scale (1: none) and the bound on the library's relative error in it */
    double bc1, bc2; /* adam: 1 - b1^t and sqrt(1 - b2^t) */
    double cap;      /* adam: the most two steps may differ by, whatever the gradient */
} step_ctx;

static step_ctx make_ctx(const bn_optim *opt, double n_ref, double dn)
{
    step_ctx c = {.opt = opt, .s = 1.0};
    if (opt->clip_norm > 0.0f && n_ref > opt->clip_norm) {
        c.s = opt->clip_norm / n_ref;
        c.rel_s = dn / (n_ref - dn) + ULP;
    }
    if (opt->kind != BN_OPT_SGD) {
        double t = (double)opt->t, b1 = opt->beta1, b2 = opt->beta2, sum = 0.0;
        c.bc1 = 1.0 - pow(b1, t);
        c.bc2 = sqrt(1.0 - pow(b2, t));
        for (uint64_t k = 0; k < opt->t; k++)
            sum += pow(b1 * b1 / b2, (double)k);
        c.cap = 2.0 * (1.0 + 1e-4) * opt->lr * c.bc2 / c.bc1 * (1.0 - b1) / sqrt(1.0 - b2) * sqrt(sum);
    }
    return c;
}

typedef struct {
    double w, bound;
    bool capped;
} step_out;

/* The clipped gradient s g and its bound. */
static double scaled_grad(const step_ctx *c, double g, double dg, double *dge)
{
    double ge = c->s * g;
    *dge = c->s * (1.0 + c->rel_s) * dg + fabs(g) * c->s * c->rel_s + ULP * fabs(ge);
    return ge;
}

/* SGD: step = -lr (s g + lambda w); v' = mu v + step; w' = w + v' (Nesterov: w + mu v' + step). */
static step_out ref_sgd(const step_ctx *c, double w, double g, double dg, double wd, ref_moments *mo)
{
    const double lr = c->opt->lr, mu = c->opt->momentum;
    double dge, ge = scaled_grad(c, g, dg, &dge);
    double step = -lr * (ge + wd * w);
    double dstep = lr * dge + 2.0 * ULP * lr * (fabs(ge) + wd * fabs(w)) + ULP * fabs(step);
    double delta = step, ddelta = dstep;
    if (mu != 0.0) {
        mo->dm = mu * mo->dm + dstep + ULP * (mu * fabs(mo->m) + fabs(step));
        mo->m = mu * mo->m + step;
        delta = c->opt->nesterov ? mu * mo->m + step : mo->m;
        ddelta = c->opt->nesterov ? mu * mo->dm + dstep + ULP * fabs(delta) : mo->dm;
    }
    return (step_out){.w = w + delta, .bound = ddelta + ULP * (fabs(w) + fabs(delta))};
}

/* Adam / AdamW, the moments carried in mo, the step bounded over the interval the library's moments may lie
 * in, and by c->cap. */
static step_out ref_adam(const step_ctx *c, double w, double g, double dg, double wd, ref_moments *mo)
{
    const bn_optim *o = c->opt;
    const double lr = o->lr, b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    double dge, ge = scaled_grad(c, g, dg, &dge), w1 = w, dw1 = 0.0;
    if (o->kind == BN_OPT_ADAMW) {
        w1 = w - lr * wd * w;
        dw1 = ULP * (2.0 * lr * wd * fabs(w) + fabs(w1));
    } else {
        dge += ULP * (fabs(ge) + 2.0 * wd * fabs(w));
        ge += wd * w;
    }
    dge += FLOOR_ABS;
    double m = b1 * mo->m + (1.0 - b1) * ge, v = b2 * mo->v + (1.0 - b2) * ge * ge;
    mo->dm = b1 * mo->dm + (1.0 - b1) * dge + ULP * (b1 * fabs(mo->m) + (1.0 - b1) * fabs(ge)) + FLT_MIN;
    mo->dv = b2 * mo->dv + (1.0 - b2) * (2.0 * fabs(ge) * dge + dge * dge) + 2.0 * ULP * (b2 * mo->v + (1.0 - b2) *
             ge * ge) + FLT_MIN;
    mo->m = m;
    mo->v = v;
    double S = lr / c->bc1, D = sqrt(v) / c->bc2 + eps;
    double D_lo = sqrt(fmax(v - mo->dv, 0.0)) / c->bc2 + eps, D_hi = sqrt(v + mo->dv) / c->bc2 + eps;
    double step = S * m / D;
    double dstep = S * (mo->dm / D_lo + fabs(m) * (D_hi - D_lo) / (D_lo * D));
    dstep += 8.0 * ULP * (fabs(step) + dstep);
    step_out out = {.w = w1 - step, .capped = c->cap < dstep};
    out.bound = dw1 + fmin(dstep, c->cap) + ULP * (fabs(w1) + fabs(step));
    return out;
}

/* What bn_net_grad_norm says after a step with opt. */
static void check_norm(fixture *f, const bn_optim *opt, double n_ref, double dn)
{
    double got = bn_net_grad_norm(f->net);
    if (opt->clip_norm <= 0.0f) {
        CHECKF(isnan(got), "%s: no clipping, yet a gradient norm %g", f->cfg, got);
        return;
    }
    double rel = fabs(got - n_ref) / n_ref;
    st.norm_rel = rel > st.norm_rel ? rel : st.norm_rel;
    CHECKF(fabs(got - n_ref) <= dn && rel <= NORM_REL, "%s: gradient norm %.12g, reference %.12g (bound %.3g)",
           f->cfg, got, n_ref, fmin(dn, NORM_REL * n_ref));
    /* the design keeps the norm clear of C, so both sides agree on whether the clip bites */
    CHECKF(fabs(n_ref - opt->clip_norm) > dn, "%s: norm %g too close to C %g", f->cfg, n_ref,
           (double)opt->clip_norm);
}

/* One bn_net_train_step after ref_gradient, every parameter and moment compared with the reference step. */
static void lib_step(fixture *f, const bn_optim *opt, int B, double n_ref, double dn)
{
    int status = bn_net_train_step(f->net, f->x, f->labels, B, opt, NULL, NULL, NULL);
    CHECKF(status == BN_OK, "%s: bn_net_train_step: %s", f->cfg, bn_errmsg());
    check_norm(f, opt, n_ref, dn);
    step_ctx c = make_ctx(opt, n_ref, dn);
    size_t n;
    const float *w = bn_net_params(f->net, &n), *m = bn_net_velocity(f->net, &n), *v = bn_net_moment2(f->net, &n);
    const bool adam = opt->kind != BN_OPT_SGD;
    int bad = 0;
    for (size_t k = 0; k < f->r.count; k++) {
        const size_t i = f->lib[k];
        ref_moments *mo = &f->mo[k];
        double wd = f->decay[k] ? opt->weight_decay : 0.0;
        step_out o = adam ? ref_adam(&c, f->r.params[k], f->r.grads[k], f->dg[k], wd, mo)
                          : ref_sgd(&c, f->r.params[k], f->r.grads[k], f->dg[k], wd, mo);
        expect(f, 0, k, w[i], o.w, o.bound, &bad);
        expect(f, 1, k, m[i], mo->m, mo->dm + 1e-300, &bad);
        if (adam) {
            expect(f, 2, k, v[i], mo->v, mo->dv, &bad);
            st.capped += o.capped;
            st.adam_elems++;
        }
    }
    CHECKF(bad == 0, "%s: %d entries outside the bound", f->cfg, bad);
    st.steps++;
}

/* Steps t = 1..STEPS of opt on one network; clip[t-1] > 0 sets C to that multiple of the step's reference
 * norm (below 1: the clip bites; above: it must not). */
/* Where a run happens: backend, threads, and a partition forced on every product (plan < 0: the net's own). */
typedef struct {
    const char *backend;
    int threads, plan;
} place;

static int env_threads = 1;

/* Steps t = 1..STEPS of opt on one network; clip[t-1] > 0 sets C to that multiple of the step's reference
 * norm (below 1: the clip bites; above: it must not). */
static void run(place at, const char *sizes, bn_act act, bn_optim opt, const double clip[STEPS])
{
    static const int batches[STEPS] = {MAX_B, 17, MAX_B, 5};
    omp_set_num_threads(at.threads);
    fixture f;
    if (!fixture_open(&f, at.backend, sizes, act, 17))
        return;
    if (at.plan >= 0)
        CHECK(bn_net_plan(f.net, (bn_plan_mode)at.plan, 0) == BN_OK);
    const char *plan = at.plan >= 0 ? bn_plan_mode_name((bn_plan_mode)at.plan) : "own";
    for (int t = 1; t <= STEPS; t++) {
        snprintf(f.cfg, sizeof f.cfg, "%s x%d plan %s, %s %s %s lambda %g clip %g t %d", at.backend, at.threads,
                 plan, sizes, bn_act_name(act), bn_optimizer_name(opt.kind), (double)opt.weight_decay,
                 clip[t - 1], t);
        double dn, n_ref = ref_gradient(&f, batches[t - 1], &dn);
        opt.t = (uint64_t)t;
        opt.clip_norm = (float)(clip[t - 1] * n_ref);
        lib_step(&f, &opt, batches[t - 1], n_ref, dn);
    }
    fixture_close(&f);
    omp_set_num_threads(env_threads);
}

static const char *const backends[] = {"blas", "naive", "naive-omp"};
static const struct {
    const char *sizes;
    bn_act act;
} nets[] = {{"5,9,3", BN_ACT_RELU}, {"7,6,5,4", BN_ACT_TANH}, {"3,17,5", BN_ACT_SIGMOID},
            {"4,3", BN_ACT_SWISH /* no hidden layer */}, {"6,11,7,2", BN_ACT_LEAKY_RELU}};
#define NETS (sizeof nets / sizeof nets[0])

/* Every net on every backend on one thread; the deepest also on two, with the threaded reference loops and
 * with the blas products split along K (tiny products are otherwise one call). Only that one on two threads:
 * on a loaded two-core machine each parallel region can wait a time slice for its second thread. */
static void each_net(const bn_optim *opt, const double clip[STEPS])
{
    static const place wide[] = {{"naive-omp", 2, -1}, {"blas", 2, BN_PLAN_K}};
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++)
        for (size_t n = 0; n < NETS; n++)
            run((place){backends[b], 1, -1}, nets[n].sizes, nets[n].act, *opt, clip);
    for (size_t w = 0; w < sizeof wide / sizeof wide[0]; w++)
        run(wide[w], nets[NETS - 1].sizes, nets[NETS - 1].act, *opt, clip);
}

static const double no_clip[STEPS] = {0, 0, 0, 0};
static const double clips[STEPS] = {0.5, 0.25, 2.0, 0.5};
static const bn_optim adam = {.kind = BN_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};

static void adam_matches_reference(void)
{
    bn_optim o = adam;
    each_net(&o, no_clip);
    o.weight_decay = 0.01f;
    each_net(&o, no_clip);
    o.beta1 = 0.8f; /* other betas, so a constant taken for another cannot pass */
    o.beta2 = 0.99f;
    o.eps = 1e-6f;
    each_net(&o, no_clip);
}

static void adamw_matches_reference(void)
{
    bn_optim o = adam;
    o.kind = BN_OPT_ADAMW;
    each_net(&o, no_clip);
    o.weight_decay = 0.05f;
    each_net(&o, no_clip);
}

static void sgd_matches_reference(void)
{
    bn_optim o = {.kind = BN_OPT_SGD, .lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f};
    each_net(&o, no_clip);
    o.nesterov = true;
    each_net(&o, no_clip);
}

/* Clipped steps, decay on (unclipped in the reference) and off. */
static void clipped_matches_reference(void)
{
    bn_optim o = {.kind = BN_OPT_SGD, .lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.01f};
    each_net(&o, clips);
    o = adam;
    each_net(&o, clips);
    o.weight_decay = 0.01f;
    each_net(&o, clips);
    o.kind = BN_OPT_ADAMW;
    o.weight_decay = 0.05f;
    each_net(&o, clips);
}

/* (w_before - w_after) / lr, the gradient a plain SGD step applied: its norm, and each element against the
 * reference's C / ||g_ref|| g_ref (lib_step has compared the weights themselves). */
static void check_applied(fixture *f, const bn_optim *opt, double n_ref)
{
    size_t n;
    const float *w = bn_net_params(f->net, &n);
    double sq = 0.0, ref_sq = 0.0, after_sq = 0.0, s = opt->clip_norm / n_ref;
    for (size_t k = 0; k < f->r.count; k++) {
        size_t i = f->lib[k];
        double r = ((double)f->before[i] - w[i]) / opt->lr, want = s * f->r.grads[k];
        sq += r * r;
        ref_sq += want * want;
        after_sq += (double)w[i] * w[i];
    }
    const double C = opt->clip_norm, rel = fabs(sqrt(sq) - C) / C;
    st.applied_rel = rel > st.applied_rel ? rel : st.applied_rel;
    CHECKF(rel <= NORM_REL, "%s: the applied gradient's norm is %.12g, C %.12g", f->cfg, sqrt(sq), C);
    CHECKF(fabs(sqrt(ref_sq) - C) <= 1e-12 * C, "%s: reference clipped norm %.17g, C %.17g", f->cfg,
           sqrt(ref_sq), C);
    /* the read-back is exact but for w_after's rounding, 2^-24 ||w_after|| / lr in norm, and s g's two
     * roundings: the rate keeps that well below NORM_REL, or the check above would not test the library */
    CHECKF(FLT_EPSILON / 2 * (sqrt(after_sq) / opt->lr + 2.0 * C) <= 0.2 * NORM_REL * C,
           "%s: rate %g too small to read back", f->cfg, (double)opt->lr);
}

/* Fresh weights for every draw, a clip at 0.4 of the norm, one plain SGD step. */
static void clipped_norm_is_c(void)
{
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        for (size_t n = 0; n < NETS; n++) {
            fixture f;
            if (!fixture_open(&f, backends[b], nets[n].sizes, nets[n].act, 29))
                continue;
            for (int draw = 0; draw < 4; draw++) {
                snprintf(f.cfg, sizeof f.cfg, "read-back %s %s %s draw %d", backends[b], nets[n].sizes,
                         bn_act_name(nets[n].act), draw);
                draw_params(&f);
                size_t count;
                const float *p = bn_net_params(f.net, &count);
                double w_sq = 0.0;
                for (size_t i = 0; i < count; i++)
                    w_sq += (double)p[i] * p[i];
                double dn, n_ref = ref_gradient(&f, draw % 2 ? MAX_B : 9, &dn);
                bn_optim o = {.kind = BN_OPT_SGD, .clip_norm = (float)(0.4 * n_ref)};
                o.lr = (float)(10.0 * (sqrt(w_sq) + 1.0) / o.clip_norm);
                lib_step(&f, &o, draw % 2 ? MAX_B : 9, n_ref, dn);
                check_applied(&f, &o, n_ref);
            }
            fixture_close(&f);
        }
    }
}

int main(void)
{
    env_threads = omp_get_max_threads();
    bn_test_case("sgd matches the reference", sgd_matches_reference);
    bn_test_case("adam matches the reference", adam_matches_reference);
    bn_test_case("adamw matches the reference", adamw_matches_reference);
    bn_test_case("clipped steps match the reference", clipped_matches_reference);
    bn_test_case("the clipped gradient's norm is C", clipped_norm_is_c);
    CHECKF(st.capped <= CAPPED_MAX * (double)st.adam_elems, "%zu of %zu adam elements decided by the cap",
           st.capped, st.adam_elems);
    printf("%d steps; worst error of the bound: w %.3g, m %.3g, v %.3g; adam elements capped %zu of %zu\n",
           st.steps, st.worst[0], st.worst[1], st.worst[2], st.capped, st.adam_elems);
    printf("gradient norm worst relative error %.3g; applied clipped norm worst relative error %.3g\n",
           st.norm_rel, st.applied_rel);
    return bn_test_exit("optim_reference");
}
