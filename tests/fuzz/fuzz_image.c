/* Fuzz target for the picture reader behind predict (src/cli/picture.c and image.c, compiled in): any bytes
 * go through the format check, the completeness walk, the size cap and stb_image's PNG, JPEG or PGM/PPM
 * decoder, then, where a picture comes out, through the fitting to a 28x28 input. Never a crash, a leak or an
 * out-of-bounds read; a decoded picture is its declared size and every pixel of it is read. Built with a
 * pixel cap of 2^20 (tests/meson.build), so that one input cannot take the fuzzer's seconds. */
#include "fuzz_main.h"
#include "image.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *gray = NULL, fit[28 * 28];
    int w = 0, h = 0;
    if (img_decode_gray(data, size, "fuzz", &gray, &w, &h) != 0)
        return 0;
    if (!gray || w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > IMG_PIXEL_CAP)
        abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        sum += gray[i];
    (void)sum;
    double ink_share;
    if (img_fit_digit(fit, 28, 28, gray, w, h, &ink_share) < 0 || ink_share < 0.0 || ink_share > 1.0)
        abort(); /* only an allocation can fail there, and these pictures are small */
    free(gray);
    return 0;
}
