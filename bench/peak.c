/* blasnet-bench's peak section: this machine's square-sgemm peak at each thread count (every % of peak is
 * against it), the CPU's nominal peak beside it, and each other OpenBLAS kernel's peak in a re-executed
 * child. */
#include "common.h"
#include "rng.h"
#include "platform.h"

#include "nominal_peak.h"
#include "timer.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- machine peak --------------------------------------------------------------------------------------- */

typedef struct peak_ctx {
    int n;
    const float *A, *B;
    float *C;
} peak_ctx;

static void peak_call(void *p)
{
    peak_ctx *c = p;
    /* C (n,n) = A (n,n) . B (n,n) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->n, c->n, c->n, 1.0f, c->A, c->n, c->B, c->n, 0.0f,
                c->C, c->n);
}

/* Best of 5 (after one warm-up) square sgemm at the current thread count, in GFLOP/s; NaN if 16 sampled
 * entries disagree with a double-precision dot product beyond float's worst-case bound n*u*sum|a||b|. */
double measure_peak(bench *b, int n, double *best_s)
{
    size_t nn = (size_t)n * (size_t)n;
    float *A = xmalloc(nn * sizeof(float)), *B = xmalloc(nn * sizeof(float)), *C = xmalloc(nn * sizeof(float));
    bn_rng rng;
    bn_rng_seed(&rng, 4096);
    fill_uniform(A, nn, -1.0f, 1.0f, &rng);
    fill_uniform(B, nn, -1.0f, 1.0f, &rng);
    peak_ctx ctx = {n, A, B, C};
    bench_timing t = bench_measure(peak_call, &ctx, 1e9, 5, 5, b->samples);
    bool ok = true;
    for (int s = 0; s < 16; s++) {
        int i = (int)bn_rng_below(&rng, (uint64_t)n), j = (int)bn_rng_below(&rng, (uint64_t)n);
        double dot = 0.0, mag = 0.0;
        for (int k = 0; k < n; k++) {
            dot += (double)A[(size_t)i * n + k] * B[(size_t)k * n + j];
            mag += fabs((double)A[(size_t)i * n + k] * B[(size_t)k * n + j]);
        }
        ok &= fabs(C[(size_t)i * n + j] - dot) <= n * U_FLOAT * mag;
    }
    free(A);
    free(B);
    free(C);
    *best_s = t.min_s;
    if (!ok) {
        fprintf(stderr, "blasnet-bench: sgemm n=%d gave wrong entries: peak not reported\n", n);
        b->failures++;
        return NAN;
    }
    return 2.0 * n * (double)n * n / t.min_s * 1e-9;
}

/* Our environment with OPENBLAS_CORETYPE=core in place of any setting of ours; coreenv is the caller's
 * buffer for that one entry. NULL when out of memory. */
static char **environment_with_core(const char *core, char *coreenv, size_t coreenv_size)
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **envp = calloc(count + 2, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "OPENBLAS_CORETYPE=", 18) != 0)
            envp[k++] = environ[i];
    snprintf(coreenv, coreenv_size, "OPENBLAS_CORETYPE=%s", core);
    envp[k++] = coreenv;
    return envp;
}

/* Runs argv[0] with argv and envp and reads what it prints into out (NUL-terminated, cut at out_size - 1).
 * 0 when it ran and exited with status 0, else -1. */
static int run_child(char *const argv[], char *const envp[], char *out, size_t out_size)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* only async-signal-safe calls between fork and exec: the parent has OpenMP threads */
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while (pid > 0 && len < out_size - 1 && (r = read(fd[0], out + len, out_size - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd[0]);
    int wstatus = 0;
    if (pid > 0)
        waitpid(pid, &wstatus, 0);
    return pid > 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -1;
}

/* The GFLOP/s of a --peak-only line ("peak core=NAME ... gflops=G ..."), NaN if it has none; the kernel
 * OpenBLAS loaded goes to got. */
static double parse_peak_line(const char *line, char *got, size_t got_size)
{
    const char *g = strstr(line, "gflops="), *c = strstr(line, "core=");
    double gflops = NAN;
    if (!g || sscanf(g, "gflops=%lf", &gflops) != 1)
        return NAN;
    if (c) {
        c += 5;
        size_t l = strcspn(c, " \n");
        snprintf(got, got_size, "%.*s", (int)l, c);
    }
    return gflops;
}

/* Runs this program again with OPENBLAS_CORETYPE=core (the kernel is chosen when OpenBLAS loads, so there
 * is no other way) and --peak-only, and reads back its one line. */
static double child_peak(const char *core, int n, int threads, char *got, size_t got_size)
{
    char coreenv[96], nbuf[16], tbuf[16], line[1024];
    char **envp = environment_with_core(core, coreenv, sizeof coreenv);
    if (!envp)
        return NAN;
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    char *argv[] = {"/proc/self/exe", "--peak-only", "--peak-n", nbuf, "--threads", tbuf, NULL};
    int status = run_child(argv, envp, line, sizeof line);
    free(envp);
    return status == 0 ? parse_peak_line(line, got, got_size) : NAN;
}

/* The record of one square sgemm of the peak's size through OpenBLAS kernel `core`; NULL when full. */
static bench_record *add_sgemm_record(bench *b, const char *section, const char *core, int threads)
{
    bench_record *r = bench_report_add(&b->rep, section);
    if (r) {
        int n = b->o.peak_n;
        snprintf(r->backend, sizeof r->backend, "blas");
        snprintf(r->op, sizeof r->op, "sgemm-%s", core);
        snprintf(r->shape, sizeof r->shape, "%dx%dx%d", n, n, n);
        r->threads = threads;
        r->runs = 5;
    }
    return r;
}

/* The CPU's nominal peak beside the measured one, where the core is known (nominal_peak.c). */
static void print_nominal_peak(const bench *b)
{
    nominal_peak np;
    if (!nominal_peak_find(&np)) {
        printf("nominal peak: not known for this CPU (%s%s)\n", np.core,
               np.flops_per_cycle ? ", no clock reported" : ", not in blasnet's table of cores");
        return;
    }
    double per_core = np.flops_per_cycle * np.ghz;
    printf("nominal peak: %s, %d FP32 FLOP/cycle x %.2f GHz (%s) = %.1f GFLOP/s a core", np.core,
           np.flops_per_cycle, np.ghz, np.clock_source, per_core);
    int t = b->o.threads;
    if (t >= 1 && t <= MAX_THREADS && !isnan(b->peak[t]))
        printf("; measured at %d thread%s: %.0f%% of %.1f (above 100%%: turbo)", t, t == 1 ? "" : "s",
               100.0 * b->peak[t] / (per_core * t), per_core * t);
    printf("\n");
}

void section_peak(bench *b)
{
    const options *o = &b->o;
    printf("\n== measured peak: square sgemm n=%d, best of 5 after a warm-up, kernel %s ==\n", o->peak_n,
           bn_blas_corename());
    printf("(what this machine's OpenBLAS reaches, which every %%mpeak below is against; the CPU's nominal peak "
           "follows the table)\n");
    printf("%8s %12s %10s\n", "threads", "GFLOP/s", "best ms");
    int want[MAX_LIST + 2], n_want = 0;
    want[n_want++] = 1;
    want[n_want++] = o->threads;
    for (int i = 0; i < o->n_threads; i++)
        want[n_want++] = o->thread_list[i];
    for (int i = 0; i < n_want; i++) {
        int t = want[i];
        if (t > MAX_THREADS || !isnan(b->peak[t]))
            continue;
        bn_set_threads(t);
        double best;
        b->peak[t] = measure_peak(b, o->peak_n, &best);
        printf("%8d %12.1f %10.1f\n", t, b->peak[t], best * 1e3);
        bench_record *r = add_sgemm_record(b, "peak", bn_blas_corename(), t);
        if (r) {
            r->min_s = best;
            r->gflops = b->peak[t];
            r->pct_peak = 100.0;
        }
    }
    print_nominal_peak(b);
    fflush(stdout);
}

/* Every OpenBLAS x86 kernel from Haswell up that this CPU can run, each in a child process. */
void section_cores(bench *b)
{
    static const char *const cores[] = {"Haswell", "SkylakeX", "Cooperlake"};
    const options *o = &b->o;
    const char *best = bn_cpu_best_blas_core();
    printf("\n== OpenBLAS kernels this CPU supports: sgemm n=%d, %d threads, each in a child process ==\n",
           o->peak_n, o->threads);
    printf("(this run: %s, from OPENBLAS_CORETYPE=%s; best for this CPU: %s)\n", bn_blas_corename(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)", best);
    printf("%-12s %-20s %12s %12s\n", "requested", "loaded", "GFLOP/s", "vs this run");
    double here = peak_at(b, o->threads);
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++) {
        if (bn_blas_core_rank(cores[i]) > bn_blas_core_rank(best))
            continue;
        char got[64] = "?";
        double g;
        if (strcasecmp(cores[i], bn_blas_corename()) == 0) {
            g = here;
            snprintf(got, sizeof got, "%s (this run)", bn_blas_corename());
        } else {
            g = child_peak(cores[i], o->peak_n, o->threads, got, sizeof got);
        }
        printf("%-12s %-20s %12.1f %11.2fx\n", cores[i], got, g, g / here);
        bench_record *r = add_sgemm_record(b, "core", cores[i], o->threads);
        if (r) {
            r->gflops = g;
            r->pct_peak = 100.0 * g / here;
            snprintf(r->check, sizeof r->check, "%s", isnan(g) ? "FAIL" : "-");
        }
    }
    fflush(stdout);
}

