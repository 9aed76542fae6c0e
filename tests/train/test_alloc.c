/* Proves the training step allocates nothing: bench/alloc_count.c, linked in, defines malloc and friends with
 * a counter, and libblasnet.so resolves its allocations to them by ELF interposition (under ASan, whose
 * allocator owns malloc, the sanitizer's malloc hook counts instead). Meson runs it at 1 thread and again at
 * 2 under every plan (BLASNET_PLAN): blasnet's own plans never call OpenBLAS's threading, which mallocs. */
#define _GNU_SOURCE /* dladdr */
#include "alloc_count.h"
#include "rng.h"
#include "net.h"
#include "net_plan.h"
#include "blasnet.h"
#include "harness.h"
#include "idx_write.h"

#include <dlfcn.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Each counted allocation also records its caller's address (no allocation needed to do so), so a failure
 * can say which library allocated: blasnet itself, or a runtime it called into. */
#define MAX_CALLERS 4096
static void *callers[MAX_CALLERS];

static void install_counter(void)
{
    CHECK(alloc_count_install());
}

static void start_counting(void)
{
    alloc_count_callers_start(callers, MAX_CALLERS);
}

static unsigned long stop_counting(void)
{
    return alloc_count_callers_stop();
}

/* "N from libgomp.so.1 (first at GOMP_parallel+0x2a), M from libblasnet.so.0" for the first n counted
 * allocations; *direct receives how many libblasnet's own code made, *engine how many OpenBLAS made. */
static void describe_callers(unsigned long n, char *buf, size_t size, unsigned long *direct, unsigned long *engine)
{
    Dl_info self;
    void *blasnet_base = dladdr((void *)(uintptr_t)bn_net_create, &self) ? self.dli_fbase : NULL;
    const char *names[16];
    void *first[16];
    unsigned long counts[16];
    int kinds = 0;
    *direct = *engine = 0;
    buf[0] = '\0';
    if (n > MAX_CALLERS)
        n = MAX_CALLERS;
    for (unsigned long i = 0; i < n; i++) {
        Dl_info info;
        const char *name = "unattributed";
        if (callers[i] && dladdr(callers[i], &info) && info.dli_fname) {
            name = strrchr(info.dli_fname, '/') ? strrchr(info.dli_fname, '/') + 1 : info.dli_fname;
            if (info.dli_fbase == blasnet_base)
                ++*direct;
            /* oneDNN is C++: its first call for a shape generates code through operator new. */
            bool dnnl_engine = strcmp(bn_gemm_engine_name(), "dnnl") == 0;
            if (strstr(name, "openblas") || strstr(name, "dnnl") || (dnnl_engine && strstr(name, "libstdc++")))
                ++*engine;
        }
        int k = 0;
        while (k < kinds && strcmp(names[k], name) != 0)
            k++;
        if (k == kinds && kinds < 16) {
            names[kinds] = name;
            first[kinds] = callers[i];
            counts[kinds++] = 0;
        }
        if (k < kinds)
            counts[k]++;
    }
    size_t used = 0;
    for (int k = 0; k < kinds && used < size; k++) {
        Dl_info info;
        const char *sym = first[k] && dladdr(first[k], &info) && info.dli_sname ? info.dli_sname : "an unexported function";
        used += (size_t)snprintf(buf + used, size - used, "%s%lu from %s (first near %s)", k ? ", " : "",
                                 counts[k], names[k], sym);
    }
}

/* Whether the GEMM engine allocates inside the step here: a product planned as `library` on 2+ threads
 * (OpenBLAS's threading: forced, or measured fastest), or oneDNN. Without a network, whether the plan mode
 * may give one. */
static bool engine_allocates_per_step(const bn_net *net)
{
    const char *plan = getenv("BLASNET_PLAN");
    bool may = plan && (strcmp(plan, "library") == 0 || strcmp(plan, "measure") == 0 || strcmp(plan, "tuned") == 0);
    bool library = (net ? bn_net_plans_use_library(net) : may) && omp_get_max_threads() > 1;
    return library || strcmp(bn_gemm_engine_name(), "dnnl") == 0;
}

#define DIM 784
#define CLASSES 10

/* A filled data set owning its bytes (pixels and labels in one block, as bn_idx_load does). */
static bn_dataset make_dataset(size_t n, uint64_t seed)
{
    bn_dataset ds = {0};
    uint8_t *block = malloc(n * (DIM + 1));
    if (!block)
        return ds;
    idxw_synth(block, block + n * DIM, n, 28, 28, CLASSES, seed);
    ds.pixels = block;
    ds.labels = block + n * DIM;
    ds.n = n;
    ds.rows = ds.cols = 28;
    ds.dim = DIM;
    ds.storage = block;
    return ds;
}

/* How a step is taken: SGD as backprop + optim_step, or the new recipe (Adam, clipping, dropout) fused in
 * bn_net_train_step, as bn_train takes it. */
typedef struct {
    const char *name;
    bn_optim opt;
    float dropout;
    bool fused;
} step_recipe;

/* One step exactly as bn_train does it: gather a shuffled batch into the staging, set the step's dropout,
 * backprop and update. */
static void one_step(bn_net *net, const bn_dataset *ds, const uint32_t *order, size_t start, int count,
                     const step_recipe *r, uint64_t step)
{
    double loss = 0.0, sq = 0.0;
    int correct = 0;
    bn_dataset_gather(ds, order, start, (size_t)count, bn_net_input(net), bn_net_labels(net));
    CHECK(bn_net_set_dropout(net, r->dropout, 9, step, 0) == BN_OK);
    bn_optim opt = r->opt;
    opt.t = step + 1;
    opt.nesterov = r->opt.kind == BN_OPT_SGD && step % 2 == 1;
    int st = r->fused ? bn_net_train_step(net, bn_net_input(net), bn_net_labels(net), count, &opt, &loss, &correct,
                                          &sq)
                      : bn_net_backprop(net, bn_net_input(net), bn_net_labels(net), count, &loss, &correct);
    CHECKF(st == BN_OK, "%s step: %s", r->name, bn_errmsg());
    if (!r->fused)
        bn_net_optim_step(net, &opt, &sq);
}

static void step_allocates_nothing(const char *backend_name, const bn_dataset *ds, const uint32_t *order,
                                   const step_recipe *recipe)
{
    bn_arch arch = {0};
    CHECK(bn_arch_parse_sizes(&arch, "784,128,64,10") == BN_OK);
    arch.act = BN_ACT_RELU;
    const bn_backend *backend = bn_backend_find(backend_name);
    CHECKF(backend != NULL, "backend %s", backend_name);
    if (!backend)
        return;

    /* The positive control: creating a network must allocate, or the counter is not wired up. */
    bn_net *net = NULL;
    start_counting();
    int st = bn_net_create(&net, &arch, 64, backend);
    unsigned long create_allocs = stop_counting();
    CHECKF(st == BN_OK, "bn_net_create: %s", bn_errmsg());
    CHECKF(create_allocs >= 1, "%s: bn_net_create made %lu allocations; the counter is not interposed",
           backend_name, create_allocs);
    if (st)
        return;
    bn_rng rng;
    bn_rng_seed(&rng, 7);
    bn_net_init(net, BN_INIT_HE, 0.01f, &rng);
    one_step(net, ds, order, 0, 64, recipe, 0); /* warm-up: first-touch effects, lazy library state */

    start_counting();
    for (int s = 0; s < 20; s++) {
        /* Every fifth step is a partial batch, as the last batch of an epoch is: 37 rows of 64. */
        int count = s % 5 == 4 ? 37 : 64;
        size_t start = (size_t)(s * 64) % (ds->n - 64);
        one_step(net, ds, order, start, count, recipe, (uint64_t)s + 1);
    }
    st = bn_net_forward(net, bn_net_input(net), 17);
    double sq = bn_net_weight_sqnorm(net);
    unsigned long step_allocs = stop_counting(), direct, engine;
    char who[1024];
    describe_callers(step_allocs, who, sizeof who, &direct, &engine);
    printf("%s backend, %s, plan %s, %d threads: %lu allocations in 20 steps%s%s\n", backend_name, recipe->name,
           bn_plan_mode_name(bn_net_plan_mode(net)), omp_get_max_threads(), step_allocs, step_allocs ? ": " : "",
           who);
    CHECKF(st == BN_OK, "forward: %s", bn_errmsg());
    CHECK(sq > 0.0);
#if !defined(__SANITIZE_ADDRESS__)
    /* blasnet's own code: the narrow reading of the contract (under ASan callers are not attributed). */
    CHECKF(direct == 0, "%s backend, %s: libblasnet itself allocated %lu times in 20 steps", backend_name,
           recipe->name, direct);
#endif
    /* Everything, whoever calls malloc on blasnet's behalf: the header promises nothing below allocates.
     * The exceptions are the GEMM engine's own: the forced `library` plan on 2+ threads hands each product
     * to OpenBLAS's threading, which allocates (about one block a call), and oneDNN (-Dgemm_engine=dnnl)
     * allocates its packing buffers in every call. Only the engine may, and it is reported above. */
    bool engine_allocates = strcmp(backend_name, "blas") == 0 && engine_allocates_per_step(net);
    unsigned long counted = engine_allocates ? step_allocs - engine : step_allocs;
#if defined(__SANITIZE_ADDRESS__)
    if (engine_allocates) /* ASan's hook cannot say who allocated: the engine's count is only reported */
        counted = 0;
#endif
    CHECKF(counted == 0, "%s backend, %s: 20 training steps and a forward pass made %lu allocations: %s",
           backend_name, recipe->name, step_allocs, who);

    start_counting();
    bn_net_destroy(&net);
    CHECK(stop_counting() == 0);
    CHECK(net == NULL);
}

/* bn_train allocates its shuffle order once per call, so its count must not grow with the number of steps. */
static unsigned long train_allocs(const bn_dataset *train, const bn_dataset *val, int epochs, bool new_recipe)
{
    bn_arch arch = {0};
    CHECK(bn_arch_parse_sizes(&arch, "784,32,10") == BN_OK);
    arch.act = BN_ACT_TANH;
    bn_net *net = NULL;
    int st = bn_net_create(&net, &arch, 50, bn_backend_find("blas"));
    CHECKF(st == BN_OK, "bn_net_create: %s", bn_errmsg());
    if (st)
        return (unsigned long)-1;
    bn_train_state state;
    bn_train_state_init(&state);
    state.hp.epochs = epochs;
    state.hp.batch = 50; /* 230 samples: four full batches and a partial one per epoch */
    state.hp.opt.weight_decay = 1e-4f;
    state.hp.lr_decay = 0.9f;
    if (new_recipe) { /* Adam, clipping, dropout, a cosine schedule, and patience keeping the best weights */
        state.hp.opt = (bn_optim){.kind = BN_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                  .clip_norm = 0.5f};
        state.hp.schedule = BN_SCHED_COSINE;
        state.hp.dropout = 0.2f;
        state.hp.patience = 10;
    }
    start_counting();
    st = bn_train(net, train, val, NULL, &state);
    unsigned long n = stop_counting(), direct, engine;
    char who[1024];
    describe_callers(n, who, sizeof who, &direct, &engine);
    printf("bn_train, %s, %d epochs: %lu allocations: %s\n", new_recipe ? "adam+dropout" : "sgd", epochs, n, who);
    CHECKF(st == BN_OK, "bn_train: %s", bn_errmsg());
    CHECK(state.epoch == epochs);
    bn_net_destroy(&net);
    return n - engine; /* the GEMM engine's own, where it allocates per call, are reported, not held */
}

static void all_of_it(void)
{
    install_counter();
    bn_dataset ds = make_dataset(300, 1);
    CHECK(ds.pixels != NULL);
    if (!ds.pixels)
        return;
    uint32_t order[300];
    for (uint32_t i = 0; i < 300; i++)
        order[i] = i;
    bn_rng rng;
    bn_rng_seed(&rng, 3);
    bn_rng_shuffle(&rng, order, 300);

    /* The counter itself, before anything relies on it. */
    start_counting();
    void *volatile probe = malloc(32);
    unsigned long probe_count = stop_counting();
    free(probe);
    CHECKF(probe_count == 1, "a direct malloc counted %lu times", probe_count);

    const step_recipe recipes[2] = {
        {"sgd", {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 1e-4f}, 0.0f, false},
        {"adam+clip+dropout, fused",
         {.kind = BN_OPT_ADAM, .lr = 1e-3f, .weight_decay = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
          .clip_norm = 0.1f},
         0.3f, true},
    };
    for (int r = 0; r < 2; r++) {
        step_allocates_nothing("blas", &ds, order, &recipes[r]);
        step_allocates_nothing("naive", &ds, order, &recipes[r]);
    }

    bn_dataset train = bn_dataset_slice(&ds, 0, 230);
    bn_dataset val = bn_dataset_slice(&ds, 230, 70);
    train_allocs(&train, &val, 1, false); /* warm-up: an engine's one-time set-up (oneDNN generates code per shape) */
    unsigned long one = train_allocs(&train, &val, 1, false), three = train_allocs(&train, &val, 3, false);
    unsigned long one_new = train_allocs(&train, &val, 1, true), three_new = train_allocs(&train, &val, 3, true);
#if defined(__SANITIZE_ADDRESS__)
    /* Under ASan allocations are not attributed, so an engine that allocates per call grows this count. */
    bool attributable = !engine_allocates_per_step(NULL);
#else
    bool attributable = true;
#endif
    if (attributable) {
        CHECKF(one == three, "bn_train made %lu allocations for 1 epoch but %lu for 3: allocations grow with steps",
               one, three);
        CHECKF(one_new == three_new, "bn_train with Adam, dropout, clipping and patience made %lu allocations for 1 "
               "epoch but %lu for 3", one_new, three_new);
    }

    bn_dataset_free(&ds);

}

int main(void)
{
    bn_test_case("the counter counts; no step allocates, on blas and naive, with SGD "
                 "and with Adam, clipping and dropout; bn_train allocates the same for 1 epoch as for 3",
                 all_of_it);
    return bn_test_exit("alloc");
}
