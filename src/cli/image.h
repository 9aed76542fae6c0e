/* Pictures for the CLI: reading PNG/JPEG/PGM through stb_image, writing PNG through stb_image_write, area
 * resampling, fitting a photo of a digit to an MNIST-style input, and the grid and glyph helpers that the
 * weights, errors and moons pictures share. Functions return 0 or -1 with a message in img_error(). */
#ifndef BN_CLI_IMAGE_H
#define BN_CLI_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* The reason for the last -1 returned on this thread (file name and the decoder's or errno's words). */
const char *img_error(void);
/* Records that reason and returns -1. */
int img_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The caps on a picture (README "Your files and memory"): bytes in its file, and pixels, which decide what
 * decoding it costs (a 1 KiB PNG can declare 30000x30000). 2^26 pixels is 8192x8192, more than any phone's
 * camera; decoding one takes about 600 MB at most. */
#define IMG_FILE_CAP ((uint64_t)256 << 20)
#ifndef IMG_PIXEL_CAP /* the fuzz target builds with less */
#define IMG_PIXEL_CAP ((uint64_t)1 << 26)
#endif

/* A PNG, JPEG or PGM/PPM picture held in memory (size bytes; name for messages) as 8-bit grayscale: *pixels
 * (h, w), freed with free(). Any other format, a truncated file and a picture over IMG_PIXEL_CAP are
 * refused. */
int img_decode_gray(const uint8_t *data, size_t size, const char *name, uint8_t **pixels, int *w, int *h);
/* The same from a file (or pipe, or device) of at most IMG_FILE_CAP bytes. */
int img_load_gray(const char *path, uint8_t **pixels, int *w, int *h);

/* Writes (h, w, channels) 8-bit pixels as PNG: a temporary file beside path, then rename, so a failure
 * leaves any earlier file intact. */
int img_write_png(const char *path, int w, int h, int channels, const uint8_t *pixels);

/* Area resampling: each output pixel is the coverage-weighted mean of the input pixels under its footprint,
 * which is a box filter when shrinking and a smooth stretch when enlarging. src (sh, sw) -> dst (dh, dw). */
void img_resample(float *dst, int dw, int dh, const float *src, int sw, int sh);

/* Fits a grayscale picture of one character to a rows x cols input the way MNIST was made: when the border
 * is light (dark ink on paper), divide out the paper's uneven lighting and invert (MNIST is light ink on
 * black), crop to the bounding box of the ink, scale with the aspect kept so the longer side is 20/28 of the
 * shorter of rows and cols (20 of 28 for MNIST), and place it so its centre of mass is the canvas centre.
 * out (rows, cols) in 0..255; *ink_share the fraction of the picture taken for ink (a digit on paper is a
 * few percent; most of the frame means it was not that). Returns 1 when the picture has no ink (out is then
 * black), -1 when out of memory. */
int img_fit_digit(uint8_t *out, int rows, int cols, const uint8_t *gray, int w, int h, double *ink_share);

/* A grid of count tiles, cols per row, each tile_w x tile_h pixels, pad pixels around and between tiles:
 *   width  = cols * tile_w + (cols + 1) * pad
 *   height = rows * tile_h + (rows + 1) * pad,   rows = ceil(count / cols) */
typedef struct img_grid {
    int cols, rows, tile_w, tile_h, pad, width, height;
} img_grid;
int img_grid_make(img_grid *g, int count, int cols, int tile_w, int tile_h, int pad);
/* Top-left pixel of tile k (row-major order). */
void img_grid_origin(const img_grid *g, int k, int *x, int *y);

/* Draws digit d (0..9) in a 3x5 pixel font scaled by s, top-left at (x, y), into an RGB image (h, w, 3);
 * clipped at the edges. Captions for pictures that must be readable without a legend. */
void img_draw_digit(uint8_t *rgb, int w, int h, int x, int y, int d, int s, const uint8_t color[3]);

#endif
