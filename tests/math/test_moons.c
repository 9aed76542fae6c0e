/* Two moons (5000 points, noise 0.1, 70/30 split) learned through the library API: the coursework's 2-100-100-2
 * sigmoid net (N(0,1) weights, lr 0.1, 50 full-batch steps) must reach a median test accuracy >= 0.93 over five
 * seeds, and a ReLU recipe >= 0.99. The generator is checked first, so a failure here points at training. */
#include "blasnet.h"
#include "harness.h"
#include "moons.h"

#include <stdlib.h>
#include <string.h>

#define N_POINTS 5000
#define N_TRAIN 3500 /* 70 / 30 */
#define N_TEST (N_POINTS - N_TRAIN)

static float xs[N_POINTS * 2];
static int32_t ys[N_POINTS];

/* The generator: with noise 0 every point lies on its arc; with noise 0.1 the distance to the arc's circle
 * spreads by ~0.1, the means are those of the arcs ((0, 2/pi) and (1, 0.5 - 2/pi)), and the shuffle mixes the
 * classes evenly into the train and test parts. */
static void check_generator(void)
{
    bn_rng rng;
    bn_rng_seed(&rng, 3);
    moons_make(xs, ys, 101, 0.0, &rng); /* odd: 50 outer, 51 inner */
    int outer = 0, bad = 0;
    for (int i = 0; i < 101; i++) {
        double px = xs[2 * i], py = xs[2 * i + 1];
        if (ys[i] == 0) {
            outer++;
            bad += fabs(px * px + py * py - 1.0) > 1e-6 || py < -1e-6;
        } else {
            bad += fabs((px - 1) * (px - 1) + (py - 0.5) * (py - 0.5) - 1.0) > 1e-6 || py > 0.5 + 1e-6;
        }
    }
    CHECK(outer == 50);
    CHECKF(bad == 0, "%d noiseless points off their arcs", bad);

    moons_make(xs, ys, N_POINTS, 0.1, &rng);
    double sum[2][2] = {{0}}, radial_sq[2] = {0};
    int count[2] = {0}, train_zero = 0;
    for (int i = 0; i < N_POINTS; i++) {
        int c = ys[i];
        double px = xs[2 * i], py = xs[2 * i + 1];
        count[c]++;
        sum[c][0] += px;
        sum[c][1] += py;
        double r = c == 0 ? hypot(px, py) : hypot(px - 1, py - 0.5);
        radial_sq[c] += (r - 1) * (r - 1);
        train_zero += i < N_TRAIN && c == 0;
    }
    CHECK(count[0] == N_POINTS / 2 && count[1] == N_POINTS / 2);
    const double two_over_pi = 2.0 / 3.14159265358979323846;
    /* The arcs' x and y are fixed by linspace; only the noise moves the means: sd 0.1 / 50 = 0.002. */
    CHECK_CLOSE(sum[0][0] / count[0], 0.0, 0.01, 0);
    CHECK_CLOSE(sum[0][1] / count[0], two_over_pi, 0.01, 0);
    CHECK_CLOSE(sum[1][0] / count[1], 1.0, 0.01, 0);
    CHECK_CLOSE(sum[1][1] / count[1], 0.5 - two_over_pi, 0.01, 0);
    for (int c = 0; c < 2; c++)
        CHECK_CLOSE(sqrt(radial_sq[c] / count[c]), 0.1, 0.01, 0);
    /* 3500 draws of a fair class: sd 30, so 1750 +- 150 is five sd. */
    CHECKF(abs(train_zero - N_TRAIN / 2) <= 150, "train part holds %d of class 0: not shuffled", train_zero);
}

static double test_accuracy(bn_net *net)
{
    int status = bn_net_forward(net, xs + 2 * N_TRAIN, N_TEST);
    CHECK(status == BN_OK);
    const float *p = bn_net_probs(net);
    int right = 0;
    for (int i = 0; i < N_TEST; i++)
        right += (p[2 * i + 1] > p[2 * i]) == (ys[N_TRAIN + i] == 1);
    return (double)right / N_TEST;
}

/* Trains on the first N_TRAIN rows in batches of `batch` rows, in order (the data are already shuffled);
 * returns the test accuracy, or -1 on an error. */
static double train(const bn_arch *arch, bn_init init, float std, const bn_optim *sgd, int steps, int batch,
                    uint64_t seed)
{
    bn_net *net = NULL;
    int status = bn_net_create(&net, arch, N_TRAIN, bn_backend_find("blas"));
    CHECKF(status == BN_OK, "bn_net_create: %s", bn_errmsg());
    if (status)
        return -1.0;
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    bn_net_init(net, init, std, &rng);
    double loss = NAN;
    for (int s = 0, row = 0; s < steps; s++) {
        int rows = N_TRAIN - row < batch ? N_TRAIN - row : batch;
        status = bn_net_backprop(net, xs + 2 * row, ys + row, rows, &loss, NULL);
        if (status || !isfinite(loss)) {
            CHECKF(0, "step %d: status %d, loss %g", s, status, loss);
            bn_net_destroy(&net);
            return -1.0;
        }
        bn_net_optim_step(net, sgd, NULL);
        row = row + rows >= N_TRAIN ? 0 : row + rows;
    }
    double acc = test_accuracy(net);
    bn_net_destroy(&net);
    return acc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    bn_test_case("the two-moons generator", check_generator);

    /* The coursework's network: sigmoid, N(0, 1) weights, plain gradient descent on the whole training set. */
    bn_arch sig = {.depth = 3, .sizes = {2, 100, 100, 2}, .act = BN_ACT_SIGMOID};
    bn_optim plain = {.lr = 0.1f};
    double acc[5];
    for (int s = 0; s < 5; s++) {
        bn_rng data_rng;
        bn_rng_seed(&data_rng, 100 + (uint64_t)s);
        moons_make(xs, ys, N_POINTS, 0.1, &data_rng);
        acc[s] = train(&sig, BN_INIT_NORMAL, 1.0f, &plain, 50, N_TRAIN, 200 + (uint64_t)s);
        printf("sigmoid 2-100-100-2, seed %d: test accuracy %.4f\n", s, acc[s]);
    }
    qsort(acc, 5, sizeof acc[0], cmp_double);
    /* The coursework reports 0.939; single seeds range about 0.91-0.96, so the median is the stable figure.
     * Measured over 60 other seeds: median 0.943, quartiles 0.930 and 0.955, range 0.901-0.977, so about one
     * set of five seeds in ten has a median under 0.93. The seeds here were fixed before looking (median
     * 0.9333), and their five accuracies are identical on the naive, naive-omp and blas backends, at 1 and 2
     * threads and with another OpenBLAS kernel: summation order does not move them. A change that drops this
     * median has changed the training, not the rounding. */
    CHECKF(acc[2] >= 0.93, "median test accuracy %.4f < 0.93", acc[2]);

    /* A tuned recipe: ReLU, He initialisation, momentum, minibatches. */
    bn_arch relu = {.depth = 3, .sizes = {2, 64, 64, 2}, .act = BN_ACT_RELU};
    bn_optim tuned = {.lr = 0.1f, .momentum = 0.9f};
    bn_rng data_rng;
    bn_rng_seed(&data_rng, 300);
    moons_make(xs, ys, N_POINTS, 0.1, &data_rng);
    double racc = train(&relu, BN_INIT_HE, 0.0f, &tuned, 700, 50, 301);
    printf("relu 2-64-64-2, momentum 0.9, batch 50, 700 steps: test accuracy %.4f\n", racc);
    CHECKF(racc >= 0.99, "relu test accuracy %.4f < 0.99", racc);
    return bn_test_exit("moons");
}
