/* CSV and JSON writers for the benchmark's records. Files are written whole and every write and the close
 * are checked, so a full disk shows up as an error instead of a truncated table. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int bench_report_init(bench_report *r, int cap)
{
    memset(r, 0, sizeof *r);
    r->rec = calloc((size_t)cap, sizeof *r->rec);
    if (!r->rec)
        return -1;
    r->cap = cap;
    return 0;
}

void bench_report_free(bench_report *r)
{
    free(r->rec);
    r->rec = NULL;
    r->n = r->cap = 0;
}

bench_record *bench_report_add(bench_report *r, const char *section)
{
    if (r->n >= r->cap) {
        r->dropped++;
        return NULL;
    }
    bench_record *x = &r->rec[r->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->section, sizeof x->section, "%s", section);
    snprintf(x->check, sizeof x->check, "-");
    x->median_s = x->min_s = x->gflops = x->gbs = x->pct_peak = x->speedup = x->samples_s = NAN;
    x->gemm_share = x->elem_share = x->other_share = x->gemm_pct_peak = x->err = NAN;
    return x;
}

void bench_report_meta(bench_report *r, const char *key, const char *fmt, ...)
{
    if (r->n_meta >= BENCH_META_MAX)
        return;
    snprintf(r->meta_key[r->n_meta], sizeof r->meta_key[0], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->meta_val[r->n_meta], sizeof r->meta_val[0], fmt, ap);
    va_end(ap);
    r->n_meta++;
}

static void put_num(FILE *f, double v, bool json)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else if (json)
        fputs("null", f);
}

/* JSON string: our own names plus OpenBLAS's config line, so quotes, backslashes and controls suffice. */
static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static int finish(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "blasnet-bench: writing %s failed: %s\n", path, strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

static FILE *open_for_writing(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "blasnet-bench: cannot open %s: %s\n", path, strerror(errno));
    return f;
}

/* The numeric columns, named in the order nums() lists them. */
enum { N_NUMS = 12 };
static const char *const num_names[] = {
    "median_s", "min_s", "gflops", "gbs", "pct_peak", "speedup", "samples_s", "gemm_share", "elem_share", "other_share",
    "gemm_pct_peak", "err"};
_Static_assert(sizeof num_names / sizeof num_names[0] == N_NUMS, "a numeric column without a name");

static void nums(const bench_record *x, double out[N_NUMS])
{
    double v[N_NUMS] = {x->median_s,  x->min_s,      x->gflops,     x->gbs,         x->pct_peak,      x->speedup,
                        x->samples_s, x->gemm_share, x->elem_share, x->other_share, x->gemm_pct_peak, x->err};
    memcpy(out, v, sizeof v);
}

int bench_report_write_csv(const bench_report *r, const char *path)
{
    FILE *f = open_for_writing(path);
    if (!f)
        return -1;
    fputs("section,backend,op,shape,threads,batch,runs,check", f);
    for (int k = 0; k < N_NUMS; k++)
        fprintf(f, ",%s", num_names[k]);
    fputc('\n', f);
    for (int i = 0; i < r->n; i++) {
        const bench_record *x = &r->rec[i];
        fprintf(f, "%s,%s,%s,%s,%d,%d,%d,%s", x->section, x->backend, x->op, x->shape, x->threads, x->batch,
                x->runs, x->check);
        double v[N_NUMS];
        nums(x, v);
        for (int k = 0; k < N_NUMS; k++) {
            fputc(',', f);
            put_num(f, v[k], false);
        }
        fputc('\n', f);
    }
    return finish(f, path);
}

int bench_report_write_json(const bench_report *r, const char *path)
{
    FILE *f = open_for_writing(path);
    if (!f)
        return -1;
    fputs("{\n  \"meta\": {", f);
    for (int i = 0; i < r->n_meta; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        put_str(f, r->meta_key[i]);
        fputs(": ", f);
        put_str(f, r->meta_val[i]);
    }
    fputs("\n  },\n  \"records\": [", f);
    for (int i = 0; i < r->n; i++) {
        const bench_record *x = &r->rec[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"section\": ", f);
        put_str(f, x->section);
        fputs(", \"backend\": ", f);
        put_str(f, x->backend);
        fputs(", \"op\": ", f);
        put_str(f, x->op);
        fputs(", \"shape\": ", f);
        put_str(f, x->shape);
        fprintf(f, ", \"threads\": %d, \"batch\": %d, \"runs\": %d, \"check\": ", x->threads, x->batch, x->runs);
        put_str(f, x->check);
        double v[N_NUMS];
        nums(x, v);
        for (int k = 0; k < N_NUMS; k++) {
            fprintf(f, ", \"%s\": ", num_names[k]);
            put_num(f, v[k], true);
        }
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    return finish(f, path);
}
