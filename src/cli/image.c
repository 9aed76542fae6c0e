/* Pictures the CLI writes: PNG through Debian's libstb-dev stb_image_write (the only file that compiles its
 * implementation) and the atomic writer; and the small pixel helpers of image.h: area resampling,
 * MNIST-style fitting, grid layout, a 3x5 digit font. Reading is picture.c's. */
#include "image.h"

#include "atomic_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* stb is third-party code: its own warnings are not ours to fix, and -Werror must not trip on them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

static _Thread_local char error_text[1024];

const char *img_error(void)
{
    return error_text;
}

int img_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
    return -1;
}

/* stb's encoder hands the PNG out in pieces: each goes straight to the temporary file. */
static void sink_write(void *ctx, void *data, int size)
{
    bn_out *out = ctx;
    if (!out->failed && size > 0)
        (void)bn_out_write(out, data, (size_t)size); /* a failure sets out->failed, and close reports it */
}

int img_write_png(const char *path, int w, int h, int channels, const uint8_t *pixels)
{
    bn_out out;
    if (bn_out_open(&out, path))
        return img_fail("%s", bn_errmsg());
    if (!stbi_write_png_to_func(sink_write, &out, w, h, channels, pixels, w * channels)) {
        bn_out_discard(&out);
        return img_fail("cannot write '%s': the PNG encoder failed (out of memory?)", path);
    }
    return bn_out_close(&out) ? img_fail("%s", bn_errmsg()) : 0;
}

void img_resample(float *dst, int dw, int dh, const float *src, int sw, int sh)
{
    const double sx = (double)sw / dw, sy = (double)sh / dh;
    for (int y = 0; y < dh; y++) {
        double y0 = y * sy, y1 = (y + 1) * sy;
        for (int x = 0; x < dw; x++) {
            double x0 = x * sx, x1 = (x + 1) * sx, sum = 0.0;
            for (int j = (int)y0; j < sh && j < y1; j++) {
                double wy = fmin(y1, j + 1) - fmax(y0, j);
                for (int i = (int)x0; i < sw && i < x1; i++) {
                    double wx = fmin(x1, i + 1) - fmax(x0, i);
                    sum += wx * wy * src[(size_t)j * sw + i];
                }
            }
            dst[(size_t)y * dw + x] = (float)(sum / ((x1 - x0) * (y1 - y0)));
        }
    }
}

typedef struct {
    int x0, y0, x1, y1; /* inclusive; x1 < 0 when there is no ink */
} ink_box;

/* ---- paper that is lit unevenly -------------------------------------------------------------------------
 * A phone photo of a digit on paper is brighter on one side than the other: a dark 7 on paper shaded from
 * grey 250 to 160 was read as an 8, the dim side taken for ink. Light multiplies what the paper reflects, so
 * dividing each pixel by the brightness of the paper under it makes the paper 1 everywhere and the ink its
 * own darkness. That brightness is estimated as a smooth surface on a grid of blocks (at most 256 on the
 * longer side, so a 12-megapixel photo costs no more than a small one): each block's brightest pixel, then a
 * closing (the brightest block within a window a third of the shorter side wide, wider than any stroke so
 * ink never passes for paper, then the darkest of those within the same window), then a box mean half as
 * wide, then interpolated back between block centres.
 *
 * The closing, unlike a plain running max, returns a linear ramp of light unchanged: a max alone made the
 * paper 7% brighter than it was on that 7's picture, and its dim edge became a column of "ink" that
 * widened the crop. Every window is centred and shrinks near the edges (radius min(r, i, n-1-i)), which
 * keeps a ramp exact up to the edges on its dim side and errs at most half a window's rise on its bright
 * side, where the error is the smallest share of the light. */
enum { PAPER_GRID = 256 };

typedef struct {
    float *cell; /* (gh, gw) */
    int block, gw, gh;
} paper_map;

typedef enum { PAPER_MAX, PAPER_MIN, PAPER_MEAN } paper_filter;

/* One pass of filter f with a centred window of radius r along n values at stride. */
static void filter_line(float *v, float *tmp, int n, int stride, int r, paper_filter f)
{
    for (int i = 0; i < n; i++)
        tmp[i] = v[(size_t)i * stride];
    for (int i = 0; i < n; i++) {
        int k = r < i ? r : i;
        k = k < n - 1 - i ? k : n - 1 - i;
        float acc = tmp[i - k];
        for (int j = i - k + 1; j <= i + k; j++)
            acc = f == PAPER_MAX ? fmaxf(acc, tmp[j]) : f == PAPER_MIN ? fminf(acc, tmp[j]) : acc + tmp[j];
        v[(size_t)i * stride] = f == PAPER_MEAN ? acc / (float)(2 * k + 1) : acc;
    }
}

static void filter_grid(paper_map *m, float *tmp, int r, paper_filter f)
{
    for (int y = 0; y < m->gh; y++)
        filter_line(m->cell + (size_t)y * m->gw, tmp, m->gw, 1, r, f);
    for (int x = 0; x < m->gw; x++)
        filter_line(m->cell + x, tmp, m->gh, m->gw, r, f);
}

static int paper_brightness(paper_map *m, const uint8_t *gray, int w, int h)
{
    int longer = w > h ? w : h;
    m->block = (longer + PAPER_GRID - 1) / PAPER_GRID;
    m->gw = (w + m->block - 1) / m->block, m->gh = (h + m->block - 1) / m->block;
    m->cell = calloc((size_t)m->gw * m->gh, sizeof *m->cell);
    float *tmp = malloc((size_t)(m->gw > m->gh ? m->gw : m->gh) * sizeof *tmp);
    if (!m->cell || !tmp) {
        free(tmp);
        return img_fail("out of memory for a %dx%d image", w, h);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *c = &m->cell[(size_t)(y / m->block) * m->gw + x / m->block];
            *c = fmaxf(*c, gray[(size_t)y * w + x]);
        }
    int r = (m->gw < m->gh ? m->gw : m->gh) / 6 + 1; /* a window of a third of the shorter side */
    filter_grid(m, tmp, r, PAPER_MAX);
    filter_grid(m, tmp, r, PAPER_MIN);
    filter_grid(m, tmp, r / 2, PAPER_MEAN);
    free(tmp);
    return 0;
}

/* The surface at pixel (x, y): bilinear between the centres of the blocks around it. */
static float paper_at(const paper_map *m, int x, int y)
{
    float gx = ((float)x + 0.5f) / (float)m->block - 0.5f, gy = ((float)y + 0.5f) / (float)m->block - 0.5f;
    gx = gx < 0 ? 0 : gx > (float)(m->gw - 1) ? (float)(m->gw - 1) : gx;
    gy = gy < 0 ? 0 : gy > (float)(m->gh - 1) ? (float)(m->gh - 1) : gy;
    int x0 = (int)gx, y0 = (int)gy, x1 = x0 + 1 < m->gw ? x0 + 1 : x0, y1 = y0 + 1 < m->gh ? y0 + 1 : y0;
    float fx = gx - (float)x0, fy = gy - (float)y0;
    const float *c = m->cell;
    float top = c[(size_t)y0 * m->gw + x0] + fx * (c[(size_t)y0 * m->gw + x1] - c[(size_t)y0 * m->gw + x0]);
    float bottom = c[(size_t)y1 * m->gw + x0] + fx * (c[(size_t)y1 * m->gw + x1] - c[(size_t)y1 * m->gw + x0]);
    return top + fy * (bottom - top);
}

/* gray (h, w) as ink in [0, 1] into v (h, w). A light border means dark ink on paper: each pixel's darkness
 * against the paper under it (the uneven light divided out); else light ink on a dark ground, taken as MNIST
 * is, against the border's mean. Then stretched so that the background is 0 and the strongest ink 1. Returns
 * the ink's bounding box and, in *ink, the pixels it holds; -1 in box.x1 when out of memory. */
static ink_box find_ink(float *v, const uint8_t *gray, int w, int h, size_t *ink)
{
    size_t n = (size_t)w * h;
    double border = 0.0;
    int border_n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (y == 0 || x == 0 || y == h - 1 || x == w - 1)
                border += gray[(size_t)y * w + x] / 255.0, border_n++;
    border /= border_n;
    bool paper = border > 0.5;
    paper_map m = {0};
    ink_box b = {w, h, -1, -1};
    *ink = 0;
    if (paper && paper_brightness(&m, gray, w, h))
        return (ink_box){-1, -1, -1, -1}; /* x0 < 0: out of memory */
    float lo = paper ? 0.0f : (float)border, hi = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float bright = paper ? fmaxf(paper_at(&m, (int)(i % (size_t)w), (int)(i / (size_t)w)), 1.0f) : 255.0f;
        v[i] = paper ? 1.0f - fminf(gray[i] / bright, 1.0f) : gray[i] / 255.0f;
        hi = v[i] > hi ? v[i] : hi;
    }
    free(m.cell);
    /* Values within a tenth of the range above the background are paper texture or sensor noise, not ink. */
    if (hi - lo > 0.1f)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float *p = &v[(size_t)y * w + x];
                *p = (*p - lo) / (hi - lo);
                *p = *p < 0.1f ? 0.0f : *p > 1.0f ? 1.0f : *p;
                if (*p > 0.0f) {
                    b.x0 = x < b.x0 ? x : b.x0, b.x1 = x > b.x1 ? x : b.x1;
                    b.y0 = y < b.y0 ? y : b.y0, b.y1 = y > b.y1 ? y : b.y1;
                    (*ink)++;
                }
            }
    return b;
}

/* fit (nh, nw) into out (rows, cols) with its centre of mass at pixel (rows/2, cols/2), (14, 14) of 28x28:
 * where MNIST's digits have it (measured: the mean over the first 2000 test images is (14.00, 13.99) in pixel
 * indices). */
static void place_by_mass(uint8_t *out, int rows, int cols, const float *fit, int nw, int nh)
{
    double mass = 0.0, mx = 0.0, my = 0.0;
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++) {
            double m = fit[(size_t)y * nw + x];
            mass += m, mx += m * x, my += m * y;
        }
    int ox = mass > 0 ? (int)lround(cols / 2.0 - mx / mass) : (cols - nw) / 2;
    int oy = mass > 0 ? (int)lround(rows / 2.0 - my / mass) : (rows - nh) / 2;
    /* Keep the whole character on the canvas: a lopsided glyph would otherwise lose its far edge. */
    ox = ox < 0 ? 0 : ox > cols - nw ? cols - nw : ox;
    oy = oy < 0 ? 0 : oy > rows - nh ? rows - nh : oy;
    for (int y = 0; y < nh; y++)
        for (int x = 0; x < nw; x++) {
            float p = fit[(size_t)y * nw + x];
            out[(size_t)(oy + y) * cols + ox + x] = (uint8_t)lroundf(255.0f * (p < 0 ? 0 : p > 1 ? 1 : p));
        }
}

int img_fit_digit(uint8_t *out, int rows, int cols, const uint8_t *gray, int w, int h, double *ink_share)
{
    memset(out, 0, (size_t)rows * cols);
    float *v = malloc((size_t)w * h * sizeof *v), *crop = NULL, *fit = NULL;
    size_t ink = 0;
    int rc = 0;
    *ink_share = 0.0;
    if (!v) {
        rc = img_fail("out of memory for a %dx%d image", w, h);
        goto out;
    }
    ink_box b = find_ink(v, gray, w, h, &ink);
    *ink_share = (double)ink / ((double)w * h);
    if (b.x1 < 0) {
        rc = b.x0 < 0 ? -1 : 1;
        goto out;
    }
    int box = (int)lround((rows < cols ? rows : cols) * 20.0 / 28.0); /* MNIST: a 20x20 box in a 28x28 field */
    int bw = b.x1 - b.x0 + 1, bh = b.y1 - b.y0 + 1;
    double scale = (double)(box > 0 ? box : 1) / (bw > bh ? bw : bh);
    int nw = (int)lround(bw * scale), nh = (int)lround(bh * scale);
    nw = nw < 1 ? 1 : nw, nh = nh < 1 ? 1 : nh;
    crop = malloc((size_t)bw * bh * sizeof *crop), fit = malloc((size_t)nw * nh * sizeof *fit);
    if (!crop || !fit) {
        rc = img_fail("out of memory for a %dx%d image", w, h);
        goto out;
    }
    for (int y = 0; y < bh; y++)
        memcpy(crop + (size_t)y * bw, v + (size_t)(b.y0 + y) * w + b.x0, (size_t)bw * sizeof *crop);
    img_resample(fit, nw, nh, crop, bw, bh);
    place_by_mass(out, rows, cols, fit, nw, nh);
out:
    free(v), free(crop), free(fit);
    return rc;
}

int img_grid_make(img_grid *g, int count, int cols, int tile_w, int tile_h, int pad)
{
    if (count < 1 || cols < 1 || tile_w < 1 || tile_h < 1 || pad < 0)
        return img_fail("grid of %d tiles, %d columns, %dx%d tiles, padding %d is empty or negative", count, cols,
                    tile_w, tile_h, pad);
    g->cols = cols < count ? cols : count;
    g->rows = (count + g->cols - 1) / g->cols;
    g->tile_w = tile_w, g->tile_h = tile_h, g->pad = pad;
    long long width = (long long)g->cols * tile_w + (long long)(g->cols + 1) * pad;
    long long height = (long long)g->rows * tile_h + (long long)(g->rows + 1) * pad;
    /* 16384 keeps w*h*3 far from int overflow inside the encoder and the picture viewable. */
    if (width > 16384 || height > 16384)
        return img_fail("the picture would be %lldx%lld pixels (16384 at most): use fewer columns, tiles or a "
                    "smaller scale",
                    width, height);
    g->width = (int)width, g->height = (int)height;
    return 0;
}

void img_grid_origin(const img_grid *g, int k, int *x, int *y)
{
    *x = g->pad + (k % g->cols) * (g->tile_w + g->pad);
    *y = g->pad + (k / g->cols) * (g->tile_h + g->pad);
}

/* Rows of the 3x5 font, top first, three bits each (leftmost pixel in the high bit). */
static const uint16_t font3x5[10] = {
    075557, 026227, 071747, 071717, 055711, 074717, 074757, 071111, 075757, 075717,
};

void img_draw_digit(uint8_t *rgb, int w, int h, int x, int y, int d, int s, const uint8_t color[3])
{
    if (d < 0 || d > 9)
        return;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 3; c++) {
            if (!((font3x5[d] >> (3 * (4 - r) + (2 - c))) & 1))
                continue;
            for (int dy = 0; dy < s; dy++)
                for (int dx = 0; dx < s; dx++) {
                    int px = x + c * s + dx, py = y + r * s + dy;
                    if (px >= 0 && py >= 0 && px < w && py < h)
                        memcpy(rgb + ((size_t)py * w + px) * 3, color, 3);
                }
        }
}
