/* Fuzz target for the gzip path. The input is one file read as gzip-compressed data (its seeds are gzip
 * files: of IDX images, of labels, of CSV, in several members, with garbage behind), through every reader
 * that takes gzip: as IDX images and as IDX labels (the same bytes; most pairs then disagree, which is an
 * error like any other), and as CSV. Never a crash, a leak, or an out-of-bounds read. */
#define _GNU_SOURCE
#include "blasnet.h"
#include "fuzz_main.h"
#include "fuzz_memfile.h"

#include <stdlib.h>

/* Touches every byte ds claims to hold (ASan flags any overstatement), then frees it. */
static void touch(bn_dataset *ds)
{
    unsigned sum = 0;
    for (size_t i = 0; i < ds->n * (size_t)ds->dim; i++)
        sum += ds->pixels[i];
    for (size_t i = 0; i < ds->n; i++)
        sum += ds->labels[i];
    if (ds->dim != ds->rows * ds->cols)
        abort();
    (void)sum;
    bn_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], labels[64];
    int fd = memfile(data, size, path, sizeof path);
    /* A one-label file, so a gzip image file of one image can load whole. */
    static const uint8_t one_label[9] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    int fl = memfile(one_label, sizeof one_label, labels, sizeof labels);
    if (fd >= 0 && fl >= 0) {
        bn_dataset ds;
        if (bn_idx_load(&ds, path, labels) == BN_OK)
            touch(&ds);
        if (bn_idx_load(&ds, path, path) == BN_OK)
            touch(&ds);
        if (bn_csv_load(&ds, path, 0, 0) == BN_OK)
            touch(&ds);
    }
    if (fd >= 0)
        close(fd);
    if (fl >= 0)
        close(fl);
    return 0;
}
