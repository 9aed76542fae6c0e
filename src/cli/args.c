/* The one option parser of the CLI: a command's table of options plus the shared ones, read with
 * getopt_long (so --flag=value, unambiguous prefixes and operands between flags all work), each value
 * range-checked as it is stored. The messages it prints are messages.c's. */
#include "cli.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shared options (16) plus the largest command's own (train has 38), with room for more. */
#define MAX_OPTIONS 64

/* ---- the table ---------------------------------------------------------------------------------------- */
cli_option opt_flag(const char *name, int id, bool *to)
{
    return (cli_option){.name = name, .id = id, .kind = ARG_FLAG, .to.flag = to};
}

cli_option opt_text(const char *name, int id, const char **to)
{
    return (cli_option){.name = name, .id = id, .kind = ARG_TEXT, .to.text = to};
}

cli_option opt_int(const char *name, int id, int *to, long min, long max)
{
    return (cli_option){.name = name, .id = id, .kind = ARG_INT, .to.i = to, .min = (double)min,
                        .max = (double)max};
}

cli_option opt_u64(const char *name, int id, uint64_t *to, uint64_t max)
{
    return (cli_option){.name = name, .id = id, .kind = ARG_U64, .to.u64 = to, .max_u64 = max};
}

cli_option opt_shape(const char *name, int id, int *to, long min, long max, long max_area, const char *example)
{
    return (cli_option){.name = name, .id = id, .kind = ARG_SHAPE, .to.shape = to, .min = (double)min,
                        .max = (double)max, .max_area = (double)max_area, .example = example};
}

cli_option opt_float(const char *name, int id, float *to, range_end min_end, double min, double max,
                     range_end max_end)
{
    return (cli_option){.name = name, .id = id, .kind = ARG_FLOAT, .to.f = to, .min = min, .max = max,
                        .min_end = min_end, .max_end = max_end};
}

cli_option with_short(char c, cli_option opt)
{
    opt.short_name = c;
    return opt;
}

/* ---- storing one value -------------------------------------------------------------------------------
 * Each parser takes the whole text or nothing: no wrap (4294967324 is not 28), no trailing junk, and the
 * flag's range; the message then gives the range. */
static bool parse_long(const char *text, const char **end, long min, long max, long *v)
{
    char *stop;
    errno = 0;
    *v = strtol(text, &stop, 10);
    *end = stop;
    return stop != text && !errno && *v >= min && *v <= max;
}

static bool store_int(const cli_option *o, const char *text)
{
    const char *end;
    long v;
    if (!parse_long(text, &end, (long)o->min, (long)o->max, &v) || *end != '\0')
        return false;
    *o->to.i = (int)v;
    return true;
}

/* Decimal digits only: strtoull would take " -1" as 2^64 - 1 and "010" as 8. */
static bool store_u64(const cli_option *o, const char *text)
{
    uint64_t v = 0;
    if (!*text)
        return false;
    for (const char *p = text; *p; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > o->max_u64)
        return false;
    *o->to.u64 = v;
    return true;
}

/* Also refused: a number that is finite as a double but not as a float, or that underflows to 0 (--lr 1e-50
 * would train at rate 0). NULL on success, else what the message adds after the range. */
static const char *store_float(const cli_option *o, const char *text)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    bool in_range = end != text && *end == '\0' && isfinite(v) && (o->min_end == OPEN ? v > o->min : v >= o->min) &&
                    (o->max_end == OPEN ? v < o->max : v <= o->max);
    float f = (float)v;
    if (!in_range)
        return "";
    if (!isfinite(f) || (v != 0.0 && fabsf(f) < FLT_MIN))
        return " that a 32-bit float holds (magnitudes from 1.2e-38 to 3.4e+38)";
    *o->to.f = f;
    return NULL;
}

/* R, then 'x' or 'X' with blanks around it allowed, then C. */
static bool store_shape(const cli_option *o, const char *text)
{
    const char *p;
    long r, c;
    if (!isdigit((unsigned char)text[0]) || !parse_long(text, &p, (long)o->min, (long)o->max, &r))
        return false;
    while (*p == ' ')
        p++;
    if (*p != 'x' && *p != 'X')
        return false;
    for (p++; *p == ' '; p++)
        ;
    if (!isdigit((unsigned char)*p) || !parse_long(p, &p, (long)o->min, (long)o->max, &c) || *p != '\0' ||
        (double)r * (double)c > o->max_area)
        return false;
    o->to.shape[0] = (int)r, o->to.shape[1] = (int)c;
    return true;
}

/* Stores text into the option's variable, or says which flag is wrong and what it accepts. */
static cli_exit store(const char *cmd, const cli_option *o, const char *text)
{
    switch (o->kind) {
    case ARG_FLAG: *o->to.flag = true; return EXIT_OK;
    case ARG_TEXT: *o->to.text = text; return EXIT_OK;
    case ARG_INT:
        if (store_int(o, text))
            return EXIT_OK;
        return cli_error(EXIT_USAGE, cmd, "--%s '%s' must be an integer in %ld..%ld", o->name, text, (long)o->min,
                         (long)o->max);
    case ARG_U64:
        if (store_u64(o, text))
            return EXIT_OK;
        return cli_error(EXIT_USAGE, cmd, "--%s '%s' must be an integer in 0..%llu (decimal digits only)", o->name,
                         text, (unsigned long long)o->max_u64);
    case ARG_FLOAT: {
        const char *why = store_float(o, text);
        if (!why)
            return EXIT_OK;
        return cli_error(EXIT_USAGE, cmd, "--%s '%s' must be a number in %s%g, %g%s%s", o->name, text,
                         o->min_end == OPEN ? "(" : "[", o->min, o->max, o->max_end == OPEN ? ")" : "]", why);
    }
    case ARG_SHAPE:
        if (store_shape(o, text))
            return EXIT_OK;
        return cli_error(EXIT_USAGE, cmd, "--%s '%s' must be two integers joined by x, as %s, each in %ld..%ld and "
                         "their product at most %.0f", o->name, text, o->example, (long)o->min, (long)o->max,
                         o->max_area);
    }
    return EXIT_USAGE;
}

/* ---- the parser --------------------------------------------------------------------------------------- */
/* What reading the command line ends in. */
typedef enum args_outcome {
    ARGS_RUN,        /* parsed and checked: run the command */
    ARGS_HELP_SHOWN, /* --help printed the usage: exit 0 */
    ARGS_INVALID,    /* one usage line was printed: exit 2 */
} args_outcome;

/* --data and the flags that go with it, into all; returns how many. */
static size_t data_options(cli_args *a, cli_option *all)
{
    cli_data_flags *d = &a->data;
    const cli_option data[] = {
        opt_text("data", OPT_DATA, &a->data_dir), opt_text("set", OPT_SET, &d->set),
        opt_text("train-images", OPT_TRAIN_IMAGES, &d->train_images),
        opt_text("train-labels", OPT_TRAIN_LABELS, &d->train_labels),
        opt_text("test-images", OPT_TEST_IMAGES, &d->test_images),
        opt_text("test-labels", OPT_TEST_LABELS, &d->test_labels), opt_text("train-csv", OPT_TRAIN_CSV, &d->train_csv),
        opt_text("test-csv", OPT_TEST_CSV, &d->test_csv), opt_shape("image-size", OPT_IMAGE_SIZE, d->image_size, 1, BN_MAX_WIDTH, BN_MAX_WIDTH, "28x28"),
        opt_flag("transpose", OPT_TRANSPOSE, &d->layout.transpose),
        opt_int("label-offset", OPT_LABEL_OFFSET, &d->layout.label_offset, 0, 255),
    };
    memcpy(all, data, sizeof data);
    return ARRAY_LEN(data);
}

/* The data flags that only make sense together: both files of a part, one form per part, a valid shape. */
static cli_exit check_data_flags(const cli_command *c, cli_args *a)
{
    cli_data_flags *d = &a->data;
    const char *pairs[2][2] = {{d->train_images, d->train_labels}, {d->test_images, d->test_labels}};
    const char *csv[2] = {d->train_csv, d->test_csv}, *part[2] = {"train", "test"};
    for (int i = 0; i < 2; i++) {
        if (!pairs[i][0] != !pairs[i][1])
            return cli_error(EXIT_USAGE, c->name, "--%s-images and --%s-labels go together: give both", part[i],
                             part[i]);
        if (pairs[i][0] && csv[i])
            return cli_error(EXIT_USAGE, c->name, "give --%s-csv or --%s-images with --%s-labels, not both", part[i],
                             part[i], part[i]);
    }
    d->layout.rows = d->image_size[0], d->layout.cols = d->image_size[1];
    return EXIT_OK;
}

/* The shared options the command takes, then its own, into all; returns how many. */
static size_t gather_options(const cli_command *c, cli_args *a, cli_option *all)
{
    size_t n = 0;
    all[n++] = opt_flag("help", OPT_HELP, NULL);
    if (c->common & COMMON_DATA)
        n += data_options(a, all + n);
    if (c->common & COMMON_THREADS)
        all[n++] = opt_int("threads", OPT_THREADS, &a->threads, 1, 4096);
    if (c->common & COMMON_BACKEND)
        all[n++] = opt_text("backend", OPT_BACKEND, &a->backend_name);
    if (c->common & COMMON_BLAS_CORE)
        all[n++] = opt_text("blas-core", OPT_BLAS_CORE, &a->blas_core);
    if (c->common & COMMON_PLAN)
        all[n++] = opt_text("plan", OPT_PLAN, &a->plan_name);
    assert(n + c->n_options <= MAX_OPTIONS);
    memcpy(all + n, c->options, c->n_options * sizeof *all);
    return n + c->n_options;
}

/* getopt_long's view of the table: option k answers 256 + k, above every short option's character. */
static void getopt_tables(const cli_option *all, size_t n, struct option *longs, char *shorts)
{
    char *s = shorts;
    *s++ = ':'; /* a missing value is answered ':', apart from an unknown option's '?' */
    for (size_t k = 0; k < n; k++) {
        bool takes_value = all[k].kind != ARG_FLAG;
        assert(all[k].id > 0 && all[k].id < 64);
        longs[k] = (struct option){all[k].name, takes_value ? required_argument : no_argument, NULL, 256 + (int)k};
        if (all[k].short_name) {
            *s++ = all[k].short_name;
            if (takes_value)
                *s++ = ':';
        }
    }
    longs[n] = (struct option){0};
    *s = '\0';
}

/* The option getopt_long answered ch for, or NULL for an unknown one. */
static const cli_option *answered(const cli_option *all, size_t n, int ch)
{
    for (size_t k = 0; k < n; k++)
        if (ch == 256 + (int)k || (all[k].short_name && ch == all[k].short_name))
            return &all[k];
    return NULL;
}

/* After the flags: operands, and the shared values that need resolving. */
static cli_exit finish(const cli_command *c, cli_args *a)
{
    if (c->max_operands >= 0 && a->n_operands > c->max_operands)
        return cli_error(EXIT_USAGE, c->name, "unexpected argument '%s'", a->operands[c->max_operands]);
    if (!a->data_dir) {
        const char *env = getenv("BLASNET_DATA");
        a->data_dir = env && *env ? env : DEFAULT_DATA_DIR;
    }
    if ((c->common & COMMON_DATA) && check_data_flags(c, a))
        return EXIT_USAGE;
    a->backend = bn_backend_find(a->backend_name);
    if ((c->common & COMMON_BACKEND) && !a->backend)
        return cli_error(EXIT_USAGE, c->name, "--backend '%s' is not one of blas, naive, naive-omp", a->backend_name);
    if (a->plan_name && bn_plan_mode_parse(a->plan_name, &a->plan))
        return cli_error(EXIT_USAGE, c->name, "--plan: %s", bn_errmsg());
    return EXIT_OK;
}

static args_outcome parse(const cli_command *c, int argc, char **argv, cli_args *a)
{
    cli_option all[MAX_OPTIONS];
    struct option longs[MAX_OPTIONS + 1];
    char shorts[2 * MAX_OPTIONS + 2];
    size_t n = gather_options(c, a, all);
    getopt_tables(all, n, longs, shorts);
    optind = 1;
    opterr = 0;
    for (int ch; (ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1;) {
        const cli_option *o = ch == ':' ? NULL : answered(all, n, ch);
        if (!o) {
            cli_error(EXIT_USAGE, c->name, ch == ':' ? "%s needs a value" : "unknown option '%s'", argv[optind - 1]);
            return ARGS_INVALID;
        }
        if (o->id == OPT_HELP) {
            fputs(c->usage, stdout);
            if (c->usage_more)
                fputs(c->usage_more, stdout);
            return ARGS_HELP_SHOWN;
        }
        if (store(c->name, o, optarg))
            return ARGS_INVALID;
        a->given |= (uint64_t)1 << o->id;
    }
    a->operands = argv + optind;
    a->n_operands = argc - optind;
    return finish(c, a) ? ARGS_INVALID : ARGS_RUN;
}

cli_exit args_run(const cli_command *c, int argc, char **argv, cli_args *a)
{
    *a = (cli_args){.command = c, .threads = bn_default_threads(), .backend_name = "blas", .blas_core = "default"};
    args_outcome parsed = parse(c, argc, argv, a);
    if (parsed == ARGS_HELP_SHOWN)
        return EXIT_OK;
    if (parsed == ARGS_INVALID)
        return EXIT_USAGE;
    cli_exit rc = c->check ? c->check(c->ctx) : EXIT_OK;
    if (!rc && (c->common & COMMON_BLAS_CORE))
        rc = blas_core_apply(c->name, a->blas_core, argv - 1); /* argv - 1: the whole command line, for execv */
    if (rc)
        return rc;
    if (c->common & COMMON_THREADS)
        bn_set_threads(a->threads);
    return c->run(c->ctx);
}

bool args_given(const cli_args *a, int id)
{
    assert(id > 0 && id < 64);
    return (a->given >> id) & 1;
}

const char *args_option_name(const cli_args *a, int id)
{
    for (size_t k = 0; k < a->command->n_options; k++)
        if (a->command->options[k].id == id)
            return a->command->options[k].name;
    return "?";
}
