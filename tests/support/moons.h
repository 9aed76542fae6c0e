/* Two interleaving half circles, equal in distribution to scikit-learn's make_moons: n/2 points (rounded down)
 * on the outer moon (cos t, sin t) labelled 0, the rest on the inner moon (1 - cos t, 1 - sin t - 0.5)
 * labelled 1, t = linspace(0, pi, per-moon count), then N(0, noise^2) added to every coordinate, then the rows
 * shuffled. Header-only (static) so each test stays one file. */
#ifndef BN_TEST_MOONS_H
#define BN_TEST_MOONS_H

#include "blasnet.h"
#include "rng.h"

#include <math.h>
#include <stdint.h>

/* t_i of linspace(0, pi, m): the endpoints included, as numpy does; a single point sits at 0. */
static double moons_t(int i, int m)
{
    return m > 1 ? 3.14159265358979323846 * i / (m - 1) : 0.0;
}

/* x (n,2) row-major, y (n). */
static void moons_make(float *x, int32_t *y, int n, double noise, bn_rng *rng)
{
    const int n_out = n / 2, n_in = n - n_out;
    for (int i = 0; i < n_out; i++) {
        double t = moons_t(i, n_out);
        x[2 * i] = (float)(cos(t) + noise * bn_rng_normal(rng));
        x[2 * i + 1] = (float)(sin(t) + noise * bn_rng_normal(rng));
        y[i] = 0;
    }
    for (int i = 0; i < n_in; i++) {
        double t = moons_t(i, n_in);
        x[2 * (n_out + i)] = (float)(1.0 - cos(t) + noise * bn_rng_normal(rng));
        x[2 * (n_out + i) + 1] = (float)(1.0 - sin(t) - 0.5 + noise * bn_rng_normal(rng));
        y[n_out + i] = 1;
    }
    /* Fisher-Yates over the rows. */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)bn_rng_below(rng, (uint64_t)i + 1);
        float x0 = x[2 * i], x1 = x[2 * i + 1];
        int32_t yi = y[i];
        x[2 * i] = x[2 * j];
        x[2 * i + 1] = x[2 * j + 1];
        y[i] = y[j];
        x[2 * j] = x0;
        x[2 * j + 1] = x1;
        y[j] = yi;
    }
}

#endif
