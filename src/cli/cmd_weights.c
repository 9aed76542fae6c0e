/* blasnet weights: the first layer's weights as pictures, one tile per hidden unit reshaped to the input
 * image, laid out in a grid. Each tile is scaled symmetrically around zero by its own largest |w|, so mid
 * grey is 0, white the unit's most positive weight and black its most negative: tiles compare in shape. */
#include "cli.h"
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char usage_text[] =
    "usage: blasnet weights --model FILE -o PNG [--cols N] [--pad P] [--scale S] [--units N] [--order ORDER]\n"
    "                       [--shape RxC]\n"
    "  --model FILE   a model written by blasnet train --save\n"
    "  -o, --output PNG  the picture to write\n"
    "  --cols N       tiles per row (default: ceil(sqrt(units)))\n"
    "  --pad P        pixels of white between and around tiles (default: 2)\n"
    "  --scale S      each weight drawn as an SxS block (default: 2)\n"
    "  --units N      draw the first N hidden units of the order only (default: all)\n"
    "  --order ORDER  unit (default: as the layer holds them) | norm (the units that moved most from zero\n"
    "                 first: by the L2 norm of their weights)\n"
    "  --shape RxC    input image shape (default: the shape the model records, else a square)\n"
    "Tile j shows column j of the first layer's (in, out) weight matrix; mid grey is 0, white and black the\n"
    "unit's largest positive and negative weights (each tile scaled by its own max |w|).\n"
    "picture: width = cols*(C*S) + (cols+1)*P, height = rows*(R*S) + (rows+1)*P, rows = ceil(units/cols).\n"
    "Grain in a tile is mostly not a dead unit: pixels that no training digit inks (MNIST's border) give\n"
    "their weights no gradient, so those weights keep their random initial values. Weight decay pulls them\n"
    "to zero; for clean filters train with it, e.g. blasnet train --weight-decay 0.0005 --save m.bin (with\n"
    "adam, the default, a few hundred steps clear the border).\n";

enum { OPT_MODEL = OPT_COMMAND_FIRST, OPT_OUTPUT, OPT_COLS, OPT_PAD, OPT_SCALE, OPT_UNITS, OPT_ORDER, OPT_SHAPE };

typedef struct {
    cli_args common;
    const char *model_path, *out_path, *order; /* order: "unit" or "norm" */
    int cols, pad, scale, units; /* cols, units: 0 until the model says */
    int shape[2];                /* the input image's rows and columns: --shape, else from the model */
} weights_options;

static cli_exit check_options(void *ctx)
{
    weights_options *o = ctx;
    if (!o->model_path)
        return cli_error(EXIT_USAGE, "weights", "--model FILE is required");
    if (!o->out_path)
        return cli_error(EXIT_USAGE, "weights", "-o PNG is required");
    if (strcmp(o->order, "unit") != 0 && strcmp(o->order, "norm") != 0)
        return cli_error(EXIT_USAGE, "weights", "--order '%s': give unit or norm", o->order);
    return EXIT_OK;
}

/* The tiles' shape: the one the model records (since format 3), else --shape, else a square; --shape may
 * repeat a recorded shape but not contradict it. */
static cli_exit check_tile_shape(weights_options *o, int in, const bn_hparams *hp)
{
    bool given = args_given(&o->common, OPT_SHAPE);
    if (given && hp->image_rows && (o->shape[0] != hp->image_rows || o->shape[1] != hp->image_cols))
        return cli_error(EXIT_USAGE, "weights", "--shape %dx%d: '%s' was trained on %dx%d images; leave it out",
                         o->shape[0], o->shape[1], o->model_path, hp->image_rows, hp->image_cols);
    if (given && o->shape[0] * o->shape[1] != in)
        return cli_error(EXIT_USAGE, "weights", "--shape %dx%d has %d pixels but the model has %d inputs", o->shape[0],
                         o->shape[1], o->shape[0] * o->shape[1], in);
    if (given)
        return EXIT_OK;
    if (hp->image_rows) {
        o->shape[0] = hp->image_rows, o->shape[1] = hp->image_cols;
        return EXIT_OK;
    }
    o->shape[0] = o->shape[1] = (int)lround(sqrt((double)in));
    if (o->shape[0] * o->shape[1] != in)
        return cli_error(EXIT_USAGE, "weights", "the model's %d inputs are not a square image; give --shape RxC", in);
    return EXIT_OK;
}

/* Unit j's place in the order, and the L2 norm of its weights (column j of w). */
typedef struct {
    int unit;
    double norm;
} unit_norm;

static int by_norm_descending(const void *a, const void *b)
{
    const unit_norm *x = a, *y = b;
    return x->norm != y->norm ? (x->norm < y->norm ? 1 : -1) : x->unit - y->unit; /* equal norms: by unit */
}

/* The units in the order --order names, with their norms. */
static void order_units(unit_norm *u, const weights_options *o, const float *w, int in, int out)
{
    for (int j = 0; j < out; j++) {
        double sum = 0.0;
        for (int i = 0; i < in; i++)
            sum += (double)w[(size_t)i * out + j] * w[(size_t)i * out + j];
        u[j] = (unit_norm){j, sqrt(sum)};
    }
    if (strcmp(o->order, "norm") == 0)
        qsort(u, (size_t)out, sizeof *u, by_norm_descending);
}

/* Tile k: column u[k].unit of w (in, out) as a rows_px x cols_px picture, scaled by its own largest |w|. */
static void draw_units(uint8_t *pic, const img_grid *g, const weights_options *o, const float *w, int in, int out,
                       const unit_norm *u)
{
    for (int k = 0; k < o->units; k++) {
        const int j = u[k].unit;
        float m = 0.0f;
        for (int i = 0; i < in; i++)
            m = fmaxf(m, fabsf(w[(size_t)i * out + j]));
        int x0, y0;
        img_grid_origin(g, k, &x0, &y0);
        for (int i = 0; i < in; i++) {
            float t = m > 0.0f ? w[(size_t)i * out + j] / m : 0.0f; /* [-1, 1] */
            uint8_t v = (uint8_t)lroundf(127.5f + 127.5f * t);
            int r = i / o->shape[1], col = i % o->shape[1];
            for (int dy = 0; dy < o->scale; dy++)
                memset(pic + (size_t)(y0 + r * o->scale + dy) * g->width + x0 + col * o->scale, v,
                       (size_t)o->scale);
        }
    }
}

static cli_exit run_weights(void *ctx)
{
    weights_options *o = ctx;
    bn_net *net = NULL;
    uint8_t *pic = NULL;
    unit_norm *order = NULL;
    img_grid g;
    cli_exit rc = files_check_pair("weights", "--model", o->model_path, "-o", o->out_path);
    bn_train_state state;
    int status = rc ? BN_OK : bn_checkpoint_load(&net, &state, o->model_path, 1, o->common.backend);
    if (rc)
        goto out;
    if (status) {
        rc = runtime_error("weights", status, "give a file written by blasnet train --save");
        goto out;
    }
    const int n_in = bn_net_arch(net)->sizes[0], n_out = bn_net_arch(net)->sizes[1];
    if ((rc = check_tile_shape(o, n_in, &state.hp)))
        goto out;
    o->units = o->units && o->units < n_out ? o->units : n_out;
    o->cols = o->cols ? o->cols : (int)ceil(sqrt((double)o->units));
    if (img_grid_make(&g, o->units, o->cols, o->shape[1] * o->scale, o->shape[0] * o->scale, o->pad)) {
        rc = cli_error(EXIT_USAGE, "weights", "%s", img_error());
        goto out;
    }
    if (!(pic = malloc((size_t)g.width * g.height)) || !(order = malloc((size_t)n_out * sizeof *order))) {
        rc = cli_error(EXIT_RUNTIME, "weights", "out of memory for a %dx%d picture; lower --scale or --units", g.width,
                       g.height);
        goto out;
    }
    memset(pic, 255, (size_t)g.width * g.height);
    const float *w = bn_net_weight(net, 0); /* (in, out): unit j's weights are column j */
    order_units(order, o, w, n_in, n_out);
    draw_units(pic, &g, o, w, n_in, n_out, order);
    if (img_write_png(o->out_path, g.width, g.height, 1, pic)) {
        rc = cli_error(EXIT_RUNTIME, "weights", "%s; check the folder exists and is writable", img_error());
        goto out;
    }
    printf("weights: %d units of %dx%d in %d rows of %d -> %s (%dx%d pixels)\n", o->units, o->shape[0], o->shape[1],
           g.rows, g.cols, o->out_path, g.width, g.height);
    if (strcmp(o->order, "norm") == 0)
        printf("weights: by norm, units %d (%.3g) first to %d (%.3g) last\n", order[0].unit, order[0].norm,
               order[o->units - 1].unit, order[o->units - 1].norm);
out:
    free(order);
    free(pic);
    bn_net_destroy(&net);
    return rc;
}

cli_exit cmd_weights(int argc, char **argv)
{
    weights_options o = {.pad = 2, .scale = 2, .order = "unit"};
    const cli_option own[] = {
        opt_text("model", OPT_MODEL, &o.model_path), with_short('o', opt_text("output", OPT_OUTPUT, &o.out_path)),
        opt_int("cols", OPT_COLS, &o.cols, 1, 4096), opt_int("pad", OPT_PAD, &o.pad, 0, 64),
        opt_int("scale", OPT_SCALE, &o.scale, 1, 32), opt_int("units", OPT_UNITS, &o.units, 1, BN_MAX_WIDTH),
        opt_text("order", OPT_ORDER, &o.order),
        opt_shape("shape", OPT_SHAPE, o.shape, 1, BN_MAX_WIDTH, BN_MAX_WIDTH, "28x28"),
    };
    const cli_command command = {"weights", usage_text, 0, own, ARRAY_LEN(own), 0, check_options, run_weights, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
