/* The bench's `data` section (data.c): loading a data set as blasnet loads it, gzip IDX against
 * `gzip -dc FILE > /dev/null` on the same file, and CSV parsing in MB/s on one core. */
#ifndef BN_BENCH_DATA_H
#define BN_BENCH_DATA_H

/* dir: a folder with train-images-idx3-ubyte and train-labels-idx1-ubyte (synthetic images are used when it
 * has none). samples: the caller's scratch for bench_measure (4096 doubles at least). Returns the number of
 * verification failures. */
int bench_data_section(const char *dir, double budget_s, double *samples);

#endif
