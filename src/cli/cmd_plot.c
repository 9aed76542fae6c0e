/* blasnet plot: learning curves from the CSVs of `blasnet train --log` (per epoch) and `--log-steps` (every k
 * steps), drawn by gnuplot into one PNG. The CSVs are read and checked here (columns by name, so added
 * columns do not break it); gnuplot gets one temporary script with the data inlined, run as a child
 * process with an argument vector (no shell ever sees a user's path). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
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
    "  --size WxH       picture size in pixels (default: 900x1000)\n"
    "Three panels over epochs: loss (steps raw and smoothed, epoch train mean, validation), accuracy (train,\n"
    "validation) and the L2 norm of the first layer's weight gradient. Needs gnuplot (apt-get install\n"
    "gnuplot-nox).\n";

/* ---- CSV with named columns ---------------------------------------------------------------------------- */
typedef struct {
    double *v; /* (rows, ncols), in the order the caller asked for */
    size_t rows;
} table;

/* Reads path, whose header must name every column in want[0..ncols); fields are numbers ("nan" allowed). */
static int read_csv(const char *path, const char *const *want, int ncols, const char *flag, table *t)
{
    t->v = NULL, t->rows = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "blasnet plot: cannot open '%s': %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    char line[4096];
    int where[16], fields = 0, rc = 0;
    size_t cap = 0, lineno = 1;
    if (!fgets(line, sizeof line, f)) {
        fprintf(stderr, "blasnet plot: '%s' is empty: expected a CSV header line\n", path);
        fclose(f);
        return EXIT_RUNTIME;
    }
    line[strcspn(line, "\r\n")] = '\0';
    for (int k = 0; k < ncols; k++)
        where[k] = -1;
    for (char *save = NULL, *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save), fields++)
        for (int k = 0; k < ncols; k++)
            if (strcmp(tok, want[k]) == 0)
                where[k] = fields;
    for (int k = 0; k < ncols && !rc; k++)
        if (where[k] < 0) {
            fprintf(stderr, "blasnet plot: '%s' line 1: no column '%s' in the header (expected a file written "
                            "by blasnet train %s)\n", path, want[k], flag);
            rc = EXIT_RUNTIME;
        }
    while (!rc && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (t->rows == cap) {
            cap = cap ? 2 * cap : 1024;
            double *grown = realloc(t->v, cap * (size_t)ncols * sizeof *grown);
            if (!grown) {
                fprintf(stderr, "blasnet plot: '%s': out of memory at line %zu\n", path, lineno);
                rc = EXIT_RUNTIME;
                break;
            }
            t->v = grown;
        }
        double *row = t->v + t->rows * (size_t)ncols;
        int col = 0, seen = 0;
        for (char *p = line;; col++) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            for (int k = 0; k < ncols; k++)
                if (where[k] == col) {
                    char *end;
                    row[k] = strtod(p, &end);
                    if (end == p || *end) {
                        fprintf(stderr, "blasnet plot: '%s' line %zu: column '%s' is '%s', not a number\n", path,
                                lineno, want[k], p);
                        rc = EXIT_RUNTIME;
                    }
                    seen++;
                }
            if (!comma || rc)
                break;
            p = comma + 1;
        }
        if (!rc && seen < ncols) {
            fprintf(stderr, "blasnet plot: '%s' line %zu: %d fields, the header has %d\n", path, lineno, col + 1,
                    fields);
            rc = EXIT_RUNTIME;
        }
        t->rows++;
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "blasnet plot: cannot read '%s': %s\n", path, strerror(errno));
        rc = EXIT_RUNTIME;
    }
    fclose(f);
    if (!rc && t->rows == 0) {
        fprintf(stderr, "blasnet plot: '%s' has a header but no rows: did training run for at least one %s?\n",
                path, strcmp(flag, "--log") ? "logged step" : "epoch");
        rc = EXIT_RUNTIME;
    }
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

static void put_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, " %.9g", v);
    else
        fputs(" ?", f); /* gnuplot's missing value: no validation set gives NaN */
}

enum { E_EPOCH, E_TRAIN_LOSS, E_TRAIN_ACC, E_VAL_LOSS, E_VAL_ACC, E_GRAD, E_COLS };
enum { S_EPOCH, S_STEP, S_GLOBAL, S_LOSS, S_GRAD, S_COLS };

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
    fputs("$epochs << EOD\n", f);
    for (size_t r = 0; r < ep->rows; r++) {
        const double *v = ep->v + r * E_COLS;
        for (int k = 0; k < E_COLS; k++)
            put_number(f, v[k]);
        fputc('\n', f);
    }
    fputs("EOD\n", f);
    if (st) {
        /* Steps per epoch from any row past the first epoch (global = (epoch-1)*S + step); with one epoch
         * only, the last logged step stands in for S. x is then in epochs, like the per-epoch rows. */
        double per_epoch = 0.0;
        for (size_t r = 0; r < st->rows; r++) {
            const double *v = st->v + r * S_COLS;
            if (v[S_EPOCH] > 1)
                per_epoch = (v[S_GLOBAL] - v[S_STEP]) / (v[S_EPOCH] - 1);
            else if (per_epoch <= 0 && v[S_STEP] > 0)
                per_epoch = fmax(per_epoch, v[S_STEP]);
        }
        if (!(per_epoch > 0))
            per_epoch = 1;
        fputs("$steps << EOD\n", f);
        long half = smooth / 2;
        for (size_t r = 0; r < st->rows; r++) {
            const double *v = st->v + r * S_COLS;
            size_t lo = r > (size_t)half ? r - (size_t)half : 0, hi = r + (size_t)half;
            hi = hi < st->rows ? hi : st->rows - 1;
            double sum = 0.0;
            for (size_t j = lo; j <= hi; j++)
                sum += st->v[j * S_COLS + S_LOSS];
            put_number(f, v[S_GLOBAL] / per_epoch);
            put_number(f, v[S_LOSS]);
            put_number(f, sum / (double)(hi - lo + 1));
            put_number(f, v[S_GRAD]);
            fputc('\n', f);
        }
        fputs("EOD\n", f);
    }
    const char *base = strrchr(epoch_csv, '/');
    fputs("set multiplot layout 3,1 title ", f);
    put_quoted(f, base ? base + 1 : epoch_csv);
    fputs(" font ',12' noenhanced\n", f);
    fputs("set grid\nset key outside right top\nset xlabel 'epoch'\nset xrange [0:*]\nset lmargin 10\nset rmargin 28\n", f);
    /* train's loss carries the L2 term (what the optimiser sees); validation's is cross-entropy alone. */
    fputs("set title 'loss: cross-entropy (+ L2 term for train and steps)'\nset logscale y\n", f);
    if (st)
        fprintf(f, "plot $steps using 1:2 with lines lc rgb '#b8c8f0' title 'step', "
                   "$steps using 1:3 with lines lw 2 lc rgb '#1f4fbf' title 'step, smoothed (%d)', ", smooth);
    else
        fputs("plot ", f);
    fputs("$epochs using 1:2 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#d95f02' title 'train (epoch mean)', "
          "$epochs using 1:4 with linespoints lw 2 pt 5 ps 0.8 lc rgb '#1b9e77' title 'validation'\n", f);
    fputs("unset logscale y\nset title 'accuracy'\nset ylabel '%'\nset format y '%g'\n", f);
    fputs("plot $epochs using 1:($3*100) with linespoints lw 2 pt 7 ps 0.8 lc rgb '#d95f02' title 'train (epoch mean)', "
          "$epochs using 1:($5*100) with linespoints lw 2 pt 5 ps 0.8 lc rgb '#1b9e77' title 'validation'\n", f);
    fputs("unset ylabel\nset title 'gradient magnitude: ||dL/dW1||_2'\nset logscale y\n", f);
    if (st)
        fputs("plot $steps using 1:4 with lines lc rgb '#7570b3' title 'step', ", f);
    else
        fputs("plot ", f);
    fputs("$epochs using 1:6 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#e7298a' title 'last step of epoch'\n", f);
    fputs("unset multiplot\nset output\n", f);
}

static int parse_size(const char *text, int *w, int *h)
{
    char tail;
    return sscanf(text, "%d x %d%c", w, h, &tail) == 2 && *w >= 200 && *h >= 200 && *w <= 8000 && *h <= 8000
               ? 0
               : -1;
}

cli_exit cmd_plot(int argc, char **argv)
{
    static const struct option options[] = {
        {"steps", required_argument, 0, 's'}, {"output", required_argument, 0, 'o'},
        {"smooth", required_argument, 0, 'n'}, {"size", required_argument, 0, 'z'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    const char *steps_csv = NULL, *png = NULL, *size = NULL;
    int smooth = 25, width = 900, height = 1000, c, rc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", options, NULL)) != -1 && !rc) {
        switch (c) {
        case 's': steps_csv = optarg; break;
        case 'o': png = optarg; break;
        case 'n': rc = parse_int("plot", "--smooth", optarg, 1, 100000, &smooth); break;
        case 'z': size = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': rc = usage_error("plot", "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error("plot", "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc)
        return rc;
    if (optind >= argc)
        return usage_error("plot", "give EPOCH_CSV, the file written by blasnet train --log");
    if (optind + 1 < argc)
        return usage_error("plot", "unexpected argument '%s'", argv[optind + 1]);
    const char *epoch_csv = argv[optind];
    if (!png)
        return usage_error("plot", "-o PNG is required");
    if (size && parse_size(size, &width, &height))
        return usage_error("plot", "--size '%s' must be WxH, each 200..8000", size);
    for (const char *p = png; *p; p++)
        if ((unsigned char)*p < 32)
            return usage_error("plot", "-o: the output path has a control character");
    char gnuplot[4096];
    if (find_gnuplot(gnuplot, sizeof gnuplot)) {
        fprintf(stderr, "blasnet plot: gnuplot not found: apt-get install gnuplot-nox\n");
        return EXIT_RUNTIME;
    }

    static const char *const epoch_cols[E_COLS] = {"epoch", "train_loss", "train_acc",
                                                   "val_loss", "val_acc", "grad_norm_w1"};
    static const char *const step_cols[S_COLS] = {"epoch", "step", "global_step", "loss", "grad_norm_w1"};
    table ep, st = {0};
    rc = read_csv(epoch_csv, epoch_cols, E_COLS, "--log", &ep);
    if (rc)
        return rc;
    if (steps_csv && (rc = read_csv(steps_csv, step_cols, S_COLS, "--log-steps", &st))) {
        free(ep.v);
        return rc;
    }

    const char *tmpdir = getenv("TMPDIR");
    char script[4096];
    snprintf(script, sizeof script, "%s/blasnet-plot-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(script);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "blasnet plot: cannot create a temporary script '%s': %s\n", script, strerror(errno));
        if (fd >= 0)
            close(fd), remove(script);
        free(ep.v), free(st.v);
        return EXIT_RUNTIME;
    }
    write_script(f, png, width, height, epoch_csv, &ep, steps_csv ? &st : NULL, smooth);
    size_t epochs = ep.rows, steps = st.rows;
    free(ep.v), free(st.v);
    if (ferror(f) | (fclose(f) != 0)) {
        fprintf(stderr, "blasnet plot: cannot write the temporary script '%s': %s\n", script, strerror(errno));
        remove(script);
        return EXIT_RUNTIME;
    }

    char *child_argv[] = {gnuplot, script, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, gnuplot, NULL, NULL, child_argv, environ), wstatus = 0;
    if (err) {
        fprintf(stderr, "blasnet plot: cannot run '%s': %s\n", gnuplot, strerror(err));
        remove(script);
        return EXIT_RUNTIME;
    }
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        /* The script stays behind: it holds the data and commands gnuplot refused. */
        fprintf(stderr, "blasnet plot: gnuplot failed (%s %d) on '%s' (kept for inspection) writing '%s'\n",
                WIFEXITED(wstatus) ? "exit status" : "signal",
                WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus), script, png);
        return EXIT_RUNTIME;
    }
    remove(script);
    struct stat sb;
    if (stat(png, &sb) != 0 || sb.st_size == 0) {
        fprintf(stderr, "blasnet plot: gnuplot ran but '%s' was not written\n", png);
        return EXIT_RUNTIME;
    }
    printf("plot: %zu epochs, %zu logged steps -> %s\n", epochs, steps, png);
    return EXIT_OK;
}
