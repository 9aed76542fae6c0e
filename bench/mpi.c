/* blasnet-bench-mpi: what data parallelism costs per step. Run under mpirun (or alone for one process); every
 * rank times, on its share of a global batch: the step without communication (the compute, with the whole
 * update), the step with its sums over the ranks (in the node's shared memory, each rank updating its part;
 * or with BLASNET_MPI_SUM=allreduce each layer's MPI_Iallreduce started as soon as it exists, overlapping the
 * layers below), and one blocking MPI sum of the whole gradient alone. Rank 0 prints one line of min and
 * median milliseconds, the gradient bytes, the share of the sum the overlap hid (allreduce), and samples/s.
 * bench/mpi-rounds.sh interleaves the runs BENCHMARKS.md compares. */
#include "comm_launch.h"
#include "blasnet_comm.h"
#include "net.h"
#include "net_share.h"
#include "stage.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    bn_arch arch;
    int batch, steps, threads;
} options;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* min and median of n timings, in place */
static void min_median(double *t, int n, double *min, double *median)
{
    qsort(t, (size_t)n, sizeof *t, compare_doubles);
    *min = t[0];
    *median = t[n / 2];
}

/* The slowest rank's time counts: every rank waits for it at the next sum. */
static double slowest(const comm_launch *l, double t)
{
    if (!l->launched)
        return t;
    const bn_comm *c = &l->comm;
    uint64_t ns = (uint64_t)(t * 1e9);
    if (c->begin(c->ctx, BN_COMM_SLOTS - 1, &ns, 1, BN_COMM_MAX_U64) == BN_OK)
        c->wait(c->ctx, BN_COMM_SLOTS - 1);
    return (double)ns * 1e-9;
}

typedef enum { TIME_COMPUTE, TIME_STEP, TIME_SUM } what_to_time;

/* Seconds of each of o->steps repetitions (after 3 warm-ups) of one thing. */
static void time_it(bn_net *net, const comm_launch *l, const options *o, what_to_time what, double *t)
{
    const bn_comm *c = &l->comm;
    size_t lo = (size_t)o->batch * (size_t)c->rank / (size_t)c->size;
    size_t hi = (size_t)o->batch * ((size_t)c->rank + 1) / (size_t)c->size;
    bn_optim opt = {.kind = BN_OPT_ADAM, .lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    size_t count;
    float *grads = bn_net_grads(net, &count);
    for (int i = -3; i < o->steps; i++) {
        opt.t = (uint64_t)(i + 4);
        bn_share share = {.rows = (int)(hi - lo), .batch_rows = o->batch,
                          .comm = what == TIME_STEP && l->launched ? c : NULL};
        double t0 = now();
        if (what == TIME_SUM && c->begin(c->ctx, 0, grads, count, BN_COMM_SUM_FLOAT) == BN_OK)
            c->wait(c->ctx, 0);
        else if (what != TIME_SUM)
            bn_net_train_share(net, net->x, net->labels, &share, &opt, NULL);
        double dt = slowest(l, now() - t0);
        if (i >= 0)
            t[i] = dt;
    }
}

static void report(const comm_launch *l, const options *o, const bn_net *net, double *t[3])
{
    double min[3], med[3];
    for (int k = 0; k < 3; k++)
        min_median(t[k], o->steps, &min[k], &med[k]);
    char arch[128];
    bn_arch_format(&o->arch, arch, sizeof arch);
    const double mb = (double)net->param_count * sizeof(float) / 1e6;
    const double step = l->launched ? med[1] : med[0];
    printf("%-18s batch %4d  ranks %d x %d threads  compute %7.2f ms (min %7.2f)", arch, o->batch, l->comm.size,
           o->threads, 1e3 * med[0], 1e3 * min[0]);
    if (l->launched) {
        /* the part of a separate sum the overlapped step did not pay (from the minima, the least disturbed
         * runs): 1 all hidden, 0 none, < 0 the overlapped step paid more than compute + sum */
        double hidden = (min[0] + min[2] - min[1]) / min[2];
        printf("  step %7.2f ms (min %7.2f)  sum alone %6.2f ms (min %6.2f)  %.2f MB/step", 1e3 * med[1],
               1e3 * min[1], 1e3 * med[2], 1e3 * min[2], mb);
        if (l->comm.node_size > 1) /* the step summed in node memory: the allreduce is only the comparison */
            printf("  sums: node memory");
        else if (l->comm.size > 1)
            printf("  hidden %3.0f%%", 100.0 * hidden);
    }
    printf("  %8.0f samples/s (best %8.0f)\n", o->batch / step, o->batch / (l->launched ? min[1] : min[0]));
}

static int parse(int argc, char **argv, options *o)
{
    *o = (options){.batch = 256, .steps = 20};
    const char *layers = "784,1024,1024,10";
    const char *me = "blasnet-bench-mpi";
    for (int ch; (ch = getopt(argc, argv, "l:b:s:t:a:")) != -1;) {
        int bad = 0;
        if (ch == 'l')
            layers = optarg;
        else if (ch == 'b')
            bad = bench_read_int(me, "-b", optarg, 1, 1 << 20, &o->batch);
        else if (ch == 's')
            bad = bench_read_int(me, "-s", optarg, 1, 1000000, &o->steps);
        else if (ch == 't')
            bad = bench_read_int(me, "-t", optarg, 1, 4096, &o->threads);
        else if (ch != 'a' || bn_act_parse(&o->arch.act, optarg)) {
            fprintf(stderr, "usage: blasnet-bench-mpi [-l LAYERS] [-b BATCH] [-s STEPS] [-t THREADS] [-a ACT]\n");
            return 2;
        }
        if (bad)
            return 2;
    }
    if (bn_arch_parse_sizes(&o->arch, layers)) {
        fprintf(stderr, "%s: -l %s: %s\n", me, layers, bn_errmsg());
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    comm_launch l;
    char why[256];
    if (parse(argc, argv, &o))
        return 2;
    if (comm_launch_start(&l, why, sizeof why)) {
        if (why[0])
            fprintf(stderr, "blasnet-bench-mpi: %s\n", why);
        return 1;
    }
    if (o.threads < 1) /* as blasnet train: the node's cores shared among its ranks */
        o.threads = (int)sysconf(_SC_NPROCESSORS_ONLN) / l.local_ranks > 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) /
                                                                                 l.local_ranks : 1;
    bn_set_threads(o.threads);
    bn_net *net = NULL;
    int status = bn_net_create(&net, &o.arch, o.batch, bn_backend_find("blas"));
    if (status) {
        fprintf(stderr, "blasnet-bench-mpi: %s\n", bn_errmsg());
        comm_launch_end(&l, 1);
        return 1;
    }
    bench_reset_weights(net);
    bench_stage_random_batch(net);
    double *t[3];
    for (int k = 0; k < 3; k++)
        t[k] = calloc((size_t)o.steps, sizeof(double));
    time_it(net, &l, &o, TIME_COMPUTE, t[0]);
    if (l.launched && bn_net_set_comm(net, &l.comm) == BN_OK) { /* on one node: the node's shared memory */
        time_it(net, &l, &o, TIME_STEP, t[1]);
        bn_net_set_comm(net, NULL);
        time_it(net, &l, &o, TIME_SUM, t[2]);
    }
    if (l.comm.rank == 0)
        report(&l, &o, net, t);
    for (int k = 0; k < 3; k++)
        free(t[k]);
    bn_net_destroy(&net);
    comm_launch_end(&l, 0);
    return 0;
}
