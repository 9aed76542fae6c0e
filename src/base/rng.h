/* What the library draws with (rng.c): the state and bn_rng_seed are public (blasnet.h), so that a caller
 * can seed bn_net_init; the draws are the library's own. */
#ifndef BN_BASE_RNG_H
#define BN_BASE_RNG_H

#include "blasnet.h"

uint64_t bn_rng_next(bn_rng *rng);
double bn_rng_uniform(bn_rng *rng);             /* [0, 1) */
double bn_rng_normal(bn_rng *rng);              /* standard normal */
uint64_t bn_rng_below(bn_rng *rng, uint64_t n); /* uniform in [0, n), unbiased; n >= 1 */
void bn_rng_shuffle(bn_rng *rng, uint32_t *items, size_t n);

#endif
