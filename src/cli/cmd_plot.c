/* blasnet plot: learning curves from the CSVs of `blasnet train --log` (per epoch) and `--log-steps` (every k
 * steps), drawn by gnuplot into one PNG. The CSVs are read and checked here (columns by name, so added
 * columns do not break it); gnuplot gets one temporary script with the data inlined, run as a child
 * process with an argument vector (no shell ever sees a user's path). */
#include "atomic_file.h"
#include "cli.h"
#include "file_read.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


extern char **environ;

static const char usage_text[] =
    "usage: blasnet plot EPOCH_CSV [--steps STEP_CSV] -o PNG [--smooth N] [--size WxH]\n"
    "  EPOCH_CSV        written by blasnet train --log FILE (columns epoch, train_loss, train_acc, val_loss,\n"
    "                   val_acc, grad_norm_w1 are used; others are ignored)\n"
    "  --steps STEP_CSV written by blasnet train --log-steps FILE (columns epoch, step, global_step, loss,\n"
    "                   grad_norm_w1)\n"
    "  -o, --output PNG the picture to write\n"
    "  --smooth N       the smoothed step loss is a centred moving average over N logged steps (default: 25)\n"
    "  --size WxH       picture size in pixels (default: 900x1200)\n"
    "Four panels over epochs: loss (steps raw and smoothed, epoch train mean, validation), accuracy (train,\n"
    "validation), the L2 norm of the first layer's weight gradient, and the learning rate; titled with the\n"
    "run's recipe, the # line that train writes first in its logs. Needs gnuplot (apt-get install\n"
    "gnuplot-nox).\n";

/* Logs are small (a 100-epoch MNIST run's step log with --log-every 1 is about 60 MB): these caps only stop a
 * file that is not one, such as /dev/zero, from taking the machine's memory or time. */
#define LOG_FILE_CAP ((uint64_t)256 << 20)
#define LOG_LINE_MAX 4096

/* ---- CSV with named columns ---------------------------------------------------------------------------- */
typedef struct {
    double *v; /* (rows, ncols), in the order the caller asked for */
    size_t rows;
    char title[LOG_LINE_MAX]; /* the run's recipe, from the log's first line ("# ..."); "" if none */
} table;

/* What read_csv needs while it reads one file. */
typedef struct {
    const char *path, *flag; /* flag: the train option that writes such a file */
    const char *const *want; /* the column names, in the order of table.v's columns */
    int ncols, fields;       /* fields: in the header */
    int where[16];           /* where[k]: the header field that holds want[k] */
} csv_reader;

/* Finds each wanted column in the header line. */
static cli_exit read_header(csv_reader *c, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    for (int k = 0; k < c->ncols; k++)
        c->where[k] = -1;
    c->fields = 0;
    for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save), c->fields++)
        for (int k = 0; k < c->ncols; k++)
            if (strcmp(tok, c->want[k]) == 0)
                c->where[k] = c->fields;
    for (int k = 0; k < c->ncols; k++)
        if (c->where[k] < 0)
            return cli_error(EXIT_RUNTIME, "plot",
                             "'%s' line 1: no column '%s' in the header (expected a file written by blasnet train %s)",
                             c->path, c->want[k], c->flag);
    return EXIT_OK;
}

/* The wanted fields of one data line into row (ncols). */
static cli_exit read_row(const csv_reader *c, char *line, size_t lineno, double *row)
{
    int col = 0, seen = 0;
    for (char *p = line;; col++) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        for (int k = 0; k < c->ncols; k++)
            if (c->where[k] == col) {
                char *end;
                row[k] = strtod(p, &end);
                if (end == p || *end)
                    return cli_error(EXIT_RUNTIME, "plot", "'%s' line %zu: column '%s' is '%s', not a number", c->path,
                                     lineno, c->want[k], p);
                seen++;
            }
        if (!comma)
            break;
        p = comma + 1;
    }
    if (seen < c->ncols)
        return cli_error(EXIT_RUNTIME, "plot", "'%s' line %zu: %d fields, the header has %d", c->path, lineno, col + 1,
                         c->fields);
    return EXIT_OK;
}



/* The next line of the text (*at .. end) into line, its line end dropped; false at the end of the text.
 * *rc is set for a line too long to be a log's, or one with a NUL byte. */
static bool next_line(const csv_reader *c, const char **at, const char *end, size_t lineno, char *line,
                      cli_exit *rc)
{
    if (*at >= end)
        return false;
    const char *nl = memchr(*at, '\n', (size_t)(end - *at)), *stop = nl ? nl : end;
    size_t len = (size_t)(stop - *at);
    if (len >= LOG_LINE_MAX || memchr(*at, '\0', len)) {
        *rc = cli_error(EXIT_RUNTIME, "plot", "'%s' line %zu %s: not a file written by blasnet train %s", c->path,
                        lineno, len >= LOG_LINE_MAX ? "is longer than 4095 characters" : "holds a NUL byte", c->flag);
        return false;
    }
    memcpy(line, *at, len);
    line[len - (len && line[len - 1] == '\r')] = '\0';
    *at = nl ? nl + 1 : end;
    return true;
}

/* Every data line of the text into t (lineno: the header's line), growing t->v as needed. */
static cli_exit read_rows(const csv_reader *c, const char *at, const char *end, size_t lineno, table *t)
{
    char line[LOG_LINE_MAX];
    size_t cap = 0;
    cli_exit rc = EXIT_OK;
    while (!rc && next_line(c, &at, end, ++lineno, line, &rc)) {
        if (!line[0])
            continue;
        if (t->rows == cap) {
            cap = cap ? 2 * cap : 1024;
            double *grown = realloc(t->v, cap * (size_t)c->ncols * sizeof *grown);
            if (!grown)
                return cli_error(EXIT_RUNTIME, "plot", "'%s': out of memory at line %zu", c->path, lineno);
            t->v = grown;
        }
        rc = read_row(c, line, lineno, t->v + t->rows * (size_t)c->ncols);
        t->rows += !rc;
    }
    if (!rc && t->rows == 0)
        rc = cli_error(EXIT_RUNTIME, "plot", "'%s' has a header but no rows: did training run for at least one %s?",
                       c->path, strcmp(c->flag, "--log") ? "logged step" : "epoch");
    return rc;
}

/* Reads path (at most LOG_FILE_CAP bytes), whose header must name every column in want[0..ncols); fields are
 * numbers ("nan" allowed). */
static cli_exit read_csv(const char *path, const char *const *want, int ncols, const char *flag, table *t)
{
    csv_reader c = {.path = path, .flag = flag, .want = want, .ncols = ncols};
    char line[LOG_LINE_MAX];
    char words[32];
    bn_in in;
    t->v = NULL, t->rows = 0;
    if (bn_in_open(&in, path) || bn_in_fill(&in, LOG_LINE_MAX)) /* the header first: /dev/zero stops there */
        return runtime_error("plot", BN_E_IO, "give a file written by blasnet train --log or --log-steps");
    const char *at = (const char *)in.buf, *end = at + in.len;
    cli_exit rc = EXIT_OK;
    size_t lineno = 1;
    if (!next_line(&c, &at, end, 1, line, &rc) && !rc)
        rc = cli_error(EXIT_RUNTIME, "plot", "'%s' is empty: expected a CSV header line", path);
    if (!rc && line[0] == '#') { /* the run's recipe, which train writes first: the title */
        snprintf(t->title, sizeof t->title, "%s", line + 1 + (line[1] == ' '));
        if (!next_line(&c, &at, end, ++lineno, line, &rc) && !rc)
            rc = cli_error(EXIT_RUNTIME, "plot", "'%s' has no CSV header line", path);
    }
    if (!rc)
        rc = read_header(&c, line);
    size_t header = (size_t)(at - (const char *)in.buf);
    if (!rc && bn_in_fill(&in, LOG_FILE_CAP + 1))
        rc = runtime_error("plot", BN_E_IO, "check the file");
    if (!rc && in.len > LOG_FILE_CAP)
        rc = cli_error(EXIT_RUNTIME, "plot", "'%s' is longer than blasnet reads for a training log (%s)", path,
                       bn_format_bytes(LOG_FILE_CAP, words, sizeof words));
    if (!rc)
        rc = read_rows(&c, (const char *)in.buf + header, (const char *)in.buf + in.len, lineno, t);
    bn_in_close(&in);
    if (rc) {
        free(t->v);
        t->v = NULL;
    }
    return rc;
}

/* ---- gnuplot ------------------------------------------------------------------------------------------- */
/* The first executable gnuplot on $PATH, written into buf; 0 when found. */
static int find_gnuplot(char *buf, size_t size)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return -1;
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        if ((size_t)snprintf(buf, size, "%.*s/gnuplot", (int)len, len ? p : ".") < size &&
            access(buf, X_OK) == 0)
            return 0;
        p += len + (p[len] == ':');
    }
    return -1;
}

/* A path inside a gnuplot single-quoted string: '' stands for ', nothing else is special. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        fputs(*s == '\'' ? "''" : (char[2]){*s, 0}, f);
    fputc('\'', f);
}

/* A title in a gnuplot double-quoted string, broken into lines of at most 100 characters at ", " (a recipe
 * line is longer than the picture is wide); " and \\ escaped. */
static void put_title(FILE *f, const char *s)
{
    fputc('"', f);
    for (size_t col = 0; *s; s++, col++) {
        if (s[0] == ',' && s[1] == ' ' && col > 60 && strcspn(s + 2, ",") + col > 100) {
            fputs(",\\n", f);
            s++, col = 0;
            continue;
        }
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void put_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, " %.9g", v);
    else
        fputs(" ?", f); /* gnuplot's missing value: no validation set gives NaN */
}

enum { E_EPOCH, E_TRAIN_LOSS, E_TRAIN_ACC, E_VAL_LOSS, E_VAL_ACC, E_GRAD, E_LR, E_COLS };
enum { S_EPOCH, S_STEP, S_GLOBAL, S_LOSS, S_GRAD, S_LR, S_COLS };

/* Steps per epoch from any row past the first epoch (global = (epoch-1)*S + step); with one epoch only, the
 * last logged step stands in for S. */
static double steps_per_epoch(const table *st)
{
    double per_epoch = 0.0;
    for (size_t r = 0; r < st->rows; r++) {
        const double *v = st->v + r * S_COLS;
        if (v[S_EPOCH] > 1)
            per_epoch = (v[S_GLOBAL] - v[S_STEP]) / (v[S_EPOCH] - 1);
        else if (per_epoch <= 0 && v[S_STEP] > 0)
            per_epoch = fmax(per_epoch, v[S_STEP]);
    }
    return per_epoch > 0 ? per_epoch : 1;
}

/* The data as gnuplot datablocks: $epochs as read, $steps as x in epochs (like the per-epoch rows), loss,
 * the loss's centred moving average over `smooth` rows, gradient norm. */
static void write_datablocks(FILE *f, const table *ep, const table *st, int smooth)
{
    fputs("$epochs << EOD\n", f);
    for (size_t r = 0; r < ep->rows; r++) {
        for (int k = 0; k < E_COLS; k++)
            put_number(f, ep->v[r * E_COLS + k]);
        fputc('\n', f);
    }
    fputs("EOD\n", f);
    if (!st)
        return;
    double per_epoch = steps_per_epoch(st);
    size_t half = (size_t)(smooth / 2);
    fputs("$steps << EOD\n", f);
    for (size_t r = 0; r < st->rows; r++) {
        const double *v = st->v + r * S_COLS;
        size_t lo = r > half ? r - half : 0, hi = r + half < st->rows ? r + half : st->rows - 1;
        double sum = 0.0;
        for (size_t j = lo; j <= hi; j++)
            sum += st->v[j * S_COLS + S_LOSS];
        put_number(f, v[S_GLOBAL] / per_epoch);
        put_number(f, v[S_LOSS]);
        put_number(f, sum / (double)(hi - lo + 1));
        put_number(f, v[S_GRAD]);
        put_number(f, v[S_LR]);
        fputc('\n', f);
    }
    fputs("EOD\n", f);
}

/* Four panels: loss, accuracy, first-layer gradient norm, learning rate; the step curves only when there are
 * steps. The title is the run's recipe line, else the log's name. */
static void write_panels(FILE *f, const char *epoch_csv, const char *title, bool steps, int smooth)
{
    const char *base = strrchr(epoch_csv, '/');
    fputs("set multiplot layout 4,1 title ", f);
    put_title(f, title[0] ? title : base ? base + 1 : epoch_csv);
    fputs(" font ',10' noenhanced\n", f);
    fputs("set grid\nset key outside right top\nset xlabel 'epoch'\nset xrange [0:*]\nset lmargin 10\nset rmargin 28\n",
          f);
    /* train's loss carries the L2 term (what the optimiser sees); validation's is cross-entropy alone. */
    fputs("set title 'loss: cross-entropy (+ L2 term for train and steps)'\nset logscale y\n", f);
    if (steps)
        fprintf(f, "plot $steps using 1:2 with lines lc rgb '#b8c8f0' title 'step', "
                   "$steps using 1:3 with lines lw 2 lc rgb '#1f4fbf' title 'step, smoothed (%d)', ", smooth);
    else
        fputs("plot ", f);
    fputs("$epochs using 1:2 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#d95f02' title 'train (epoch mean)', "
          "$epochs using 1:4 with linespoints lw 2 pt 5 ps 0.8 lc rgb '#1b9e77' title 'validation'\n", f);
    fputs("unset logscale y\nset title 'accuracy'\nset ylabel '%'\nset format y '%g'\n", f);
    fputs(
        "plot $epochs using 1:($3*100) with linespoints lw 2 pt 7 ps 0.8 lc rgb '#d95f02' title 'train (epoch mean)', "
        "$epochs using 1:($5*100) with linespoints lw 2 pt 5 ps 0.8 lc rgb '#1b9e77' title 'validation'\n",
        f);
    fputs("unset ylabel\nset title 'gradient magnitude: ||dL/dW1||_2'\nset logscale y\n", f);
    if (steps)
        fputs("plot $steps using 1:4 with lines lc rgb '#7570b3' title 'step', ", f);
    else
        fputs("plot ", f);
    fputs("$epochs using 1:6 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#e7298a' title 'last step of epoch'\n", f);
    /* The default schedule (onecycle) spans 4 decades, from lr/25 up to lr and down to lr/25e4. */
    fputs("set title 'learning rate'\nset format y '%.0e'\n", f);
    fputs(steps ? "plot $steps using 1:5 with lines lw 2 lc rgb '#66a61e' title 'step'\n"
                : "plot $epochs using 1:7 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#66a61e' title 'last step of epoch'\n",
          f);
    fputs("unset multiplot\nset output\n", f);
}

static void write_script(FILE *f, const char *png, int width, int height, const char *epoch_csv,
                         const table *ep, const table *st, int smooth)
{
    fputs("# written by blasnet plot\n", f);
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n", f);
    fprintf(f, "  set terminal pngcairo size %d,%d font 'sans,10'\n} else {\n", width, height);
    fprintf(f, "  set terminal png size %d,%d\n}\n", width, height);
    fputs("set output ", f);
    put_quoted(f, png);
    fputs("\nset datafile missing '?'\n", f);
    write_datablocks(f, ep, st, smooth);
    write_panels(f, epoch_csv, ep->title, st != NULL, smooth);
}

/* ---- the command -------------------------------------------------------------------------------------- */
enum { OPT_STEPS = OPT_COMMAND_FIRST, OPT_OUTPUT, OPT_SMOOTH, OPT_SIZE };

typedef struct {
    cli_args common; /* and EPOCH_CSV, the one operand */
    const char *epoch_csv, *steps_csv, *png;
    int smooth, size[2]; /* --size WxH: width, height */
} plot_options;

static cli_exit check_options(void *ctx)
{
    plot_options *o = ctx;
    if (o->common.n_operands == 0)
        return cli_error(EXIT_USAGE, "plot", "give EPOCH_CSV, the file written by blasnet train --log");
    o->epoch_csv = o->common.operands[0];
    if (!o->png)
        return cli_error(EXIT_USAGE, "plot", "-o PNG is required");
    if (args_given(&o->common, OPT_SMOOTH) && !o->steps_csv)
        return cli_error(EXIT_USAGE, "plot", "--smooth averages the step curve of --steps STEP_CSV: give --steps too");
    for (const char *p = o->png; *p; p++)
        if ((unsigned char)*p < 32)
            return cli_error(EXIT_USAGE, "plot", "-o: the output path has a control character");
    return EXIT_OK;
}

/* The gnuplot script, with the data inlined and its picture going to output, into a fresh temporary file whose
 * name goes to script. */
static cli_exit write_script_file(const plot_options *o, const char *output, const table *ep, const table *st,
                                  char *script, size_t size)
{
    const char *tmpdir = getenv("TMPDIR");
    snprintf(script, size, "%s/blasnet-plot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(script);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        cli_exit rc = cli_error(EXIT_RUNTIME, "plot",
                                "cannot create a temporary script '%s': %s; point TMPDIR at a writable folder", script,
                                strerror(errno));
        if (fd >= 0)
            close(fd), remove(script);
        return rc;
    }
    write_script(f, output, o->size[0], o->size[1], o->epoch_csv, ep, o->steps_csv ? st : NULL, o->smooth);
    if (ferror(f) | (fclose(f) != 0)) {
        cli_exit rc = cli_error(EXIT_RUNTIME, "plot",
                                "cannot write the temporary script '%s': %s; check the free space in TMPDIR", script,
                                strerror(errno));
        remove(script);
        return rc;
    }
    return EXIT_OK;
}

/* gnuplot on the script, as a child with an argument vector: no shell ever sees a user's path. It writes the
 * picture into png's temporary file, which replaces png only when gnuplot has succeeded. */
static cli_exit run_gnuplot(const char *gnuplot, const char *script, bn_out *png)
{
    char *child_argv[] = {(char *)gnuplot, (char *)script, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, gnuplot, NULL, NULL, child_argv, environ), wstatus = 0;
    if (err) {
        remove(script);
        return cli_error(EXIT_RUNTIME, "plot", "cannot run '%s': %s; reinstall gnuplot (apt-get install gnuplot-nox)",
                         gnuplot, strerror(err));
    }
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) /* the script stays: it holds what gnuplot refused */
        return cli_error(EXIT_RUNTIME, "plot", "gnuplot failed (%s %d) on '%s' (kept for inspection) writing '%s'",
                         WIFEXITED(wstatus) ? "exit status" : "signal",
                         WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus), script, png->shown);
    remove(script);
    struct stat sb;
    if (fstat(png->fd, &sb) != 0 || sb.st_size == 0)
        return cli_error(EXIT_RUNTIME, "plot", "gnuplot ran but did not write '%s'", png->shown);
    int status = bn_out_close(png);
    return status ? runtime_error("plot", status, "check the free space") : EXIT_OK;
}

/* The CSVs read as inputs, the picture as the output, checked before anything is read. */
static cli_exit check_files(const plot_options *o)
{
    cli_files f = {0};
    files_reads(&f, "EPOCH_CSV", o->epoch_csv);
    files_reads(&f, "--steps", o->steps_csv);
    files_writes(&f, "-o", o->png);
    cli_exit rc = files_check("plot", &f);
    files_free(&f);
    return rc;
}

/* The picture through a temporary file beside it, which gnuplot writes and which then replaces it. */
static cli_exit draw(const plot_options *o, const char *gnuplot, const table *ep, const table *st)
{
    char script[4096];
    bn_out png;
    int status = bn_out_open(&png, o->png);
    if (status)
        return runtime_error("plot", status, "check the folder exists and is writable");
    cli_exit rc = write_script_file(o, bn_out_temp_path(&png), ep, st, script, sizeof script);
    if (!rc)
        rc = run_gnuplot(gnuplot, script, &png);
    bn_out_discard(&png); /* after a successful close there is nothing left to discard */
    return rc;
}

static cli_exit run_plot(void *ctx)
{
    static const char *const epoch_cols[E_COLS] = {"epoch", "train_loss", "train_acc", "val_loss",
                                                   "val_acc", "grad_norm_w1", "lr"};
    static const char *const step_cols[S_COLS] = {"epoch", "step", "global_step", "loss", "grad_norm_w1", "lr"};
    const plot_options *o = ctx;
    char gnuplot[4096];
    cli_exit rc = check_files(o);
    if (rc)
        return rc;
    if (find_gnuplot(gnuplot, sizeof gnuplot))
        return cli_error(EXIT_RUNTIME, "plot", "gnuplot not found: apt-get install gnuplot-nox");
    static table ep, st; /* 4 KiB titles each: not on the stack */
    ep = st = (table){0};
    rc = read_csv(o->epoch_csv, epoch_cols, E_COLS, "--log", &ep);
    if (!rc && o->steps_csv)
        rc = read_csv(o->steps_csv, step_cols, S_COLS, "--log-steps", &st);
    if (!rc)
        rc = draw(o, gnuplot, &ep, &st);
    if (!rc)
        printf("plot: %zu epochs, %zu logged steps -> %s\n", ep.rows, st.rows, o->png);
    free(ep.v), free(st.v);
    return rc;
}

cli_exit cmd_plot(int argc, char **argv)
{
    plot_options o = {.smooth = 25, .size = {900, 1200}};
    const cli_option own[] = {
        opt_text("steps", OPT_STEPS, &o.steps_csv), with_short('o', opt_text("output", OPT_OUTPUT, &o.png)),
        opt_int("smooth", OPT_SMOOTH, &o.smooth, 1, 100000), opt_shape("size", OPT_SIZE, o.size, 200, 8000, 8000 * 8000, "900x1000"),
    };
    const cli_command command = {"plot", usage_text, 0, own, ARRAY_LEN(own), 1, check_options, run_plot, &o, NULL};
    return args_run(&command, argc, argv, &o.common);
}
