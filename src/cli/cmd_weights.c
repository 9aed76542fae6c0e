/* blasnet weights: the first layer's weights as pictures, one tile per hidden unit reshaped to the input
 * image, laid out in a grid. Each tile is scaled symmetrically around zero by its own largest |w|, so mid
 * grey is 0, white the unit's most positive weight and black its most negative: tiles compare in shape. */
#include "cli.h"
#include "image.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char usage_text[] =
    "usage: blasnet weights --model FILE -o PNG [--cols N] [--pad P] [--scale S] [--units N] [--shape RxC]\n"
    "  --model FILE   a model written by blasnet train --save\n"
    "  -o, --output PNG  the picture to write\n"
    "  --cols N       tiles per row (default: ceil(sqrt(units)))\n"
    "  --pad P        pixels of white between and around tiles (default: 2)\n"
    "  --scale S      each weight drawn as an SxS block (default: 2)\n"
    "  --units N      draw the first N hidden units only (default: all)\n"
    "  --shape RxC    input image shape (default: square, sqrt of the input size)\n"
    "Tile j shows column j of the first layer's (in, out) weight matrix; mid grey is 0, white and black the\n"
    "unit's largest positive and negative weights (each tile scaled by its own max |w|).\n"
    "picture: width = cols*(C*S) + (cols+1)*P, height = rows*(R*S) + (rows+1)*P, rows = ceil(units/cols).\n";

static int parse_shape(const char *text, int *rows, int *cols)
{
    char tail;
    return sscanf(text, "%d x %d%c", rows, cols, &tail) == 2 && *rows > 0 && *cols > 0 ? 0 : -1;
}

cli_exit cmd_weights(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'}, {"output", required_argument, 0, 'o'},
        {"cols", required_argument, 0, 'c'},  {"pad", required_argument, 0, 'p'},
        {"scale", required_argument, 0, 's'}, {"units", required_argument, 0, 'u'},
        {"shape", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model_path = NULL, *out_path = NULL, *shape = NULL;
    int cols = 0, pad = 2, scale = 2, units = 0, c, rc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", options, NULL)) != -1 && !rc) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'c': rc = parse_int("weights", "--cols", optarg, 1, 4096, &cols); break;
        case 'p': rc = parse_int("weights", "--pad", optarg, 0, 64, &pad); break;
        case 's': rc = parse_int("weights", "--scale", optarg, 1, 32, &scale); break;
        case 'u': rc = parse_int("weights", "--units", optarg, 1, BN_MAX_WIDTH, &units); break;
        case 'r': shape = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': rc = usage_error("weights", "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error("weights", "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return usage_error("weights", "unexpected argument '%s'", argv[optind]);
    if (!model_path)
        return usage_error("weights", "--model FILE is required");
    if (!out_path)
        return usage_error("weights", "-o PNG is required");
    int rows_px = 0, cols_px = 0;
    if (shape && parse_shape(shape, &rows_px, &cols_px))
        return usage_error("weights", "--shape '%s' must be RxC with positive R and C, e.g. 28x28", shape);

    bn_net *net = NULL;
    int status = bn_checkpoint_load(&net, NULL, model_path, 1, bn_backend_find("blas"));
    if (status)
        return runtime_error("weights", status, "give a file written by blasnet train --save");
    const bn_arch *arch = bn_net_arch(net);
    const int in = arch->sizes[0], out = arch->sizes[1];
    if (shape && rows_px * cols_px != in) {
        fprintf(stderr, "blasnet weights: --shape %dx%d has %d pixels but the model has %d inputs\n", rows_px,
                cols_px, rows_px * cols_px, in);
        bn_net_destroy(&net);
        return EXIT_USAGE;
    }
    if (!shape) {
        rows_px = cols_px = (int)lround(sqrt((double)in));
        if (rows_px * cols_px != in) {
            fprintf(stderr, "blasnet weights: the model's %d inputs are not a square image; give --shape RxC\n",
                    in);
            bn_net_destroy(&net);
            return EXIT_USAGE;
        }
    }
    units = units && units < out ? units : out;
    if (!cols)
        cols = (int)ceil(sqrt((double)units));
    img_grid g;
    if (img_grid_make(&g, units, cols, cols_px * scale, rows_px * scale, pad)) {
        fprintf(stderr, "blasnet weights: %s\n", img_error());
        bn_net_destroy(&net);
        return EXIT_USAGE;
    }
    uint8_t *pic = malloc((size_t)g.width * g.height);
    if (!pic) {
        fprintf(stderr, "blasnet weights: out of memory for a %dx%d picture\n", g.width, g.height);
        bn_net_destroy(&net);
        return EXIT_RUNTIME;
    }
    memset(pic, 255, (size_t)g.width * g.height);
    const float *w = bn_net_weight(net, 0); /* (in, out): unit j's weights are column j */
    for (int j = 0; j < units; j++) {
        float m = 0.0f;
        for (int i = 0; i < in; i++)
            m = fmaxf(m, fabsf(w[(size_t)i * out + j]));
        int x0, y0;
        img_grid_origin(&g, j, &x0, &y0);
        for (int i = 0; i < in; i++) {
            float t = m > 0.0f ? w[(size_t)i * out + j] / m : 0.0f; /* [-1, 1] */
            uint8_t v = (uint8_t)lroundf(127.5f + 127.5f * t);
            int r = i / cols_px, col = i % cols_px;
            for (int dy = 0; dy < scale; dy++)
                memset(pic + (size_t)(y0 + r * scale + dy) * g.width + x0 + col * scale, v, (size_t)scale);
        }
    }
    bn_net_destroy(&net);
    if (img_write_png(out_path, g.width, g.height, 1, pic)) {
        fprintf(stderr, "blasnet weights: %s\n", img_error());
        free(pic);
        return EXIT_RUNTIME;
    }
    free(pic);
    printf("weights: %d units of %dx%d in %d rows of %d -> %s (%dx%d pixels)\n", units, rows_px, cols_px, g.rows,
           g.cols, out_path, g.width, g.height);
    return EXIT_OK;
}
