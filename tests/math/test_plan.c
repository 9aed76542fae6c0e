/* The product scheduler: plans for simulated teams of 1 to 64 threads are sane (every thread busy on a big
 * product, none woken for a tiny one, a forced kind honoured where the shape allows it, the same plan from
 * the same inputs), every plan of every team computes the naive product whatever the real thread count
 * (tiles are handed out round-robin), and what the choice of plan does to the bits: the same plan gives the
 * same bits, while two partitions may differ in the last bits and stay within rounding of each other. That
 * last point is why a measured plan (which may pick another partition on another run) is opt-in. */
#include "blasnet.h"
#include "gemm_plan.h"
#include "harness.h"
#include "idx_write.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static const int teams[] = {1, 2, 3, 16, 64};
static float scratch[BN_PLAN_SCRATCH_FLOATS];

/* The three products of layer l of `sizes` at batch B, as net.c builds them (buffers left NULL). */
static void layer_products(const int *sizes, int l, int B, bn_gemm out[3])
{
    int in = sizes[l], o = sizes[l + 1];
    out[0] = (bn_gemm){.M = B, .N = o, .K = in, .alpha = 1.0f, .lda = in, .ldb = o, .ldc = o};
    out[1] = (bn_gemm){.ta = true, .M = in, .N = o, .K = B, .alpha = 1.0f, .lda = in, .ldb = o, .ldc = o};
    out[2] = (bn_gemm){.tb = true, .M = B, .N = in, .K = o, .alpha = 1.0f, .lda = o, .ldb = o, .ldc = in};
}

static void check_plan_shape(const bn_gemm *g, int team)
{
    char desc[32];
    bn_gemm_plan p = bn_plan_estimate(g, team, BN_PLAN_ESTIMATE, scratch, BN_PLAN_SCRATCH_FLOATS);
    bn_gemm_plan again = bn_plan_estimate(g, team, BN_PLAN_ESTIMATE, scratch, BN_PLAN_SCRATCH_FLOATS);
    bn_plan_describe(&p, desc, sizeof desc);
    CHECKF(memcmp(&p, &again, sizeof p) == 0, "%dx%dx%d team %d: two estimates differ", g->M, g->N, g->K, team);
    CHECKF(p.threads >= 1 && p.threads <= team, "%dx%dx%d team %d: plan %s uses %d threads", g->M, g->N, g->K, team,
           desc, p.threads);
    CHECKF(p.split != BN_SPLIT_LIBRARY, "%dx%dx%d team %d: the model chose OpenBLAS threading", g->M, g->N, g->K, team);
    if (team == 1)
        CHECKF(p.split == BN_SPLIT_ONE, "%dx%dx%d on one thread: plan %s", g->M, g->N, g->K, desc);
    double macs = (double)g->M * g->N * g->K;
    /* Big enough for every thread to have 2^22 multiply-adds (milliseconds): all of them work. */
    if (macs >= (double)team * (1 << 22) && g->M >= 16 * team && g->N >= 16 * team)
        CHECKF(p.threads == team, "%dx%dx%d team %d: plan %s leaves threads idle", g->M, g->N, g->K, team, desc);
    /* A few thousand multiply-adds: waking a team costs more than the product. */
    if (macs <= 4096)
        CHECKF(p.split == BN_SPLIT_ONE, "%dx%dx%d team %d: plan %s for a tiny product", g->M, g->N, g->K, team, desc);
    CHECKF(p.cost_us > 0 && isfinite(p.cost_us), "%dx%dx%d team %d: cost %g", g->M, g->N, g->K, team, p.cost_us);
}

/* Every product of two networks at batches 1..1024 on every simulated team. */
static void plans_are_sane(void)
{
    static const int nets[][5] = {{3, 784, 1024, 1024, 10}, {2, 784, 512, 10, 0}, {2, 2, 16, 2, 0}};
    static const int batches[] = {1, 8, 32, 64, 256, 1024};
    for (size_t n = 0; n < sizeof nets / sizeof nets[0]; n++)
        for (int l = 0; l < nets[n][0]; l++)
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                bn_gemm g[3];
                layer_products(nets[n] + 1, l, batches[b], g);
                for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++)
                    for (int k = 0; k < 3; k++)
                        check_plan_shape(&g[k], teams[t]);
            }
    bn_gemm tiny = {.M = 4, .N = 10, .K = 10, .lda = 10, .ldb = 10, .ldc = 10};
    check_plan_shape(&tiny, 64);
}

/* A forced kind is what the plan says wherever the shape has room for it, for any team. */
static void forced_kinds_are_honoured(void)
{
    static const struct {
        bn_plan_mode mode;
        bn_split split;
    } kinds[] = {{BN_PLAN_ONE, BN_SPLIT_ONE},   {BN_PLAN_LIBRARY, BN_SPLIT_LIBRARY}, {BN_PLAN_ROWS, BN_SPLIT_ROWS},
                 {BN_PLAN_COLS, BN_SPLIT_COLS}, {BN_PLAN_TILES, BN_SPLIT_TILES},     {BN_PLAN_K, BN_SPLIT_K}};
    bn_gemm g = {.M = 256, .N = 256, .K = 1024, .alpha = 1.0f, .lda = 1024, .ldb = 256, .ldc = 256};
    for (size_t t = 1; t < sizeof teams / sizeof teams[0]; t++) {
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            if (kinds[k].split == BN_SPLIT_K && (size_t)(teams[t] - 1) * g.M * g.N > BN_PLAN_SCRATCH_FLOATS)
                continue; /* the partial sums would not fit the scratch */
            bn_gemm_plan p = bn_plan_estimate(&g, teams[t], kinds[k].mode, scratch, BN_PLAN_SCRATCH_FLOATS);
            CHECKF(p.split == kinds[k].split, "team %d, %s forced: got %s", teams[t], bn_plan_mode_name(kinds[k].mode),
                   bn_split_name(p.split));
        }
    }
    /* Without room (one column, no scratch) a forced kind falls back to one serial call. */
    bn_gemm thin = {.M = 256, .N = 1, .K = 8, .alpha = 1.0f, .lda = 8, .ldb = 1, .ldc = 1};
    CHECK(bn_plan_estimate(&thin, 16, BN_PLAN_COLS, NULL, 0).split == BN_SPLIT_ONE);
    CHECK(bn_plan_estimate(&thin, 16, BN_PLAN_K, NULL, 0).split == BN_SPLIT_ONE);
}

/* The output layer's tiny backward products side by side on 2 threads (each alone gains little from a
 * split); the pair never asks for more than the team, and a forced kind never pairs. */
static void pairs_split_the_team(void)
{
    static const int sizes[] = {784, 1024, 1024, 10};
    bn_gemm g[3];
    layer_products(sizes, 2, 32, g);
    bn_pair_plan p = bn_plan_pair(&g[1], &g[2], 2, BN_PLAN_ESTIMATE, NULL, 0);
    CHECKF(p.first_threads == 1, "784-1024-1024-10 b32 output layer on 2 threads: dW and dA not side by side (%d)",
           p.first_threads);
    layer_products(sizes, 1, 32, g);
    for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++) {
        p = bn_plan_pair(&g[1], &g[2], teams[t], BN_PLAN_ESTIMATE, NULL, 0);
        CHECK(p.first_threads >= 0 && p.first_threads < (teams[t] > 1 ? teams[t] : 1));
        if (p.first_threads > 0)
            CHECK(p.first.threads <= p.first_threads && p.second.threads <= teams[t] - p.first_threads);
        bn_pair_plan forced = bn_plan_pair(&g[1], &g[2], teams[t], BN_PLAN_COLS, NULL, 0);
        CHECK(forced.first_threads == 0);
    }
}

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

typedef struct {
    float *A, *B, *C, *ref;
} buffers;

static double max_diff(const float *a, const float *b, size_t n, double *scale)
{
    double d = 0.0;
    *scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        *scale = fmax(*scale, fabs((double)b[i]));
    }
    return d;
}

/* Every kind, planned for every simulated team, run on this process's threads against one serial call. */
static void every_plan_computes_the_product(buffers *m, bn_gemm g)
{
    static const bn_plan_mode modes[] = {BN_PLAN_ESTIMATE, BN_PLAN_ONE, BN_PLAN_ROWS, BN_PLAN_COLS, BN_PLAN_TILES,
                                         BN_PLAN_K};
    const size_t size = (size_t)g.M * g.N;
    g.C = m->ref;
    bn_gemm_plan one = bn_plan_estimate(&g, 1, BN_PLAN_ONE, NULL, 0);
    bn_plan_run(&g, &one);
    g.C = m->C;
    for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++)
        for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
            bn_gemm_plan p = bn_plan_estimate(&g, teams[t], modes[k], scratch, BN_PLAN_SCRATCH_FLOATS);
            char desc[32];
            memset(m->C, 0xff, size * sizeof(float)); /* NaN: a tile nobody computes fails */
            bn_plan_run(&g, &p);
            double scale, d = max_diff(m->C, m->ref, size, &scale);
            CHECKF(d <= 4.0 * g.K * 0x1p-24 * (scale + 1.0), "%dx%dx%d plan %s (team %d): off by %g", g.M, g.N, g.K,
                   bn_plan_describe(&p, desc, sizeof desc), teams[t], d);
        }
}

/* Same plan, same bits; each 2-thread partition against one serial call: reported, and within rounding. */
static void bits_follow_the_plan(buffers *m, bn_gemm g)
{
    static const bn_plan_mode modes[] = {BN_PLAN_ROWS, BN_PLAN_COLS, BN_PLAN_TILES, BN_PLAN_K};
    const size_t size = (size_t)g.M * g.N;
    bn_gemm_plan one = bn_plan_estimate(&g, 1, BN_PLAN_ONE, NULL, 0);
    g.C = m->ref;
    bn_plan_run(&g, &one);
    g.C = m->C;
    bn_plan_run(&g, &one);
    CHECKF(memcmp(m->C, m->ref, size * sizeof(float)) == 0, "%dx%dx%d: the same plan gave other bits", g.M, g.N, g.K);
    printf("%dx%dx%d against one call:", g.M, g.N, g.K);
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
        bn_gemm_plan p = bn_plan_estimate(&g, 2, modes[k], scratch, BN_PLAN_SCRATCH_FLOATS);
        char desc[32];
        bn_plan_run(&g, &p);
        double scale, d = max_diff(m->C, m->ref, size, &scale);
        printf(" %s %s;", bn_plan_describe(&p, desc, sizeof desc), d == 0.0 ? "same bits" : "other bits");
        CHECKF(d <= 4.0 * g.K * 0x1p-24 * scale, "%dx%dx%d plan %s: off by %g of %g", g.M, g.N, g.K, desc, d, scale);
    }
    printf("\n");
}

static void products_on_this_machine(void)
{
    static const int shapes[][5] = {{0, 0, 32, 1024, 784}, {1, 0, 784, 256, 32}, {0, 1, 64, 784, 100},
                                    {0, 0, 64, 10, 512},   {1, 0, 33, 47, 301},  {0, 1, 5, 3, 2}};
    buffers m;
    size_t most = 1024 * 1024;
    m.A = malloc(most * sizeof(float));
    m.B = malloc(most * sizeof(float));
    m.C = malloc(most * sizeof(float));
    m.ref = malloc(most * sizeof(float));
    CHECK(m.A && m.B && m.C && m.ref);
    if (!m.A || !m.B || !m.C || !m.ref)
        return;
    fill(m.A, most, 1);
    fill(m.B, most, 2);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        bool ta = shapes[s][0], tb = shapes[s][1];
        int M = shapes[s][2], N = shapes[s][3], K = shapes[s][4];
        bn_gemm g = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .alpha = 1.0f, .A = m.A, .lda = ta ? M : K,
                     .B = m.B, .ldb = tb ? K : N, .ldc = N};
        every_plan_computes_the_product(&m, g);
        bits_follow_the_plan(&m, g);
    }
    free(m.A);
    free(m.B);
    free(m.C);
    free(m.ref);
}

/* The spot count in bn_net_plan_format's heading: "...; N planned on the spot". -1 when it is not there. */
static long spot_plans(const bn_net *net, char *text, size_t size)
{
    bn_net_plan_format(net, text, size);
    const char *p = strstr(text, " planned on the spot");
    while (p && p > text && p[-1] != ' ')
        p--;
    return p ? strtol(p, NULL, 10) : -1;
}

/* bn_train and bn_evaluate plan every batch size they run before their first step: a full batch of 16,
 * the epoch's last of 15 (159 = 9 x 16 + 15), the validation set's 40 as chunks of 32 and 8. No product of
 * any step is planned on the spot, whatever the mode; a size no one planned is, and is counted. */
static void runs_plan_before_they_step(void)
{
    enum { N = 199, SIDE = 6 };
    uint8_t *px = malloc(N * SIDE * SIDE), *labels = malloc(N);
    CHECK(px && labels);
    if (!px || !labels)
        return;
    idxw_synth(px, labels, N, SIDE, SIDE, 3, 5);
    bn_dataset all = {.pixels = px, .labels = labels, .n = N, .rows = SIDE, .cols = SIDE, .dim = SIDE * SIDE};
    bn_dataset train = bn_dataset_slice(&all, 0, N - 40), val = bn_dataset_slice(&all, N - 40, N);
    const bn_plan_mode modes[] = {BN_PLAN_ESTIMATE, BN_PLAN_MEASURE, BN_PLAN_ROWS};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        bn_arch arch = {.act = BN_ACT_RELU};
        CHECK(bn_arch_parse_sizes(&arch, "36,24,3") == BN_OK);
        bn_train_state st;
        bn_train_state_init(&st);
        st.hp.epochs = 2, st.hp.batch = 16;
        bn_net *net = NULL;
        CHECK(bn_net_create(&net, &arch, 32, bn_backend_find("blas")) == BN_OK);
        if (!net)
            continue;
        CHECK(bn_net_plan(net, modes[m], 0) == BN_OK);
        CHECK(bn_train(net, &train, &val, NULL, &st) == BN_OK);
        char text[4096];
        long spot = spot_plans(net, text, sizeof text);
        CHECKF(spot == 0 && strstr(text, "also batch 16, 15, 8"), "%s: %ld products planned on the spot, or "
               "sizes missing:\n%s", bn_plan_mode_name(modes[m]), spot, text);
        bn_eval ev;
        CHECK(bn_evaluate(net, &val, &ev, NULL) == BN_OK && spot_plans(net, text, sizeof text) == 0);
        CHECK(bn_net_forward(net, bn_net_input(net), 5) == BN_OK); /* 5 rows: planned by no one */
        CHECKF(spot_plans(net, text, sizeof text) == 2, "a forward pass of 5 rows through 2 layers: %ld spot plans",
               spot_plans(net, text, sizeof text));
        bn_net_destroy(&net);
    }
    free(px);
    free(labels);
}

int main(void)
{
    bn_test_case("plans are sane for teams of 1 to 64", plans_are_sane);
    bn_test_case("forced kinds are honoured", forced_kinds_are_honoured);
    bn_test_case("pairs split the team", pairs_split_the_team);
    /* Runs at this process's thread count (1 in meson's default setup) and again at 2. */
    bn_test_case("every plan computes the product", products_on_this_machine);
    omp_set_num_threads(2);
    bn_test_case("every plan computes the product, 2 threads", products_on_this_machine);
    bn_test_case("training plans every batch size before its first step", runs_plan_before_they_step);
    return bn_test_exit("plan");
}
