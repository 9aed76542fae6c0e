/* Batch assembly: uint8 pixels stay in memory as loaded; each batch is converted to floats in [0,1] straight
 * into the network's input staging, so the data set costs a quarter of a float copy and nothing is
 * allocated per batch. */
#include "blasnet.h"
#include "parallel.h"

void bn_dataset_gather(const bn_dataset *ds, const uint32_t *rows, size_t start, size_t count, float *x,
                       int32_t *labels_out)
{
    const size_t dim = (size_t)ds->dim;
    const float scale = 1.0f / 255.0f;
    int nt = bn_par_threads(count * dim);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (size_t i = 0; i < count; i++) {
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
