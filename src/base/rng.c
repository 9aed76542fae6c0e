/* xoshiro256** seeded through splitmix64 (Blackman & Vigna). Small, fast, and its whole state is four
 * words, so a checkpoint can store it and a resumed run draws the very same numbers. */
#include "rng.h"

#include "blasnet.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void bn_rng_seed(bn_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t bn_rng_next(bn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double bn_rng_uniform(bn_rng *rng)
{
    return (double)(bn_rng_next(rng) >> 11) * 0x1.0p-53;
}

/* Box-Muller without caching the second value, so the state stays the four words above. */
double bn_rng_normal(bn_rng *rng)
{
    double u1 = 1.0 - bn_rng_uniform(rng); /* (0, 1]: log never sees 0 */
    double u2 = bn_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Lemire's multiply-and-reject: unbiased for every n. */
uint64_t bn_rng_below(bn_rng *rng, uint64_t n)
{
    __uint128_t m = (__uint128_t)bn_rng_next(rng) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (__uint128_t)bn_rng_next(rng) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void bn_rng_shuffle(bn_rng *rng, uint32_t *items, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)bn_rng_below(rng, i);
        uint32_t t = items[i - 1];
        items[i - 1] = items[j];
        items[j] = t;
    }
}
