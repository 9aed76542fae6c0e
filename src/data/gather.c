/* Batch assembly: uint8 pixels stay in memory as loaded; each batch is converted to floats in [0,1] straight
 * into the network's input staging, so the data set costs a quarter of a float copy and nothing is
 * allocated per batch. */
#include "blasnet.h"
#include "parallel.h"

static void gather_block(const bn_dataset *ds, const uint32_t *rows, size_t start, size_t lo, size_t hi, float *x,
                         int32_t *labels_out)
{
    const size_t dim = (size_t)ds->dim;
    const float scale = 1.0f / 255.0f;
    for (size_t i = lo; i < hi; i++) {
        size_t row = rows ? rows[start + i] : start + i;
        const uint8_t *restrict src = ds->pixels + row * dim;
        float *restrict dst = x + i * dim;
#pragma omp simd
        for (size_t j = 0; j < dim; j++)
            dst[j] = (float)src[j] * scale;
        if (labels_out)
            labels_out[i] = ds->labels[row];
    }
}

void bn_dataset_gather(const bn_dataset *ds, const uint32_t *rows, size_t start, size_t count, float *x,
                       int32_t *labels_out)
{
    int nt = bn_par_threads(count * (size_t)ds->dim);
    if (nt == 1) { /* no region at all: libgomp allocates even for a one-thread team */
        gather_block(ds, rows, start, 0, count, x, labels_out);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        size_t lo, hi;
        bn_par_range(count, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        gather_block(ds, rows, start, lo, hi, x, labels_out);
    }
}
