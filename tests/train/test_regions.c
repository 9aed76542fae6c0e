/* A step is one team (issue 25): a training step, with or without the update inside the dW tiles, clipping
 * or dropout, and an evaluation batch each enter one OpenMP parallel region when no product is planned as
 * `library`; a `library` product closes the region before it and opens one after. The regions are counted
 * where they start: this program is linked with -Wl,--wrap=GOMP_parallel (tests/meson.build), so every
 * `#pragma omp parallel` of the library's objects, which GCC compiles to a GOMP_parallel call, passes
 * through the counter below first. */
#include "harness.h"
#include "net.h"
#include "net_plan.h"
#include "rng.h"
#include "step.h"

#include "blasnet.h"

#include <string.h>

void __real_GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags);
void __wrap_GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags);

static int regions;

void __wrap_GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags)
{
    regions++;
    __real_GOMP_parallel(fn, data, threads, flags);
}

static bn_net *make(const char *sizes, int batch, bn_plan_mode mode)
{
    bn_arch arch = {.act = BN_ACT_RELU};
    CHECK(bn_arch_parse_sizes(&arch, sizes) == BN_OK);
    bn_net *net = NULL;
    CHECK(bn_net_create(&net, &arch, batch, bn_backend_find("blas")) == BN_OK);
    CHECK(bn_net_plan(net, mode, 0) == BN_OK);
    CHECK(bn_net_plan_rows(net, batch) == BN_OK);
    bn_rng rng;
    bn_rng_seed(&rng, 2);
    bn_net_init(net, BN_INIT_HE, 0.0f, &rng);
    float *x = bn_net_input(net);
    for (int i = 0; i < batch * arch.sizes[0]; i++)
        x[i] = (float)bn_rng_uniform(&rng);
    for (int i = 0; i < batch; i++)
        bn_net_labels(net)[i] = (int32_t)bn_rng_below(&rng, (uint64_t)arch.sizes[arch.depth]);
    return net;
}

/* The products of the last list that ran outside the region. */
static int outside_products(const bn_net *net)
{
    int n = 0;
    for (int i = 0; i < net->step->count; i++)
        n += net->step->op[i].outside;
    return n;
}

/* The regions one train step and one evaluation batch start, under `mode`, with the update fused or not. */
static void count(const char *sizes, int batch, bn_plan_mode mode, bn_optim opt, float dropout, bool fuse)
{
    bn_net *net = make(sizes, batch, mode);
    bn_net_set_update_fusion(net, fuse);
    CHECK(bn_net_set_dropout(net, dropout, 1, 0, 0) == BN_OK);
    const bool library = bn_net_plans_use_library(net);
    double loss = 0.0;
    regions = 0;
    CHECK(bn_net_train_step(net, bn_net_input(net), bn_net_labels(net), batch, &opt, &loss, NULL, NULL) == BN_OK);
    int step_regions = regions, outside = outside_products(net);
    int right = 0;
    regions = 0;
    CHECK(bn_net_forward_loss(net, bn_net_input(net), bn_net_labels(net), batch, &loss, &right) == BN_OK);
    int eval_regions = regions;
    if (!library) {
        CHECKF(step_regions == 1 && outside == 0, "%s b%d %s (fuse %d, clip %g, dropout %g): a step entered %d "
               "regions, want 1", sizes, batch, bn_plan_mode_name(mode), fuse, (double)opt.clip_norm,
               (double)dropout, step_regions);
        CHECKF(eval_regions == 1, "%s b%d %s: an evaluation batch entered %d regions, want 1", sizes, batch,
               bn_plan_mode_name(mode), eval_regions);
    } else {
        /* each `library` product splits the list; OpenBLAS's own regions are in its library, not counted */
        CHECKF(outside > 0 && step_regions >= 1 && step_regions <= outside + 1, "%s b%d %s: %d regions around %d "
               "library products", sizes, batch, bn_plan_mode_name(mode), step_regions, outside);
    }
    bn_net_destroy(&net);
}

static void one_region_per_step(void)
{
    bn_set_threads(2);
    const bn_optim adam = {.kind = BN_OPT_ADAM, .lr = 0.001f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    bn_optim clipped = {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-4f, .clip_norm = 1.0f};
    const bn_plan_mode modes[] = {BN_PLAN_ESTIMATE, BN_PLAN_ONE, BN_PLAN_ROWS, BN_PLAN_COLS, BN_PLAN_TILES,
                                  BN_PLAN_K, BN_PLAN_OWNED, BN_PLAN_LIBRARY};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        count("784,512,10", 64, modes[m], adam, 0.0f, true);
        count("784,512,10", 64, modes[m], adam, 0.0f, false);
        count("784,300,300,10", 128, modes[m], clipped, 0.2f, true);
        count("100,40,10", 7, modes[m], adam, 0.1f, true);
    }
    /* the owned layout's layers run dA's K bands, then the dW tiles, with no barrier between them */
    bn_net *owned = make("784,512,10", 64, BN_PLAN_OWNED);
    bn_optim plain = adam;
    double sum;
    CHECK(bn_net_train_step(owned, bn_net_input(owned), bn_net_labels(owned), 64, &plain, &sum, NULL, NULL) == BN_OK);
    int deferred = 0;
    for (int i = 0; i + 1 < owned->step->count; i++)
        deferred += owned->step->op[i].deferred && !owned->step->op[i].barrier && owned->step->op[i + 1].fused;
    CHECKF(deferred == 1, "owned 784-512-10: %d layers with dA's partials beside the fused dW tiles", deferred);
    bn_net_destroy(&owned);
    /* op by op (the bench's comparison): many regions, the same bits */
    bn_net *one = make("784,300,10", 64, BN_PLAN_ESTIMATE), *many = make("784,300,10", 64, BN_PLAN_ESTIMATE);
    bn_net_set_one_region(many, false);
    for (int step = 0; step < 3; step++) {
        regions = 0;
        CHECK(bn_net_train_step(one, bn_net_input(one), bn_net_labels(one), 64, &adam, &sum, NULL, NULL) == BN_OK);
        CHECK(regions == 1);
        regions = 0;
        CHECK(bn_net_train_step(many, bn_net_input(many), bn_net_labels(many), 64, &adam, &sum, NULL, NULL) == BN_OK);
        CHECKF(regions > 4, "op by op: %d regions", regions);
    }
    CHECK(memcmp(one->params, many->params, one->param_count * sizeof(float)) == 0);
    CHECK(memcmp(one->moment2, many->moment2, one->param_count * sizeof(float)) == 0);
    bn_net_destroy(&one);
    bn_net_destroy(&many);
    /* called from inside the caller's own parallel region, the step's region gets one thread (nesting is off):
     * every product, those planned side by side included, still runs, and the weights are the same */
    bn_net *outer = make("784,512,10", 64, BN_PLAN_ESTIMATE), *inner = make("784,512,10", 64, BN_PLAN_ESTIMATE);
    bool paired = false;
    CHECK(bn_net_train_step(outer, bn_net_input(outer), bn_net_labels(outer), 64, &adam, &sum, NULL, NULL) == BN_OK);
    for (int i = 0; i < outer->step->count; i++)
        paired |= outer->step->op[i].kind == BN_OP_PAIR;
    CHECKF(paired, "784-512-10 b64 under the model: no product beside another to test");
    int status = BN_OK;
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        status = bn_net_train_step(inner, bn_net_input(inner), bn_net_labels(inner), 64, &adam, &sum, NULL, NULL);
    }
    CHECK(status == BN_OK);
    CHECKF(memcmp(outer->params, inner->params, outer->param_count * sizeof(float)) == 0 &&
               memcmp(outer->grads, inner->grads, outer->param_count * sizeof(float)) == 0,
           "a step inside the caller's region computed other gradients or weights");
    bn_net_destroy(&outer);
    bn_net_destroy(&inner);
    /* and the library mode really is the exception: its step opens more than one region */
    bn_net *net = make("784,512,10", 64, BN_PLAN_LIBRARY);
    double loss;
    regions = 0;
    CHECK(bn_net_train_step(net, bn_net_input(net), bn_net_labels(net), 64, &adam, &loss, NULL, NULL) == BN_OK);
    CHECKF(regions > 1, "library plans: %d regions", regions);
    bn_net_destroy(&net);
    /* a team of one opens none: libgomp allocates for every region, even of one thread */
    bn_set_threads(1);
    net = make("784,512,10", 64, BN_PLAN_ESTIMATE);
    regions = 0;
    CHECK(bn_net_train_step(net, bn_net_input(net), bn_net_labels(net), 64, &adam, &loss, NULL, NULL) == BN_OK);
    CHECKF(regions == 0, "one thread: %d regions", regions);
    bn_net_destroy(&net);
}

int main(void)
{
    bn_test_case("a step and an evaluation batch enter one parallel region unless a product is library",
                 one_region_per_step);
    return bn_test_exit("regions");
}
