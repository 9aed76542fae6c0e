/* Fuzz target for the CSV reader. The first byte chooses the image shape (0: square, else rows x cols from
 * its two nibbles), the rest is the file. Any input must give BN_OK with a consistent data set or a clean
 * error: never a crash, a leak, or an out-of-bounds read. */
#define _GNU_SOURCE
#include "blasnet.h"
#include "fuzz_main.h"
#include "fuzz_memfile.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int rows = data[0] >> 4, cols = data[0] & 15;
    if (!rows || !cols)
        rows = cols = 0;
    char path[64];
    int fd = memfile(data + 1, size - 1, path, sizeof path);
    if (fd < 0)
        return 0;
    bn_dataset ds;
    if (bn_csv_load(&ds, path, rows, cols) == BN_OK) {
        /* Touch every byte the reader claims to hold: ASan flags any overstatement. */
        unsigned sum = 0;
        for (size_t i = 0; i < ds.n * (size_t)ds.dim; i++)
            sum += ds.pixels[i];
        for (size_t i = 0; i < ds.n; i++)
            sum += ds.labels[i];
        if (ds.dim != ds.rows * ds.cols || (rows && (ds.rows != rows || ds.cols != cols)) || !ds.storage)
            abort();
        (void)sum;
        bn_dataset_free(&ds);
    }
    close(fd);
    return 0;
}
