/* The library's side of the communication seam (bn_comm in blasnet.h): a blocking sum over the ranks, and the
 * check before a run that every rank holds the same run. The communicator itself lives outside the library
 * (dist/comm_mpi.c), so libblasnet never links MPI; attaching it to a network is net_share.c's. */
#include "comm.h"

#include "error.h"
#include "net.h"
#include "recipe.h"

#include <string.h>

int bn_comm_combine(const bn_comm *comm, void *data, size_t n, bn_comm_op op)
{
    int status = comm->begin(comm->ctx, BN_COMM_SLOT_BLOCKING, data, n, op);
    return status ? status : comm->wait(comm->ctx, BN_COMM_SLOT_BLOCKING);
}

/* ---- checksums ------------------------------------------------------------------------------------------
 * Not cryptographic: they catch a rank given other files or flags, not an adversary. Eight bytes per
 * multiply, a few GB/s: MNIST's training set costs ~10 ms once per run. */
static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 29);
}

static uint64_t mix_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mix(h, w);
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    return mix(mix(h, tail), n);
}

static uint64_t mix_float(uint64_t h, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return mix(h, bits);
}

/* The architecture, then the recipe serialised field by field from its one table (a struct's padding bytes
 * are not part of its value, and a field added to the recipe is hashed with no change here). */
static uint64_t hash_recipe(const bn_arch *arch, const bn_hparams *hp)
{
    uint64_t h = mix(0, (uint64_t)arch->depth);
    for (int l = 0; l <= arch->depth; l++)
        h = mix(h, (uint64_t)arch->sizes[l]);
    h = mix_float(mix(h, (uint64_t)arch->act), arch->leaky_slope);
    unsigned char bytes[BN_RECIPE_MAX_BYTES];
    return mix_bytes(h, bytes, bn_recipe_serialise(hp, bytes));
}

static uint64_t hash_data(const bn_dataset *ds)
{
    if (!ds || ds->n == 0)
        return 0;
    uint64_t h = mix(mix(0, ds->n), (uint64_t)ds->dim);
    return mix_bytes(mix_bytes(h, ds->pixels, ds->n * (size_t)ds->dim), ds->labels, ds->n);
}

/* Where the run is: progress, shuffle stream, early stopping, and the weights and moments. */
static uint64_t hash_progress(const bn_net *net, const bn_train_state *st)
{
    uint64_t h = mix(mix(mix(0, (uint64_t)st->epoch), st->step), st->train_n);
    for (int i = 0; i < 4; i++)
        h = mix(h, st->rng.s[i]);
    h = mix(mix(mix(mix(h, st->correct), st->seen), (uint64_t)st->best_epoch), (uint64_t)st->bad_epochs);
    h = mix(h, (uint64_t)st->end);
    const size_t bytes = bn_net_param_floats(net) * sizeof(float);
    const bn_net_blocks b = bn_net_state_blocks(net);
#define HASH_NODE_BLOCK(name, kind)                                                                               \
    if (kind == BN_BLOCK_NODE) /* what the ranks of a node share: the weights and the moments */                 \
        h = mix_bytes(h, b.name, bytes);
    BN_NET_BLOCKS(HASH_NODE_BLOCK)
#undef HASH_NODE_BLOCK
    return h;
}

int bn_comm_agree_run(const bn_comm *comm, const bn_net *net, const bn_dataset *train, const bn_dataset *val,
                      const bn_train_state *st)
{
    static const char *const what[4] = {
        "were given different flags or architectures",
        "see different training data",
        "see different validation data (data files or --val)",
        "hold different weights or progress (checkpoints)",
    };
    const uint64_t h[4] = {hash_recipe(bn_net_arch(net), &st->hp), hash_data(train), hash_data(val),
                           hash_progress(net, st)};
    /* max of each checksum and of its complement: the ranks agree exactly when the max is also the min */
    uint64_t v[8];
    for (int i = 0; i < 4; i++) {
        v[2 * i] = h[i];
        v[2 * i + 1] = ~h[i];
    }
    int status = bn_comm_combine(comm, v, 8, BN_COMM_MAX_U64);
    if (status)
        return bn_fail(status, "comparing the ranks' runs failed (%s)", bn_strerror(status));
    for (int i = 0; i < 4; i++)
        if (v[2 * i] != ~v[2 * i + 1])
            return bn_fail(BN_E_MISMATCH, "the %d ranks %s (checksums differ)", comm->size, what[i]);
    return BN_OK;
}

int bn_comm_agree_plans(const bn_comm *comm, uint64_t source)
{
    uint64_t v[2] = {source, ~source};
    int status = bn_comm_combine(comm, v, 2, BN_COMM_MAX_U64);
    if (status)
        return bn_fail(status, "comparing the ranks' plans failed (%s)", bn_strerror(status));
    if (v[0] != ~v[1])
        return bn_fail(BN_E_MISMATCH, "the %d ranks plan their products from different sources (plan mode, threads "
                                      "or wisdom differ): give every rank the same --threads and --plan",
                       comm->size);
    return BN_OK;
}
