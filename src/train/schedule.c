/* Learning-rate schedules: the rate of every step as a pure function of the hyperparameters and the step's
 * index in the run, so a resumed run needs no schedule state and every step of an epoch may have its own
 * rate. */
#include "blasnet.h"

#include <math.h>

#define ONECYCLE_WARMUP_SHARE 0.3  /* of the run, when warmup_steps is 0 */
#define ONECYCLE_START_DIV 25.0    /* the rate starts at lr / 25 ... */
#define ONECYCLE_END_DIV 25.0e4    /* ... and ends at lr / 25e4, as PyTorch's OneCycleLR by default */

static const double pi = 3.14159265358979323846;

/* From `from` at progress 0 to `to` at progress 1 along half a cosine. */
static double cosine_between(double from, double to, double progress)
{
    return to + (from - to) * 0.5 * (1.0 + cos(pi * progress));
}

static double onecycle(const bn_hparams *hp, double step, double total)
{
    double peak = hp->opt.lr;
    double rise = hp->warmup_steps ? (double)hp->warmup_steps : floor(ONECYCLE_WARMUP_SHARE * total);
    if (step < rise)
        return peak / ONECYCLE_START_DIV + (peak - peak / ONECYCLE_START_DIV) * step / rise;
    double fall = total - rise;
    return cosine_between(peak, peak / ONECYCLE_END_DIV, fall > 1.0 ? (step - rise) / (fall - 1.0) : 1.0);
}

float bn_schedule_lr(const bn_hparams *hp, uint64_t step, uint64_t steps_per_epoch)
{
    const uint64_t epoch = steps_per_epoch ? step / steps_per_epoch : 0;
    const double total = (double)steps_per_epoch * (double)hp->epochs;
    if (hp->schedule == BN_SCHED_ONECYCLE)
        return (float)onecycle(hp, (double)step, total);
    double lr;
    switch (hp->schedule) {
    case BN_SCHED_STEP:
        lr = hp->opt.lr *
             pow(hp->lr_decay, (double)(epoch / (uint64_t)(hp->step_epochs > 0 ? hp->step_epochs : 1)));
        break;
    case BN_SCHED_COSINE: {
        double after = total - (double)hp->warmup_steps;
        double progress = after > 1.0 ? ((double)step - (double)hp->warmup_steps) / (after - 1.0) : 1.0;
        lr = cosine_between(hp->opt.lr, hp->lr_min, progress < 0.0 ? 0.0 : progress > 1.0 ? 1.0 : progress);
        break;
    }
    default: /* constant: the rate of every blasnet before schedules, in the same expression, so the same bits */
        lr = hp->opt.lr * pow(hp->lr_decay, (double)epoch);
        break;
    }
    if (step < hp->warmup_steps)
        lr *= (double)(step + 1) / (double)hp->warmup_steps;
    return (float)lr;
}
