/* The step of one rank among several (bn_net_train_share with a comm), in one process with a comm of one rank
 * whose sums are the identity: it must give bitwise the local step's weights, loss and counts (what mpirun
 * -np 1 relies on), with and without clipping, and allocate nothing of blasnet's own per step. MPI's own
 * allocations stay out by construction: no MPI here. bench/alloc_count.c counts every malloc. */
#include "alloc_count.h"
#include "harness.h"
#include "net.h"

#include <string.h>

static int begins, waits;

static int identity_begin(void *ctx, int slot, void *data, size_t n, bn_comm_op op)
{
    (void)ctx, (void)slot, (void)data, (void)n, (void)op;
    begins++;
    return BN_OK;
}

static int identity_wait(void *ctx, int slot)
{
    (void)ctx, (void)slot;
    waits++;
    return BN_OK;
}

static const bn_comm one_rank = {.rank = 0, .size = 1, .begin = identity_begin, .wait = identity_wait};

static bn_net *make_net(void)
{
    bn_arch arch = {.act = BN_ACT_TANH};
    bn_net *net = NULL;
    CHECK(bn_arch_parse_sizes(&arch, "17,33,9,5") == BN_OK);
    CHECK(bn_net_create(&net, &arch, 23, bn_backend_find("blas")) == BN_OK);
    bn_rng rng;
    bn_rng_seed(&rng, 3);
    bn_net_init(net, BN_INIT_XAVIER, 0.0f, &rng);
    for (int i = 0; i < 23 * 17; i++)
        net->x[i] = (float)bn_rng_uniform(&rng);
    for (int i = 0; i < 23; i++)
        net->labels[i] = (int32_t)bn_rng_below(&rng, 5);
    return net;
}

/* Five steps of 23 rows each way; weights, moments and sums compared bit for bit. */
static void same_as_local(float clip_norm)
{
    bn_net *local = make_net(), *shared = make_net();
    bn_optim opt = {.kind = BN_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                    .weight_decay = 1e-3f, .clip_norm = clip_norm};
    for (int step = 0; step < 5; step++) {
        opt.t = (uint64_t)step + 1;
        bn_share a = {.rows = 23, .batch_rows = 23}, b = {.rows = 23, .batch_rows = 23, .comm = &one_rank};
        double sq_a = 0.0, sq_b = 0.0;
        CHECK(bn_net_train_share(local, local->x, local->labels, &a, &opt, &sq_a) == BN_OK);
        CHECK(bn_net_train_share(shared, shared->x, shared->labels, &b, &opt, &sq_b) == BN_OK);
        CHECKF(memcmp(a.sums, b.sums, sizeof a.sums) == 0 && sq_a == sq_b, "step %d: loss %.9g vs %.9g", step,
               a.sums[0], b.sums[0]);
    }
    const size_t bytes = local->param_count * sizeof(float);
    CHECK(memcmp(local->params, shared->params, bytes) == 0);
    CHECK(memcmp(local->velocity, shared->velocity, bytes) == 0 && memcmp(local->moment2, shared->moment2, bytes) == 0);
    CHECKF(begins == 5 * 7 && waits == 5 * 7, "%d begins, %d waits: want 7 each per step (3 layers' W and b, sums)",
           begins, waits);
    begins = waits = 0;
    bn_net_destroy(&local);
    bn_net_destroy(&shared);
}

static void without_clipping(void)
{
    same_as_local(0.0f);
}

static void with_clipping(void)
{
    same_as_local(0.05f);
}

/* A rank with no rows of a batch adds zeros and still updates with the others. */
static void empty_share(void)
{
    bn_net *net = make_net();
    bn_optim opt = {.kind = BN_OPT_SGD, .lr = 0.1f, .t = 1};
    size_t n;
    float before = bn_net_params(net, &n)[0];
    bn_share s = {.rows = 0, .batch_rows = 3, .comm = &one_rank};
    CHECK(bn_net_train_share(net, net->x, net->labels, &s, &opt, NULL) == BN_OK);
    CHECK(s.sums[0] == 0.0 && s.sums[1] == 0.0);
    CHECK(bn_net_params(net, &n)[0] == before); /* zero gradient, no momentum yet: unchanged */
    begins = waits = 0;
    bn_net_destroy(&net);
}

static void allocates_nothing(void)
{
    bn_net *net = make_net();
    bn_optim opt = {.kind = BN_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .clip_norm = 1};
    bn_share s = {.rows = 23, .batch_rows = 23, .comm = &one_rank};
    bn_net_set_dropout(net, 0.2f, 1, 0, 0);
    opt.t = 1;
    CHECK(bn_net_train_share(net, net->x, net->labels, &s, &opt, NULL) == BN_OK); /* plans made, pages touched */
    alloc_stats before = alloc_count_now();
    for (int step = 2; step < 7; step++) {
        opt.t = (uint64_t)step;
        CHECK(bn_net_train_share(net, net->x, net->labels, &s, &opt, NULL) == BN_OK);
    }
    alloc_stats after = alloc_count_now();
    /* oneDNN mallocs inside every sgemm call (test_alloc reports such engine allocations and does not count
     * them); blasnet's own code is what must not allocate, and with OpenBLAS nothing does */
    if (strcmp(bn_gemm_engine_name(), "dnnl") == 0)
        printf("note: %llu allocations in 5 steps, made inside the oneDNN engine; not counted\n",
               after.calls - before.calls);
    else
        CHECKF(after.calls == before.calls, "%llu allocations in 5 steps", after.calls - before.calls);
    begins = waits = 0;
    bn_net_destroy(&net);
}

int main(void)
{
    bn_test_case("one rank's shared step is the local step, bitwise", without_clipping);
    bn_test_case("... with clipping (the norm of the summed gradient)", with_clipping);
    bn_test_case("an empty share takes part with zeros", empty_share);
    bn_test_case("the shared step allocates nothing", allocates_nothing);
    return bn_test_exit("share");
}
