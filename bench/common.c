/* blasnet-bench's small helpers (common.h): operands, the residual and its verdict, a figure or a dash, the
 * measured peak at a thread count, a step's FLOPs. */
#include "common.h"
#include "rng.h"

#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>


void fill_uniform(float *x, size_t n, float lo, float hi, bn_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)bn_rng_uniform(rng);
}

void * xmalloc(size_t bytes)
{
    return bench_xmalloc("blasnet-bench", bytes);
}

/* Normwise residual max|x - ref| / max|ref|: how BLIS and checkasm judge a kernel against its reference. */
double residual(const float *x, const float *ref, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)ref[i]);
        if (!(d <= diff)) /* also catches NaN */
            diff = isnan(d) ? INFINITY : d;
        if (fabs((double)ref[i]) > scale)
            scale = fabs((double)ref[i]);
    }
    return diff / (scale > 0.0 ? scale : FLT_MIN);
}

/* PASS within tol, MARGINAL within 100 tol (worth a look, not a wrong kernel), else FAIL. */
const char * verdict(double err, double tol)
{
    return err <= tol ? "PASS" : err <= 100 * tol ? "MARGINAL" : "FAIL";
}

/* A figure, or "-" where it was not measured (NaN); buf holds 16 bytes. */
const char *format_or_dash(char *buf, const char *fmt, double v)
{
    if (isnan(v))
        return "-";
    snprintf(buf, 16, fmt, v);
    return buf;
}

double peak_at(const bench *b, int threads)
{
    return threads >= 1 && threads <= MAX_THREADS ? b->peak[threads] : NAN;
}

/* 2*in*out per product per sample: forward one product per layer, backward two per layer except one for the
 * first (the input pixels need no gradient). */
double step_flops_per_sample(const bn_arch *a)
{
    double f = 0.0;
    for (int l = 0; l < a->depth; l++) {
        double p = 2.0 * a->sizes[l] * a->sizes[l + 1];
        f += p * (l == 0 ? 2.0 : 3.0);
    }
    return f;
}


const char * parallel_name(int p)
{
    return p == 2 ? "OpenMP" : p == 1 ? "pthreads" : "serial";
}

