/* How one matrix product is spread over the OpenMP team: the plan. Each tile of a plan is one serial call of
 * the GEMM engine (engine.h: the OpenMP OpenBLAS, or oneDNN, runs a call made inside a parallel region on
 * the calling thread), except the "library" plan, which hands the whole product to the engine's threading.
 * Plans are plain values made once per shape and team size (bn_net_plan), by a cost model (the
 * reproducible default) or by timing the candidates; a plan decides which tile boundaries the engine sees,
 * and those can change the last bits. Not public API: the tests and the bench, which link the library's
 * internal objects, plan by hand with them. */
#ifndef BN_GEMM_PLAN_H
#define BN_GEMM_PLAN_H

#include "blasnet.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a product is cut. */
typedef enum {
    BN_SPLIT_ONE,     /* one serial call on the calling thread */
    BN_SPLIT_LIBRARY, /* one call, threaded by the engine itself */
    BN_SPLIT_ROWS,    /* bands of output rows */
    BN_SPLIT_COLS,    /* bands of output columns */
    BN_SPLIT_TILES,   /* a parts_m x parts_n grid of output tiles */
    BN_SPLIT_K,       /* bands of the inner dimension, summed in a fixed order */
    BN_SPLIT_KINDS
} bn_split;

/* C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C, row-major, op(X) = X^T when its flag is set. */
typedef struct bn_gemm {
    bool ta, tb;
    int M, N, K;
    float alpha;
    const float *A;
    int lda;
    const float *B;
    int ldb;
    float beta;
    float *C;
    int ldc;
} bn_gemm;

/* One product's partition: parts_m x parts_n x parts_k tiles, one per thread (threads = their product, or
 * the team for LIBRARY). K-split partial sums live in `scratch` ((parts_k - 1) * M * N floats). */
typedef struct bn_gemm_plan {
    uint8_t split; /* bn_split */
    uint16_t parts_m, parts_n, parts_k;
    int threads;
    float *scratch;
    double cost_us; /* the model's estimate, or the measured median, in microseconds */
} bn_gemm_plan;

/* Two products that read the same operand (dW and dA both read the delta G): `first_threads` threads run
 * `first` with its plan while the rest run `second`; 0 means one after the other on the whole team. */
typedef struct bn_pair_plan {
    int first_threads;
    bn_gemm_plan first, second;
    double cost_us;
} bn_pair_plan;

/* Output columns are cut at multiples of this many floats (a cache line), rows of a transposed A too. */
#define BN_PLAN_ALIGN 16
/* Floats of K-split scratch a network keeps; K is split only for products whose partials fit. */
#define BN_PLAN_SCRATCH_FLOATS (1u << 18)

/* The cheapest plan for g on `team` threads by the cost model, among those `mode` allows (a forced kind,
 * or every kind for ESTIMATE/MEASURE); scratch NULL rules K-split out. Pure: same inputs, same plan. */
bn_gemm_plan bn_plan_estimate(const bn_gemm *g, int team, bn_plan_mode mode, float *scratch,
                              size_t scratch_floats);

/* The best of the candidates of g by timing each a few times on g's own buffers (C is overwritten). */
bn_gemm_plan bn_plan_measure(const bn_gemm *g, int team, float *scratch, size_t scratch_floats);

/* The plan `mode` asks for: measured for MEASURE, the model's (or the forced kind) otherwise. */
bn_gemm_plan bn_plan_choose(const bn_gemm *g, int team, bn_plan_mode mode, float *scratch,
                            size_t scratch_floats);

/* The model's plan for running `first` and `second` side by side, or (first_threads 0) one after
 * the other, whichever costs less; `measure` times both instead. */
bn_pair_plan bn_plan_pair(const bn_gemm *first, const bn_gemm *second, int team, bn_plan_mode mode,
                   float *scratch, size_t scratch_floats);

/* One entry of a step's list of products, in the order the step runs them: a product alone, or two that may
 * run side by side (second_given: dW beside dA, which only read the same delta). */
typedef struct {
    bn_gemm first, second;
    bool second_given;
} bn_plan_item;

/* Plans every item of a list for `team` threads in `mode`: out[i] for items[i] (a single product's plan in
 * .first, cost in .cost_us). Items are planned in order, so a measured plan of an item runs after those
 * before it, as the step would (a forward product's output is the next one's input). The planner knows
 * products only: whoever runs them builds the list. */
void bn_plan_list(const bn_plan_item *items, int n, int team, bn_plan_mode mode, float *scratch,
                  size_t scratch_floats, bn_pair_plan *out);

/* Whether a layer's pair is of the owned layout (BN_PLAN_OWNED): dW in column bands, one per thread, and dA
 * in the same bands of its inner dimension, run one after the other; thread t then reads and writes only
 * band t of the layer's W, and the step needs no barrier between dA and dW's update. */
bool bn_plan_pair_is_owned(const bn_pair_plan *p);

/* Runs g as `plan` says. Must be called outside any parallel region; starts at most one. */
void bn_plan_run(const bn_gemm *g, const bn_gemm_plan *plan);
void bn_plan_run_pair(const bn_gemm *first, const bn_gemm *second, const bn_pair_plan *plan);

/* The cost model alone, for tests and the bench: microseconds of `plan` for g. */
double bn_plan_model_us(const bn_gemm *g, const bn_gemm_plan *plan, int team);

/* "cols 2", "tiles 2x4", "k 2", "one", "library 2": fits in 24 characters. */
const char *bn_plan_describe(const bn_gemm_plan *plan, char *buf, size_t size);
const char *bn_split_name(int split);

#endif
