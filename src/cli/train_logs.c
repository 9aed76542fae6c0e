/* The training logs as CSV: a # line with the run's recipe, the header, then one row per epoch (--log), one
 * every --log-every steps (--log-steps), each row formatted whole and appended with one write; a resumed run
 * continues the earlier log. See train_logs.h for when the file at the path changes. */
#include "train_logs.h"

#include "file_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { EPOCHS, STEPS };

static const char *const headers[2] = {
    "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s,grad_norm_w1\n",
    /* grad_norm: the global gradient norm before clipping, NaN without --clip-norm */
    "epoch,step,global_step,loss,grad_norm_w1,lr,grad_norm\n",
};

/* A zeroed train_logs (a run that failed before its logs opened) has nothing open. */
static bool is_open(const train_logs *logs, int k)
{
    return logs->path[k] && logs->file[k].fd >= 0;
}

/* Keeps the first failure's words for the report at close. */
static void note_failure(train_logs *logs, int status)
{
    if (status && !logs->error[0])
        snprintf(logs->error, sizeof logs->error, "%s", bn_errmsg());
}

static void append(train_logs *logs, int k, const char *row, int len)
{
    if (is_open(logs, k) && len > 0)
        note_failure(logs, bn_out_write(&logs->file[k], row, (size_t)len));
}

/* Whether a log row (its first fields: epoch, and for the step log the step) lies at or before the
 * checkpoint's place: epochs completed, and steps completed within the next. */
static bool up_to(int k, const char *row, const bn_train_state *at)
{
    char *end;
    long epoch = strtol(row, &end, 10), step = 0;
    if (end == row || *end != ',')
        return false;
    if (k == EPOCHS)
        return epoch <= at->epoch;
    step = strtol(end + 1, &end, 10);
    return *end == ',' && (epoch <= at->epoch || (epoch == at->epoch + 1 && (uint64_t)step <= at->step));
}

/* The earlier log's lines that a resumed run keeps: its recipe line, its header, and the rows written up to
 * the checkpoint's place (a run stopped after its last checkpoint wrote more, and a killed one may have left
 * half a line: both dropped). 0 lines when there is no earlier log or it is not one of blasnet's; *rows_at:
 * where the rows begin, after the header. */
static size_t kept_part(int k, const char *path, const bn_train_state *at, uint8_t **text, size_t *rows_at)
{
    size_t size = 0, keep = 0;
    *text = NULL;
    if (access(path, F_OK) != 0 || bn_read_file(path, (uint64_t)256 << 20, "a training log", text, &size))
        return 0;
    const char *p = (const char *)*text, *end = p + size;
    bool header_seen = false;
    for (const char *nl; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
        bool header = !header_seen && strncmp(p, headers[k], strlen(headers[k])) == 0;
        if (!(p[0] == '#' && !header_seen) && !header && !(header_seen && up_to(k, p, at)))
            break;
        header_seen |= header;
        keep = (size_t)(nl + 1 - (const char *)*text);
        *rows_at = header ? keep : *rows_at;
    }
    return header_seen ? keep : 0;
}

/* The recipe line, as a # comment, then the header; a resumed log then goes on with the earlier log's rows
 * up to the checkpoint, so that the file reads as one run. The recipe line is the run's as it is now: a run
 * resumed with more --epochs is a longer run than the one that wrote the earlier rows. */
static void begin_log(train_logs *logs, int k, const char *recipe, const bn_train_state *resumed)
{
    uint8_t *text = NULL;
    size_t rows_at = 0, kept = resumed ? kept_part(k, logs->path[k], resumed, &text, &rows_at) : 0;
    if (resumed && text && !kept)
        fprintf(stderr, "blasnet train: note: '%s' is not a log that blasnet wrote: it is started again\n",
                logs->path[k]);
    char line[1024];
    append(logs, k, line, snprintf(line, sizeof line, "# %s\n", recipe));
    append(logs, k, headers[k], (int)strlen(headers[k]));
    if (kept)
        append(logs, k, (const char *)text + rows_at, (int)(kept - rows_at));
    free(text);
}

cli_exit train_logs_open(train_logs *logs, const char *epochs_path, const char *steps_path, const char *recipe,
                         const bn_train_state *resumed)
{
    *logs = (train_logs){.path = {epochs_path, steps_path}};
    logs->file[EPOCHS].fd = logs->file[STEPS].fd = -1;
    for (int k = 0; k < 2; k++) {
        if (!logs->path[k])
            continue;
        int status = bn_out_open(&logs->file[k], logs->path[k]);
        if (status)
            return runtime_error("train", status, "check the folder exists and is writable");
        begin_log(logs, k, recipe, resumed);
    }
    return EXIT_OK;
}

void train_logs_step(train_logs *logs, const bn_progress *p)
{
    char row[256];
    int len = snprintf(row, sizeof row, "%d,%zu,%llu,%.6f,%.6g,%.6g,%.6g\n", p->epoch, p->step,
                       (unsigned long long)p->global_step, p->step_loss, p->grad_norm_w1, p->lr, p->grad_norm);
    append(logs, STEPS, row, len);
}

void train_logs_epoch(train_logs *logs, const bn_epoch_stats *s)
{
    char row[256];
    int len = snprintf(row, sizeof row, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.4f,%.1f,%.6g\n", s->epoch, s->train_loss,
                       s->train_acc, s->val_loss, s->val_acc, s->lr, s->seconds, s->samples_per_s, s->grad_norm_w1);
    append(logs, EPOCHS, row, len);
    train_logs_commit(logs);
}

void train_logs_commit(train_logs *logs)
{
    for (int k = 0; k < 2; k++)
        if (is_open(logs, k) && !logs->file[k].failed)
            note_failure(logs, bn_out_commit(&logs->file[k]));
}

cli_exit train_logs_close(train_logs *logs, cli_exit rc)
{
    for (int k = 0; k < 2; k++) {
        if (!is_open(logs, k))
            continue;
        if (logs->file[k].failed) /* never committed: the earlier file stays; committed: the rows before */
            bn_out_discard(&logs->file[k]);
        else
            note_failure(logs, bn_out_close(&logs->file[k]));
    }
    if (logs->error[0] && rc == EXIT_OK)
        rc = cli_error(EXIT_RUNTIME, "train", "%s; check the free space", logs->error);
    logs->error[0] = '\0';
    return rc;
}
