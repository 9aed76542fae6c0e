/* blasnet moons: the two-moons toy problem end to end through the library API: generate the points (as
 * scikit-learn's make_moons does), train a small MLP with minibatch SGD, print the test accuracy and draw
 * the decision regions, shaded by the predicted probability, with the test points on top. */
#include "cli.h"
#include "image.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char usage_text[] =
    "usage: blasnet moons -o PNG [--seed N] [--act NAME] [--hidden LIST] [--steps N] [--n N] [--noise F]\n"
    "                     [--lr F] [--batch N]\n"
    "  -o, --output PNG  the picture: decision regions (blue: class 0, orange: class 1, paler where the net\n"
    "                    is less sure) with the test points on top (dark blue: 0, dark red: 1)\n"
    "  --seed N       data, initialisation and batches (default: 1)\n"
    "  --act NAME     hidden activation (default: relu)\n"
    "  --hidden LIST  hidden widths (default: 64,64)\n"
    "  --steps N      SGD steps (default: 2000)\n"
    "  --n N          points in all, half per moon, 70% train / 30% test (default: 1000)\n"
    "  --noise F      standard deviation of the Gaussian noise on each coordinate (default: 0.1)\n"
    "  --lr F         learning rate, momentum 0.9 (default: 0.1)\n"
    "  --batch N      minibatch size (default: 32)\n"
    "prints: train: acc=A% n=N, then last test: acc=A% n=N\n";

/* Two interleaved half circles: outer (cos t, sin t) label 0, inner (1 - cos t, 1 - sin t - 0.5) label 1,
 * t evenly spaced over [0, pi] including both ends, plus N(0, noise^2) on each coordinate, then shuffled.
 * xy (n, 2), labels (n). -1 when out of memory. */
static int make_moons(float *xy, int32_t *labels, int n, double noise, bn_rng *rng)
{
    int outer = n / 2, inner = n - outer;
    for (int i = 0; i < n; i++) {
        bool is_outer = i < outer;
        int k = is_outer ? i : i - outer, m = is_outer ? outer : inner;
        double t = m > 1 ? M_PI * k / (m - 1) : 0.0;
        double x = is_outer ? cos(t) : 1.0 - cos(t), y = is_outer ? sin(t) : 1.0 - sin(t) - 0.5;
        xy[2 * i] = (float)(x + noise * bn_rng_normal(rng));
        xy[2 * i + 1] = (float)(y + noise * bn_rng_normal(rng));
        labels[i] = is_outer ? 0 : 1;
    }
    uint32_t *order = malloc((size_t)n * sizeof *order);
    float *tmp = malloc((size_t)n * 2 * sizeof *tmp);
    int32_t *tl = malloc((size_t)n * sizeof *tl);
    int rc = order && tmp && tl ? 0 : -1;
    if (!rc) {
        for (int i = 0; i < n; i++)
            order[i] = (uint32_t)i;
        bn_rng_shuffle(rng, order, (size_t)n);
        for (int i = 0; i < n; i++) {
            tmp[2 * i] = xy[2 * order[i]], tmp[2 * i + 1] = xy[2 * order[i] + 1];
            tl[i] = labels[order[i]];
        }
        memcpy(xy, tmp, (size_t)n * 2 * sizeof *tmp);
        memcpy(labels, tl, (size_t)n * sizeof *tl);
    }
    free(order), free(tmp), free(tl);
    return rc;
}

/* Accuracy of net on (n, 2) points, forward passes of max_batch rows. probs1 (n), if not NULL, receives
 * P(class 1). */
static int accuracy(bn_net *net, const float *xy, const int32_t *labels, int n, float *probs1, double *acc)
{
    int batch = bn_net_max_batch(net), correct = 0;
    for (int s = 0; s < n; s += batch) {
        int b = n - s < batch ? n - s : batch;
        int status = bn_net_forward(net, xy + 2 * (size_t)s, b);
        if (status)
            return status;
        const float *p = bn_net_probs(net); /* (b, 2) */
        for (int i = 0; i < b; i++) {
            if (labels)
                correct += (p[2 * i + 1] > p[2 * i]) == (labels[s + i] == 1);
            if (probs1)
                probs1[s + i] = p[2 * i + 1];
        }
    }
    *acc = n ? (double)correct / n : 0.0;
    return 0;
}

static void blend(uint8_t *px, const uint8_t c[3], float a)
{
    for (int k = 0; k < 3; k++)
        px[k] = (uint8_t)lroundf(255.0f + a * ((float)c[k] - 255.0f));
}

static void dot(uint8_t *rgb, int w, int h, int cx, int cy, const uint8_t fill[3])
{
    static const uint8_t ring[3] = {255, 255, 255};
    for (int dy = -4; dy <= 4; dy++)
        for (int dx = -4; dx <= 4; dx++) {
            int x = cx + dx, y = cy + dy, r2 = dx * dx + dy * dy;
            if (x < 0 || y < 0 || x >= w || y >= h || r2 > 16)
                continue;
            memcpy(rgb + ((size_t)y * w + x) * 3, r2 <= 8 ? fill : ring, 3);
        }
}

/* The plane [-1.5, 2.5] x [-1, 1.5] at 160 pixels per unit, y up. */
enum { PIC_W = 640, PIC_H = 400 };
static const double X0 = -1.5, Y1 = 1.5, PPU = 160.0;

static int draw(const char *png, bn_net *net, const float *xy, const int32_t *labels, int n)
{
    float *grid = malloc((size_t)PIC_W * PIC_H * 2 * sizeof *grid);
    float *p1 = malloc((size_t)PIC_W * PIC_H * sizeof *p1);
    uint8_t *rgb = malloc((size_t)PIC_W * PIC_H * 3);
    int rc = 0;
    if (!grid || !p1 || !rgb) {
        fprintf(stderr, "blasnet moons: out of memory for a %dx%d picture\n", PIC_W, PIC_H);
        rc = EXIT_RUNTIME;
    }
    double unused;
    for (int y = 0; !rc && y < PIC_H; y++)
        for (int x = 0; x < PIC_W; x++) {
            grid[2 * ((size_t)y * PIC_W + x)] = (float)(X0 + (x + 0.5) / PPU);
            grid[2 * ((size_t)y * PIC_W + x) + 1] = (float)(Y1 - (y + 0.5) / PPU);
        }
    int status = rc ? 0 : accuracy(net, grid, NULL, PIC_W * PIC_H, p1, &unused);
    if (status)
        rc = runtime_error("moons", status, NULL);
    static const uint8_t region[2][3] = {{76, 114, 176}, {221, 132, 82}};
    static const uint8_t point[2][3] = {{8, 48, 107}, {153, 0, 13}};
    static const uint8_t edge[3] = {60, 60, 60};
    for (int y = 0; !rc && y < PIC_H; y++)
        for (int x = 0; x < PIC_W; x++) {
            size_t i = (size_t)y * PIC_W + x;
            int cls = p1[i] > 0.5f;
            float sure = fabsf(p1[i] - 0.5f) * 2.0f; /* 0 on the boundary, 1 when certain */
            blend(rgb + 3 * i, region[cls], 0.15f + 0.55f * sure);
            /* The boundary itself: where the class differs from the pixel to the right or below. */
            bool border = (x + 1 < PIC_W && (p1[i + 1] > 0.5f) != cls) ||
                          (y + 1 < PIC_H && (p1[i + PIC_W] > 0.5f) != cls);
            if (border)
                memcpy(rgb + 3 * i, edge, 3);
        }
    for (int i = 0; !rc && i < n; i++)
        dot(rgb, PIC_W, PIC_H, (int)lround((xy[2 * i] - X0) * PPU), (int)lround((Y1 - xy[2 * i + 1]) * PPU),
            point[labels[i] == 1]);
    if (!rc && img_write_png(png, PIC_W, PIC_H, 3, rgb)) {
        fprintf(stderr, "blasnet moons: %s\n", img_error());
        rc = EXIT_RUNTIME;
    }
    free(grid), free(p1), free(rgb);
    return rc;
}

cli_exit cmd_moons(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, 0, 'o'}, {"seed", required_argument, 0, 's'},
        {"act", required_argument, 0, 'a'},    {"hidden", required_argument, 0, 'H'},
        {"steps", required_argument, 0, 'k'},  {"n", required_argument, 0, 'n'},
        {"noise", required_argument, 0, 'z'},  {"lr", required_argument, 0, 'l'},
        {"batch", required_argument, 0, 'b'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *png = NULL, *act_name = "relu", *hidden = "64,64";
    uint64_t seed = 1;
    int steps = 2000, n = 1000, batch = 32, c, rc = 0;
    float noise = 0.1f, lr = 0.1f;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", options, NULL)) != -1 && !rc) {
        switch (c) {
        case 'o': png = optarg; break;
        case 's': rc = parse_u64("moons", "--seed", optarg, &seed); break;
        case 'a': act_name = optarg; break;
        case 'H': hidden = optarg; break;
        case 'k': rc = parse_int("moons", "--steps", optarg, 1, 10000000, &steps); break;
        case 'n': rc = parse_int("moons", "--n", optarg, 10, 1000000, &n); break;
        case 'z': rc = parse_float("moons", "--noise", optarg, 0, false, 10, false, &noise); break;
        case 'l': rc = parse_float("moons", "--lr", optarg, 0, true, 100, false, &lr); break;
        case 'b': rc = parse_int("moons", "--batch", optarg, 1, 4096, &batch); break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': rc = usage_error("moons", "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error("moons", "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return usage_error("moons", "unexpected argument '%s'", argv[optind]);
    if (!png)
        return usage_error("moons", "-o PNG is required");
    bn_arch arch;
    char sizes[512];
    if ((size_t)snprintf(sizes, sizeof sizes, "2,%s,2", hidden) >= sizeof sizes ||
        bn_arch_parse_sizes(&arch, sizes))
        return usage_error("moons", "--hidden '%s': %s", hidden, bn_errmsg());
    if (bn_act_parse(&arch.act, act_name))
        return usage_error("moons", "--act: %s", bn_errmsg());
    arch.leaky_slope = 0.01f;
    int n_train = n * 7 / 10, n_test = n - n_train;
    if (batch > n_train)
        return usage_error("moons", "--batch %d is larger than the %d training points", batch, n_train);

    float *xy = malloc((size_t)n * 2 * sizeof *xy);
    int32_t *labels = malloc((size_t)n * sizeof *labels);
    uint32_t *order = malloc((size_t)n_train * sizeof *order);
    bn_net *net = NULL;
    int status = 0;
    if (!xy || !labels || !order) {
        fprintf(stderr, "blasnet moons: out of memory for %d points\n", n);
        rc = EXIT_RUNTIME;
    } else if ((status = bn_net_create(&net, &arch, batch > 256 ? batch : 256, bn_backend_find("blas")))) {
        rc = runtime_error("moons", status, "choose narrower --hidden layers");
    }
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    if (!rc && make_moons(xy, labels, n, noise, &rng)) {
        fprintf(stderr, "blasnet moons: out of memory for %d points\n", n);
        rc = EXIT_RUNTIME;
    }
    if (!rc)
        bn_net_init(net, BN_INIT_HE, 0.0f, &rng);
    /* Minibatch SGD over shuffled passes of the training points, the first 70% of the shuffled set. */
    const bn_sgd sgd = {.lr = lr, .momentum = 0.9f, .weight_decay = 0.0f, .nesterov = false};
    float *x = net ? bn_net_input(net) : NULL;
    int32_t *y = net ? bn_net_labels(net) : NULL;
    size_t pos = (size_t)n_train;
    double loss = 0.0;
    for (int s = 0; !rc && s < steps; s++) {
        for (int i = 0; i < batch; i++) {
            if (pos == (size_t)n_train) {
                for (int k = 0; k < n_train; k++)
                    order[k] = (uint32_t)k;
                bn_rng_shuffle(&rng, order, (size_t)n_train);
                pos = 0;
            }
            uint32_t k = order[pos++];
            x[2 * i] = xy[2 * k], x[2 * i + 1] = xy[2 * k + 1], y[i] = labels[k];
        }
        status = bn_net_backprop(net, x, y, batch, &loss, NULL);
        if (!status && !isfinite(loss))
            status = BN_E_DIVERGED;
        if (status) {
            fprintf(stderr, "blasnet moons: training stopped at step %d: %s; try a smaller --lr\n", s + 1,
                    status == BN_E_DIVERGED ? "the loss is not finite" : bn_errmsg());
            rc = EXIT_RUNTIME;
            break;
        }
        bn_net_sgd_step(net, &sgd, NULL);
    }
    double train_acc = 0.0, test_acc = 0.0;
    if (!rc && ((status = accuracy(net, xy, labels, n_train, NULL, &train_acc)) ||
                (status = accuracy(net, xy + 2 * (size_t)n_train, labels + n_train, n_test, NULL, &test_acc))))
        rc = runtime_error("moons", status, NULL);
    if (!rc)
        rc = draw(png, net, xy + 2 * (size_t)n_train, labels + n_train, n_test);
    if (!rc) {
        printf("moons: %s %s, %d steps of %d, lr %g, seed %llu, last batch loss %.4f -> %s\n", sizes,
               bn_act_name(arch.act), steps, batch, (double)lr, (unsigned long long)seed, loss, png);
        printf("train: acc=%.2f%% n=%d\n", 100.0 * train_acc, n_train);
        printf("test: acc=%.2f%% n=%d\n", 100.0 * test_acc, n_test);
    }
    bn_net_destroy(&net);
    free(xy), free(labels), free(order);
    return rc;
}
