/* blasnet-bench: what BLAS and threads buy, op by op and step by step. It measures this machine's own
 * sgemm peak (and each other OpenBLAS kernel's, in a re-executed child), checks every backend against the
 * naive one before timing it, and reports medians, GFLOP/s or GB/s, % of peak and speed-up over naive.
 * No figure is assumed; no buffer is allocated inside a timed loop. */
#include "common.h"
#include "platform.h"

#include "data.h"
#include "plans.h"
#include "recipe.h"
#include "team.h"
#include "timer.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- summary --------------------------------------------------------------------------------------------- */

static const bench_record *find_step(const bench *b, const char *backend, int batch, int threads)
{
    const bench_record *found = NULL;
    for (int i = 0; i < b->rep.n; i++) {
        const bench_record *r = &b->rep.rec[i];
        if (strcmp(r->section, "step") == 0 && strcmp(r->backend, backend) == 0 && r->batch == batch &&
            r->threads == threads)
            found = r; /* the last one: the thread sweep's, when both sweeps measured it */
    }
    return found;
}

/* Other programs on a shared machine can slow the peak measurement itself, which would flatter every % of
 * peak. Measure it again at the end: if it is now higher, the first one was disturbed; the summary uses the
 * higher one and the reader is told. */
static void recheck_peak(bench *b, double *peak_now)
{
    int t = b->o.threads;
    double first = peak_at(b, t), best;
    bn_set_threads(t);
    double again = measure_peak(b, b->o.peak_n, &best);
    *peak_now = isnan(again) || again < first ? first : again;
    printf("\nmeasured peak at %d threads, again at the end: %.1f GFLOP/s (start: %.1f)%s\n", t, again, first,
           again > 1.1 * first ? " -- the start was disturbed by other load: the %mpeak columns above are "
                                 "too high; rerun on a quiet machine" : "");
}

/* Three figures that sum up a run of the step sweeps: how near the machine's own sgemm the batch-256 step
 * comes, what BLAS buys over the naive loops at batch 128, and the elementwise kernels' share of a step. */
static void report_summary(const bench *b, double peak_now)
{
    const options *o = &b->o;
    const bench_record *s256 = find_step(b, "blas", 256, o->threads);
    const bench_record *n128 = find_step(b, "naive", 128, 1), *b128 = find_step(b, "blas", 128, o->threads);
    if (!s256 && !(n128 && b128))
        return;
    char desc[128];
    printf("\n== summary: %s, against the higher measured peak ==\n", bn_arch_format(&o->arch, desc, sizeof desc));
    if (s256) {
        double pct = 100.0 * s256->gflops / peak_now, gpct = s256->gemm_pct_peak * peak_at(b, o->threads) / peak_now;
        printf("step at batch 256, %d thread%s: %.1f%% of the measured peak (its sgemm calls alone: %.1f%%)\n",
               o->threads, o->threads == 1 ? "" : "s", pct, gpct);
        if (!isnan(s256->elem_share))
            printf("elementwise kernels at batch 256: %.1f%% of the step\n", 100 * s256->elem_share);
    }
    if (n128 && b128)
        printf("blas step at batch 128 against the naive step (1 thread): %.1fx\n",
               b128->samples_s / n128->samples_s);
}

static void header(bench *b)
{
    const options *o = &b->o;
    char cpu[256], *arch_text = b->arch_text;
    bench_cpu_model(cpu, sizeof cpu);
    arch_text[0] = '\0';
    for (int l = 0; l <= o->arch.depth; l++) {
        size_t len = strlen(arch_text);
        snprintf(arch_text + len, sizeof b->arch_text - len, "%s%d", l ? "-" : "", o->arch.sizes[l]);
    }
    const char *env_core = getenv("OPENBLAS_CORETYPE"), *env_omp = getenv("OMP_NUM_THREADS");
    const char *env_ob = getenv("OPENBLAS_NUM_THREADS"), *env_wait = getenv("OMP_WAIT_POLICY");
    bn_set_threads(o->threads);
    size_t len = strlen(arch_text);
    snprintf(arch_text + len, sizeof b->arch_text - len, " %s", bn_act_name(o->arch.act));
    printf("blasnet-bench %s: %s, batch %d, %d threads%s%s\n", BLASNET_VERSION, arch_text, o->batch, o->threads,
           o->quick ? ", quick" : "", o->sweep ? ", sweep" : "");
    printf("cpu: %s, %d cores online\n", cpu, omp_get_num_procs());
    printf("blas: %s\n", bn_blas_config());
    printf("blas kernel: %s (OPENBLAS_CORETYPE=%s; best for this CPU: %s), threading %s\n", bn_blas_corename(),
           env_core ? env_core : "(unset)", bn_cpu_best_blas_core(), parallel_name(bn_blas_parallel()));
    printf("threads: omp_get_max_threads %d, openblas_get_num_threads %d; env OMP_NUM_THREADS=%s "
           "OPENBLAS_NUM_THREADS=%s OMP_WAIT_POLICY=%s\n",
           omp_get_max_threads(), openblas_get_num_threads(), env_omp ? env_omp : "(unset)",
           env_ob ? env_ob : "(unset)", env_wait ? env_wait : "(unset)");
    bench_report *r = &b->rep;
    bench_report_meta(r, "version", "%s", BLASNET_VERSION);
    bench_report_meta(r, "arch", "%s", arch_text);
    bench_report_meta(r, "act", "%s", bn_act_name(o->arch.act));
    bench_report_meta(r, "batch", "%d", o->batch);
    bench_report_meta(r, "threads", "%d", o->threads);
    bench_report_meta(r, "cpu", "%s", cpu);
    bench_report_meta(r, "cores", "%d", omp_get_num_procs());
    bench_report_meta(r, "blas_config", "%s", bn_blas_config());
    bench_report_meta(r, "blas_core", "%s", bn_blas_corename());
    bench_report_meta(r, "blas_best_core", "%s", bn_cpu_best_blas_core());
    bench_report_meta(r, "blas_parallel", "%s", parallel_name(bn_blas_parallel()));
    bench_report_meta(r, "OPENBLAS_CORETYPE", "%s", env_core ? env_core : "");
    bench_report_meta(r, "OMP_NUM_THREADS", "%s", env_omp ? env_omp : "");
    bench_report_meta(r, "OPENBLAS_NUM_THREADS", "%s", env_ob ? env_ob : "");
    bench_report_meta(r, "OMP_WAIT_POLICY", "%s", env_wait ? env_wait : "");
    bench_report_meta(r, "peak_n", "%d", o->peak_n);
}

static int find_backends(bench *b)
{
    for (int i = 0; i < N_BACKENDS; i++) {
        b->be[i] = bn_backend_find(backend_names[i]);
        if (!b->be[i]) {
            fprintf(stderr, "blasnet-bench: the library has no '%s' backend\n", backend_names[i]);
            return -1;
        }
    }
    return 0;
}

/* --peak-only: the one line child_peak reads back. The exit status: 1 when the peak failed its check. */
static int run_peak_only(bench *b)
{
    bn_set_threads(b->o.threads);
    double best;
    double g = measure_peak(b, b->o.peak_n, &best);
    printf("peak core=%s threads=%d n=%d gflops=%.3f best_s=%.6f\n", bn_blas_corename(), b->o.threads,
           b->o.peak_n, g, best);
    return isnan(g) ? 1 : 0;
}

/* The sections asked for, the summary and the files. The exit status: 1 on a verification failure, a
 * net that cannot be made (nothing after it runs) or a file not written. */
static int run_benchmark(bench *b)
{
    const options *o = &b->o;
    double t0 = bench_now();
    header(b);
    if (o->sections & (SEC_PEAK | SEC_CORES))
        section_peak(b);
    if (o->sections & SEC_CORES)
        section_cores(b);
    if (o->sections & SEC_OPS)
        section_ops(b);
    if (o->sections & SEC_PLANS) {
        bn_set_threads(o->threads);
        bench_plans_section(&o->arch, o->batch, o->budget_s, b->samples);
    }
    if ((o->sections & (SEC_BATCH | SEC_THREADS)) && section_steps(b))
        return 1;
    if (o->sections & SEC_RECIPE) {
        bn_set_threads(o->threads);
        b->failures += bench_recipe_section(&o->arch, o->batch, o->budget_s, b->samples);
    }
    if (o->sections & SEC_TEAM) {
        bn_set_threads(o->threads);
        b->failures += bench_team_section(&o->arch, o->batch, o->budget_s, b->samples);
    }
    if (o->sections & SEC_DATA) {
        const char *env = getenv("BLASNET_DATA");
        b->failures += bench_data_section(env && *env ? env : "data/mnist", o->budget_s, b->samples);
    }
    double peak_now = peak_at(b, o->threads);
    if ((o->sections & SEC_PEAK) && (o->sections & (SEC_OPS | SEC_BATCH | SEC_THREADS)))
        recheck_peak(b, &peak_now);
    report_summary(b, peak_now);
    printf("\n%d verification failure(s); %.1f s in all\n", b->failures, bench_now() - t0);
    int rc = b->failures ? 1 : 0;
    if (b->rep.dropped)
        fprintf(stderr, "blasnet-bench: %d records did not fit and are missing from the files\n", b->rep.dropped);
    if (o->csv && bench_report_write_csv(&b->rep, o->csv))
        rc = 1;
    if (o->json && bench_report_write_json(&b->rep, o->json))
        rc = 1;
    return rc;
}

int main(int argc, char **argv)
{
    bench b;
    memset(&b, 0, sizeof b);
    if (parse_options(&b.o, argc, argv))
        return 2;
    if (find_backends(&b))
        return 1;
    for (int t = 0; t <= MAX_THREADS; t++)
        b.peak[t] = NAN;
    b.samples = xmalloc(MAX_SAMPLES * sizeof(double));
    int rc = 1;
    if (b.o.peak_only)
        rc = run_peak_only(&b);
    else if (bench_report_init(&b.rep, 4096) == 0)
        rc = run_benchmark(&b);
    else
        fprintf(stderr, "blasnet-bench: out of memory\n");
    bench_report_free(&b.rep);
    free(b.samples);
    return rc;
}

