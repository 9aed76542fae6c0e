/* Loading a data set that bn_data_find located: each part through its reader (IDX or CSV), then laid out as
 * asked (transposed back, labels shifted to start at 0), and the two parts checked against each other. */
#include "blasnet.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Each image of ds, stored as a rows x cols matrix, becomes its transpose, a cols x rows image. */
static int transpose_images(bn_dataset *ds, const char *name)
{
    const int rows = ds->rows, cols = ds->cols;
    uint8_t *tmp = malloc((size_t)ds->dim + 1);
    if (!tmp)
        return bn_fail(BN_E_NOMEM, "cannot allocate %d bytes to transpose the images of '%s'", ds->dim, name);
    uint8_t *px = (uint8_t *)ds->storage; /* the pixels start the owned block */
    for (size_t i = 0; i < ds->n; i++) {
        uint8_t *img = px + i * (size_t)ds->dim;
        memcpy(tmp, img, (size_t)ds->dim);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                img[c * rows + r] = tmp[r * cols + c];
    }
    free(tmp);
    ds->rows = cols;
    ds->cols = rows;
    return BN_OK;
}

/* Every label minus offset. A label below offset is the offset's fault, not the file's (BN_E_INVALID): the
 * message gives the smallest label, the largest offset that fits. */
static int shift_labels(bn_dataset *ds, int offset, const char *name)
{
    uint8_t *labels = (uint8_t *)ds->storage + (ds->labels - ds->pixels);
    int smallest = 255;
    for (size_t i = 0; i < ds->n; i++)
        smallest = labels[i] < smallest ? labels[i] : smallest;
    if (ds->n && smallest < offset)
        return bn_fail(BN_E_INVALID, "'%s' has labels from %d, below the label offset %d: give an offset of %d or "
                                     "less (0: labels as they are)", name, smallest, offset, smallest);
    for (size_t i = 0; i < ds->n; i++)
        labels[i] = (uint8_t)(labels[i] - offset);
    return BN_OK;
}

int bn_data_load_source(bn_dataset *ds, const bn_data_source *src, const bn_data_layout *layout)
{
    static const bn_data_layout as_stored = {0};
    layout = layout ? layout : &as_stored;
    const char *name = src->csv[0] ? src->csv : src->labels;
    if ((layout->rows > 0) != (layout->cols > 0) || layout->label_offset < 0 || layout->label_offset > 255)
        return bn_fail(BN_E_INVALID, "layout for '%s': rows %d, cols %d, label offset %d", name, layout->rows,
                       layout->cols, layout->label_offset);
    int status = src->csv[0] ? bn_csv_load(ds, src->csv, layout->rows, layout->cols)
                             : bn_idx_load(ds, src->images, src->labels);
    if (!status && layout->transpose)
        status = transpose_images(ds, src->csv[0] ? src->csv : src->images);
    if (!status && layout->label_offset)
        status = shift_labels(ds, layout->label_offset, name);
    if (status)
        bn_dataset_free(ds);
    return status;
}

static bool present(const bn_data_source *s)
{
    return s->csv[0] || s->images[0];
}

int bn_data_load(const bn_data_files *files, const bn_data_layout *layout, bn_dataset *train, bn_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    int status = BN_OK;
    if (present(&files->train))
        status = bn_data_load_source(train, &files->train, layout);
    if (!status && present(&files->test))
        status = bn_data_load_source(test, &files->test, layout);
    if (!status && train->storage && test->storage && (test->rows != train->rows || test->cols != train->cols)) {
        const bn_data_source *t = &files->test, *r = &files->train;
        status = bn_fail(BN_E_MISMATCH, "'%s' holds %dx%d images but '%s' holds %dx%d", t->csv[0] ? t->csv : t->images,
                         test->rows, test->cols, r->csv[0] ? r->csv : r->images, train->rows, train->cols);
    }
    if (status) {
        bn_dataset_free(train);
        bn_dataset_free(test);
    }
    return status;
}

int bn_mnist_load(const char *dir, bn_dataset *train, bn_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    bn_data_files *files = malloc(sizeof *files); /* 24 KiB of paths: not on a caller's stack */
    if (!files)
        return bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to look for the data in '%s'", sizeof *files, dir);
    int status = bn_data_find(files, dir, NULL);
    if (!status && !(present(&files->train) && present(&files->test)))
        status = bn_fail(BN_E_IO, "'%s' holds only the %s part of a data set", dir,
                         present(&files->train) ? "training" : "test");
    if (!status)
        status = bn_data_load(files, NULL, train, test);
    free(files);
    return status;
}
