/* blasnet tune: measures ahead of time the plans a training run will choose from, and keeps them in the
 * wisdom file, so that the run (or the ranks of an mpirun job, which never measure) measures nothing. */
#include "cli.h"

#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_LAYERS = OPT_COMMAND_FIRST, OPT_BATCH, OPT_SAMPLES, OPT_VAL, OPT_TEST, OPT_RANKS, OPT_SHOW };

typedef struct {
    cli_args common;
    const char *layers, *batches;
    uint64_t samples, val, test;
    int ranks;
    bool show;
} tune_options;

static const char usage_text[] =
    "usage: blasnet tune [--layers LIST] [--batch LIST] [--samples N] [--val N] [--test N] [--ranks K]\n"
    "                    [--threads N] [--show]\n"
    "  Measures, on this machine, every candidate plan of every matrix product that `blasnet train` runs for\n"
    "  that network, and keeps the times in the wisdom file (BLASNET_WISDOM=FILE, else\n"
    "  $XDG_CACHE_HOME/blasnet/wisdom, else ~/.cache/blasnet/wisdom); what the file has is not measured again.\n"
    "  A training run measures what the file lacks by itself, in a few seconds; tune is for the ranks of an\n"
    "  mpirun job, which never measure, and for measuring before a timed run.\n"
    "  --layers LIST   the network, as train's --layers (default 784,512,10)\n"
    "  --batch LIST    batch sizes, comma-separated (default 64)\n"
    "  --samples N     training samples the run will see (default 50000: MNIST less its validation part);\n"
    "                  the epoch's last, shorter batch is planned too\n"
    "  --val N         validation samples (default 10000), evaluated in chunks of the batch size\n"
    "  --test N        test samples evaluated at the end (default 10000), likewise\n"
    "  --ranks K       the shares of each batch that the ranks of `mpirun -n K` run (default 1)\n"
    "  --threads N     threads of each process, as the run will have them\n"
    "  --show          print the plans of each batch size\n";

/* Whether every size of a comma-separated list is a batch size (1 to 2^20). */
static bool valid_batches(const char *list)
{
    const char *p = list;
    do {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > (1 << 20) || (*end && *end != ','))
            return false;
        p = *end ? end + 1 : end;
    } while (*p);
    return true;
}

/* Every share size of one batch size, for every rank, planned (and measured where the wisdom lacks it) on a
 * network of that max batch, as a run's: its validation and test chunks are of its batch. */
static cli_exit plan_batch(const tune_options *o, const bn_arch *arch, int batch, cli_plans *plans)
{
    bn_net *net = NULL;
    int status = bn_net_create(&net, arch, batch, bn_backend_find("blas"));
    if (status)
        return runtime_error("tune", status, status == BN_E_NOMEM ? "choose a smaller --batch" : NULL);
    cli_exit rc = plans_open("tune", &o->common, net, NULL, batch, true, plans);
    if (!rc && !plans->tuned)
        rc = cli_error(EXIT_USAGE, "tune", "plans are not tuned here (%s): unset it to measure", plans->source);
    for (int rank = 0; rank < o->ranks && !rc && !status; rank++) {
        status = bn_train_plan(net, o->samples, o->val, batch, rank, o->ranks);
        if (!status && o->test)
            status = bn_train_plan(net, 0, o->test, batch, rank, o->ranks);
    }
    if (!rc && status)
        rc = runtime_error("tune", status, NULL);
    if (!rc && o->show) {
        char text[16384];
        bn_net_plan_format(net, text, sizeof text);
        printf("%s", text);
    }
    if (!rc)
        plans_keep("tune", net, plans, NULL);
    bn_net_destroy(&net);
    return rc;
}

static cli_exit run_tune(void *ctx)
{
    const tune_options *o = ctx;
    bn_arch arch = {0};
    if (bn_arch_parse_sizes(&arch, o->layers))
        return cli_error(EXIT_USAGE, "tune", "--layers %s: %s", o->layers, bn_errmsg());
    if (!valid_batches(o->batches))
        return cli_error(EXIT_USAGE, "tune", "--batch '%s': give batch sizes of 1 to 1048576, comma-separated",
                         o->batches);
    if (o->samples < (uint64_t)o->ranks || o->samples == 0)
        return cli_error(EXIT_USAGE, "tune", "--samples %llu leaves a rank of %d without rows",
                         (unsigned long long)o->samples, o->ranks);
    arch.act = BN_ACT_RELU; /* the products are the same under every activation */
    cli_plans plans = {0};
    int measured = 0;
    bool unsaved = false;
    cli_exit rc = EXIT_OK;
    for (const char *p = o->batches; !rc && *p;) {
        char *end;
        int batch = (int)strtol(p, &end, 10);
        rc = plan_batch(o, &arch, batch, &plans);
        measured += plans.measured;
        unsaved = unsaved || plans.unsaved;
        p = *end ? end + 1 : end;
    }
    if (!rc && !measured)
        printf("nothing to measure: %s has every plan of this network\n", plans.path);
    /* tune measures to keep: a wisdom it could not write (said in its line above) is a failed tune */
    return !rc && unsaved ? EXIT_RUNTIME : rc;
}

cli_exit cmd_tune(int argc, char **argv)
{
    tune_options o = {.layers = "784,512,10", .batches = "64", .samples = 50000, .val = 10000, .test = 10000,
                      .ranks = 1};
    const cli_option own[] = {
        opt_text("layers", OPT_LAYERS, &o.layers),   opt_text("batch", OPT_BATCH, &o.batches),
        opt_u64("samples", OPT_SAMPLES, &o.samples, (uint64_t)1 << 40),
        opt_u64("val", OPT_VAL, &o.val, (uint64_t)1 << 40), opt_u64("test", OPT_TEST, &o.test, (uint64_t)1 << 40),
        opt_int("ranks", OPT_RANKS, &o.ranks, 1, 4096), opt_flag("show", OPT_SHOW, &o.show)};
    const cli_command command = {"tune", usage_text, COMMON_THREADS | COMMON_BLAS_CORE | COMMON_PLAN, own,
                                 ARRAY_LEN(own), 0, NULL, run_tune, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
