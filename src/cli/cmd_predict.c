/* blasnet predict: classify pictures of any size. Each image is turned into what MNIST looks like (light ink
 * on black, ink box scaled to 20 of 28 pixels, centred by mass; see img_fit_digit) before the forward pass;
 * `-` reads raw IDX images from stdin, which are used as they are because they are already MNIST-shaped. */
#include "atomic_file.h"
#include "csv.h"
#include "cli.h"
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char usage_text[] =
    "usage: blasnet predict --model FILE [--top K] [--fitted DIR] IMAGE... | -\n"
    "       blasnet predict --model FILE --csv FILE --out FILE\n"
    "  --model FILE   a model written by blasnet train --save\n"
    "  --top K        classes to print per image, most probable first (default: 3)\n"
    "  --fitted DIR   also write each image as the network sees it (DIR/NAME.fitted.png for NAME.png, 28x28\n"
    "                 for MNIST)\n"
    "  IMAGE          PNG, JPEG or PGM of any size, made to look like MNIST: converted to grayscale; when its\n"
    "                 border is light (dark ink on paper), each pixel divided by the paper's light around it,\n"
    "                 so a photo lit more on one side reads as evenly lit paper, and inverted; faint marks\n"
    "                 (a tenth of the ink's range) dropped; cropped to the ink, scaled so the longer side is\n"
    "                 20/28 of the input, centred by mass. A warning says when the ink covers over 40% of\n"
    "                 the picture (not one digit on paper: crop it); --fitted shows the result\n"
    "  --csv FILE     a CSV of images without labels, one a row (Kaggle's test.csv; plain or .gz, a header\n"
    "                 line optional): each row classified, the labels written to --out as ImageId,Label\n"
    "                 (ImageId from 1), the form Kaggle takes\n"
    "  -              raw IDX images (magic 0x803) from stdin, used unchanged; printed as -[i]; read as a\n"
    "                 stream, so the images before a short or overlong stream are still answered\n"
    "prints one line per image: FILE: 7 (0.981), 1 (0.012), 2 (0.003); labels as the training data named\n"
    "them (a model trained with --label-offset 1 prints 1 for its first class), and a model that records\n"
    "its images' shape and storage (trained by this version) has pictures fitted to that shape and stdin\n"
    "images transposed back as its training files were\n"
    "exit status: 0 all images classified, 1 an image or the model could not be read, 2 usage error.\n";

/* More ink than this share of a picture warns that it may not be one digit on paper. */
#define MAX_INK_SHARE 0.4

typedef struct {
    bn_net *net;
    int in, classes, top;
    int rows, cols;   /* the images the network sees: recorded by the model, else square (0 x 0 if not) */
    bool transpose;   /* stdin's IDX images are stored transposed, as the model's training files were */
    int label_offset; /* printed labels are classes plus this, as the data named them */
    const char *fitted_dir;
} predictor;

/* Prints "name: c (p), ..." for each of the b images in x (b, in), most probable first. */
static cli_exit classify(predictor *pr, const char *name, long index, const float *x, int b)
{
    int status = bn_net_forward(pr->net, x, b);
    if (status)
        return runtime_error("predict", status, NULL);
    const float *p = bn_net_probs(pr->net); /* (b, classes) */
    for (int i = 0; i < b; i++) {
        const float *row = p + (size_t)i * pr->classes;
        if (index >= 0)
            printf("%s[%ld]: ", name, index + i);
        else
            printf("%s: ", name);
        /* Top-k without memory: the next pick is the best of those ordered after the previous pick by
         * (probability descending, class ascending). */
        int prev = -1;
        for (int t = 0; t < pr->top; t++) {
            int best = -1;
            for (int j = 0; j < pr->classes; j++) {
                bool after = prev < 0 || row[j] < row[prev] || (row[j] == row[prev] && j > prev);
                if (after && (best < 0 || row[j] > row[best]))
                    best = j;
            }
            if (best < 0) /* NaN probabilities order with nothing */
                break;
            printf("%s%d (%.3f)", t ? ", " : "", best + pr->label_offset, (double)row[best]);
            prev = best;
        }
        printf("\n");
    }
    return EXIT_OK;
}

/* Where --fitted puts image's fitted picture: DIR/NAME.fitted.png for IMAGE's base name NAME.EXT. */
static void fitted_path(const char *dir, const char *image, char *out, size_t size)
{
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(out, size, "%s/%.*s.fitted.png", dir, stem, base);
}

static cli_exit predict_file(predictor *pr, const char *path)
{
    uint8_t *gray = NULL, *fit = malloc((size_t)pr->in);
    float *x = bn_net_input(pr->net);
    int w, h;
    cli_exit rc = EXIT_OK;
    if (!fit) {
        rc = cli_error(EXIT_RUNTIME, "predict", "%s: out of memory", path);
        goto out;
    }
    if (img_load_gray(path, &gray, &w, &h)) {
        rc = cli_error(EXIT_RUNTIME, "predict", "%s", img_error());
        goto out;
    }
    double ink_share = 0.0;
    int fitted = img_fit_digit(fit, pr->rows, pr->cols, gray, w, h, &ink_share);
    if (fitted < 0) {
        rc = cli_error(EXIT_RUNTIME, "predict", "%s: %s", path, img_error());
        goto out;
    }
    if (fitted == 1)
        fprintf(stderr, "blasnet predict: %s: no ink found (a blank or uniform picture); classifying it anyway\n",
                path);
    if (ink_share > MAX_INK_SHARE) /* MNIST's digits ink 19% of their 28x28; a photo's margins leave less */
        fprintf(stderr, "blasnet predict: warning: %s: what looks like ink covers %.0f%% of the picture; if it is "
                        "not one dark digit on plain paper, crop it to the digit (or check the light)\n",
                path, 100.0 * ink_share);
    if (pr->fitted_dir) {
        char name[BN_PATH_MAX + 16];
        fitted_path(pr->fitted_dir, path, name, sizeof name);
        if (img_write_png(name, pr->cols, pr->rows, 1, fit)) {
            rc = cli_error(EXIT_RUNTIME, "predict", "--fitted: %s; check the free space", img_error());
            goto out;
        }
    }
    for (int i = 0; i < pr->in; i++)
        x[i] = fit[i] / 255.0f; /* the same scaling bn_dataset_gather applies to training data */
    rc = classify(pr, path, -1, x, 1);
out:
    free(gray), free(fit);
    return rc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Up to n bytes of stdin into buf; how many came. */
static size_t read_stdin(uint8_t *buf, size_t n)
{
    size_t got = 0, r;
    while (got < n && (r = fread(buf + got, 1, n - got, stdin)) > 0)
        got += r;
    return got;
}

/* The IDX header on stdin: magic 0x00000803, then n, rows and cols, the model's size; *n receives n. */
static cli_exit read_idx_header(const predictor *pr, uint64_t *n)
{
    uint8_t h[16];
    size_t got = read_stdin(h, sizeof h);
    if (got < 16 || be32(h) != 0x803)
        return cli_error(EXIT_RUNTIME, "predict", "-: stdin is not an IDX image file: %s, expected magic 0x00000803 "
                         "then 12 bytes of sizes", got < 4 ? "it ends before 4 bytes" : got < 16 ? "it ends within "
                         "the header" : "it starts with another magic");
    uint64_t rows = be32(h + 8), cols = be32(h + 12);
    *n = be32(h + 4);
    if (rows * cols != (uint64_t)pr->in)
        return cli_error(EXIT_RUNTIME, "predict", "-: images are %llux%llu (%llu pixels) but the model takes %d inputs",
                         (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)(rows * cols), pr->in);
    /* Stored as the model's training files stored them: transposed, if it was trained on transposed files. */
    uint64_t want_rows = pr->transpose ? (uint64_t)pr->cols : (uint64_t)pr->rows;
    if (pr->rows && rows != want_rows)
        return cli_error(EXIT_RUNTIME, "predict", "-: images are stored %llux%llu but the model was trained on files "
                         "that stored them %llux%llu%s", (unsigned long long)rows, (unsigned long long)cols,
                         (unsigned long long)want_rows, (unsigned long long)(pr->in / want_rows),
                         pr->transpose ? " (transposed)" : "");
    return EXIT_OK;
}

/* b images of px (stdin's IDX, or a CSV's rows) as the network takes them: transposed back where the model's
 * files stored them so (as bn_data_load does), scaled as bn_dataset_gather scales. */
static void gather_stored(const predictor *pr, float *x, const uint8_t *px, size_t b)
{
    const size_t in = (size_t)pr->in;
    for (size_t k = 0; k < b; k++)
        for (size_t i = 0; i < in; i++) {
            /* pixel (r, c) of the upright image is (c, r) of the stored rows x cols = cols x rows one */
            size_t from = pr->transpose ? (i % (size_t)pr->cols) * (size_t)pr->rows + i / (size_t)pr->cols : i;
            x[k * in + i] = px[k * in + from] / 255.0f;
        }
}

/* Raw IDX images on stdin, read as a stream a batch at a time (memory for one batch, whatever stdin holds),
 * scaled as bn_dataset_gather scales. The lines of the images before a short or overlong stream are printed;
 * then one error line says what was wrong with it. */
static cli_exit predict_stdin(predictor *pr)
{
    uint64_t n = 0;
    cli_exit rc = read_idx_header(pr, &n);
    const size_t batch = (size_t)bn_net_max_batch(pr->net), in = (size_t)pr->in;
    uint8_t *px = rc ? NULL : malloc(batch * in + 1);
    if (!rc && !px)
        rc = cli_error(EXIT_RUNTIME, "predict", "-: out of memory for a batch of %zu images", batch);
    float *x = bn_net_input(pr->net);
    for (uint64_t start = 0; !rc && start < n; start += batch) {
        size_t b = n - start < batch ? (size_t)(n - start) : batch, got = read_stdin(px, b * in);
        gather_stored(pr, x, px, got / in); /* the whole images that came */
        rc = got >= in ? classify(pr, "-", (long)start, x, (int)(got / in)) : EXIT_OK;
        if (!rc && got < b * in && ferror(stdin))
            rc = cli_error(EXIT_RUNTIME, "predict", "-: cannot read stdin: %s", strerror(errno));
        else if (!rc && got < b * in)
            rc = cli_error(EXIT_RUNTIME, "predict", "-: stdin ends after %llu of the %llu images its header promises",
                           (unsigned long long)(start + got / in), (unsigned long long)n);
    }
    if (!rc && read_stdin(px ? px : (uint8_t[1]){0}, 1) == 1)
        rc = cli_error(EXIT_RUNTIME, "predict", "-: stdin holds more than the %llu images its header promises",
                       (unsigned long long)n);
    free(px);
    return rc;
}

/* Rows of a CSV with no labels (Kaggle's test.csv), stored as the model's training files stored theirs. */
static cli_exit load_unlabelled(const predictor *pr, const char *csv, bn_dataset *ds)
{
    int columns = 0;
    const int stored_rows = pr->transpose ? pr->cols : pr->rows, stored_cols = pr->transpose ? pr->rows : pr->cols;
    int status = bn_csv_load_images(ds, csv, stored_rows, stored_cols);
    if (status == BN_E_INVALID && bn_csv_columns(csv, &columns) == BN_OK && columns == pr->in + 1)
        return cli_error(EXIT_RUNTIME, "predict",
                         "'%s' has %d fields a row, a label and the model's %d inputs: it is labelled; evaluate it "
                         "with blasnet eval --test-csv", csv, columns, pr->in);
    if (status)
        return runtime_error("predict", status, "give a CSV of the model's images, one a row, without labels");
    if (ds->dim != pr->in)
        return cli_error(EXIT_RUNTIME, "predict", "'%s' holds images of %d pixels but the model takes %d inputs", csv,
                         ds->dim, pr->in);
    return EXIT_OK;
}

/* Every row of an unlabelled CSV classified, into `out` as ImageId,Label (1-based ids, labels as the data
 * names them), the Kaggle submission's form; written whole, by atomic replace. */
static cli_exit predict_csv(predictor *pr, const char *csv, const char *out)
{
    bn_dataset ds = {0};
    char *text = NULL;
    size_t len = 0;
    cli_exit rc = load_unlabelled(pr, csv, &ds);
    FILE *f = rc ? NULL : open_memstream(&text, &len);
    if (!rc && !f)
        rc = cli_error(EXIT_RUNTIME, "predict", "out of memory for --out");
    const size_t batch = (size_t)bn_net_max_batch(pr->net), in = (size_t)pr->in;
    float *x = bn_net_input(pr->net);
    if (f)
        fputs("ImageId,Label\n", f);
    for (size_t start = 0; !rc && start < ds.n; start += batch) {
        size_t b = ds.n - start < batch ? ds.n - start : batch;
        gather_stored(pr, x, ds.pixels + start * in, b);
        int status = bn_net_forward(pr->net, x, (int)b);
        if (status)
            rc = runtime_error("predict", status, NULL);
        for (size_t i = 0; !rc && i < b; i++)
            fprintf(f, "%zu,%d\n", start + i + 1,
                    cli_most_probable(bn_net_probs(pr->net) + i * (size_t)pr->classes, pr->classes) + pr->label_offset);
    }
    if (f && (ferror(f) | (fclose(f) != 0)) && !rc)
        rc = cli_error(EXIT_RUNTIME, "predict", "out of memory for --out");
    int status = rc ? BN_OK : bn_atomic_write(out, text, len);
    if (status)
        rc = runtime_error("predict", status, "check the free space");
    if (!rc)
        printf("predict: %zu images of '%s' labelled -> %s\n", ds.n, csv, out);
    free(text);
    bn_dataset_free(&ds);
    return rc;
}

enum { OPT_MODEL = OPT_COMMAND_FIRST, OPT_TOP, OPT_FITTED, OPT_CSV, OPT_OUT };

typedef struct {
    cli_args common; /* and the IMAGE operands */
    const char *model_path, *fitted_dir, *csv, *out;
    int top;
} predict_options;

static cli_exit check_options(void *ctx)
{
    const predict_options *o = ctx;
    if (!o->model_path)
        return cli_error(EXIT_USAGE, "predict", "--model FILE is required");
    if (!o->csv != !o->out)
        return cli_error(EXIT_USAGE, "predict",
                         "--csv FILE and --out FILE go together: the labels of FILE's rows go to --out");
    if (o->csv && o->common.n_operands)
        return cli_error(EXIT_USAGE, "predict", "give IMAGE... or --csv FILE, not both ('%s')", o->common.operands[0]);
    if (o->csv && (o->fitted_dir || args_given(&o->common, OPT_TOP)))
        return cli_error(EXIT_USAGE, "predict", "--%s applies to pictures; --csv writes one label a row",
                         o->fitted_dir ? "fitted" : "top");
    if (!o->csv && o->common.n_operands == 0)
        return cli_error(EXIT_USAGE, "predict", "give at least one IMAGE, - for IDX images on stdin, or --csv FILE");
    int dashes = 0;
    for (int i = 0; i < o->common.n_operands; i++)
        dashes += strcmp(o->common.operands[i], "-") == 0;
    if (dashes > 1)
        return cli_error(EXIT_USAGE, "predict", "- (stdin) may be given once");
    if (o->fitted_dir && dashes == o->common.n_operands && !o->csv)
        return cli_error(EXIT_USAGE, "predict", "--fitted writes the pictures as fitted; IDX images on stdin are used "
                                                "as they are: leave it out");
    return EXIT_OK;
}

/* The model and the pictures as inputs, their --fitted pictures as outputs. */
static cli_exit check_files(const predict_options *o)
{
    char name[BN_PATH_MAX + 16];
    cli_files f = {0};
    files_reads(&f, "--model", o->model_path);
    files_reads(&f, "--csv", o->csv);
    files_writes(&f, "--out", o->out);
    for (int i = 0; i < o->common.n_operands; i++) {
        const char *image = o->common.operands[i];
        if (strcmp(image, "-") == 0)
            continue;
        files_reads(&f, "IMAGE", image);
        if (o->fitted_dir) {
            fitted_path(o->fitted_dir, image, name, sizeof name);
            files_writes(&f, "--fitted", name);
        }
    }
    cli_exit rc = files_check("predict", &f);
    files_free(&f);
    return rc;
}

/* What the model takes and names: its inputs' shape (recorded since format 3, else square when the input
 * count is one), the storage of its training files, its classes and their labels. */
static void describe_model(predictor *pr, const bn_hparams *hp)
{
    const bn_arch *arch = bn_net_arch(pr->net);
    pr->in = arch->sizes[0];
    pr->classes = arch->sizes[arch->depth];
    pr->top = pr->top < pr->classes ? pr->top : pr->classes;
    int side = (int)lround(sqrt((double)pr->in));
    pr->rows = hp->image_rows ? hp->image_rows : side * side == pr->in ? side : 0;
    pr->cols = hp->image_rows ? hp->image_cols : pr->rows;
    pr->transpose = hp->transpose;
    pr->label_offset = hp->label_offset;
}

/* Every IMAGE in order; one that cannot be read does not stop the others. */
static cli_exit run_predict(void *ctx)
{
    const predict_options *o = ctx;
    predictor pr = {.top = o->top, .fitted_dir = o->fitted_dir};
    cli_exit rc = check_files(o);
    if (rc)
        return rc;
    bn_train_state state;
    int status = bn_checkpoint_load(&pr.net, &state, o->model_path, 256, o->common.backend);
    if (status)
        return runtime_error("predict", status, "give a file written by blasnet train --save");
    describe_model(&pr, &state.hp);
    if (o->csv)
        rc = predict_csv(&pr, o->csv, o->out);
    for (int i = 0; i < o->common.n_operands; i++) {
        const char *image = o->common.operands[i];
        cli_exit r;
        if (strcmp(image, "-") == 0)
            r = predict_stdin(&pr);
        else if (!pr.rows)
            r = cli_error(EXIT_RUNTIME, "predict",
                          "%s: the model's %d inputs are not a square image, and it records no shape; only - (IDX on "
                          "stdin) can feed it", image, pr.in);
        else
            r = predict_file(&pr, image);
        rc = rc ? rc : r; /* keep going: one unreadable image should not hide the others' answers */
        fflush(stdout);
    }
    bn_net_destroy(&pr.net);
    return rc;
}

cli_exit cmd_predict(int argc, char **argv)
{
    predict_options o = {.top = 3};
    const cli_option own[] = {
        opt_text("model", OPT_MODEL, &o.model_path), opt_int("top", OPT_TOP, &o.top, 1, BN_MAX_WIDTH),
        opt_text("fitted", OPT_FITTED, &o.fitted_dir), opt_text("csv", OPT_CSV, &o.csv),
        opt_text("out", OPT_OUT, &o.out),
    };
    /* "-" stays an operand, and images may come before the flags: no short options. */
    const cli_command command = {"predict", usage_text, 0, own, ARRAY_LEN(own), -1, check_options, run_predict, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
