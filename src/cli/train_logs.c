/* The training logs as CSV: one row per epoch (--log), one every --log-every steps (--log-steps), each row
 * formatted whole and appended with one write. See train_logs.h for when the file at the path changes. */
#include "train_logs.h"

#include <stdio.h>
#include <string.h>

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

cli_exit train_logs_open(train_logs *logs, const char *epochs_path, const char *steps_path)
{
    *logs = (train_logs){.path = {epochs_path, steps_path}};
    logs->file[EPOCHS].fd = logs->file[STEPS].fd = -1;
    for (int k = 0; k < 2; k++) {
        if (!logs->path[k])
            continue;
        int status = bn_out_open(&logs->file[k], logs->path[k]);
        if (status)
            return runtime_error("train", status, "check the folder exists and is writable");
        append(logs, k, headers[k], (int)strlen(headers[k]));
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
