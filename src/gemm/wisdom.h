/* Wisdom: the plans of products measured on this machine, kept as times so that a later run of the same
 * shapes plans without measuring (FFTW's wisdom, for sgemm partitions). The library keeps wisdom in memory
 * and reads and writes it as text; where the text lives (the CLI's cache file) is its caller's business.
 *
 * Every entry is keyed by the machine it was measured on (CPU model and feature flags, OpenBLAS's build and
 * kernel, the GEMM engine, blasnet's version, -Dnative), by the team size and by the product's shape.
 * Entries of other machines are kept and written back, never used; of the 16 machines a wisdom holds at
 * most, the ones that wrote longest ago make way for a new one. Times are integer nanoseconds, so a file read
 * back gives the plans of the run that wrote it, bit for bit.
 *
 * Three kinds of entry:
 *   product  every candidate partition of one product (LIBRARY, OpenBLAS's own threading, among them) and
 *            the fastest time of each, measured interleaved;
 *   pair     dW beside dA on t1 + (team - t1) threads, for each t1;
 *   step     a step's whole list of products, in its order, under the plans chosen from the above, under
 *            LIBRARY and under the cost model's plans: the step runs the fastest of the three lists. */
#ifndef BN_GEMM_WISDOM_H
#define BN_GEMM_WISDOM_H

#include "gemm_plan.h"

#define BN_WISDOM_FORMAT 1
#define BN_WISDOM_MAX_TIMES 64     /* candidates of one product (the planner makes at most 64) */
#define BN_WISDOM_STEP_LISTS 4     /* a step entry's lists: own, library, model, owned (3 before 0.4.0) */
#define BN_WISDOM_MAX_ENTRIES 4096 /* about 6.5 MiB in memory at most */
#define BN_WISDOM_MAX_MACHINES 16
#define BN_WISDOM_MAX_BYTES (4u << 20) /* a text longer than this is refused, unread */
#define BN_WISDOM_DESC_BYTES 400

typedef enum { BN_WISDOM_PRODUCT, BN_WISDOM_PAIR, BN_WISDOM_STEP } bn_wisdom_kind;

/* A product as the wisdom names it: the operands' layout, whether C is read (beta), and M x N x K. */
typedef struct {
    uint8_t ta, tb, beta;
    int M, N, K;
} bn_wisdom_shape;

/* One measured time: a partition (product), a first_threads split (pair: split ONE, threads = t1), or a
 * step's list (threads 0: the products' own plans, 1: LIBRARY, 2: the cost model's). */
typedef struct {
    uint8_t split;
    uint16_t pm, pn, pk, threads;
    uint64_t ns;
} bn_wisdom_time;

typedef struct {
    uint64_t machine;
    uint8_t kind; /* bn_wisdom_kind */
    int team;
    bn_wisdom_shape a, b; /* product: a; pair: dW in a, dA in b */
    uint64_t step_key;    /* step: the list's shapes, hashed; the digest of the plans it measured */
    uint64_t step_plans;
    int n;
    bn_wisdom_time t[BN_WISDOM_MAX_TIMES];
} bn_wisdom_entry;

typedef struct bn_wisdom {
    uint64_t machine; /* this process's machine */
    int machines;
    uint64_t machine_id[BN_WISDOM_MAX_MACHINES];
    char machine_desc[BN_WISDOM_MAX_MACHINES][BN_WISDOM_DESC_BYTES];
    int n, cap;
    bn_wisdom_entry *entry;
    /* what planning did with it since the last bn_wisdom_clear_counts: entries measured and the seconds
     * spent, and products planned by the model because measuring was not allowed */
    int measured, missing;
    double measure_seconds;
} bn_wisdom;

/* An empty wisdom for this machine (its description from platform.c); BN_E_NOMEM. */
int bn_wisdom_init(bn_wisdom *w);
void bn_wisdom_free(bn_wisdom *w);
/* Adds the entries of `text` (len bytes, the format bn_wisdom_format writes), replacing those of the same
 * key; where its machines and w's are more than BN_WISDOM_MAX_MACHINES, the text's last machines (written
 * longest ago) and their entries are dropped. A text that is damaged anywhere is refused whole with
 * BN_E_FORMAT, naming the line, and w is left as it was. */
int bn_wisdom_parse(bn_wisdom *w, const char *text, size_t len);
/* The whole wisdom as text; returns the length it needs, like snprintf. */
size_t bn_wisdom_format(const bn_wisdom *w, char *buf, size_t size);

/* This machine's entry of `kind` for team and shapes (b only for pairs; step_key only for steps), or NULL. */
bn_wisdom_entry *bn_wisdom_find(bn_wisdom *w, bn_wisdom_kind kind, int team, const bn_wisdom_shape *a,
                                const bn_wisdom_shape *b, uint64_t step_key);
/* Stores e (for this machine), replacing the entry of its key; BN_E_NOMEM (also when full), BN_E_INVALID for
 * shapes or teams the text could not carry back. */
int bn_wisdom_put(bn_wisdom *w, const bn_wisdom_entry *e);
bn_wisdom_shape bn_wisdom_shape_of(const bn_gemm *g);

/* This machine's entries, hashed (continuing h): two wisdoms that plan alike hash alike. */
uint64_t bn_wisdom_digest(uint64_t h, const bn_wisdom *w);
/* FNV-1a over n bytes, from h (0 starts a new hash). */
uint64_t bn_wisdom_hash(uint64_t h, const void *data, size_t n);

/* Plans a step's list of products as bn_plan_list does, from w's times: a product or pair w lacks is
 * measured when may_measure (and stored in w), else planned by the model (counted in w->missing). Then the
 * whole list, timed (or looked up) against the same list under LIBRARY and under the cost model's plans, each
 * run by `runner` (NULL: the products alone): the fastest of the three is the step's. */
/* What the whole-list timing runs under each candidate list: a network's training passes (net_plan.c), or,
 * with none, the list's products alone in the step's order. */
typedef struct {
    void (*run)(void *ctx, const bn_pair_plan *list);
    void *ctx;
} bn_step_runner;
void bn_plan_list_tuned(const bn_plan_item *items, int n, int team, bn_wisdom *w, bool may_measure,
                        float *scratch, size_t scratch_floats, const bn_step_runner *runner, bn_pair_plan *out);
/* The key of a step entry: the list's shapes and the team, hashed. */
uint64_t bn_plan_step_key(const bn_plan_item *items, int n, int team);
/* A digest of a list of plans (partitions and splits, not costs), continuing h. */
uint64_t bn_plan_digest(uint64_t h, const bn_pair_plan *plans, int n);

#endif
