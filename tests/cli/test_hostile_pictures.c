/* Hostile pictures for predict: PNG, JPEG and PGM files cut short at several places are refused with one line
 * that says truncated (stb_image decodes a short JPEG or PGM without a word, from memory it never filled, so
 * the answer changed from run to run); so are a PNG whose header declares 100000x100000 pixels, a picture in
 * a format blasnet does not read, and a file that is no picture. The whole files are answered. */
#define _GNU_SOURCE /* mkdtemp */
#include "cli_run.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include <stdio.h> /* before jpeglib.h */
#include <jpeglib.h>
#include <zlib.h>

static char model[400];

enum { SIDE = 64 };

/* A dark 7 on light paper, SIDE x SIDE: enough for a picture that every decoder takes. */
static void seven(uint8_t *px)
{
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            bool bar = y >= 12 && y < 18 && x >= 14 && x < 50;
            bool stem = x >= 40 - (y - 18) / 3 && x < 46 - (y - 18) / 3 && y >= 18 && y < 54;
            px[y * SIDE + x] = bar || stem ? 20 : 235;
        }
}

static void write_file(const char *path, const uint8_t *bytes, size_t size)
{
    CHECKF(idxw_write_bytes(path, bytes, size) == 0, "cannot write %s", path);
}

static void setup(void)
{
    char data[300];
    make_dir(data, sizeof data, "data");
    CHECK(idxw_write_synth_pair(data, "train", 200, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(data, "t10k", 50, 28, 28, 10, 2) == 0);
    snprintf(model, sizeof model, "%s/m.bin", root);
    cli_result r = RUN("train", "--data", data, "--epochs", "1", "--hidden", "8", "--quiet", "--threads", "1",
                       "--save", model);
    CHECKF(r.code == 0, "setup train: exit %d: %s", r.code, r.err);
    result_free(&r);
}

/* The whole picture is answered; cut at each of the cuts (bytes kept), it is refused as truncated. */
static void cut_short(const char *name, const uint8_t *bytes, size_t size, const size_t *cuts, int n_cuts)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", root, name);
    write_file(path, bytes, size);
    cli_result r = RUN("predict", "--model", model, path);
    no_crash(name, &r);
    CHECKF(r.code == 0 && strstr(r.out, name), "%s whole: exit %d: %s", name, r.code, r.err);
    result_free(&r);
    for (int i = 0; i < n_cuts; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s cut to %zu of %zu bytes", name, cuts[i], size);
        write_file(path, bytes, cuts[i]);
        r = expect_one_error_line(what, 1, "truncated", (const char *const[]){"predict", "--model", model, path, NULL});
        CHECKF(!strstr(r.out, name), "%s: answered anyway: %s", what, r.out);
        result_free(&r);
    }
}

typedef struct {
    uint8_t *bytes;
    size_t size, cap;
} buffer;

static void append(void *ctx, void *data, int size)
{
    buffer *b = ctx;
    if (b->size + (size_t)size > b->cap) {
        b->cap = 2 * (b->size + (size_t)size);
        b->bytes = realloc(b->bytes, b->cap);
    }
    memcpy(b->bytes + b->size, data, (size_t)size);
    b->size += (size_t)size;
}

/* The picture as a gray JPEG, by libjpeg (stb_image_write's JPEG encoder shifts a signed int too far, which
 * UBSan stops). */
static void write_jpeg(buffer *out, const uint8_t *px)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *mem = NULL;
    unsigned long size = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &size);
    c.image_width = SIDE, c.image_height = SIDE, c.input_components = 1, c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < SIDE) {
        JSAMPROW row = (JSAMPROW)(px + c.next_scanline * SIDE);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    append(out, mem, (int)size);
    free(mem);
}

static void truncated_png_jpeg_pgm(void)
{
    uint8_t px[SIDE * SIDE];
    seven(px);
    buffer png = {0}, jpg = {0};
    CHECK(stbi_write_png_to_func(append, &png, SIDE, SIDE, 1, px, SIDE));
    write_jpeg(&jpg, px);
    size_t png_cuts[] = {8, 40, png.size / 2, png.size - 12, png.size - 1};
    cut_short("seven.png", png.bytes, png.size, png_cuts, 5);
    size_t jpg_cuts[] = {3, 100, jpg.size / 2, jpg.size - 2, jpg.size - 1};
    cut_short("seven.jpg", jpg.bytes, jpg.size, jpg_cuts, 5);
    uint8_t pgm[32 + SIDE * SIDE];
    size_t head = (size_t)snprintf((char *)pgm, 32, "P5\n# a comment\n%d %d\n255\n", SIDE, SIDE);
    memcpy(pgm + head, px, sizeof px);
    size_t pgm_cuts[] = {2, head - 3, head, head + SIDE * SIDE / 2, head + SIDE * SIDE - 1};
    cut_short("seven.pgm", pgm, head + SIDE * SIDE, pgm_cuts, 5);
    free(png.bytes);
    free(jpg.bytes);
}

/* A valid PNG whose header declares 100000x100000 gray pixels (10 GB decoded), in a few hundred bytes. */
static void huge_declared_png(void)
{
    uint8_t file[64];
    size_t at = 0;
    memcpy(file, "\x89PNG\r\n\x1a\n", 8), at = 8;
    uint8_t ihdr[17] = "IHDR";
    idxw_be32(ihdr + 4, 100000), idxw_be32(ihdr + 8, 100000);
    ihdr[12] = 8, ihdr[13] = 0; /* 8-bit gray */
    idxw_be32(file + at, 13), at += 4;
    memcpy(file + at, ihdr, 17), at += 17;
    idxw_be32(file + at, (uint32_t)crc32(0, ihdr, 17)), at += 4;
    idxw_be32(file + at, 0), at += 4;
    memcpy(file + at, "IEND", 4), at += 4;
    idxw_be32(file + at, (uint32_t)crc32(0, (const uint8_t *)"IEND", 4)), at += 4;
    char path[400];
    snprintf(path, sizeof path, "%s/huge.png", root);
    write_file(path, file, at);
    cli_result r = expect_one_error_line("a PNG declaring 100000x100000", 1, "100000x100000",
                                         (const char *const[]){"predict", "--model", model, path, NULL});
    result_free(&r);
}

/* Formats stb could read but blasnet does not verify, and files that are no picture at all. */
static void other_formats(void)
{
    char bmp[400];
    snprintf(bmp, sizeof bmp, "%s/seven.bmp", root);
    uint8_t px[SIDE * SIDE];
    seven(px);
    CHECK(stbi_write_bmp(bmp, SIDE, SIDE, 1, px));
    cli_result r = expect_one_error_line("a BMP", 1, "not a PNG, JPEG or PGM",
                                         (const char *const[]){"predict", "--model", model, bmp, NULL});
    result_free(&r);
    r = expect_one_error_line("the model as a picture", 1, "not a PNG, JPEG or PGM",
                              (const char *const[]){"predict", "--model", model, model, NULL});
    result_free(&r);
    char empty[400];
    snprintf(empty, sizeof empty, "%s/empty.png", root);
    write_file(empty, (const uint8_t *)"", 0);
    r = expect_one_error_line("an empty file", 1, "empty.png",
                              (const char *const[]){"predict", "--model", model, empty, NULL});
    result_free(&r);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "hostile-pictures"))
        return EXIT_FAILURE;
    bn_test_case("setup", setup);
    bn_test_case("truncated PNG, JPEG and PGM are refused", truncated_png_jpeg_pgm);
    bn_test_case("a PNG declaring 10 GB of pixels is refused", huge_declared_png);
    bn_test_case("other formats and non-pictures are refused", other_formats);
    bn_test_remove_tree(root);
    return bn_test_exit("hostile_pictures");
}
