/* CSV data (one image per row: the label, then the pixels 0..255), read as a stream of 1 MiB chunks through
 * stream.h, so plain or gzip alike and memory near the uint8 data (which grows by doubling: untouched pages
 * cost nothing). The row parser is written by hand, one pass over the bytes with no strtol, because CSV
 * copies of MNIST are large and a parser is what loading them costs. */
#include "csv.h"

#include "atomic_file.h"
#include "blasnet.h"
#include "dataset.h"
#include "error.h"
#include "file_read.h"
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK ((size_t)1 << 20)

typedef struct {
    bn_stream s;
    const char *path;
    char *buf;                   /* buf[pos..len) not parsed yet; buf[len] is a '\n' sentinel */
    size_t cap, len, pos;
    bool eof;
    size_t line;                 /* the number of the line being parsed, from 1 */
    int columns;                 /* fields per row, from the first line; 0 before it */
    int label_cols;              /* 1: the first field is the label; 0: every field is a pixel (unlabelled) */
    bool columns_only;           /* stop after the first line: only its column count is wanted */
    int rows, cols;              /* the images' shape, asked or square */
    uint8_t *pixels, *labels;    /* (n, dim) and (n), room for row_cap rows */
    size_t n, row_cap;
} csv_reader;

/* ---- fields ------------------------------------------------------------------------------------------- */
/* The field at p (up to the next comma or end) for a message, cut to 24 characters, with any byte that is
 * not printable shown as \xHH (a NUL byte would otherwise end the message early). */
static int bad_field(const csv_reader *r, const char *p, const char *end, int col, const char *why)
{
    char shown[24 * 4 + 4] = "";
    size_t n = 0;
    const char *stop = p;
    while (stop < end && *stop != ',')
        stop++;
    for (const char *c = p; c < stop && c < p + 24; c++)
        n += (size_t)snprintf(shown + n, sizeof shown - n, *c >= 32 && *c < 127 ? "%c" : "\\x%02x",
                              *c >= 32 && *c < 127 ? *c : (unsigned char)*c);
    return bn_fail(BN_E_FORMAT, "'%s' line %zu, column %d: '%s%s' %s", r->path, r->line, col, shown,
                   stop - p > 24 ? "..." : "", why);
}

/* The slow path of a field: spaces or tabs around the number are accepted; anything else is an error. */
static int parse_field_slow(const csv_reader *r, const char **pp, const char *end, int col, unsigned *v)
{
    const char *p = *pp, *start = p;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *digits = p;
    *v = 0;
    for (; p < end && (unsigned)(*p - '0') < 10; p++)
        if (p - digits < 4) /* enough to tell 255 from 1000 without overflowing */
            *v = *v * 10 + (unsigned)(*p - '0');
    const char *after = p;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (after == digits || (p < end && *p != ','))
        return bad_field(r, start, end, col, "is not a number 0..255");
    if (after - digits > 3 || *v > 255)
        return bad_field(r, start, end, col, "is out of range 0..255");
    *pp = p;
    return BN_OK;
}

/* One row of r->columns fields from [p, end) into label and px (dim bytes). The fast path takes 1 to 3
 * digits and a comma; anything else goes to the slow path, which accepts blanks or explains the error. */
static int parse_row(const csv_reader *r, const char *p, const char *end, uint8_t *label, uint8_t *px)
{
    const int last = r->columns - 1;
    *label = 0; /* an unlabelled row's */
    px -= r->label_cols; /* field col is pixel col - label_cols */
    for (int col = 0; col <= last; col++) {
        const char *field = p;
        unsigned v = 0, d;
        while ((d = (unsigned)(*p - '0')) < 10) /* stops at the line's '\r' or '\n' at the latest */
            v = v * 10 + d, p++;
        if (p == field || p - field > 3 || v > 255 || (col < last ? *p != ',' : p != end)) {
            p = field;
            int status = parse_field_slow(r, &p, end, col + 1, &v);
            if (status)
                return status;
        }
        if (col < last && p == end)
            return bn_fail(BN_E_FORMAT, "'%s' line %zu, column %d: the row ends, but rows have %d columns", r->path,
                           r->line, col + 2, r->columns);
        if (col == last && p != end)
            return bad_field(r, p + 1, end, col + 2, "is one column too many (rows have as many as the first)");
        if (col < r->label_cols)
            *label = (uint8_t)v;
        else
            px[col] = (uint8_t)v;
        p++; /* the comma */
    }
    return BN_OK;
}

/* ---- rows and shape ----------------------------------------------------------------------------------- */
/* The header rule: the first line is a header if and only if its first field is not empty and holds a
 * character other than digits, blanks and signs. So "label" is a header, and "-1" or "" is a data row,
 * refused as any row with that label would be (the same value on line 7 is an error too). */
static bool is_header(const char *p, const char *end)
{
    bool other = false;
    for (; p < end && *p != ','; p++)
        other |= !((unsigned)(*p - '0') < 10 || *p == ' ' || *p == '\t' || *p == '+' || *p == '-');
    return other;
}

/* The first line fixes the column count and the shape. */
static int first_line(csv_reader *r, const char *p, const char *end, bool *header)
{
    *header = is_header(p, end);
    uint64_t columns = 1;
    for (const char *c = p; (c = memchr(c, ',', (size_t)(end - c))); c++)
        columns++;
    if (columns < 1u + (unsigned)r->label_cols)
        return bn_fail(BN_E_FORMAT, "'%s' line 1 has one column: rows need the label, then the pixels", r->path);
    if (columns - (unsigned)r->label_cols > BN_MAX_WIDTH)
        return bn_fail(BN_E_FORMAT, "'%s' line 1 has %llu pixels per row, more than blasnet takes (%d)", r->path,
                       (unsigned long long)(columns - (unsigned)r->label_cols), BN_MAX_WIDTH);
    r->columns = (int)columns;
    if (r->columns_only)
        return BN_OK;
    int dim = r->columns - r->label_cols;
    if (r->rows && r->rows * r->cols != dim) /* the shape asked for is wrong, not the file: BN_E_INVALID */
        return bn_fail(BN_E_INVALID, "'%s' line 1 has %d pixels per row, but images of %dx%d have %d", r->path, dim,
                       r->rows, r->cols, r->rows * r->cols);
    if (!r->rows) {
        int side = 1;
        while ((side + 1) * (side + 1) <= dim)
            side++;
        if (side * side != dim)
            return bn_fail(BN_E_FORMAT, "'%s' line 1 has %d pixels per row, which is not a square image: give its "
                                        "shape as rows x cols", r->path, dim);
        r->rows = r->cols = side;
    }
    return BN_OK;
}

/* Room for one more row: the pixel and label arrays double. */
static int make_room(csv_reader *r)
{
    if (r->n < r->row_cap)
        return BN_OK;
    size_t dim = (size_t)(r->columns - r->label_cols), cap = r->row_cap ? 2 * r->row_cap : 1024;
    if (cap > SIZE_MAX / (dim + 1))
        return bn_fail(BN_E_NOMEM, "'%s' has too many rows to hold", r->path);
    uint8_t *px = realloc(r->pixels, cap * dim + cap + 1); /* room for the labels behind them at the end */
    if (px)
        r->pixels = px;
    uint8_t *lab = px ? realloc(r->labels, cap) : NULL;
    if (!lab)
        return bn_fail(BN_E_NOMEM, "out of memory reading '%s' at line %zu", r->path, r->line);
    r->labels = lab;
    r->row_cap = cap;
    return BN_OK;
}

/* One line [p, end), its '\r' still on: the header, or a row stored as the next sample. */
static int take_line(csv_reader *r, const char *p, const char *end)
{
    if (end > p && end[-1] == '\r')
        end--;
    if (end == p)
        return bn_fail(BN_E_FORMAT, "'%s' line %zu, column 1: the row is empty", r->path, r->line);
    bool header = false;
    int status = BN_OK;
    if (!r->columns && ((status = first_line(r, p, end, &header)) || header || r->columns_only))
        return status;
    if ((status = make_room(r)))
        return status;
    size_t dim = (size_t)(r->columns - r->label_cols);
    status = parse_row(r, p, end, &r->labels[r->n], r->pixels + r->n * dim);
    r->n += !status;
    return status;
}

/* ---- the stream ---------------------------------------------------------------------------------------- */
/* The most bytes of text this file may give: a gzip'd file BN_GZ_CSV_RATIO times its size (plus a floor), so a
 * bomb stops early; a pipe or device BN_PIPE_CAP; a plain file is its own bound. */
static uint64_t text_cap(const bn_stream *s)
{
    if (s->file_size >= 0 && s->gz)
        return (uint64_t)s->file_size * BN_GZ_CSV_RATIO + BN_GZ_CSV_FLOOR;
    return bn_stream_max_size(s);
}

/* One line filled the buffer: it doubles, up to a line of BN_CSV_LINE_CAP characters. */
static int grow_line(csv_reader *r)
{
    if (r->cap >= BN_CSV_LINE_CAP)
        return bn_fail(BN_E_FORMAT, "'%s' line %zu is longer than %llu characters: no image blasnet takes needs that "
                                    "many (%d pixels at most, 4 characters each, blanks included)", r->path, r->line,
                       (unsigned long long)BN_CSV_LINE_CAP, BN_MAX_WIDTH);
    size_t cap = 2 * r->cap > BN_CSV_LINE_CAP ? (size_t)BN_CSV_LINE_CAP : 2 * r->cap;
    char *grown = realloc(r->buf, cap + 1);
    if (!grown)
        return bn_fail(BN_E_NOMEM, "'%s' line %zu is too long to hold", r->path, r->line);
    r->buf = grown;
    r->cap = cap;
    return BN_OK;
}

/* More bytes behind the unparsed ones. */
static int fill(csv_reader *r)
{
    char words[32];
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    int status = r->len == r->cap ? grow_line(r) : BN_OK;
    size_t got = 0;
    if (!status)
        status = bn_stream_read(&r->s, r->buf + r->len, r->cap - r->len, &got);
    r->len += got;
    r->eof = got == 0;
    r->buf[r->len] = '\n';
    if (!status && r->s.total_out > text_cap(&r->s))
        status = bn_fail(BN_E_FORMAT, "'%s' gives more than %s of text (%s): %s", r->path,
                         bn_format_bytes(text_cap(&r->s), words, sizeof words),
                         r->s.file_size < 0 ? "what blasnet reads from a pipe or device" : "64 times its gzip'd size",
                         r->s.file_size < 0 ? "save it to a file" : "a gzip bomb, or data far more repetitive than "
                                                                     "images; if it is real, gunzip it first");
    return status;
}

static int read_rows(csv_reader *r)
{
    int status = fill(r);
    if (!status && r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        r->pos = 3;
    while (!status && !(r->columns_only && r->columns)) {
        char *p = r->buf + r->pos, *nl = memchr(p, '\n', r->len - r->pos);
        if (!nl && !r->eof) {
            status = fill(r);
            continue;
        }
        if (!nl && p == r->buf + r->len)
            break;
        nl = nl ? nl : r->buf + r->len; /* the last line, without its '\n' */
        status = take_line(r, p, nl);
        r->pos = (size_t)(nl - r->buf) + (nl < r->buf + r->len);
        r->line++;
    }
    if (!status && !r->columns)
        status = bn_fail(BN_E_FORMAT, "'%s' is empty: no header and no rows", r->path);
    return status;
}

/* The rows into one block, pixels then labels, as every data set is held. */
static void finish(csv_reader *r, bn_dataset *ds)
{
    size_t dim = (size_t)(r->columns - r->label_cols);
    uint8_t *block = r->pixels;
    memcpy(block + r->n * dim, r->labels, r->n);
    uint8_t *exact = realloc(block, r->n * dim + r->n + 1);
    block = exact ? exact : block;
    *ds = (bn_dataset){.pixels = block, .labels = block + r->n * dim, .n = r->n, .rows = r->rows, .cols = r->cols,
                       .dim = (int)dim, .storage = block};
    r->pixels = NULL;
}

/* The reading behind bn_csv_load, bn_csv_load_images and bn_csv_columns: label_cols 1 or 0, and with
 * columns_only the first line alone. */
static int read_csv(bn_dataset *ds, const char *path, int rows, int cols, int label_cols, int *columns_only)
{
    memset(ds, 0, sizeof *ds);
    if (rows < 0 || cols < 0 || (rows > 0) != (cols > 0) || (uint64_t)rows * (uint64_t)cols > BN_MAX_WIDTH)
        return bn_fail(BN_E_INVALID, "'%s': images of %dx%d pixels", path, rows, cols);
    csv_reader r = {.s.fd = -1, .path = path, .cap = CHUNK, .line = 1, .rows = rows, .cols = cols,
                    .label_cols = label_cols, .columns_only = columns_only != NULL};
    int status = bn_stream_open(&r.s, path);
    if (!status && !(r.buf = malloc(CHUNK + 1)))
        status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to read '%s'", CHUNK, path);
    if (!status)
        status = read_rows(&r);
    if (!status && columns_only)
        *columns_only = r.columns;
    if (!status && !columns_only && !r.pixels)
        status = make_room(&r); /* a header and no rows: an empty data set still owns a block */
    if (!status && !columns_only)
        finish(&r, ds);
    bn_stream_close(&r.s);
    free(r.buf);
    free(r.pixels);
    free(r.labels);
    return status;
}

int bn_csv_load(bn_dataset *ds, const char *path, int rows, int cols)
{
    return read_csv(ds, path, rows, cols, 1, NULL);
}

int bn_csv_load_images(bn_dataset *ds, const char *path, int rows, int cols)
{
    return read_csv(ds, path, rows, cols, 0, NULL);
}

int bn_csv_columns(const char *path, int *columns)
{
    bn_dataset unused;
    *columns = 0;
    return read_csv(&unused, path, 0, 0, 0, columns);
}

/* ---- writing ------------------------------------------------------------------------------------------- */
static size_t digits(size_t v)
{
    size_t n = 1;
    while (v >= 10)
        v /= 10, n++;
    return n;
}

static char *put_uint(char *p, unsigned v)
{
    if (v >= 100)
        *p++ = (char)('0' + v / 100);
    if (v >= 10)
        *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* The header, then label,pixels per row, into text (len bytes, exact). */
static char *format_csv(const bn_dataset *ds, size_t *len)
{
    size_t dim = (size_t)ds->dim, size = 6; /* "label" + '\n' */
    for (size_t j = 0; j < dim; j++)
        size += 6 + digits(j); /* ",pixel" + j */
    for (size_t i = 0; i < ds->n; i++) {
        size += digits(ds->labels[i]) + 1 + dim; /* each value's comma, or the row's '\n' */
        for (size_t j = 0; j < dim; j++)
            size += digits(ds->pixels[i * dim + j]);
    }
    char *text = malloc(size + 1), *p = text;
    if (!text)
        return NULL;
    p += sprintf(p, "label");
    for (size_t j = 0; j < dim; j++)
        p += sprintf(p, ",pixel%zu", j);
    *p++ = '\n';
    for (size_t i = 0; i < ds->n; i++) {
        p = put_uint(p, ds->labels[i]);
        for (size_t j = 0; j < dim; j++)
            *p++ = ',', p = put_uint(p, ds->pixels[i * dim + j]);
        *p++ = '\n';
    }
    *len = (size_t)(p - text);
    return text;
}

int bn_csv_write(const bn_dataset *ds, const char *path)
{
    int status = bn_dataset_check_shape(ds, path);
    if (status)
        return status;
    size_t len = 0;
    char *text = format_csv(ds, &len);
    if (!text)
        return bn_fail(BN_E_NOMEM, "cannot allocate the text of '%s' (%zu images)", path, ds->n);
    status = bn_atomic_write(path, text, len);
    free(text);
    return status;
}
