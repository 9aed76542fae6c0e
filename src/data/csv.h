/* CSV beyond the public reader and writer (csv.c): what the CLI needs for a file without labels. */
#ifndef BN_DATA_CSV_H
#define BN_DATA_CSV_H

#include "blasnet.h"

/* bn_csv_load for a CSV without labels (every field a pixel, as Kaggle's test.csv): labels are all 0. */
int bn_csv_load_images(bn_dataset *ds, const char *path, int rows, int cols);
/* The number of fields on the first line (the header's, if there is one), read no further. */
int bn_csv_columns(const char *path, int *columns);

#endif
