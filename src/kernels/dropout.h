/* Dropout masks from a counter-based hash: whether unit j of global row r survives in layer l at step t is a
 * pure function of (seed, t, l, r, j), so it is the same on any thread count, any split of the rows over
 * threads or processes, and after a resume, and nothing is stored between the forward and backward pass.
 * Both backends call these, so the mask is written once. */
#ifndef BN_DROPOUT_H
#define BN_DROPOUT_H

#include <stdbool.h>
#include <stdint.h>

/* One layer's dropout in one step; NULL where a pass drops nothing. */
typedef struct bn_dropout {
    uint64_t layer_key; /* bn_dropout_layer_key(seed, t, layer) */
    uint64_t first_row; /* global index of the batch's row 0 */
    uint32_t threshold; /* a unit is dropped when its hash is below this: p * 2^32 */
    float keep;         /* 1 - p */
    float scale;        /* 1 / (1 - p), applied to survivors */
} bn_dropout;

static inline uint64_t bn_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline uint64_t bn_dropout_layer_key(uint64_t seed, uint64_t t, int layer)
{
    return bn_mix64(bn_mix64(bn_mix64(seed ^ 0x44524f504f5554ull) ^ t) ^ (uint64_t)layer);
}

/* The key of one row: 32 bits are enough, since the unit hash below is a bijection of (row key ^ unit). */
static inline uint32_t bn_dropout_row_key(const bn_dropout *d, uint64_t row)
{
    return (uint32_t)bn_mix64(d->layer_key ^ (d->first_row + row));
}

/* A 32-bit integer hash (a bijection with good avalanche: two xorshift-multiply rounds); 32-bit multiplies,
 * so it vectorises on AVX2. */
static inline uint32_t bn_dropout_unit_hash(uint32_t row_key, uint32_t unit)
{
    uint32_t x = row_key ^ (unit * 0x9e3779b9u);
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return x;
}

static inline bool bn_dropout_keeps(uint32_t row_key, uint32_t unit, uint32_t threshold)
{
    return bn_dropout_unit_hash(row_key, unit) >= threshold;
}

#endif
