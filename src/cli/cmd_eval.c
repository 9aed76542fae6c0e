/* blasnet eval: load a saved model, print its confusion matrix and per-class precision/recall, optionally
 * draw the misclassified test images, and end with the same `test:` line as train: scripts parse that
 * line as the last one on stdout, so everything else is printed before it. */
#include "cli.h"
#include "image.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: blasnet eval --model FILE [--data DIR] [--threads N] [--backend NAME]\n"
    "                    [--errors PNG [--errors-max N]] [--confusion-csv FILE] [--brief]\n"
    "  --model FILE     a model written by blasnet train --save\n"
    "  --data DIR       folder with the MNIST IDX files (default: $BLASNET_DATA or data/mnist)\n"
    "  --threads N      OpenMP and OpenBLAS threads (default: $OMP_NUM_THREADS, else all cores)\n"
    "  --backend NAME   blas | naive | naive-omp (default: blas)\n"
    "  --errors PNG     draw misclassified test images, one row per true class (its most confident\n"
    "                   mistakes, grouped by predicted class), each tile captioned with its true label\n"
    "                   (green) and the predicted one (red); the list of tiles, with\n"
    "                   test-set indices and probabilities, goes to PNG's name with .txt for .png\n"
    "  --errors-max N   at most N tiles (default: 100), shared fairly between the true classes\n"
    "  --confusion-csv FILE  the confusion matrix as CSV too (rows true, columns predicted)\n"
    "  --brief          only the test: line (no matrix, no per-class table)\n"
    "prints: the confusion matrix (rows: true class, columns: predicted), per-class precision and recall,\n"
    "then, last: test: loss=L acc=A% n=N\n";

typedef struct {
    uint32_t index; /* in the test set */
    int truth, pred;
    float p_pred, p_true;
} miss;

/* Selection order: by true class, then the most confident mistakes first (the instructive ones). */
static int by_truth_then_confidence(const void *a, const void *b)
{
    const miss *x = a, *y = b;
    if (x->truth != y->truth)
        return x->truth - y->truth;
    if (x->p_pred != y->p_pred)
        return x->p_pred > y->p_pred ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Display order within a row: by predicted class, so that one confusion's examples sit together. */
static int by_pred(const void *a, const void *b)
{
    const miss *x = a, *y = b;
    if (x->pred != y->pred)
        return x->pred - y->pred;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void print_confusion(const uint64_t *cm, int classes)
{
    uint64_t biggest = 1;
    for (int i = 0; i < classes * classes; i++)
        biggest = cm[i] > biggest ? cm[i] : biggest;
    int width = snprintf(NULL, 0, "%llu", (unsigned long long)biggest);
    width = width < 5 ? 5 : width;
    printf("confusion matrix (rows: true class, columns: predicted class)\n%9s", "true\\pred");
    for (int j = 0; j < classes; j++)
        printf(" %*d", width, j);
    printf("\n");
    for (int i = 0; i < classes; i++) {
        printf("%9d", i);
        for (int j = 0; j < classes; j++)
            printf(" %*llu", width, (unsigned long long)cm[(size_t)i * classes + j]);
        printf("\n");
    }
    printf("\n%5s %9s %9s %8s\n", "class", "precision", "recall", "support");
    for (int k = 0; k < classes; k++) {
        uint64_t tp = cm[(size_t)k * classes + k], row = 0, col = 0;
        for (int j = 0; j < classes; j++)
            row += cm[(size_t)k * classes + j], col += cm[(size_t)j * classes + k];
        /* A class never predicted (or never present) has no defined precision (recall): say so, not 0. */
        char p[16] = "-", r[16] = "-";
        if (col)
            snprintf(p, sizeof p, "%.4f", (double)tp / (double)col);
        if (row)
            snprintf(r, sizeof r, "%.4f", (double)tp / (double)row);
        printf("%5d %9s %9s %8llu\n", k, p, r, (unsigned long long)row);
    }
    printf("\n");
}

static int write_confusion_csv(const char *path, const uint64_t *cm, int classes)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "blasnet eval: cannot write --confusion-csv '%s': %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    fputs("true", f);
    for (int j = 0; j < classes; j++)
        fprintf(f, ",pred_%d", j);
    fputc('\n', f);
    for (int i = 0; i < classes; i++) {
        fprintf(f, "%d", i);
        for (int j = 0; j < classes; j++)
            fprintf(f, ",%llu", (unsigned long long)cm[(size_t)i * classes + j]);
        fputc('\n', f);
    }
    if (ferror(f) | (fclose(f) != 0)) {
        fprintf(stderr, "blasnet eval: cannot write --confusion-csv '%s': %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Every misclassified test sample, with its prediction: forward passes over the test set in batches. */
static int collect_misses(bn_net *net, const bn_dataset *test, miss **out, size_t *count)
{
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    const size_t batch = (size_t)bn_net_max_batch(net);
    miss *m = NULL;
    size_t n = 0, cap = 0;
    float *x = bn_net_input(net);
    int32_t *labels = bn_net_labels(net);
    for (size_t start = 0; start < test->n; start += batch) {
        size_t b = test->n - start < batch ? test->n - start : batch;
        bn_dataset_gather(test, NULL, start, b, x, labels);
        int status = bn_net_forward(net, x, (int)b);
        if (status) {
            free(m);
            return status;
        }
        const float *p = bn_net_probs(net); /* (b, classes) */
        for (size_t i = 0; i < b; i++) {
            int best = 0;
            for (int j = 1; j < classes; j++)
                best = p[i * classes + j] > p[i * classes + best] ? j : best;
            if (best == labels[i])
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                miss *grown = realloc(m, cap * sizeof *m);
                if (!grown) {
                    free(m);
                    return BN_E_NOMEM;
                }
                m = grown;
            }
            m[n++] = (miss){(uint32_t)(start + i), labels[i], best, p[i * classes + best],
                            p[i * classes + labels[i]]};
        }
    }
    *out = m;
    *count = n;
    return 0;
}

/* One row per true class, up to `max` tiles in all, each class given an equal share (unused shares pass on
 * to classes with more errors). Tiles: the image scaled 2x, a caption strip below it with the true label in
 * green and the predicted one in red. The legend file lists every tile. */
static int draw_errors(const char *png, int max, const bn_dataset *test, miss *m, size_t n, int classes)
{
    qsort(m, n, sizeof *m, by_truth_then_confidence);
    size_t *start = calloc((size_t)classes + 1, sizeof *start), *take = calloc((size_t)classes, sizeof *take);
    if (!start || !take) {
        free(start), free(take);
        fprintf(stderr, "blasnet eval: out of memory\n");
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < n; i++)
        start[m[i].truth + 1]++;
    for (int k = 0; k < classes; k++)
        start[k + 1] += start[k];
    /* Water-filling: raise every class's share by one until the budget or the errors run out. */
    size_t budget = (size_t)max < n ? (size_t)max : n, used = 0, widest = 0;
    while (used < budget)
        for (int k = 0; k < classes && used < budget; k++)
            if (take[k] < start[k + 1] - start[k])
                take[k]++, used++;
    int rows_used = 0;
    for (int k = 0; k < classes; k++) {
        qsort(m + start[k], take[k], sizeof *m, by_pred);
        widest = take[k] > widest ? take[k] : widest;
        rows_used += take[k] > 0;
    }
    const int scale = 2, cap_h = 14, pad = 4; /* caption: 3x5 glyphs at scale 2, 2 px margins */
    const int tile_w = test->cols * scale, tile_h = test->rows * scale + cap_h;
    if (!budget) {
        printf("errors: none misclassified; %s not written\n\n", png);
        free(start), free(take);
        return 0;
    }
    img_grid g;
    if (img_grid_make(&g, (int)widest * rows_used, (int)widest, tile_w, tile_h, pad)) {
        fprintf(stderr, "blasnet eval: %s\n", img_error());
        free(start), free(take);
        return EXIT_RUNTIME;
    }
    uint8_t *rgb = malloc((size_t)g.width * g.height * 3);
    char legend[4096];
    const char *dot = strrchr(png, '.');
    size_t stem = dot && !strchr(dot, '/') ? (size_t)(dot - png) : strlen(png);
    snprintf(legend, sizeof legend, "%.*s.txt", (int)stem, png);
    FILE *lf = rgb ? fopen(legend, "w") : NULL;
    if (!rgb || !lf) {
        fprintf(stderr, "blasnet eval: cannot write legend '%s': %s\n", legend, rgb ? strerror(errno) : "no memory");
        free(rgb), free(start), free(take);
        return EXIT_RUNTIME;
    }
    memset(rgb, 255, (size_t)g.width * g.height * 3);
    static const uint8_t green[3] = {0, 150, 0}, red[3] = {210, 0, 0}, grey[3] = {120, 120, 120};
    fprintf(lf, "# %s: misclassified test images, one row per true class; tile: test index, true, predicted, "
                "p(predicted), p(true)\n", png);
    int row = 0;
    for (int k = 0; k < classes; k++) {
        if (!take[k])
            continue;
        for (size_t t = 0; t < take[k]; t++) {
            const miss *e = &m[start[k] + t];
            int x0, y0;
            img_grid_origin(&g, row * g.cols + (int)t, &x0, &y0);
            const uint8_t *px = test->pixels + (size_t)e->index * test->dim;
            for (int y = 0; y < test->rows * scale; y++)
                for (int x = 0; x < tile_w; x++) {
                    /* MNIST is white ink on black; drawn dark on white it reads like the page it came from. */
                    uint8_t v = (uint8_t)(255 - px[(y / scale) * test->cols + x / scale]);
                    memset(rgb + ((size_t)(y0 + y) * g.width + x0 + x) * 3, v, 3);
                }
            int cy = y0 + test->rows * scale + 2;
            if (classes <= 10) { /* one glyph per label: wider labels are in the legend only */
                img_draw_digit(rgb, g.width, g.height, x0 + 2, cy, e->truth, 2, green);
                for (int x = x0 + 10; x < x0 + 17; x++) /* an arrow between the two labels */
                    memcpy(rgb + ((size_t)(cy + 4) * g.width + x) * 3, grey, 3);
                for (int d = 1; d <= 2; d++) {
                    memcpy(rgb + ((size_t)(cy + 4 - d) * g.width + x0 + 16 - d) * 3, grey, 3);
                    memcpy(rgb + ((size_t)(cy + 4 + d) * g.width + x0 + 16 - d) * 3, grey, 3);
                }
                img_draw_digit(rgb, g.width, g.height, x0 + 19, cy, e->pred, 2, red);
            }
            fprintf(lf, "row %d col %zu: test %u true %d predicted %d p=%.3f p_true=%.3f\n", row, t, e->index,
                    e->truth, e->pred, (double)e->p_pred, (double)e->p_true);
        }
        row++;
    }
    int rc = 0;
    if (ferror(lf) | (fclose(lf) != 0)) {
        fprintf(stderr, "blasnet eval: cannot write legend '%s': %s\n", legend, strerror(errno));
        rc = EXIT_RUNTIME;
    }
    if (!rc && img_write_png(png, g.width, g.height, 3, rgb)) {
        fprintf(stderr, "blasnet eval: %s\n", img_error());
        rc = EXIT_RUNTIME;
    }
    if (!rc)
        printf("errors: %zu misclassified; %zu drawn to %s (one row per true class, captions true -> "
               "predicted), list in %s\n\n", n, budget, png, legend);
    free(rgb), free(start), free(take);
    return rc;
}

cli_exit cmd_eval(int argc, char **argv)
{
    enum { OPT_ERRORS = 256, OPT_ERRORS_MAX, OPT_CSV, OPT_BRIEF };
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'},     {"data", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'},   {"backend", required_argument, 0, 'b'},
        {"errors", required_argument, 0, OPT_ERRORS}, {"errors-max", required_argument, 0, OPT_ERRORS_MAX},
        {"confusion-csv", required_argument, 0, OPT_CSV}, {"brief", no_argument, 0, OPT_BRIEF},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0},
    };
    const char *model_path = NULL, *data = NULL, *backend_name = "blas", *errors_png = NULL, *csv = NULL;
    int threads = bn_default_threads(), errors_max = 100, c, rc = 0;
    bool brief = false;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1 && !rc) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'd': data = optarg; break;
        case 't': rc = parse_int("eval", "--threads", optarg, 1, 4096, &threads); break;
        case 'b': backend_name = optarg; break;
        case OPT_ERRORS: errors_png = optarg; break;
        case OPT_ERRORS_MAX: rc = parse_int("eval", "--errors-max", optarg, 1, 10000, &errors_max); break;
        case OPT_CSV: csv = optarg; break;
        case OPT_BRIEF: brief = true; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': rc = usage_error("eval", "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error("eval", "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (!model_path)
        return usage_error("eval", "--model FILE is required");
    const bn_backend *backend = bn_backend_find(backend_name);
    if (!backend)
        return usage_error("eval", "--backend '%s' is not one of blas, naive, naive-omp", backend_name);
    bn_set_threads(threads);

    bn_net *net = NULL;
    int status = bn_checkpoint_load(&net, NULL, model_path, 256, backend);
    if (status)
        return runtime_error("eval", status, "give a file written by blasnet train --save");
    const char *dir = data_dir_or_default(data);
    bn_dataset train, test;
    status = bn_mnist_load(dir, &train, &test);
    if (status) {
        bn_net_destroy(&net);
        return runtime_error("eval", status, data_hint());
    }
    bn_dataset_free(&train);
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    uint64_t *cm = calloc((size_t)classes * classes, sizeof *cm);
    bn_eval ev;
    if (!cm) {
        fprintf(stderr, "blasnet eval: out of memory for a %dx%d confusion matrix\n", classes, classes);
        rc = EXIT_RUNTIME;
    } else if ((status = bn_evaluate(net, &test, &ev, cm))) {
        char hint[4400];
        snprintf(hint, sizeof hint, "model '%s' does not fit the test set in '%s'", model_path, dir);
        rc = runtime_error("eval", status, hint);
    }
    if (!rc && !brief)
        print_confusion(cm, classes);
    if (!rc && csv)
        rc = write_confusion_csv(csv, cm, classes);
    if (!rc && errors_png) {
        miss *m = NULL;
        size_t n = 0;
        status = collect_misses(net, &test, &m, &n);
        if (status)
            rc = runtime_error("eval", status, NULL);
        else
            rc = draw_errors(errors_png, errors_max, &test, m, n, classes);
        free(m);
    }
    if (!rc)
        printf("test: loss=%.4f acc=%.2f%% n=%zu\n", ev.loss, 100.0 * ev.accuracy, ev.n);
    free(cm);
    bn_net_destroy(&net);
    bn_dataset_free(&test);
    return rc;
}
