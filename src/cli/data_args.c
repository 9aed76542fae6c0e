/* The data flags of every command that reads a data set: explicit files, or what bn_data_find finds at
 * --data; the one line that says which files were found; and the label checks that warn rather than fail. */
#include "cli.h"
#include "csv.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool present(const bn_data_source *s)
{
    return s->csv[0] || s->images[0];
}

const char *data_labels_path(const bn_data_source *part)
{
    return part->csv[0] ? part->csv : part->labels;
}

static bool explicit_files(const cli_data_flags *d)
{
    return d->train_images || d->test_images || d->train_csv || d->test_csv;
}

const char *data_name(const cli_args *a)
{
    const cli_data_flags *d = &a->data;
    if (!explicit_files(d))
        return a->data_dir;
    return d->train_csv ? d->train_csv : d->train_images ? d->train_images : d->test_csv ? d->test_csv : d->test_images;
}

/* The explicit files into files; false, after one line, when a path is too long. */
static bool copy_explicit(const char *cmd, const cli_data_flags *d, bn_data_files *files)
{
    const char *from[6] = {d->train_images, d->train_labels, d->train_csv, d->test_images, d->test_labels, d->test_csv};
    char *to[6] = {files->train.images, files->train.labels, files->train.csv,
                   files->test.images,  files->test.labels,  files->test.csv};
    memset(files, 0, sizeof *files);
    for (int i = 0; i < 6; i++)
        if (from[i] && (size_t)snprintf(to[i], BN_PATH_MAX, "%s", from[i]) >= BN_PATH_MAX) {
            cli_error(EXIT_USAGE, cmd, "the path '%.60s...' is too long", from[i]);
            return false;
        }
    return true;
}

static void print_part(const char *what, const bn_data_source *s)
{
    if (s->csv[0])
        printf("%s %s", what, s->csv);
    else if (s->images[0])
        printf("%s %s + %s", what, s->images, s->labels);
}

/* The one line that says which files were found. */
static void print_found(const bn_data_files *files)
{
    printf("data files:");
    if (files->set[0])
        printf(" set %s,", files->set);
    print_part(" train", &files->train);
    if (present(&files->train) && present(&files->test))
        printf(";");
    print_part(" test", &files->test);
    printf("\n");
}

/* The data flags that would be ignored, refused before anything is read: --data beside the file flags,
 * --set beside them or with a file, file flags for a part the command does not read, and --image-size with no
 * CSV file to apply to (an IDX header gives the shape). */
static cli_exit refuse_ignored(const cli_args *a, unsigned need, const bn_data_files *files)
{
    const char *cmd = a->command->name;
    const cli_data_flags *d = &a->data;
    struct stat st;
    if (explicit_files(d) && args_given(a, OPT_DATA))
        return cli_error(EXIT_USAGE, cmd, "give --data or the file flags (--train-csv, --test-images, ...), not both");
    if (args_given(a, OPT_SET) && (explicit_files(d) || (stat(a->data_dir, &st) == 0 && !S_ISDIR(st.st_mode))))
        return cli_error(EXIT_USAGE, cmd, "--set picks one of the sets in a --data folder; with %s there is none to "
                                          "pick", explicit_files(d) ? "file flags" : "a file as --data");
    static const int train_flags[] = {OPT_TRAIN_IMAGES, OPT_TRAIN_LABELS, OPT_TRAIN_CSV};
    for (size_t i = 0; need == DATA_TEST && i < ARRAY_LEN(train_flags); i++)
        if (args_given(a, train_flags[i]))
            return cli_error(EXIT_USAGE, cmd, "%s reads the test part only: leave out --%s",
                             cmd, train_flags[i] == OPT_TRAIN_CSV ? "train-csv" : train_flags[i] == OPT_TRAIN_IMAGES
                                                                                   ? "train-images" : "train-labels");
    if (args_given(a, OPT_IMAGE_SIZE) && !files->train.csv[0] && !files->test.csv[0])
        return cli_error(EXIT_USAGE, cmd, "--image-size applies to CSV files; '%s' is IDX, whose header gives the "
                                          "shape: leave it out", data_name(a));
    return EXIT_OK;
}

cli_exit data_find(const cli_args *a, unsigned need, bn_data_files *files)
{
    const char *cmd = a->command->name;
    if (explicit_files(&a->data)) {
        if (!copy_explicit(cmd, &a->data, files))
            return EXIT_USAGE;
    } else {
        int status = bn_data_find(files, a->data_dir, a->data.set);
        if (status)
            return runtime_error(cmd, status, status == BN_E_INVALID ? "pick one with --set NAME" : data_hint());
    }
    if ((need & DATA_TRAIN) && !present(&files->train))
        return cli_error(EXIT_RUNTIME, cmd, "no training part in '%s': give --train-csv FILE, or --train-images and "
                                            "--train-labels", data_name(a));
    if ((need & DATA_TEST) && !present(&files->test))
        return cli_error(EXIT_RUNTIME, cmd, "no test part for '%s' (a CSV file's test part is the file named with test "
                                            "for train): give --test-csv FILE, or --test-images and --test-labels",
                         data_name(a));
    if (need && !(need & DATA_TRAIN))
        memset(&files->train, 0, sizeof files->train); /* not needed: not read */
    if (need && !(need & (DATA_TEST | DATA_TEST_IF_ANY)))
        memset(&files->test, 0, sizeof files->test);
    return refuse_ignored(a, need, files);
}

void data_declare(cli_files *declared, const bn_data_files *files)
{
    const bn_data_source *parts[2] = {&files->train, &files->test};
    static const char *const names[2][3] = {{"the training images", "the training labels", "the training CSV"},
                                            {"the test images", "the test labels", "the test CSV"}};
    for (int i = 0; i < 2; i++) {
        const char *paths[3] = {parts[i]->images, parts[i]->labels, parts[i]->csv};
        for (int k = 0; k < 3; k++)
            if (paths[k][0])
                files_reads(declared, names[i][k], paths[k]);
    }
}

cli_exit data_empty(const char *cmd, const bn_data_source *part, const char *needed_for)
{
    if (part->csv[0])
        return cli_error(EXIT_RUNTIME, cmd, "'%s' holds no images (a header line and no rows): %s needs some",
                         part->csv, needed_for);
    return cli_error(EXIT_RUNTIME, cmd, "'%s' holds no images (its header counts 0): %s needs some", part->images,
                     needed_for);
}

cli_exit data_load(const cli_args *a, const bn_data_files *files, const bn_data_layout *layout, bool quiet,
                   bn_dataset *train, bn_dataset *test)
{
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    int status = bn_data_load(files, layout, train, test);
    if (status == BN_E_INVALID) /* the data and a layout flag disagree: the flag is what to change */
        return cli_error(EXIT_USAGE, a->command->name, "%s; change %s", bn_errmsg(),
                         strstr(bn_errmsg(), "label offset") ? "--label-offset" : "--image-size");
    if (status)
        return runtime_error(a->command->name, status, status == BN_E_IO ? data_hint() : NULL);
    if (!quiet)
        print_found(files);
    return EXIT_OK;
}

/* Up to 6 of the labels in `a` and not in `b`, as "3, 5, 7" into text; returns how many there are. */
static int only_in(const bool *a, const bool *b, char *text, size_t size)
{
    int n = 0;
    text[0] = '\0';
    for (int k = 0; k < 256; k++) {
        if (!a[k] || b[k])
            continue;
        size_t len = strlen(text);
        if (n < 6)
            snprintf(text + len, size - len, "%s%d", n ? ", " : "", k);
        else if (n == 6)
            snprintf(text + len, size - len, ", ...");
        n++;
    }
    return n;
}

void data_warn_label_sets(const char *cmd, const bn_data_files *files, const bn_dataset *train,
                          const bn_dataset *test)
{
    bool in_train[256] = {false}, in_test[256] = {false};
    for (size_t i = 0; i < train->n; i++)
        in_train[train->labels[i]] = true;
    for (size_t i = 0; i < test->n; i++)
        in_test[test->labels[i]] = true;
    char train_only[64], test_only[64];
    int a = only_in(in_train, in_test, train_only, sizeof train_only);
    int b = only_in(in_test, in_train, test_only, sizeof test_only);
    if (!a && !b)
        return;
    fprintf(stderr, "blasnet %s: warning: the training and test labels differ: %d label(s) only in '%s' (%s), %d only "
                    "in '%s' (%s); check that both parts come from one set (--set) with one --label-offset\n",
            cmd, a, data_labels_path(&files->train), a ? train_only : "none", b, data_labels_path(&files->test),
            b ? test_only : "none");
}

/* ---- what a model records of its data ------------------------------------------------------------------- */
cli_exit data_recorded_layout(const cli_args *a, const bn_hparams *hp, const char *model, bn_data_layout *layout)
{
    const char *cmd = a->command->name;
    *layout = a->data.layout;
    if (hp->image_rows == 0) /* formats 1 and 2: nothing recorded, the flags are taken as given */
        return EXIT_OK;
    if (args_given(a, OPT_TRANSPOSE) && !hp->transpose)
        return cli_error(EXIT_USAGE, cmd, "--transpose: '%s' was trained on files that stored their images upright; "
                                          "leave it out, or make upright files of these first (blasnet data convert "
                                          "--transpose)", model);
    if (args_given(a, OPT_LABEL_OFFSET) && layout->label_offset != hp->label_offset)
        return cli_error(EXIT_USAGE, cmd, "--label-offset %d: '%s' was trained with --label-offset %d, which is "
                                          "applied; leave it out", layout->label_offset, model, hp->label_offset);
    /* --image-size is the shape as stored, before any transposition; the model records it as seen after. */
    int rows = hp->transpose ? hp->image_cols : hp->image_rows, cols = hp->transpose ? hp->image_rows : hp->image_cols;
    if (args_given(a, OPT_IMAGE_SIZE) && (layout->rows != rows || layout->cols != cols))
        return cli_error(EXIT_USAGE, cmd, "--image-size %dx%d: '%s' was trained on CSV images stored as %dx%d; leave "
                                          "it out", layout->rows, layout->cols, model, rows, cols);
    layout->transpose = hp->transpose, layout->label_offset = hp->label_offset;
    layout->rows = rows, layout->cols = cols;
    return EXIT_OK;
}

cli_exit data_check_shape(const char *cmd, const bn_hparams *hp, const char *model, const bn_dataset *ds,
                          const char *data)
{
    if (hp->image_rows == 0 || !ds->storage || (ds->rows == hp->image_rows && ds->cols == hp->image_cols))
        return EXIT_OK;
    return cli_error(EXIT_RUNTIME, cmd, "'%s' holds %dx%d images but '%s' was trained on %dx%d: give data of that "
                                        "shape", data, ds->rows, ds->cols, model, hp->image_rows, hp->image_cols);
}

/* A regular file, which can be read twice (a peek at its first line, then the whole): a pipe cannot. */
static bool regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

cli_exit data_drop_unlabelled_test(const char *cmd, bn_data_files *files)
{
    int train_cols = 0, test_cols = 0;
    if (!regular(files->train.csv) || !regular(files->test.csv) || bn_csv_columns(files->train.csv, &train_cols) ||
        bn_csv_columns(files->test.csv, &test_cols) || test_cols != train_cols - 1)
        return EXIT_OK; /* not that layout; the readers say what else is wrong */
    fprintf(stderr, "blasnet %s: note: '%s' has one column fewer than '%s' (%d against %d): it looks unlabelled, so "
                    "this run has no test set (the validation split reports); label it with blasnet predict --model "
                    "M --csv '%s' --out predictions.csv\n", cmd, files->test.csv, files->train.csv, test_cols,
            train_cols, files->test.csv);
    memset(&files->test, 0, sizeof files->test);
    return EXIT_OK;
}

cli_exit data_refuse_unlabelled(const char *cmd, const bn_data_source *test, int inputs, const char *model)
{
    int columns = 0;
    if (!regular(test->csv) || bn_csv_columns(test->csv, &columns) || columns != inputs)
        return EXIT_OK;
    return cli_error(EXIT_RUNTIME, cmd, "'%s' has %d fields a row, as many as '%s' has inputs: it has no label column "
                                        "to evaluate against; label it with blasnet predict --model '%s' --csv '%s' "
                                        "--out predictions.csv", test->csv, columns, model, model, test->csv);
}
