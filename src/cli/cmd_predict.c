/* blasnet predict: classify pictures of any size. Each image is turned into what MNIST looks like (light ink
 * on black, ink box scaled to 20 of 28 pixels, centred by mass; see img_fit_digit) before the forward pass;
 * `-` reads raw IDX images from stdin, which are used as they are because they are already MNIST-shaped. */
#include "cli.h"
#include "image.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char usage_text[] =
    "usage: blasnet predict --model FILE [--top K] [--fitted DIR] IMAGE... | -\n"
    "  --model FILE   a model written by blasnet train --save\n"
    "  --top K        classes to print per image, most probable first (default: 3)\n"
    "  --fitted DIR   also write each image as the network sees it (DIR/<n>.png, 28x28 for MNIST)\n"
    "  IMAGE          PNG, JPEG or PGM of any size: converted to grayscale, inverted if its border is light,\n"
    "                 cropped to the ink, scaled so the longer side is 20/28 of the input, centred by mass\n"
    "  -              raw IDX images (magic 0x803) from stdin, used unchanged; printed as -[i]\n"
    "prints one line per image: FILE: 7 (0.981), 1 (0.012), 2 (0.003)\n"
    "exit status: 0 all images classified, 1 an image or the model could not be read, 2 usage error.\n";

typedef struct {
    bn_net *net;
    int in, classes, top;
    const char *fitted_dir;
    int fitted_count;
} predictor;

/* Prints "name: c (p), ..." for each of the b images in x (b, in), most probable first. */
static int classify(predictor *pr, const char *name, long index, const float *x, int b)
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
            printf("%s%d (%.3f)", t ? ", " : "", best, (double)row[best]);
            prev = best;
        }
        printf("\n");
    }
    return 0;
}

static int predict_file(predictor *pr, const char *path, int side)
{
    uint8_t *gray = NULL, *fit = malloc((size_t)pr->in);
    float *x = bn_net_input(pr->net);
    int w, h;
    if (!fit) {
        fprintf(stderr, "blasnet predict: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (img_load_gray(path, &gray, &w, &h)) {
        fprintf(stderr, "blasnet predict: %s\n", img_error());
        free(fit);
        return EXIT_RUNTIME;
    }
    int box = (int)lround(side * 20.0 / 28.0); /* MNIST: a 20x20 box in a 28x28 field */
    int r = img_fit_digit(fit, side, box, gray, w, h);
    free(gray);
    if (r < 0) {
        fprintf(stderr, "blasnet predict: %s: %s\n", path, img_error());
        free(fit);
        return EXIT_RUNTIME;
    }
    if (r == 1)
        fprintf(stderr, "blasnet predict: %s: no ink found (a blank or uniform picture); classifying it anyway\n",
                path);
    if (pr->fitted_dir) {
        char out[4096];
        snprintf(out, sizeof out, "%s/%d.png", pr->fitted_dir, pr->fitted_count++);
        if (img_write_png(out, side, side, 1, fit))
            fprintf(stderr, "blasnet predict: --fitted: %s\n", img_error());
    }
    for (int i = 0; i < pr->in; i++)
        x[i] = fit[i] / 255.0f; /* the same scaling bn_dataset_gather applies to training data */
    free(fit);
    return classify(pr, path, -1, x, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Raw IDX images (magic 0x00000803, n, rows, cols, then n*rows*cols bytes) on stdin, checked like a file. */
static int predict_stdin(predictor *pr)
{
    size_t size = 0, cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + size, 1, cap - size, stdin);
        size += got;
        if (got == 0)
            break;
        if (size == cap) {
            uint8_t *grown = cap < ((size_t)1 << 34) ? realloc(buf, cap * 2) : NULL;
            if (!grown)
                free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    if (!buf) {
        fprintf(stderr, "blasnet predict: -: out of memory reading stdin\n");
        return EXIT_RUNTIME;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "blasnet predict: -: cannot read stdin: %s\n", strerror(errno));
        free(buf);
        return EXIT_RUNTIME;
    }
    int rc = 0;
    if (size < 16 || be32(buf) != 0x803) {
        fprintf(stderr, "blasnet predict: -: stdin is not an IDX image file: %zu bytes, magic 0x%08x, expected "
                        "0x00000803\n", size, size >= 4 ? be32(buf) : 0u);
        rc = EXIT_RUNTIME;
    }
    uint64_t n = 0, rows = 0, cols = 0;
    if (!rc) {
        n = be32(buf + 4), rows = be32(buf + 8), cols = be32(buf + 12);
        if (rows * cols != (uint64_t)pr->in) {
            fprintf(stderr, "blasnet predict: -: images are %llux%llu (%llu pixels) but the model takes %d inputs\n",
                    (unsigned long long)rows, (unsigned long long)cols, (unsigned long long)(rows * cols), pr->in);
            rc = EXIT_RUNTIME;
        } else if (16 + n * rows * cols != size) {
            fprintf(stderr, "blasnet predict: -: the header says %llu images of %llux%llu (%llu bytes in all) but "
                            "stdin held %zu bytes\n", (unsigned long long)n, (unsigned long long)rows,
                    (unsigned long long)cols, (unsigned long long)(16 + n * rows * cols), size);
            rc = EXIT_RUNTIME;
        }
    }
    /* A batch at a time through the net's own input staging, scaled as bn_dataset_gather scales. */
    const size_t batch = (size_t)bn_net_max_batch(pr->net);
    float *x = bn_net_input(pr->net);
    for (size_t start = 0; !rc && start < n; start += batch) {
        size_t b = n - start < batch ? n - start : batch;
        const uint8_t *px = buf + 16 + start * (size_t)pr->in;
        for (size_t i = 0; i < b * (size_t)pr->in; i++)
            x[i] = px[i] / 255.0f;
        rc = classify(pr, "-", (long)start, x, (int)b);
    }
    free(buf);
    return rc;
}

cli_exit cmd_predict(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'}, {"top", required_argument, 0, 'k'},
        {"fitted", required_argument, 0, 'f'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model_path = NULL, *fitted = NULL;
    int top = 3, c, rc = 0;
    optind = 1;
    opterr = 0;
    /* "-" must stay a positional argument, and images may come before the flags: permute, no short options. */
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1 && !rc) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'k': rc = parse_int("predict", "--top", optarg, 1, BN_MAX_WIDTH, &top); break;
        case 'f': fitted = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': rc = usage_error("predict", "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error("predict", "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc)
        return rc;
    if (!model_path)
        return usage_error("predict", "--model FILE is required");
    if (optind >= argc)
        return usage_error("predict", "give at least one IMAGE, or - for IDX images on stdin");
    int dashes = 0;
    for (int i = optind; i < argc; i++)
        dashes += strcmp(argv[i], "-") == 0;
    if (dashes > 1)
        return usage_error("predict", "- (stdin) may be given once");

    predictor pr = {.top = top, .fitted_dir = fitted};
    int status = bn_checkpoint_load(&pr.net, NULL, model_path, 256, bn_backend_find("blas"));
    if (status)
        return runtime_error("predict", status, "give a file written by blasnet train --save");
    const bn_arch *arch = bn_net_arch(pr.net);
    pr.in = arch->sizes[0];
    pr.classes = arch->sizes[arch->depth];
    pr.top = pr.top < pr.classes ? pr.top : pr.classes;
    int side = (int)lround(sqrt((double)pr.in));
    for (int i = optind; i < argc; i++) {
        int r;
        if (strcmp(argv[i], "-") == 0) {
            r = predict_stdin(&pr);
        } else if (side * side != pr.in) {
            fprintf(stderr, "blasnet predict: %s: the model's %d inputs are not a square image; only - (IDX on "
                            "stdin) can feed it\n", argv[i], pr.in);
            r = EXIT_RUNTIME;
        } else {
            r = predict_file(&pr, argv[i], side);
        }
        rc = rc ? rc : r; /* keep going: one unreadable image should not hide the others' answers */
        fflush(stdout);
    }
    bn_net_destroy(&pr.net);
    return rc;
}
