/* Fuzz target for the IDX reader. The input is split in two files: its first two bytes (little-endian) give
 * the length of the image file, the rest is the label file. Any input must give BN_OK with a consistent
 * data set or a clean error: never a crash, a leak, or an out-of-bounds read. */
#define _GNU_SOURCE
#include "blasnet.h"
#include "fuzz_main.h"
#include "fuzz_memfile.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t split = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (split > size)
        split = size;
    char images[64], labels[64];
    int fi = memfile(data, split, images, sizeof images);
    int fl = memfile(data + split, size - split, labels, sizeof labels);
    if (fi >= 0 && fl >= 0) {
        bn_dataset ds;
        if (bn_idx_load(&ds, images, labels) == BN_OK) {
            /* Touch every byte the reader claims to hold: ASan flags any overstatement. */
            unsigned sum = 0;
            for (size_t i = 0; i < ds.n * (size_t)ds.dim; i++)
                sum += ds.pixels[i];
            for (size_t i = 0; i < ds.n; i++)
                sum += ds.labels[i];
            if (ds.dim != ds.rows * ds.cols)
                abort();
            (void)sum;
            bn_dataset_free(&ds);
        }
    }
    if (fi >= 0)
        close(fi);
    if (fl >= 0)
        close(fl);
    return 0;
}
