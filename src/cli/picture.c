/* Reading a picture for predict: the file read whole, within IMG_FILE_CAP bytes (a pipe or device too); its
 * format recognised by its first bytes and checked complete before any decoder sees it (PNG up to its IEND
 * chunk, JPEG up to its EOI marker, PGM/PPM as long as its header says); its size checked against
 * IMG_PIXEL_CAP from its header; then decoded to 8-bit gray: PNG by libpng, JPEG by libjpeg-turbo (both
 * fuzzed for years upstream), PGM/PPM here. Not by stb_image: the 2.27 that Debian 12 ships decoded a short
 * JPEG or PGM from memory it never filled, and our fuzzer found in it a heap overflow in the JPEG Huffman
 * tables, a read past the buffer for 16-bit PPM, a failed assertion and undefined behaviour in PNG within
 * minutes, each fixed only in later releases. */
#include "file_read.h"
#include "image.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE without including it */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

typedef enum { PIC_UNKNOWN, PIC_PNG, PIC_JPEG, PIC_PNM } pic_format;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static pic_format format_of(const uint8_t *d, size_t n)
{
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return PIC_PNG;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return PIC_JPEG;
    if (n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6'))
        return PIC_PNM;
    return PIC_UNKNOWN;
}

/* Each check below walks a file of its format as far as its header says it goes, reads the picture's size
 * from it into *w, *h, and returns NULL, or what is wrong, for the message: "'F' (a JPEG) <problem>". */
/* Chunk after chunk (length, type, data, CRC) until IEND, the size from IHDR. */
static const char *png_problem(const uint8_t *d, size_t n, uint64_t *w, uint64_t *h)
{
    for (size_t at = 8; n - at >= 12;) {
        uint64_t chunk = 12 + (uint64_t)be32(d + at);
        if (chunk > n - at)
            break;
        if (memcmp(d + at + 4, "IHDR", 4) == 0 && chunk >= 20 && !*w && !*h) /* the first, as libpng reads */
            *w = be32(d + at + 8), *h = be32(d + at + 12);
        if (memcmp(d + at + 4, "IEND", 4) == 0)
            return NULL;
        at += (size_t)chunk;
    }
    return "chunk (IEND)";
}

/* After SOS, the entropy-coded data runs to the next marker: FF followed by neither 00 (a stuffed FF) nor
 * a restart marker (D0..D7). The index of that FF, or n. */
static size_t jpeg_scan_end(const uint8_t *d, size_t n, size_t at)
{
    for (; at + 1 < n; at++)
        if (d[at] == 0xFF && d[at + 1] != 0x00 && !(d[at + 1] >= 0xD0 && d[at + 1] <= 0xD7))
            return at;
    return n;
}

/* A start-of-frame marker (baseline, progressive, lossless, arithmetic), which holds the picture's size. */
static bool jpeg_frame(uint8_t m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Segment after segment (each marker's length says where the next begins; an EXIF thumbnail inside APP1 is
 * skipped whole), scans to their end, until EOI; the size from the frame. */
static const char *jpeg_problem(const uint8_t *d, size_t n, uint64_t *w, uint64_t *h)
{
    size_t at = 2;
    while (at + 1 < n && d[at] == 0xFF) {
        uint8_t m = d[at + 1];
        if (m == 0xD9)
            return NULL;
        if (m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { /* fill bytes; markers without a length */
            at += m == 0xFF ? 1 : 2;
            continue;
        }
        if (at + 4 > n)
            break;
        size_t next = at + 2 + ((size_t)d[at + 2] << 8 | d[at + 3]);
        if (jpeg_frame(m) && at + 9 <= n && !*w && !*h) /* the first frame, as libjpeg reads */
            *h = (uint64_t)d[at + 5] << 8 | d[at + 6], *w = (uint64_t)d[at + 7] << 8 | d[at + 8];
        at = m == 0xDA ? jpeg_scan_end(d, n, next) : next;
    }
    return at + 1 < n ? "is damaged: a marker is missing where a segment ends" : "marker (EOI)";
}

/* The next header number of a PGM/PPM, as stb_image reads it: blanks, and # comments to the end of the line,
 * before it; -1 when there is none or it has more than 9 digits (stb's int would overflow). */
static long pnm_number(const uint8_t *d, size_t n, size_t *at)
{
    for (;;) {
        while (*at < n && d[*at] && strchr(" \t\r\n\v\f", d[*at]))
            (*at)++;
        if (*at >= n || d[*at] != '#')
            break;
        while (*at < n && d[*at] != '\n' && d[*at] != '\r')
            (*at)++;
    }
    long v = -1;
    int digits = 0;
    for (; *at < n && d[*at] >= '0' && d[*at] <= '9'; (*at)++, digits++)
        if (digits < 9)
            v = (v < 0 ? 0 : v * 10) + (d[*at] - '0');
    return digits > 9 ? -1 : v;
}

/* A PGM/PPM header: P5 (gray) or P6 (colour), width, height and maximum value; the samples start one byte
 * after it, at *data_at. false when a number is missing. */
static bool pnm_header(const uint8_t *d, size_t n, long *width, long *height, long *maxval, size_t *data_at)
{
    size_t at = 2;
    *width = pnm_number(d, n, &at), *height = pnm_number(d, n, &at), *maxval = pnm_number(d, n, &at);
    *data_at = at + 1;
    return *width >= 0 && *height >= 0 && *maxval >= 0 && at < n;
}

/* The header, then the samples it promises. */
static const char *pnm_problem(const uint8_t *d, size_t n, uint64_t *w, uint64_t *h)
{
    long width, height, maxval;
    size_t at;
    if (!pnm_header(d, n, &width, &height, &maxval, &at))
        return "header (width, height and maximum value)";
    if (width == 0 || height == 0 || maxval == 0)
        return "is damaged: its header gives a width, height or maximum value of 0";
    *w = (uint64_t)width, *h = (uint64_t)height;
    if (*w * *h > IMG_PIXEL_CAP) /* the caller refuses the size, which says more than "truncated" would */
        return NULL;
    uint64_t samples = *w * *h * (d[1] == '6' ? 3u : 1u) * (maxval > 255 ? 2u : 1u);
    return n - at >= samples ? NULL : "pixel";
}

/* ---- decoding, after the checks above: dimensions known and within IMG_PIXEL_CAP ------------------------ */
/* Sample i of a checked PGM/PPM on 0..255 (two bytes, most significant first, above a maximum of 255). */
static unsigned pnm_sample(const uint8_t *s, size_t i, long maxval)
{
    unsigned v = maxval > 255 ? (unsigned)s[2 * i] << 8 | s[2 * i + 1] : s[i];
    return v >= (unsigned)maxval ? 255u : (unsigned)(v * 255u / (unsigned)maxval);
}

/* The samples of a checked PGM/PPM as gray, a colour one by the weights 77, 150, 29 / 256. */
static int pnm_decode(const uint8_t *d, size_t n, uint8_t **pixels, int *w, int *h)
{
    long width, height, maxval;
    size_t at;
    (void)pnm_header(d, n, &width, &height, &maxval, &at);
    size_t count = (size_t)width * (size_t)height;
    uint8_t *gray = malloc(count);
    if (!gray)
        return img_fail("out of memory for a %ldx%ld picture", width, height);
    for (size_t i = 0; i < count; i++)
        gray[i] = d[1] == '5' ? (uint8_t)pnm_sample(d + at, i, maxval)
                              : (uint8_t)((pnm_sample(d + at, 3 * i, maxval) * 77 + pnm_sample(d + at, 3 * i + 1, maxval) * 150 +
                                           pnm_sample(d + at, 3 * i + 2, maxval) * 29) >> 8);
    *pixels = gray, *w = (int)width, *h = (int)height;
    return 0;
}

/* libpng's own reader to 8-bit gray, any transparency composited onto white paper. */
static int png_decode(const uint8_t *d, size_t n, const char *name, uint8_t **pixels, int *w, int *h)
{
    png_image image = {.version = PNG_IMAGE_VERSION};
    if (!png_image_begin_read_from_memory(&image, d, n))
        return img_fail("cannot decode '%s' (a PNG): %s", name, image.message);
    image.format = PNG_FORMAT_GRAY;
    uint8_t *gray = malloc(PNG_IMAGE_SIZE(image));
    if (!gray) {
        png_image_free(&image);
        return img_fail("out of memory for a %ux%u picture", image.width, image.height);
    }
    memset(gray, 255, PNG_IMAGE_SIZE(image));
    if (!png_image_finish_read(&image, NULL, gray, 0, NULL)) {
        free(gray);
        return img_fail("cannot decode '%s' (a PNG): %s", name, image.message);
    }
    *pixels = gray, *w = (int)image.width, *h = (int)image.height;
    return 0;
}

/* libjpeg's errors leave through longjmp; its warnings (corrupt data, which it would decode anyway as grey)
 * are kept and refused after. */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf leave;
    char message[JMSG_LENGTH_MAX];
    int warnings;
} jpeg_errors;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->leave, 1);
}

static void jpeg_emit_message(j_common_ptr cinfo, int level)
{
    jpeg_errors *e = (jpeg_errors *)cinfo->err;
    if (level < 0 && e->warnings++ == 0)
        cinfo->err->format_message(cinfo, e->message);
}

/* libjpeg-turbo's decoder to gray (the luma plane of a colour JPEG). */
static int jpeg_decode(const uint8_t *d, size_t n, const char *name, uint8_t **pixels, int *w, int *h)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_errors err = {.warnings = 0};
    uint8_t *volatile gray = NULL;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit, err.pub.emit_message = jpeg_emit_message;
    if (setjmp(err.leave)) {
        jpeg_destroy_decompress(&cinfo);
        free(gray);
        return img_fail("cannot decode '%s' (a JPEG): %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, d, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&cinfo);
    gray = malloc((size_t)cinfo.output_width * cinfo.output_height);
    if (!gray) {
        snprintf(err.message, sizeof err.message, "out of memory");
        longjmp(err.leave, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = gray + (size_t)cinfo.output_scanline * cinfo.output_width;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    *w = (int)cinfo.output_width, *h = (int)cinfo.output_height;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (err.warnings) {
        free(gray);
        return img_fail("'%s' (a JPEG) is damaged: %s", name, err.message);
    }
    *pixels = gray;
    return 0;
}

static int not_a_picture(const char *name)
{
    return img_fail("'%s' is not a PNG, JPEG or PGM/PPM picture (its first bytes say otherwise); convert it to one of "
                    "those", name);
}

int img_decode_gray(const uint8_t *data, size_t size, const char *name, uint8_t **pixels, int *w, int *h)
{
    static const char *const names[] = {"", "PNG", "JPEG", "PGM/PPM"};
    *pixels = NULL;
    pic_format format = format_of(data, size);
    if (format == PIC_UNKNOWN)
        return not_a_picture(name);
    uint64_t width = 0, height = 0;
    const char *problem = format == PIC_PNG ? png_problem(data, size, &width, &height)
                        : format == PIC_JPEG ? jpeg_problem(data, size, &width, &height)
                                             : pnm_problem(data, size, &width, &height);
    if (problem && strncmp(problem, "is ", 3) == 0)
        return img_fail("'%s' (a %s) %s", name, names[format], problem);
    if (problem)
        return img_fail("'%s' (a %s) is truncated: it ends before its last %s", name, names[format], problem);
    if (width * height > IMG_PIXEL_CAP) /* each below 2^32: no overflow */
        return img_fail("'%s' is %llux%llu pixels, more than blasnet decodes (%llu); scale it down first", name,
                        (unsigned long long)width, (unsigned long long)height, (unsigned long long)IMG_PIXEL_CAP);
    int rc = format == PIC_PNG ? png_decode(data, size, name, pixels, w, h)
           : format == PIC_JPEG ? jpeg_decode(data, size, name, pixels, w, h) : pnm_decode(data, size, pixels, w, h);
    if (!rc && ((uint64_t)*w != width || (uint64_t)*h != height)) { /* never, unless the header reads two ways */
        free(*pixels);
        *pixels = NULL;
        return img_fail("'%s' (a %s) is damaged: its header says %llux%llu pixels, its decoder gave %dx%d", name,
                        names[format], (unsigned long long)width, (unsigned long long)height, *w, *h);
    }
    return rc;
}

int img_load_gray(const char *path, uint8_t **pixels, int *w, int *h)
{
    bn_in in;
    char words[32];
    *pixels = NULL;
    if (bn_in_open(&in, path))
        return img_fail("%s", bn_errmsg());
    int rc = bn_in_fill(&in, 8) ? img_fail("%s", bn_errmsg()) : 0;
    if (!rc && format_of(in.buf, in.len) == PIC_UNKNOWN) /* /dev/zero is refused after 8 bytes, not 256 MiB */
        rc = not_a_picture(path);
    if (!rc && in.file_size > (int64_t)IMG_FILE_CAP)
        rc = img_fail("'%s' is %lld bytes, more than blasnet reads for a picture (%s)", path, (long long)in.file_size,
                      bn_format_bytes(IMG_FILE_CAP, words, sizeof words));
    if (!rc && bn_in_fill(&in, IMG_FILE_CAP + 1))
        rc = img_fail("%s", bn_errmsg());
    if (!rc && in.len > IMG_FILE_CAP)
        rc = img_fail("'%s' holds more than blasnet reads for a picture (%s)", path,
                      bn_format_bytes(IMG_FILE_CAP, words, sizeof words));
    if (!rc)
        rc = img_decode_gray(in.buf, in.len, path, pixels, w, h);
    bn_in_close(&in);
    return rc;
}
