/* blasnet eval: load a saved model, print its confusion matrix and per-class precision, recall and F1 with
 * their macro and weighted averages, optionally draw the misclassified test images, and end with the same
 * `test:` line as train: scripts parse that line as the last one on stdout, so everything else is printed
 * before it. */
#include "atomic_file.h"
#include "cli.h"
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: blasnet eval --model FILE [--data DIR] [--threads N] [--backend NAME]\n"
    "                    [--errors PNG [--errors-max N]] [--confusion-csv FILE] [--brief]\n"
    "  --model FILE     a model written by blasnet train --save\n"
    "  (data flags: the test part of the data is read, transposed, shifted and shaped as the model records;\n"
    "  a model from before blasnet 0.1's format 3 records nothing: give its --transpose and --label-offset)\n"
    DATA_FLAGS_USAGE
    "  --threads N      OpenMP and OpenBLAS threads (default: $OMP_NUM_THREADS, else all cores)\n"
    "  --backend NAME   blas | naive | naive-omp (default: blas)\n"
    "  --errors PNG     draw misclassified test images, one row per true class (its most confident\n"
    "                   mistakes, grouped by predicted class), each tile captioned with its true label\n"
    "                   (green) and the predicted one (red); the list of tiles, with\n"
    "                   test-set indices and probabilities, goes to PNG's name with .txt for .png\n"
    "  --errors-max N   at most N tiles (default: 100), shared fairly between the true classes\n"
    "  --confusion-csv FILE  the confusion matrix as CSV too (rows true, columns predicted)\n"
    "  --brief          only the test: line (no matrix, no per-class table)\n"
    "prints: the confusion matrix (rows: true class, columns: predicted), per-class precision, recall, F1 and\n"
    "support with accuracy and the macro and weighted averages (as scikit-learn's classification_report),\n"
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
    printf("\n");
}

/* Sums of precision, recall and F1 over the classes, plain and weighted by support, for the averages. */
typedef struct {
    double macro[3], weighted[3];
    int counted;
    uint64_t total, right;
} report_sums;

/* Class k's row of the report: precision, recall, F1, support; "-" where a figure is undefined (a class
 * never predicted has no precision, one never present no recall). The averages count an undefined figure as
 * 0, as scikit-learn's classification_report does, over the classes present or predicted. */
static void print_class(const uint64_t *cm, int classes, int k, report_sums *sums)
{
    uint64_t tp = cm[(size_t)k * classes + k], row = 0, col = 0;
    for (int j = 0; j < classes; j++)
        row += cm[(size_t)k * classes + j], col += cm[(size_t)j * classes + k];
    double p = col ? (double)tp / (double)col : 0.0, r = row ? (double)tp / (double)row : 0.0;
    double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0.0, v[3] = {p, r, f1};
    char text[3][16] = {"-", "-", "-"};
    for (int i = 0; i < 3; i++)
        if ((i == 0 && col) || (i == 1 && row) || (i == 2 && col && row))
            snprintf(text[i], sizeof text[i], "%.4f", v[i]);
    printf("%12d %9s %9s %9s %8llu\n", k, text[0], text[1], text[2], (unsigned long long)row);
    for (int i = 0; row + col && i < 3; i++)
        sums->macro[i] += v[i], sums->weighted[i] += v[i] * (double)row;
    sums->counted += row + col > 0;
    sums->total += row, sums->right += tp;
}

/* Per-class precision, recall and F1, then accuracy and the macro and weighted averages, as scikit-learn's
 * classification_report lays them out. */
static void print_report(const uint64_t *cm, int classes)
{
    report_sums sums = {{0}, {0}, 0, 0, 0};
    printf("%12s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1-score", "support");
    for (int k = 0; k < classes; k++)
        print_class(cm, classes, k, &sums);
    double n = sums.total ? (double)sums.total : 1.0, c = sums.counted ? sums.counted : 1;
    printf("\n%12s %9s %9s %9.4f %8llu\n", "accuracy", "", "", (double)sums.right / n,
           (unsigned long long)sums.total);
    printf("%12s %9.4f %9.4f %9.4f %8llu\n", "macro avg", sums.macro[0] / c, sums.macro[1] / c, sums.macro[2] / c,
           (unsigned long long)sums.total);
    printf("%12s %9.4f %9.4f %9.4f %8llu\n\n", "weighted avg", sums.weighted[0] / n, sums.weighted[1] / n,
           sums.weighted[2] / n, (unsigned long long)sums.total);
}

/* The matrix as CSV text, into a memory stream, then onto path by atomic replace. */
static cli_exit write_confusion_csv(const char *path, const uint64_t *cm, int classes)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return cli_error(EXIT_RUNTIME, "eval", "out of memory for the --confusion-csv text");
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
    cli_exit rc = EXIT_OK;
    if (ferror(f) | (fclose(f) != 0))
        rc = cli_error(EXIT_RUNTIME, "eval", "out of memory for the --confusion-csv text");
    int status = rc ? BN_OK : bn_atomic_write(path, text, len);
    if (status)
        rc = runtime_error("eval", status, "check the free space");
    free(text);
    return rc;
}

/* ---- misclassified images ----------------------------------------------------------------------------- */
/* Every misclassified test sample, with its prediction, into *out (the caller frees it, also after a
 * failure): forward passes over the test set in batches. */
static cli_exit collect_misses(bn_net *net, const bn_dataset *test, miss **out, size_t *count)
{
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    const size_t batch = (size_t)bn_net_max_batch(net);
    size_t cap = 0;
    float *x = bn_net_input(net);
    int32_t *labels = bn_net_labels(net);
    *out = NULL, *count = 0;
    for (size_t start = 0; start < test->n; start += batch) {
        size_t b = test->n - start < batch ? test->n - start : batch;
        bn_dataset_gather(test, NULL, start, b, x, labels);
        int status = bn_net_forward(net, x, (int)b);
        if (status)
            return runtime_error("eval", status, NULL);
        const float *p = bn_net_probs(net); /* (b, classes) */
        for (size_t i = 0; i < b; i++) {
            const float *row = p + i * classes;
            int best = cli_most_probable(row, classes);
            if (best == labels[i])
                continue;
            if (*count == cap) {
                cap = cap ? 2 * cap : 256;
                miss *grown = realloc(*out, cap * sizeof *grown);
                if (!grown)
                    return cli_error(EXIT_RUNTIME, "eval",
                                     "out of memory listing %zu misclassified images; leave out --errors", *count);
                *out = grown;
            }
            (*out)[(*count)++] = (miss){(uint32_t)(start + i), labels[i], best, row[best], row[labels[i]]};
        }
    }
    return EXIT_OK;
}

/* Which misses become tiles: class k's misses are m[start[k] .. start[k+1]) and the first take[k] of them
 * are drawn, one row per class that has any drawn. */
typedef struct {
    size_t *start, *take; /* (classes + 1), (classes) */
    size_t drawn, widest; /* tiles in all, in the longest row */
    int rows;
} tile_plan;

/* Up to `max` tiles in all, each class given an equal share (unused shares pass on to classes with more
 * errors); within a row by predicted class, so that one confusion's examples sit together. */
static cli_exit plan_tiles(tile_plan *plan, miss *m, size_t n, int classes, int max)
{
    plan->start = calloc((size_t)classes + 1, sizeof *plan->start);
    plan->take = calloc((size_t)classes, sizeof *plan->take);
    if (!plan->start || !plan->take)
        return cli_error(EXIT_RUNTIME, "eval", "out of memory for the --errors layout of %d classes", classes);
    if (n == 0) /* nothing misclassified: m may be NULL, which qsort must not be given even with 0 elements */
        return EXIT_OK;
    qsort(m, n, sizeof *m, by_truth_then_confidence);
    for (size_t i = 0; i < n; i++)
        plan->start[m[i].truth + 1]++;
    for (int k = 0; k < classes; k++)
        plan->start[k + 1] += plan->start[k];
    /* Water-filling: raise every class's share by one until the budget or the errors run out. */
    size_t budget = (size_t)max < n ? (size_t)max : n;
    while (plan->drawn < budget)
        for (int k = 0; k < classes && plan->drawn < budget; k++)
            if (plan->take[k] < plan->start[k + 1] - plan->start[k])
                plan->take[k]++, plan->drawn++;
    for (int k = 0; k < classes; k++) {
        qsort(m + plan->start[k], plan->take[k], sizeof *m, by_pred);
        plan->widest = plan->take[k] > plan->widest ? plan->take[k] : plan->widest;
        plan->rows += plan->take[k] > 0;
    }
    return EXIT_OK;
}

enum { TILE_SCALE = 2, CAPTION_H = 14, TILE_PAD = 4 }; /* caption: 3x5 glyphs at scale 2, 2 px margins */

/* One tile: the image scaled 2x, a caption strip below it with the true label in green, an arrow and the
 * predicted one in red. */
static void draw_tile(uint8_t *rgb, const img_grid *g, int x0, int y0, const bn_dataset *test, const miss *e,
                      int classes)
{
    static const uint8_t green[3] = {0, 150, 0}, red[3] = {210, 0, 0}, grey[3] = {120, 120, 120};
    const uint8_t *px = test->pixels + (size_t)e->index * test->dim;
    for (int y = 0; y < test->rows * TILE_SCALE; y++)
        for (int x = 0; x < g->tile_w; x++) {
            /* MNIST is white ink on black; drawn dark on white it reads like the page it came from. */
            uint8_t v = (uint8_t)(255 - px[(y / TILE_SCALE) * test->cols + x / TILE_SCALE]);
            memset(rgb + ((size_t)(y0 + y) * g->width + x0 + x) * 3, v, 3);
        }
    if (classes > 10) /* one glyph per label: wider labels are in the legend only */
        return;
    int cy = y0 + test->rows * TILE_SCALE + 2;
    img_draw_digit(rgb, g->width, g->height, x0 + 2, cy, e->truth, 2, green);
    for (int x = x0 + 10; x < x0 + 17; x++) /* an arrow between the two labels */
        memcpy(rgb + ((size_t)(cy + 4) * g->width + x) * 3, grey, 3);
    for (int d = 1; d <= 2; d++) {
        memcpy(rgb + ((size_t)(cy + 4 - d) * g->width + x0 + 16 - d) * 3, grey, 3);
        memcpy(rgb + ((size_t)(cy + 4 + d) * g->width + x0 + 16 - d) * 3, grey, 3);
    }
    img_draw_digit(rgb, g->width, g->height, x0 + 19, cy, e->pred, 2, red);
}

/* Every planned tile into rgb, and its line into the legend. */
static void draw_tiles(uint8_t *rgb, const img_grid *g, FILE *legend, const tile_plan *plan, const miss *m,
                       const bn_dataset *test, int classes)
{
    int row = 0;
    for (int k = 0; k < classes; k++) {
        for (size_t t = 0; t < plan->take[k]; t++) {
            const miss *e = &m[plan->start[k] + t];
            int x0, y0;
            img_grid_origin(g, row * g->cols + (int)t, &x0, &y0);
            draw_tile(rgb, g, x0, y0, test, e, classes);
            fprintf(legend, "row %d col %zu: test %u true %d predicted %d p=%.3f p_true=%.3f\n", row, t, e->index,
                    e->truth, e->pred, (double)e->p_pred, (double)e->p_true);
        }
        row += plan->take[k] > 0;
    }
}

/* The list beside the --errors picture: PNG's name with .txt for its extension. */
static void legend_path(const char *png, char *legend, size_t size)
{
    const char *dot = strrchr(png, '.');
    size_t stem = dot && !strchr(dot, '/') ? (size_t)(dot - png) : strlen(png);
    snprintf(legend, size, "%.*s.txt", (int)stem, png);
}

/* The picture into rgb and its legend, as text in memory, onto their paths by atomic replace. */
static cli_exit write_errors(const char *png, const img_grid *g, uint8_t *rgb, const tile_plan *plan, const miss *m,
                             const bn_dataset *test, int classes)
{
    char legend[BN_PATH_MAX + 8], *text = NULL;
    size_t len = 0;
    legend_path(png, legend, sizeof legend);
    FILE *lf = open_memstream(&text, &len);
    if (!lf)
        return cli_error(EXIT_RUNTIME, "eval", "out of memory for the --errors list");
    fprintf(lf, "# %s: misclassified test images, one row per true class; tile: test index, true, predicted, "
                "p(predicted), p(true)\n", png);
    draw_tiles(rgb, g, lf, plan, m, test, classes);
    cli_exit rc = ferror(lf) | (fclose(lf) != 0) ? cli_error(EXIT_RUNTIME, "eval", "out of memory for the --errors "
                                                                                    "list")
                                                  : EXIT_OK;
    int status = rc ? BN_OK : bn_atomic_write(legend, text, len);
    if (status)
        rc = runtime_error("eval", status, "check the free space");
    else if (!rc && img_write_png(png, g->width, g->height, 3, rgb))
        rc = cli_error(EXIT_RUNTIME, "eval", "%s; check the free space", img_error());
    free(text);
    return rc;
}

/* The misclassified images as one picture, one row per true class, and its legend: every tile with its test
 * index and probabilities. */
static cli_exit draw_errors(const char *png, int max, const bn_dataset *test, miss *m, size_t n, int classes)
{
    tile_plan plan = {0};
    uint8_t *rgb = NULL;
    img_grid g;
    cli_exit rc = plan_tiles(&plan, m, n, classes, max);
    if (rc)
        goto out;
    if (!plan.drawn) {
        printf("errors: none misclassified; %s not written\n\n", png);
        goto out;
    }
    if (img_grid_make(&g, (int)plan.widest * plan.rows, (int)plan.widest, test->cols * TILE_SCALE,
                      test->rows * TILE_SCALE + CAPTION_H, TILE_PAD)) {
        rc = cli_error(EXIT_RUNTIME, "eval", "--errors: %s; lower --errors-max", img_error());
        goto out;
    }
    if (!(rgb = malloc((size_t)g.width * g.height * 3))) {
        rc = cli_error(EXIT_RUNTIME, "eval", "out of memory for a %dx%d --errors picture", g.width, g.height);
        goto out;
    }
    memset(rgb, 255, (size_t)g.width * g.height * 3);
    rc = write_errors(png, &g, rgb, &plan, m, test, classes);
    char legend[BN_PATH_MAX + 8];
    legend_path(png, legend, sizeof legend);
    if (!rc)
        printf("errors: %zu misclassified; %zu drawn to %s (one row per true class, captions true -> predicted), "
               "list in %s\n\n", n, plan.drawn, png, legend);
out:
    free(rgb), free(plan.start), free(plan.take);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------------------- */
enum { OPT_MODEL = OPT_COMMAND_FIRST, OPT_ERRORS, OPT_ERRORS_MAX, OPT_CONFUSION_CSV, OPT_BRIEF };

typedef struct {
    cli_args common; /* --data, --threads, --backend */
    const char *model_path, *errors_png, *confusion_csv;
    int errors_max;
    bool brief;
} eval_options;

/* The model and the test files as inputs, the confusion CSV, the picture and its list as outputs. */
static cli_exit check_files(const eval_options *o, const bn_data_files *files)
{
    char legend[BN_PATH_MAX + 8];
    cli_files f = {0};
    files_reads(&f, "--model", o->model_path);
    data_declare(&f, files);
    files_writes(&f, "--confusion-csv", o->confusion_csv);
    files_writes(&f, "--errors", o->errors_png);
    if (o->errors_png) {
        legend_path(o->errors_png, legend, sizeof legend);
        files_writes(&f, "the --errors list", legend);
    }
    cli_exit rc = files_check("eval", &f);
    files_free(&f);
    return rc;
}

/* The model, then the test part of the data laid out as the model records (or as the flags say, for a model
 * that records nothing), every file checked first. */
static cli_exit load_model_and_test_set(const eval_options *o, bn_net **net, bn_dataset *test)
{
    bn_data_files *files = malloc(sizeof *files); /* 24 KiB of paths: not on the stack */
    bn_dataset train = {0};
    bn_train_state state;
    bn_data_layout layout;
    if (!files)
        return cli_error(EXIT_RUNTIME, "eval", "out of memory");
    cli_exit rc = data_find(&o->common, DATA_TEST, files);
    if (!rc)
        rc = check_files(o, files);
    int status = rc ? BN_OK : bn_checkpoint_load(net, &state, o->model_path, 256, o->common.backend);
    if (status)
        rc = runtime_error("eval", status, "give a file written by blasnet train --save");
    if (!rc)
        rc = data_refuse_unlabelled("eval", &files->test, bn_net_arch(*net)->sizes[0], o->model_path);
    if (!rc)
        rc = data_recorded_layout(&o->common, &state.hp, o->model_path, &layout);
    if (!rc)
        rc = data_load(&o->common, files, &layout, o->brief, &train, test);
    if (!rc && test->n == 0)
        rc = data_empty("eval", &files->test, "evaluation");
    if (!rc)
        rc = data_check_shape("eval", &state.hp, o->model_path, test, data_name(&o->common));
    bn_dataset_free(&train); /* not read: only the test part was asked for */
    free(files);
    return rc;
}

/* The confusion matrix into *cm (classes, classes) and the loss and accuracy into ev. */
static cli_exit evaluate(const eval_options *o, bn_net *net, const bn_dataset *test, uint64_t **cm, bn_eval *ev)
{
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    *cm = calloc((size_t)classes * classes, sizeof **cm);
    if (!*cm)
        return cli_error(EXIT_RUNTIME, "eval", "out of memory for a %dx%d confusion matrix", classes, classes);
    int status = bn_evaluate(net, test, ev, *cm);
    if (status) {
        char hint[4400];
        snprintf(hint, sizeof hint, "model '%s' does not fit the test set in '%s'", o->model_path,
                 data_name(&o->common));
        return runtime_error("eval", status, hint);
    }
    return EXIT_OK;
}

static cli_exit draw_misses(const eval_options *o, bn_net *net, const bn_dataset *test, int classes)
{
    miss *m = NULL;
    size_t n = 0;
    cli_exit rc = collect_misses(net, test, &m, &n);
    if (!rc)
        rc = draw_errors(o->errors_png, o->errors_max, test, m, n, classes);
    free(m);
    return rc;
}

static cli_exit check_options(void *ctx)
{
    const eval_options *o = ctx;
    if (!o->model_path)
        return cli_error(EXIT_USAGE, "eval", "--model FILE is required");
    if (args_given(&o->common, OPT_ERRORS_MAX) && !o->errors_png)
        return cli_error(EXIT_USAGE, "eval", "--errors-max says how many tiles --errors PNG draws: give --errors too");
    return EXIT_OK;
}

static cli_exit run_eval(void *ctx)
{
    const eval_options *o = ctx;
    bn_net *net = NULL;
    bn_dataset test = {0};
    uint64_t *cm = NULL;
    bn_eval ev;
    cli_exit rc = load_model_and_test_set(o, &net, &test);
    if (rc || (rc = evaluate(o, net, &test, &cm, &ev)))
        goto out;
    const int classes = bn_net_arch(net)->sizes[bn_net_arch(net)->depth];
    if (!o->brief) {
        print_confusion(cm, classes);
        print_report(cm, classes);
    }
    if (o->confusion_csv && (rc = write_confusion_csv(o->confusion_csv, cm, classes)))
        goto out;
    if (o->errors_png && (rc = draw_misses(o, net, &test, classes)))
        goto out;
    printf("test: loss=%.4f acc=%.2f%% n=%zu\n", ev.loss, 100.0 * ev.accuracy, ev.n);
out:
    free(cm);
    bn_net_destroy(&net);
    bn_dataset_free(&test);
    return rc;
}

cli_exit cmd_eval(int argc, char **argv)
{
    eval_options o = {.errors_max = 100};
    const cli_option own[] = {
        opt_text("model", OPT_MODEL, &o.model_path), opt_text("errors", OPT_ERRORS, &o.errors_png),
        opt_int("errors-max", OPT_ERRORS_MAX, &o.errors_max, 1, 10000),
        opt_text("confusion-csv", OPT_CONFUSION_CSV, &o.confusion_csv), opt_flag("brief", OPT_BRIEF, &o.brief),
    };
    const cli_command command = {"eval", usage_text, COMMON_DATA | COMMON_THREADS | COMMON_BACKEND, own,
                                 ARRAY_LEN(own), 0, check_options, run_eval, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
