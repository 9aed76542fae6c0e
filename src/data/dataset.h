/* What every data set the library writes must be, so that its own readers take it back: a shape of 1 to
 * BN_MAX_WIDTH pixels whose rows and columns multiply to it. The writers (bn_idx_write, bn_csv_write) refuse
 * anything else before a byte is written, naming the file and the numbers. */
#ifndef BN_DATASET_H
#define BN_DATASET_H

#include "blasnet.h"

int bn_dataset_check_shape(const bn_dataset *ds, const char *path);

#endif
