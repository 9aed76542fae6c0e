/* The step of one rank among several (bn_net_train_share with a comm), in one process with a comm of one rank
 * whose sums are the identity: it must give bitwise the local step's weights, loss and counts (what mpirun
 * -np 1 relies on), with and without clipping, and allocate nothing of blasnet's own per step. The same
 * process also plays rank 0 of a node of two sharing memory (net_share.c), whose partner adds zeros. MPI's
 * own allocations stay out by construction: no MPI here. bench/alloc_count.c counts every malloc. */
#include "alloc_count.h"
#include "blasnet_comm.h"
#include "rng.h"
#include "harness.h"
#include "net.h"
#include "net_share.h"
#include "parallel.h"

#include <stdlib.h>
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

/* Five steps between before and after. oneDNN mallocs inside every sgemm call (test_alloc reports such engine
 * allocations and does not count them); blasnet's own code is what must not allocate, and with OpenBLAS
 * nothing does. */
static void check_no_allocations(alloc_stats before, alloc_stats after)
{
    if (strcmp(bn_gemm_engine_name(), "dnnl") == 0)
        printf("note: %llu allocations in 5 steps, made inside the oneDNN engine; not counted\n",
               after.calls - before.calls);
    else
        CHECKF(after.calls == before.calls, "%llu allocations in 5 steps", after.calls - before.calls);
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
    check_no_allocations(before, alloc_count_now());
    begins = waits = 0;
    bn_net_destroy(&net);
}

/* ---- rank 0 of a node of two, played by one process: rank 1's gradient block stays zero ---------------- */
static char *node_memory;
static int syncs;

static int node_map(void *ctx, size_t lead_bytes, size_t own_bytes, void **lead, void **own)
{
    (void)ctx;
    node_memory = calloc(1, lead_bytes + 2 * own_bytes);
    *lead = node_memory;
    own[0] = node_memory + lead_bytes;
    own[1] = node_memory + lead_bytes + own_bytes;
    return node_memory ? BN_OK : BN_E_NOMEM;
}

static int node_sync(void *ctx)
{
    (void)ctx;
    syncs++;
    return BN_OK;
}

static const bn_comm node_of_two = {.rank = 0, .size = 2, .begin = identity_begin, .wait = identity_wait,
                                    .node_rank = 0, .node_size = 2, .node_map = node_map, .node_sync = node_sync};

/* Whether the region [at, at + n) holds, in rank 0's part, the floats of want and elsewhere those of rest. */
static bool parts_match(const float *got, const float *want, const float *rest, size_t at, size_t n)
{
    size_t lo, hi;
    bn_par_range(n, 16, 0, 2, &lo, &hi);
    return memcmp(got + at + lo, want + at + lo, (hi - lo) * sizeof(float)) == 0 &&
           memcmp(got + at + hi, rest + at + hi, (n - hi) * sizeof(float)) == 0;
}

/* One step: rank 0's part of every W and b gets the local step's update bit for bit (its sum adds rank 1's
 * zeros), rank 1's part none (rank 1 never ran); two barriers per step; then five steps allocate nothing,
 * and detaching brings the node's copy back into the network. */
static void node_memory_step(void)
{
    bn_net *local = make_net(), *shared = make_net();
    const size_t bytes = shared->param_count * sizeof(float);
    float *start = malloc(bytes);
    memcpy(start, shared->params, bytes);
    float *own_params = shared->params;
    CHECK(bn_net_set_comm(shared, &node_of_two) == BN_OK && shared->params != own_params &&
          (char *)shared->params == node_memory);
    bn_optim opt = {.kind = BN_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                    .weight_decay = 1e-3f, .t = 1};
    bn_share a = {.rows = 23, .batch_rows = 23}, b = {.rows = 23, .batch_rows = 23, .comm = &node_of_two};
    syncs = 0;
    CHECK(bn_net_train_share(local, local->x, local->labels, &a, &opt, NULL) == BN_OK);
    CHECK(bn_net_train_share(shared, shared->x, shared->labels, &b, &opt, NULL) == BN_OK);
    CHECKF(syncs == 2, "%d barriers in a step", syncs);
    const int *n = shared->arch.sizes;
    for (int l = 0; l < shared->arch.depth; l++) {
        size_t w = shared->w_offset[l], bias = shared->b_offset[l], nw = (size_t)n[l] * (size_t)n[l + 1];
        CHECKF(parts_match(shared->params, local->params, start, w, nw), "layer %d: W", l);
        CHECKF(parts_match(shared->params, local->params, start, bias, (size_t)n[l + 1]), "layer %d: b", l);
    }
    alloc_stats before = alloc_count_now();
    for (int step = 2; step < 7; step++) {
        opt.t = (uint64_t)step;
        CHECK(bn_net_train_share(shared, shared->x, shared->labels, &b, &opt, NULL) == BN_OK);
    }
    check_no_allocations(before, alloc_count_now());
    memcpy(start, shared->params, bytes);
    CHECK(bn_net_set_comm(shared, NULL) == BN_OK && shared->params == own_params && bn_net_comm(shared) == NULL);
    CHECK(memcmp(start, shared->params, bytes) == 0);
    begins = waits = 0;
    free(start);
    free(node_memory);
    bn_net_destroy(&local);
    bn_net_destroy(&shared);
}

int main(void)
{
    CHECK(alloc_count_install());
    bn_test_case("one rank's shared step is the local step, bitwise", without_clipping);
    bn_test_case("... with clipping (the norm of the summed gradient)", with_clipping);
    bn_test_case("an empty share takes part with zeros", empty_share);
    bn_test_case("the shared step allocates nothing", allocates_nothing);
    bn_test_case("rank 0 of a node sharing memory: its part is the local step's", node_memory_step);
    return bn_test_exit("share");
}
