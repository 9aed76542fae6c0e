/* blasnet moons: the two-moons toy problem end to end through the library API: generate the points (as
 * scikit-learn's make_moons does), train a small MLP with minibatch SGD, print the test accuracy and draw
 * the decision regions, shaded by the predicted probability, with the test points on top. */
#include "cli.h"
#include "rng.h"
#include "image.h"

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
 * xy (n, 2), labels (n). */
static cli_exit make_moons(float *xy, int32_t *labels, int n, double noise, bn_rng *rng)
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
    cli_exit rc = EXIT_OK;
    if (!order || !tmp || !tl) {
        rc = cli_error(EXIT_RUNTIME, "moons", "out of memory for %d points; lower --n", n);
        goto out;
    }
    for (int i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    bn_rng_shuffle(rng, order, (size_t)n);
    for (int i = 0; i < n; i++) {
        tmp[2 * i] = xy[2 * order[i]], tmp[2 * i + 1] = xy[2 * order[i] + 1];
        tl[i] = labels[order[i]];
    }
    memcpy(xy, tmp, (size_t)n * 2 * sizeof *tmp);
    memcpy(labels, tl, (size_t)n * sizeof *tl);
out:
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

/* The decision regions from p1 (PIC_H, PIC_W) = P(class 1) at each pixel centre: the class's colour, paler
 * where the net is less sure, and the boundary itself drawn dark. */
static void shade_regions(uint8_t *rgb, const float *p1)
{
    static const uint8_t region[2][3] = {{76, 114, 176}, {221, 132, 82}};
    static const uint8_t edge[3] = {60, 60, 60};
    for (int y = 0; y < PIC_H; y++)
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
}

static cli_exit draw(const char *png, bn_net *net, const float *xy, const int32_t *labels, int n)
{
    static const uint8_t point[2][3] = {{8, 48, 107}, {153, 0, 13}};
    float *grid = malloc((size_t)PIC_W * PIC_H * 2 * sizeof *grid);
    float *p1 = malloc((size_t)PIC_W * PIC_H * sizeof *p1);
    uint8_t *rgb = malloc((size_t)PIC_W * PIC_H * 3);
    cli_exit rc = EXIT_OK;
    if (!grid || !p1 || !rgb) {
        rc = cli_error(EXIT_RUNTIME, "moons", "out of memory for a %dx%d picture", PIC_W, PIC_H);
        goto out;
    }
    for (int y = 0; y < PIC_H; y++)
        for (int x = 0; x < PIC_W; x++) {
            grid[2 * ((size_t)y * PIC_W + x)] = (float)(X0 + (x + 0.5) / PPU);
            grid[2 * ((size_t)y * PIC_W + x) + 1] = (float)(Y1 - (y + 0.5) / PPU);
        }
    double unused;
    int status = accuracy(net, grid, NULL, PIC_W * PIC_H, p1, &unused);
    if (status) {
        rc = runtime_error("moons", status, NULL);
        goto out;
    }
    shade_regions(rgb, p1);
    for (int i = 0; i < n; i++)
        dot(rgb, PIC_W, PIC_H, (int)lround((xy[2 * i] - X0) * PPU), (int)lround((Y1 - xy[2 * i + 1]) * PPU),
            point[labels[i] == 1]);
    if (img_write_png(png, PIC_W, PIC_H, 3, rgb))
        rc = cli_error(EXIT_RUNTIME, "moons", "%s; check the folder exists and is writable", img_error());
out:
    free(grid), free(p1), free(rgb);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------------------- */
enum { OPT_OUTPUT = OPT_COMMAND_FIRST, OPT_SEED, OPT_ACT, OPT_HIDDEN, OPT_STEPS, OPT_POINTS, OPT_NOISE, OPT_LR,
       OPT_BATCH };

typedef struct {
    cli_args common;
    const char *png, *act_name, *hidden;
    uint64_t seed;
    int steps, points, batch;
    float noise, lr;
    bn_arch arch;    /* from --hidden and --act */
    char sizes[512]; /* 2,<hidden>,2 */
} moons_options;

static cli_exit check_options(void *ctx)
{
    moons_options *o = ctx;
    if (!o->png)
        return cli_error(EXIT_USAGE, "moons", "-o PNG is required");
    if ((size_t)snprintf(o->sizes, sizeof o->sizes, "2,%s,2", o->hidden) >= sizeof o->sizes)
        return cli_error(EXIT_USAGE, "moons",
                         "--hidden: the list is %zu characters long; write the widths without padding",
                         strlen(o->hidden));
    if (bn_arch_parse_sizes(&o->arch, o->sizes))
        return cli_error(EXIT_USAGE, "moons", "--hidden '%s': %s", o->hidden, bn_errmsg());
    if (bn_act_parse(&o->arch.act, o->act_name))
        return cli_error(EXIT_USAGE, "moons", "--act: %s", bn_errmsg());
    o->arch.leaky_slope = 0.01f;
    int n_train = o->points * 7 / 10;
    if (o->batch > n_train)
        return cli_error(EXIT_USAGE, "moons", "--batch %d is larger than the %d training points", o->batch, n_train);
    return EXIT_OK;
}

/* The points (the first 70% train, the rest test), the network and the generator they share. */
typedef struct {
    float *xy;       /* (points, 2) */
    int32_t *labels; /* (points) */
    uint32_t *order; /* (n_train): the current pass over the training points */
    int n_train, n_test;
    bn_rng rng;
    bn_net *net;
    double loss; /* the last batch's */
} moons_run;

/* Points first, then the weights, from one generator seeded with --seed. */
static cli_exit make_data_and_net(const moons_options *o, moons_run *r)
{
    r->n_train = o->points * 7 / 10, r->n_test = o->points - r->n_train;
    r->xy = malloc((size_t)o->points * 2 * sizeof *r->xy);
    r->labels = malloc((size_t)o->points * sizeof *r->labels);
    r->order = malloc((size_t)r->n_train * sizeof *r->order);
    if (!r->xy || !r->labels || !r->order)
        return cli_error(EXIT_RUNTIME, "moons", "out of memory for %d points; lower --n", o->points);
    bn_rng_seed(&r->rng, o->seed);
    cli_exit rc = make_moons(r->xy, r->labels, o->points, o->noise, &r->rng);
    if (rc)
        return rc;
    int status = bn_net_create(&r->net, &o->arch, o->batch > 256 ? o->batch : 256, o->common.backend);
    if (status)
        return runtime_error("moons", status, "choose narrower --hidden layers");
    bn_net_init(r->net, BN_INIT_HE, 0.0f, &r->rng);
    return EXIT_OK;
}

/* Minibatch SGD over shuffled passes of the training points. A non-finite loss comes back as
 * BN_E_DIVERGED from bn_net_train_step, the one signal for it. */
static cli_exit train_moons(const moons_options *o, moons_run *r)
{
    const bn_optim sgd = {.lr = o->lr, .momentum = 0.9f, .weight_decay = 0.0f, .nesterov = false};
    float *x = bn_net_input(r->net);
    int32_t *y = bn_net_labels(r->net);
    size_t pos = (size_t)r->n_train;
    for (int s = 0; s < o->steps; s++) {
        for (int i = 0; i < o->batch; i++) {
            if (pos == (size_t)r->n_train) {
                for (int k = 0; k < r->n_train; k++)
                    r->order[k] = (uint32_t)k;
                bn_rng_shuffle(&r->rng, r->order, (size_t)r->n_train);
                pos = 0;
            }
            uint32_t k = r->order[pos++];
            x[2 * i] = r->xy[2 * k], x[2 * i + 1] = r->xy[2 * k + 1], y[i] = r->labels[k];
        }
        int status = bn_net_train_step(r->net, x, y, o->batch, &sgd, &r->loss, NULL, NULL);
        if (status) {
            char where[128];
            snprintf(where, sizeof where, "training stopped at step %d of %d%s", s + 1, o->steps,
                     status == BN_E_DIVERGED ? ": lower --lr" : "");
            return runtime_error("moons", status, where);
        }
    }
    return EXIT_OK;
}

static cli_exit report(const moons_options *o, moons_run *r)
{
    const float *test_xy = r->xy + 2 * (size_t)r->n_train;
    const int32_t *test_labels = r->labels + r->n_train;
    double train_acc = 0.0, test_acc = 0.0;
    int status = accuracy(r->net, r->xy, r->labels, r->n_train, NULL, &train_acc);
    if (!status)
        status = accuracy(r->net, test_xy, test_labels, r->n_test, NULL, &test_acc);
    if (status)
        return runtime_error("moons", status, NULL);
    cli_exit rc = draw(o->png, r->net, test_xy, test_labels, r->n_test);
    if (rc)
        return rc;
    printf("moons: %s %s, %d steps of %d, lr %g, seed %llu, last batch loss %.4f -> %s\n", o->sizes,
           bn_act_name(o->arch.act), o->steps, o->batch, (double)o->lr, (unsigned long long)o->seed, r->loss,
           o->png);
    printf("train: acc=%.2f%% n=%d\n", 100.0 * train_acc, r->n_train);
    printf("test: acc=%.2f%% n=%d\n", 100.0 * test_acc, r->n_test);
    return EXIT_OK;
}

static cli_exit run_moons(void *ctx)
{
    const moons_options *o = ctx;
    moons_run r = {0};
    cli_exit rc = files_check_pair("moons", "", NULL, "-o", o->png);
    if (!rc)
        rc = make_data_and_net(o, &r);
    if (!rc)
        rc = train_moons(o, &r);
    if (!rc)
        rc = report(o, &r);
    bn_net_destroy(&r.net);
    free(r.xy), free(r.labels), free(r.order);
    return rc;
}

cli_exit cmd_moons(int argc, char **argv)
{
    moons_options o = {.act_name = "relu", .hidden = "64,64", .seed = 1, .steps = 2000, .points = 1000, .batch = 32,
                       .noise = 0.1f, .lr = 0.1f};
    const cli_option own[] = {
        with_short('o', opt_text("output", OPT_OUTPUT, &o.png)), opt_u64("seed", OPT_SEED, &o.seed, UINT64_MAX),
        opt_text("act", OPT_ACT, &o.act_name), opt_text("hidden", OPT_HIDDEN, &o.hidden),
        opt_int("steps", OPT_STEPS, &o.steps, 1, 10000000), opt_int("n", OPT_POINTS, &o.points, 10, 1000000),
        opt_float("noise", OPT_NOISE, &o.noise, CLOSED, 0, 10, CLOSED),
        opt_float("lr", OPT_LR, &o.lr, OPEN, 0, 100, CLOSED), opt_int("batch", OPT_BATCH, &o.batch, 1, 4096),
    };
    const cli_command command = {"moons", usage_text, 0, own, ARRAY_LEN(own), 0, check_options, run_moons, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
