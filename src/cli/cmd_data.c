/* blasnet data: what blasnet sees in a data set (`info`: files, counts, image size, label histogram, pixel
 * mean and std) and moving a data set between forms (`convert`: IDX and CSV, either way), both through the
 * same data flags and readers as train and eval. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_text[] =
    "usage: blasnet data info [DIR|FILE] [data flags]\n"
    "       blasnet data convert [data flags] --to csv|idx --out DIR\n"
    "\n"
    "info     prints the files found, then for each part (train, test): the image count and size, the label\n"
    "         histogram, and the pixels' mean and standard deviation\n"
    "convert  writes the data set in the other form into DIR: train.csv and test.csv (a header line, then the\n"
    "         label and the pixels per row), or train-images-idx3-ubyte, train-labels-idx1-ubyte,\n"
    "         t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte; --transpose and --label-offset apply, so the\n"
    "         files written are the right way up and 0-based\n"
    "  --to FORM             csv or idx\n"
    "  --out DIR             the folder to write into (made if missing; files in it are replaced atomically)\n"
    "data flags\n" DATA_FLAGS_USAGE "exit status: 0 done, 1 runtime error (data, I/O), 2 usage error.\n";

enum { OPT_TO = OPT_COMMAND_FIRST, OPT_OUT };

typedef struct {
    cli_args common; /* the data flags; info's DIR|FILE operand */
    const char *to, *out, *name; /* name: "data info" or "data convert" */
    bn_data_files files;
    bn_dataset train, test;
} data_options;

/* ---- info ---------------------------------------------------------------------------------------------- */
static void print_histogram(const bn_dataset *ds)
{
    uint64_t count[256] = {0};
    for (size_t i = 0; i < ds->n; i++)
        count[ds->labels[i]]++;
    int max = bn_dataset_max_label(ds), empty = 0;
    printf("  labels:");
    for (int k = 0; k <= max; k++) {
        printf(" %d: %llu%s", k, (unsigned long long)count[k], k < max ? "," : "\n");
        empty += count[k] == 0;
    }
    if (empty)
        printf("  %d of the labels 0..%d have no sample (give --label-offset if the labels start above 0)\n", empty,
               max);
}

/* Mean and standard deviation of every pixel of ds, from a histogram of the 256 values (exact, one pass). */
static void print_pixel_stats(const bn_dataset *ds)
{
    uint64_t count[256] = {0};
    size_t total = ds->n * (size_t)ds->dim;
    for (size_t i = 0; i < total; i++)
        count[ds->pixels[i]]++;
    double sum = 0, sq = 0;
    for (int v = 0; v < 256; v++)
        sum += (double)count[v] * v, sq += (double)count[v] * v * v;
    double mean = total ? sum / (double)total : 0.0;
    double std = total ? sqrt(fmax(0.0, sq / (double)total - mean * mean)) : 0.0;
    printf("  pixels: mean %.3f std %.3f of 0..255; as the network sees them (/255): mean %.4f std %.4f\n", mean, std,
           mean / 255.0, std / 255.0);
}

static void print_part(const char *what, const bn_dataset *ds)
{
    printf("%s: %zu images of %dx%d (%d pixels)", what, ds->n, ds->rows, ds->cols, ds->dim);
    if (!ds->n) {
        printf("\n");
        return;
    }
    printf(", labels 0..%d\n", bn_dataset_max_label(ds));
    print_histogram(ds);
    print_pixel_stats(ds);
}

static cli_exit run_info(data_options *o)
{
    if (o->common.n_operands == 1 && args_given(&o->common, OPT_DATA))
        return cli_error(EXIT_USAGE, o->name, "give the data as DIR|FILE or as --data, not both");
    if (o->common.n_operands == 1)
        o->common.data_dir = o->common.operands[0];
    cli_exit rc = data_find(&o->common, 0, &o->files);
    if (!rc)
        rc = data_load(&o->common, &o->files, &o->common.data.layout, false, &o->train, &o->test);
    if (rc)
        return rc;
    if (o->train.storage)
        print_part("train", &o->train);
    if (o->test.storage)
        print_part("test", &o->test);
    if (o->train.storage && o->test.storage)
        data_warn_label_sets(o->name, &o->files, &o->train, &o->test);
    return EXIT_OK;
}

/* ---- convert ------------------------------------------------------------------------------------------- */
enum { TRAIN, TEST };

/* The files a part is written to: one CSV (b = "") or an IDX pair. */
static void part_paths(const data_options *o, int part, char *a, char *b, size_t size)
{
    if (strcmp(o->to, "csv") == 0) {
        snprintf(a, size, "%s/%s.csv", o->out, part == TRAIN ? "train" : "test");
        b[0] = '\0';
    } else {
        snprintf(a, size, "%s/%s-images-idx3-ubyte", o->out, part == TRAIN ? "train" : "t10k");
        snprintf(b, size, "%s/%s-labels-idx1-ubyte", o->out, part == TRAIN ? "train" : "t10k");
    }
}

static bool has_part(const data_options *o, int part)
{
    const bn_data_source *s = part == TRAIN ? &o->files.train : &o->files.test;
    return s->csv[0] || s->images[0];
}

/* The data files as inputs and what convert writes into --out as outputs, checked before anything is read.
 * A --out that is not there yet is made after the data is read: its parent must take it. */
static cli_exit check_files(const data_options *o)
{
    struct stat st;
    char label[BN_PATH_MAX + 16], a[BN_PATH_MAX + 64], b[BN_PATH_MAX + 64];
    snprintf(label, sizeof label, "--out '%s'", o->out);
    if (stat(o->out, &st) != 0) { /* its parent takes it: the path without trailing '/'s and last name */
        char parent[BN_PATH_MAX];
        size_t len = strlen(o->out);
        while (len > 1 && o->out[len - 1] == '/')
            len--;
        snprintf(parent, sizeof parent, "%.*s", (int)len, o->out);
        char *slash = strrchr(parent, '/');
        if (slash)
            slash[slash == parent] = '\0'; /* "/x" -> "/" */
        return files_check_folder(o->name, label, slash ? parent : ".");
    }
    if (!S_ISDIR(st.st_mode))
        return cli_error(EXIT_USAGE, o->name, "--out '%s' is a file; give a folder", o->out);
    cli_files f = {0};
    data_declare(&f, &o->files);
    for (int part = TRAIN; part <= TEST; part++) {
        if (!has_part(o, part))
            continue;
        part_paths(o, part, a, b, sizeof a);
        files_writes(&f, "convert's output", a);
        files_writes(&f, "convert's output", b[0] ? b : NULL);
    }
    cli_exit rc = files_check(o->name, &f);
    files_free(&f);
    return rc;
}

/* One part into o->out under its names. */
static cli_exit write_part(const data_options *o, const bn_dataset *ds, int part)
{
    char a[BN_PATH_MAX + 64], b[BN_PATH_MAX + 64];
    part_paths(o, part, a, b, sizeof a);
    int status = b[0] ? bn_idx_write(ds, a, b) : bn_csv_write(ds, a);
    if (status)
        return runtime_error(o->name, status, "check the free space in --out");
    printf("wrote %s: %zu images of %dx%d%s%s\n", a, ds->n, ds->rows, ds->cols, b[0] ? " and " : "", b);
    return EXIT_OK;
}

/* --out as a folder: made when missing. */
static cli_exit make_out_folder(const data_options *o)
{
    struct stat st;
    if (stat(o->out, &st) == 0 && S_ISDIR(st.st_mode))
        return EXIT_OK;
    if (mkdir(o->out, 0777) != 0)
        return cli_error(EXIT_RUNTIME, o->name, "cannot make the folder '%s': %s; check its parent exists and is "
                                                "writable", o->out, strerror(errno));
    return EXIT_OK;
}

static cli_exit run_convert(data_options *o)
{
    cli_exit rc = data_find(&o->common, 0, &o->files);
    if (!rc)
        rc = check_files(o);
    if (!rc)
        rc = data_load(&o->common, &o->files, &o->common.data.layout, false, &o->train, &o->test);
    if (!rc)
        rc = make_out_folder(o);
    if (!rc && o->train.storage)
        rc = write_part(o, &o->train, TRAIN);
    if (!rc && o->test.storage)
        rc = write_part(o, &o->test, TEST);
    return rc;
}

/* ---- the command --------------------------------------------------------------------------------------- */
static cli_exit check_options(void *ctx)
{
    const data_options *o = ctx;
    bool convert = strcmp(o->name, "data convert") == 0;
    if (!convert && (o->to || o->out))
        return cli_error(EXIT_USAGE, o->name, "--to and --out belong to blasnet data convert");
    if (convert && (!o->to || (strcmp(o->to, "csv") != 0 && strcmp(o->to, "idx") != 0)))
        return cli_error(EXIT_USAGE, o->name, "--to must be csv or idx");
    if (convert && !o->out)
        return cli_error(EXIT_USAGE, o->name, "--out DIR is required");
    return EXIT_OK;
}

static cli_exit run_data(void *ctx)
{
    data_options *o = ctx;
    cli_exit rc = strcmp(o->name, "data info") == 0 ? run_info(o) : run_convert(o);
    bn_dataset_free(&o->train);
    bn_dataset_free(&o->test);
    return rc;
}

cli_exit cmd_data(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    data_options *o = calloc(1, sizeof *o); /* 24 KiB of paths */
    if (!o)
        return cli_error(EXIT_RUNTIME, "data", "out of memory");
    bool info = strcmp(sub, "info") == 0, convert = strcmp(sub, "convert") == 0;
    cli_exit rc = EXIT_USAGE;
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        fputs(usage_text, stdout);
        rc = EXIT_OK;
    } else if (!info && !convert) {
        cli_error(EXIT_USAGE, "data", "give a subcommand: info or convert ('%s' is neither)", sub);
    } else {
        o->name = info ? "data info" : "data convert";
        const cli_option own[] = {opt_text("to", OPT_TO, &o->to), opt_text("out", OPT_OUT, &o->out)};
        const cli_command command = {o->name, usage_text, COMMON_DATA, own, ARRAY_LEN(own), info ? 1 : 0,
                                     check_options, run_data, o, NULL};
        rc = args_run(&command, argc - 1, argv + 1, &o->common);
    }
    free(o);
    return rc;
}
