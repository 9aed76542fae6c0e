/* The bench's `data` section: the training images as gzip IDX and as CSV, each checked to load to the same
 * bytes as the plain IDX file, then timed (best and median of repeats, monotonic clock): gzip loading against
 * the gzip program decompressing the same file to /dev/null (the target: at most 1.5x), and CSV
 * parsing in MB/s of file text (target: at least 150 MB/s). Loading is single-threaded: this is one core. */
#define _GNU_SOURCE /* mkdtemp */
#include "data.h"

#include "blasnet.h"
#include "timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    char dir[256], images[400], labels[400], gz_images[400], gz_labels[400], csv[400], gzip_cmd[900];
    bn_dataset ref;    /* the plain IDX set every other form must equal */
    int failures;
} data_bench;

/* 60000 MNIST-like 28x28 images (a bright stroke on black, 80% zeros), for a machine without MNIST. */
static int write_synthetic(data_bench *d)
{
    const uint32_t n = 60000;
    uint8_t *px = calloc((size_t)n * 784, 1), *lab = malloc(n);
    int rc = px && lab ? 0 : -1;
    uint64_t s = 88172645463325252ull;
    for (uint32_t i = 0; !rc && i < n; i++) {
        lab[i] = (uint8_t)(i % 10);
        for (int k = 0; k < 150; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            int r = 4 + (int)(s % 20), c = 4 + (int)((s >> 8) % 20);
            px[(size_t)i * 784 + r * 28 + c] = (uint8_t)(128 + (s >> 16) % 128);
        }
    }
    bn_dataset ds = {.pixels = px, .labels = lab, .n = n, .rows = 28, .cols = 28, .dim = 784};
    if (!rc)
        rc = bn_idx_write(&ds, d->images, d->labels);
    free(px), free(lab);
    return rc;
}

/* src compressed as the gzip program does by default (level 6) at dst. */
static int gzip_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    gzFile out = in ? gzopen(dst, "wb6") : NULL;
    static char buf[1 << 16];
    int rc = in && out ? 0 : -1;
    for (size_t got; !rc && (got = fread(buf, 1, sizeof buf, in)) > 0;)
        rc = gzwrite(out, buf, (unsigned)got) == (int)got ? 0 : -1;
    if (in)
        fclose(in);
    if (out && gzclose(out) != Z_OK)
        rc = -1;
    return rc;
}

/* The files: MNIST's training part from dir (else synthetic), its gzip copies and its CSV, in a temporary
 * folder; d->ref loaded from the plain files. */
static int prepare(data_bench *d, const char *dir)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(d->dir, sizeof d->dir, "%s/blasnet-bench-data-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->images, sizeof d->images, "%s/train-images-idx3-ubyte", dir);
    snprintf(d->labels, sizeof d->labels, "%s/train-labels-idx1-ubyte", dir);
    if (access(d->images, R_OK) != 0 || access(d->labels, R_OK) != 0) {
        snprintf(d->images, sizeof d->images, "%s/train-images-idx3-ubyte", d->dir);
        snprintf(d->labels, sizeof d->labels, "%s/train-labels-idx1-ubyte", d->dir);
        printf("no MNIST in '%s': synthetic images instead\n", dir);
        if (write_synthetic(d))
            return -1;
    }
    snprintf(d->gz_images, sizeof d->gz_images, "%s/train-images-idx3-ubyte.gz", d->dir);
    snprintf(d->gz_labels, sizeof d->gz_labels, "%s/train-labels-idx1-ubyte.gz", d->dir);
    snprintf(d->csv, sizeof d->csv, "%s/train.csv", d->dir);
    snprintf(d->gzip_cmd, sizeof d->gzip_cmd, "gzip -dc '%s' > /dev/null", d->gz_images);
    if (bn_idx_load(&d->ref, d->images, d->labels) || gzip_copy(d->images, d->gz_images) ||
        gzip_copy(d->labels, d->gz_labels) || bn_csv_write(&d->ref, d->csv))
        return -1;
    return 0;
}

static void remove_files(data_bench *d)
{
    const char *files[5] = {d->gz_images, d->gz_labels, d->csv, NULL, NULL};
    char own_images[400], own_labels[400];
    snprintf(own_images, sizeof own_images, "%s/train-images-idx3-ubyte", d->dir);
    snprintf(own_labels, sizeof own_labels, "%s/train-labels-idx1-ubyte", d->dir);
    files[3] = own_images, files[4] = own_labels;
    for (int i = 0; i < 5; i++)
        unlink(files[i]); /* the synthetic ones may not exist: nothing to report */
    rmdir(d->dir);
}

/* ---- the timed calls ----------------------------------------------------------------------------------- */
typedef struct {
    const char *images, *labels, *csv, *cmd;
    int status; /* the last call's: a failure inside a timed loop is reported after it */
} load_call;

static void load_idx(void *p)
{
    load_call *c = p;
    bn_dataset ds;
    c->status |= bn_idx_load(&ds, c->images, c->labels);
    bn_dataset_free(&ds);
}

static void load_csv(void *p)
{
    load_call *c = p;
    bn_dataset ds;
    c->status |= bn_csv_load(&ds, c->csv, 0, 0);
    bn_dataset_free(&ds);
}

static void run_gzip(void *p)
{
    load_call *c = p;
    c->status |= system(c->cmd) != 0;
}

/* A load gives exactly the reference's images and labels. */
static void verify(data_bench *d, const char *what, int status, const bn_dataset *ds)
{
    const bn_dataset *r = &d->ref;
    bool same = status == BN_OK && ds->n == r->n && ds->dim == r->dim &&
                memcmp(ds->pixels, r->pixels, r->n * (size_t)r->dim) == 0 && memcmp(ds->labels, r->labels, r->n) == 0;
    printf("check %-28s %s%s%s\n", what, same ? "PASS" : "FAIL", status ? ": " : "", status ? bn_errmsg() : "");
    d->failures += !same;
}

static bench_timing time_call(void (*fn)(void *), load_call *c, double budget_s, double *samples)
{
    c->status = 0;
    return bench_measure(fn, c, budget_s, 5, 4096, samples);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void report(data_bench *d, double budget_s, double *samples)
{
    load_call plain = {.images = d->images, .labels = d->labels}, gz = {.images = d->gz_images, .labels = d->gz_labels};
    load_call csv = {.csv = d->csv}, gzip = {.cmd = d->gzip_cmd};
    bench_timing tp = time_call(load_idx, &plain, budget_s, samples);
    bench_timing tz = time_call(load_idx, &gz, budget_s, samples);
    bench_timing tg = time_call(run_gzip, &gzip, budget_s, samples);
    bench_timing tc = time_call(load_csv, &csv, budget_s, samples);
    if (plain.status | gz.status | gzip.status | csv.status) {
        printf("FAIL: a timed load failed (IDX %d, gzip IDX %d, gzip -dc %d, CSV %d)\n", plain.status, gz.status,
               gzip.status, csv.status);
        d->failures++;
    }
    double mb = (double)file_size(d->csv) / 1e6, ratio = tz.min_s / tg.min_s;
    printf("%-44s %10s %10s %6s\n", "load (train images + labels)", "best ms", "median ms", "runs");
    printf("%-44s %10.1f %10.1f %6d\n", "plain IDX", 1e3 * tp.min_s, 1e3 * tp.median_s, tp.runs);
    printf("%-44s %10.1f %10.1f %6d\n", "gzip IDX (zlib inflate into the data set)", 1e3 * tz.min_s,
           1e3 * tz.median_s, tz.runs);
    printf("%-44s %10.1f %10.1f %6d\n", "gzip -dc train-images.gz > /dev/null", 1e3 * tg.min_s, 1e3 * tg.median_s,
           tg.runs);
    printf("%-44s %10.1f %10.1f %6d\n", "CSV", 1e3 * tc.min_s, 1e3 * tc.median_s, tc.runs);
    printf("gzip load / gzip -dc: %.2fx (best), %.2fx (median); target <= 1.5x: %s\n", ratio, tz.median_s / tg.median_s,
           ratio <= 1.5 ? "met" : "MISSED");
    printf("CSV parse: %.1f MB of text, %.0f MB/s (best), %.0f MB/s (median) on one core; target >= 150: %s\n", mb,
           mb / tc.min_s, mb / tc.median_s, mb / tc.min_s >= 150 ? "met" : "MISSED");
}

int bench_data_section(const char *dir, double budget_s, double *samples)
{
    data_bench d = {0};
    printf("\n== data: loading the training part as IDX, gzip IDX and CSV, one thread ==\n");
    if (prepare(&d, dir)) {
        printf("FAIL: cannot prepare the files in '%s': %s\n", d.dir, bn_errmsg());
        remove_files(&d);
        bn_dataset_free(&d.ref);
        return 1;
    }
    printf("files: %s (%lld bytes), %s (%lld bytes), %s (%lld bytes)\n", d.images, file_size(d.images), d.gz_images,
           file_size(d.gz_images), d.csv, file_size(d.csv));
    bn_dataset ds;
    int st = bn_idx_load(&ds, d.gz_images, d.gz_labels);
    verify(&d, "gzip IDX = plain IDX", st, &ds);
    bn_dataset_free(&ds);
    st = bn_csv_load(&ds, d.csv, 0, 0);
    verify(&d, "CSV = plain IDX", st, &ds);
    bn_dataset_free(&ds);
    if (!d.failures)
        report(&d, budget_s, samples);
    remove_files(&d);
    bn_dataset_free(&d.ref);
    return d.failures;
}
