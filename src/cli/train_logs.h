/* train --log and --log-steps: the per-epoch and per-step CSVs. Each is written through a temporary file
 * beside its path (atomic_file.h): the earlier file at the path stays whole until the new log has its first
 * epoch or checkpoint, is replaced then, and every row after that is appended with one write(2), so the file never holds
 * half a row, and `blasnet plot` can draw a run while it trains. */
#ifndef BN_CLI_TRAIN_LOGS_H
#define BN_CLI_TRAIN_LOGS_H

#include "atomic_file.h"
#include "cli.h"

typedef struct train_logs {
    bn_out file[2];      /* [0] --log (epochs), [1] --log-steps */
    const char *path[2]; /* NULL: not written */
    char error[600];     /* the first write failure, reported when the logs close */
} train_logs;

/* Opens the logs whose path is given: a fresh run's begin with "# " and its recipe line (for plot's title),
 * then the CSV header; a resumed run's (resumed: its checkpoint's state, else NULL) keep the earlier log's
 * lines up to the checkpoint's epoch and step and go on from there, as Keras's CSVLogger(append=True) does. */
cli_exit train_logs_open(train_logs *logs, const char *epochs_path, const char *steps_path, const char *recipe,
                         const bn_train_state *resumed);
void train_logs_step(train_logs *logs, const bn_progress *p);
/* The epoch's row, then both logs committed (published the first time). */
void train_logs_epoch(train_logs *logs, const bn_epoch_stats *s);
/* Both logs committed (published the first time): before a checkpoint is written, so that a resume from it
 * finds every row up to its place, even in a run killed before its first epoch ended. */
void train_logs_commit(train_logs *logs);
/* Commits and closes what is open, whatever the run's outcome (a diverged run's step log is what shows the
 * divergence). A failed write is reported only when nothing failed before it (rc): one error, one line. */
cli_exit train_logs_close(train_logs *logs, cli_exit rc);

#endif
