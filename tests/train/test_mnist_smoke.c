/* One epoch of the default network (784-512-10 relu, He init, the library's default recipe: Adam on the
 * onecycle schedule, batch 64) on real MNIST through the library API must reach >= 95% test accuracy.
 * Skips (exit 77) when the data has not been fetched; CI fetches it first. Runs at the test setup's one
 * thread: a few seconds. */
#include "blasnet.h"
#include "harness.h"

#include <stdio.h>
#include <unistd.h>

#define SKIP 77 /* Meson's exit code for a skipped test */

static void one_epoch(void)
{
    bn_dataset all, test;
    int st = bn_mnist_load(BN_MNIST_DIR, &all, &test);
    CHECKF(st == BN_OK, "bn_mnist_load: %s", bn_errmsg());
    if (st)
        return;
    CHECK(all.n == 60000 && test.n == 10000 && all.dim == 784);
    CHECK(bn_dataset_max_label(&all) == 9 && bn_dataset_max_label(&test) == 9);
    bn_dataset train = bn_dataset_slice(&all, 0, 50000), val = bn_dataset_slice(&all, 50000, 10000);

    bn_arch arch = {0};
    CHECK(bn_arch_parse_sizes(&arch, "784,512,10") == BN_OK);
    arch.act = BN_ACT_RELU;
    bn_train_state state;
    bn_train_state_init(&state);
    state.hp.epochs = 1;
    state.hp.batch = 64;
    state.hp.init = BN_INIT_HE;
    bn_net *net = NULL;
    st = bn_net_create(&net, &arch, state.hp.batch, bn_backend_find("blas"));
    CHECKF(st == BN_OK, "bn_net_create: %s", bn_errmsg());
    if (!st) {
        st = bn_train(net, &train, &val, NULL, &state);
        CHECKF(st == BN_OK, "bn_train: %s", bn_errmsg());
        bn_eval ev;
        st = bn_evaluate(net, &test, &ev, NULL);
        CHECKF(st == BN_OK, "bn_evaluate: %s", bn_errmsg());
        printf("1 epoch of 784-512-10 relu: test loss %.4f, accuracy %.2f%% (n=%zu), %.1f s of training\n",
               ev.loss, 100.0 * ev.accuracy, ev.n, state.train_seconds);
        CHECK(ev.n == 10000);
        /* The bar. One epoch lands near 97% (97.3% measured at 1 thread, loss 0.09); 95% leaves room
         * for seeds and BLAS kernels without letting a broken gradient (which stalls far lower) through. */
        CHECKF(ev.accuracy >= 0.95, "test accuracy %.4f after one epoch, want >= 0.95", ev.accuracy);
        CHECK(ev.loss > 0.0 && ev.loss < 0.2);
    }
    bn_net_destroy(&net);
    bn_dataset_free(&all);
    bn_dataset_free(&test);
}

int main(void)
{
    static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", BN_MNIST_DIR, names[i]);
        if (access(path, R_OK) != 0) {
            printf("skipped: %s is missing; fetch MNIST with data/fetch-mnist.sh\n", path);
            return SKIP;
        }
    }
    bn_test_case("one epoch of the default network on MNIST reaches 95%", one_epoch);
    return bn_test_exit("mnist_smoke");
}
