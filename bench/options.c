/* blasnet-bench's command line: every option read and range-checked, the defaults that depend on
 * --quick, --sweep and --threads settled after all are read. */
#include "common.h"

#include "util.h"

#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- options and main -------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: blasnet-bench [options]\n"
            "  --layers LIST      architecture (default 784,1024,1024,10)\n"
            "  --act NAME         hidden activation (default relu)\n"
            "  --batch N          batch of the per-op table and the thread sweep (default 256)\n"
            "  --threads N        threads of the run (default $OMP_NUM_THREADS, else all cores)\n"
            "  --quick            short version (meson test --benchmark): peak n=2048, short repeats\n"
            "  --sweep            full sweeps: batch 1..4096, threads 1..all cores\n"
            "  --batches LIST     batch sizes of the batch sweep\n"
            "  --thread-list LIST thread counts of the thread sweep\n"
            "  --backends LIST    of naive,naive-omp,blas for the sweeps (the per-op table always has all)\n"
            "  --only LIST        sections among peak,cores,ops,batch,threads,plans (default all), and data (loading\n"
            "                     $BLASNET_DATA or data/mnist as gzip IDX and as CSV: only when named) and recipe\n"
            "                     (a step under each optimizer, clipping and dropout against sgd: only when named)\n"
            "                     and team (one region per step against a region per op, the update in the dW\n"
            "                     tiles against after it, the owned layout, library: only when named)\n"
            "  --peak-n N         size of the square sgemm that measures the peak (default 4096)\n"
            "  --budget S         seconds of repeats per measurement (default 0.5, quick 0.15)\n"
            "  --naive-cap S      longest naive step the sweeps attempt (default 10, quick 4)\n"
            "  --json FILE, --csv FILE   every measurement, for machines\n"
            "  --plans LIST       product plans of the blas steps, interleaved: of estimate,measure,one,library,\n"
            "                     rows,cols,tiles,k,tuned,owned (default estimate; library is OpenBLAS's own\n"
            "                     threading)\n"
            "  --show-plan        print each blas step's plan: every product's partition and its cost\n"
            "  --peak-only        print one line with the sgemm peak and exit (used in child processes)\n");
}

enum { O_LAYERS = 256, O_ACT, O_BATCH, O_THREADS, O_QUICK, O_SWEEP, O_BATCHES, O_TLIST, O_BACKENDS, O_ONLY,
       O_PEAKN, O_BUDGET, O_CAP, O_JSON, O_CSV, O_PEAKONLY, O_PLANS, O_SHOWPLAN, O_HELP };

static const struct option long_options[] = {
    {"layers", required_argument, 0, O_LAYERS},   {"act", required_argument, 0, O_ACT},
    {"batch", required_argument, 0, O_BATCH},     {"threads", required_argument, 0, O_THREADS},
    {"quick", no_argument, 0, O_QUICK},           {"sweep", no_argument, 0, O_SWEEP},
    {"batches", required_argument, 0, O_BATCHES}, {"thread-list", required_argument, 0, O_TLIST},
    {"backends", required_argument, 0, O_BACKENDS}, {"only", required_argument, 0, O_ONLY},
    {"peak-n", required_argument, 0, O_PEAKN},    {"budget", required_argument, 0, O_BUDGET},
    {"naive-cap", required_argument, 0, O_CAP},   {"json", required_argument, 0, O_JSON},
    {"csv", required_argument, 0, O_CSV},         {"peak-only", no_argument, 0, O_PEAKONLY},
    {"plans", required_argument, 0, O_PLANS},     {"show-plan", no_argument, 0, O_SHOWPLAN},
    {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0}};

/* The text of --batches and --thread-list, read once every other option is known: their defaults depend
 * on --quick, --sweep and --threads. */
typedef struct list_args {
    const char *batches, *threads;
} list_args;

/* The defaults that do not depend on other options; peak_n, budget_s and naive_cap_s stay unset (0 or -1)
 * until --quick is known. */
static int set_defaults(options *o)
{
    memset(o, 0, sizeof *o);
    if (bn_arch_parse_sizes(&o->arch, "784,1024,1024,10"))
        return -1;
    o->arch.act = BN_ACT_RELU;
    o->arch.leaky_slope = 0.01f;
    o->batch = 256;
    o->threads = bn_default_threads();
    o->peak_n = 0;
    o->sections = SEC_ALL;
    o->plans[0] = BN_PLAN_ESTIMATE;
    o->n_plans = 1;
    for (int i = 0; i < N_BACKENDS; i++)
        o->use[i] = true;
    o->budget_s = -1;
    o->naive_cap_s = -1;
    return 0;
}

/* The set (bit i for names[i]) of a comma-separated list of names; -1, the unknown name reported, when one
 * is not among them. expected lists the names for that message. */
static int read_name_set(const char *flag, const char *text, const char *const *names, int n_names,
                         const char *expected, unsigned *set)
{
    *set = 0;
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, ",");
        int k = -1;
        for (int i = 0; i < n_names; i++)
            if (strlen(names[i]) == l && strncmp(p, names[i], l) == 0)
                k = i;
        if (k < 0) {
            fprintf(stderr, "blasnet-bench: %s: '%.*s' is not %s\n", flag, (int)l, p, expected);
            return -1;
        }
        *set |= 1u << k;
        p += l + (p[l] == ',');
    }
    return 0;
}

static int read_backends(options *o, const char *text)
{
    unsigned set;
    if (read_name_set("--backends", text, backend_names, N_BACKENDS, "naive, naive-omp or blas", &set))
        return -1;
    for (int i = 0; i < N_BACKENDS; i++)
        o->use[i] = set & (1u << i);
    return 0;
}

static int read_sections(options *o, const char *text)
{
    int n = (int)(sizeof section_names / sizeof section_names[0]);
    return read_name_set("--only", text, section_names, n,
                         "peak, cores, ops, batch, threads, plans, data, recipe or team", &o->sections);
}

static int read_layers(options *o, const char *text)
{
    if (bn_arch_parse_sizes(&o->arch, text) == 0)
        return 0;
    fprintf(stderr, "blasnet-bench: --layers %s: %s\n", text, bn_errmsg());
    return -1;
}

static int read_act(options *o, const char *text)
{
    if (bn_act_parse(&o->arch.act, text) == 0)
        return 0;
    fprintf(stderr, "blasnet-bench: --act %s: %s\n", text, bn_errmsg());
    return -1;
}

static int read_plans(options *o, const char *text)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", text);
    o->n_plans = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_plans == BN_PLAN_MODES || bn_plan_mode_parse(tok, &o->plans[o->n_plans])) {
            fprintf(stderr, "blasnet-bench: --plans %s: %s\n", text,
                    o->n_plans == BN_PLAN_MODES ? "too many plans" : bn_errmsg());
            return -1;
        }
        o->n_plans++;
    }
    return o->n_plans ? 0 : -1;
}

/* Applies one option from getopt_long: 0, or -1 with the reason printed. */
static int apply_option(options *o, list_args *lists, int c, const char *arg)
{
    switch (c) {
    case O_LAYERS: return read_layers(o, arg);
    case O_ACT: return read_act(o, arg);
    case O_BATCH: return bench_read_int(PROGRAM, "--batch", arg, 1, 65536, &o->batch);
    case O_THREADS: return bench_read_int(PROGRAM, "--threads", arg, 1, MAX_THREADS, &o->threads);
    case O_PEAKN: return bench_read_int(PROGRAM, "--peak-n", arg, 16, 16384, &o->peak_n);
    case O_BUDGET: return bench_read_double(PROGRAM, "--budget", arg, 1e-3, 3600, &o->budget_s);
    case O_CAP: return bench_read_double(PROGRAM, "--naive-cap", arg, 0, 3600, &o->naive_cap_s);
    case O_BACKENDS: return read_backends(o, arg);
    case O_ONLY: return read_sections(o, arg);
    case O_BATCHES: lists->batches = arg; return 0;
    case O_TLIST: lists->threads = arg; return 0;
    case O_JSON: o->json = arg; return 0;
    case O_CSV: o->csv = arg; return 0;
    case O_QUICK: o->quick = true; return 0;
    case O_SWEEP: o->sweep = true; return 0;
    case O_PEAKONLY: o->peak_only = true; return 0;
    case O_PLANS: return read_plans(o, arg);
    case O_SHOWPLAN: o->show_plan = true; return 0;
    case O_HELP: usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
}

/* Range checks, and the defaults that depend on --quick. */
static int settle_sizes(options *o)
{
    if (o->batch < 1 || o->batch > 65536 || o->threads < 1 || o->threads > MAX_THREADS) {
        fprintf(stderr, "blasnet-bench: --batch must be 1..65536 and --threads 1..%d\n", MAX_THREADS);
        return -1;
    }
    if (o->peak_n == 0)
        o->peak_n = o->quick ? 2048 : 4096;
    if (o->peak_n < 16 || o->peak_n > 16384) {
        fprintf(stderr, "blasnet-bench: --peak-n must be 16..16384\n");
        return -1;
    }
    if (o->budget_s < 0)
        o->budget_s = o->quick ? 0.15 : 0.5;
    if (o->naive_cap_s < 0)
        o->naive_cap_s = o->quick ? 4.0 : 10.0;
    return 0;
}

/* The batch sweep's sizes: --batches, else powers of two to 4096 (--sweep), else a short list. */
static void choose_batches(options *o, const char *text)
{
    static const int quick[] = {1, 16, 64, 128, 256, 1024};
    if (text) {
        o->n_batches = bench_parse_list(text, o->batches, MAX_LIST, 1, 65536);
    } else if (o->sweep) {
        for (int v = 1; v <= 4096; v *= 2)
            o->batches[o->n_batches++] = v;
    } else {
        for (size_t i = 0; i < sizeof quick / sizeof quick[0]; i++)
            o->batches[o->n_batches++] = quick[i];
        if (!o->quick)
            o->batches[o->n_batches++] = 4096;
    }
}

/* The thread sweep's counts: --thread-list, else 1..all cores (--sweep), else 1 and the run's threads. */
static void choose_thread_list(options *o, const char *text)
{
    if (text) {
        o->n_threads = bench_parse_list(text, o->thread_list, MAX_LIST, 1, MAX_THREADS);
    } else if (o->sweep) {
        int all = omp_get_num_procs();
        all = all > o->threads ? all : o->threads;
        for (int t = 1; t <= all && o->n_threads < MAX_LIST; t++)
            o->thread_list[o->n_threads++] = t;
    } else {
        o->thread_list[o->n_threads++] = 1;
        if (o->threads > 1)
            o->thread_list[o->n_threads++] = o->threads;
    }
}

int parse_options(options *o, int argc, char **argv)
{
    list_args lists = {NULL, NULL};
    if (set_defaults(o))
        return -1;
    int c;
    while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1)
        if (apply_option(o, &lists, c, optarg))
            return -1;
    if (optind < argc) {
        fprintf(stderr, "blasnet-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (settle_sizes(o))
        return -1;
    choose_batches(o, lists.batches);
    choose_thread_list(o, lists.threads);
    if (o->n_batches < 1 || o->n_threads < 1) {
        fprintf(stderr, "blasnet-bench: --batches / --thread-list: comma-separated positive numbers\n");
        return -1;
    }
    return 0;
}

