/* The benchmark's results as records: one per measurement, collected into an array allocated once before
 * anything is timed, then written as CSV and JSON for machines (the tables on stdout are printed as the
 * measurements come). A figure that was not measured is NaN and is written empty (CSV) or null (JSON). */
#ifndef BN_BENCH_REPORT_H
#define BN_BENCH_REPORT_H

#include <stdio.h>

typedef struct bench_record {
    char section[12]; /* peak, core, op, step */
    char backend[16];
    char op[24];    /* kernel name and layer; "step" for a whole training step */
    char shape[40]; /* MxNxK for sgemm, element counts for the others */
    int threads, batch, runs;
    double median_s, min_s;
    double gflops, gbs, pct_peak, speedup, samples_s;
    double gemm_share, elem_share, other_share; /* fractions of a profiled step */
    double gemm_pct_peak;                       /* the step's sgemm calls alone, as % of peak */
    char check[12];                             /* PASS, MARGINAL, FAIL, ref, - */
    double err;                                 /* residual behind check */
} bench_record;

#define BENCH_META_MAX 24

typedef struct bench_report {
    bench_record *rec;
    int n, cap, dropped;
    char meta_key[BENCH_META_MAX][32];
    char meta_val[BENCH_META_MAX][256];
    int n_meta;
} bench_report;

/* Allocates room for cap records; returns 0 or -1 when out of memory. */
int bench_report_init(bench_report *r, int cap);
void bench_report_free(bench_report *r);
/* A blank record (numbers NaN, strings empty) appended to r, or NULL (and r->dropped counts it) when full. */
bench_record *bench_report_add(bench_report *r, const char *section);
void bench_report_meta(bench_report *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write the file; 0 or -1 with errno's story printed to stderr. */
int bench_report_write_csv(const bench_report *r, const char *path);
int bench_report_write_json(const bench_report *r, const char *path);

#endif
