/* The public header alone is enough to train, evaluate, save and load a model, in C and (compiled again by
 * test_header_alone.cpp) in C++, as its extern "C" promises: this file includes nothing before it, and
 * nothing of the library's private headers at all. Exits 0 when every step works. */
#include "blasnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond)                                                                                              \
    do {                                                                                                          \
        if (!(cond)) {                                                                                            \
            fprintf(stderr, "header_alone: %s failed: %s\n", #cond, bn_errmsg());                                 \
            return 1;                                                                                             \
        }                                                                                                         \
    } while (0)

/* The recipe's lists expand in this language too: count the fields. */
#define COUNT_FIELD(type, name, ...) +1
#define COUNT_OPT(name) BN_OPTIM_RECIPE(COUNT_FIELD)

static int train_save_load(const char *path)
{
    enum { N = 64, SIDE = 4, CLASSES = 2 };
    static uint8_t pixels[N * SIDE * SIDE], labels[N];
    for (int i = 0; i < N; i++) { /* class 1: a bright left half */
        labels[i] = (uint8_t)(i % CLASSES);
        for (int p = 0; p < SIDE * SIDE; p++)
            pixels[i * SIDE * SIDE + p] = (uint8_t)(labels[i] && p % SIDE < SIDE / 2 ? 200 : 20 + (i * 7 + p) % 30);
    }
    bn_dataset data;
    data.pixels = pixels, data.labels = labels, data.n = N, data.rows = SIDE, data.cols = SIDE;
    data.dim = SIDE * SIDE, data.storage = NULL;
    bn_arch arch;
    memset(&arch, 0, sizeof arch);
    EXPECT(bn_arch_parse_sizes(&arch, "16,8,2") == BN_OK);
    bn_train_state st;
    bn_train_state_init(&st);
    st.hp.epochs = 3, st.hp.batch = 16;
    bn_net *net = NULL;
    EXPECT(bn_net_create(&net, &arch, st.hp.batch, bn_backend_find("blas")) == BN_OK);
    EXPECT(bn_train(net, &data, NULL, NULL, &st) == BN_OK);
    bn_eval ev;
    EXPECT(bn_evaluate(net, &data, &ev, NULL) == BN_OK && ev.n == N);
    EXPECT(bn_checkpoint_save(net, &st, path) == BN_OK);
    bn_net *back = NULL;
    bn_train_state got;
    EXPECT(bn_checkpoint_load(&back, &got, path, 0, bn_backend_find("blas")) == BN_OK);
    EXPECT(got.epoch == 3 && got.hp.batch == 16);
    bn_eval again;
    EXPECT(bn_evaluate(back, &data, &again, NULL) == BN_OK && again.loss == ev.loss);
    bn_net_destroy(&back);
    bn_net_destroy(&net);
    printf("# trained to %.1f%%, saved, loaded, the same loss\n", 100.0 * ev.accuracy);
    return 0;
}

int main(int argc, char **argv)
{
    /* Its cases as TAP lines: the harness is not public, and this program includes the public header only. */
    printf("1..2\n");
    const int fields = 0 BN_HPARAMS_RECIPE(COUNT_FIELD, COUNT_OPT);
    printf("%s 1 - the recipe's lists give its %d fields\n", fields == 27 ? "ok" : "not ok", fields);
    char path[512];
#ifdef __cplusplus
    const char *language = "cpp"; /* the two programs run at once: each its own file */
#else
    const char *language = "c";
#endif
    snprintf(path, sizeof path, "%s/header-alone-%s.bin", argc > 1 ? argv[1] : ".", language);
    int rc = train_save_load(path);
    remove(path);
    printf("%s 2 - trains, evaluates, saves and loads with the public header alone\n", rc ? "not ok" : "ok");
    return rc || fields != 27;
}
