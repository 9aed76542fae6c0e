/* Names of the enums a user chooses by name (activations, initialisations, optimizers, schedules, early
 * stopping monitors), for the CLI, model files and messages. */
#include "blasnet.h"
#include "error.h"

#include <string.h>

/* A table of names for an enum, with what the error message calls it and the choices it lists. */
typedef struct {
    const char *const *names;
    int count;
    const char *what, *choices;
} name_table;

static const char *const act_names[BN_ACT_COUNT] = {
    [BN_ACT_RELU] = "relu",   [BN_ACT_LEAKY_RELU] = "leaky_relu", [BN_ACT_SIGMOID] = "sigmoid",
    [BN_ACT_TANH] = "tanh",   [BN_ACT_SWISH] = "swish",           [BN_ACT_SELU] = "selu",
};
static const name_table acts = {act_names, BN_ACT_COUNT, "activation", "relu, leaky_relu, sigmoid, tanh, swish, selu"};

static const char *const init_names[BN_INIT_COUNT] = {
    [BN_INIT_HE] = "he", [BN_INIT_XAVIER] = "xavier", [BN_INIT_NORMAL] = "normal", [BN_INIT_LECUN] = "lecun"};
static const name_table inits = {init_names, BN_INIT_COUNT, "initialisation", "he, xavier, normal, lecun"};

static const char *name_of(const name_table *t, int value)
{
    return value >= 0 && value < t->count ? t->names[value] : "unknown";
}

static int parse_name(const name_table *t, const char *name, int *value)
{
    for (int i = 0; i < t->count; i++)
        if (strcmp(name, t->names[i]) == 0) {
            *value = i;
            return BN_OK;
        }
    return bn_fail(BN_E_INVALID, "unknown %s '%s' (%s)", t->what, name, t->choices);
}

static const char *const optimizer_names[BN_OPT_COUNT] = {
    [BN_OPT_SGD] = "sgd", [BN_OPT_ADAM] = "adam", [BN_OPT_ADAMW] = "adamw"};
static const name_table optimizers = {optimizer_names, BN_OPT_COUNT, "optimizer", "sgd, adam, adamw"};

static const char *const schedule_names[BN_SCHED_COUNT] = {
    [BN_SCHED_CONSTANT] = "constant", [BN_SCHED_STEP] = "step", [BN_SCHED_COSINE] = "cosine",
    [BN_SCHED_ONECYCLE] = "onecycle"};
static const name_table schedules = {schedule_names, BN_SCHED_COUNT, "schedule", "constant, step, cosine, onecycle"};

static const char *const monitor_names[BN_MONITOR_COUNT] = {[BN_MONITOR_LOSS] = "loss", [BN_MONITOR_ACC] = "acc"};
static const name_table monitors = {monitor_names, BN_MONITOR_COUNT, "monitor", "loss, acc"};

const char *bn_act_name(bn_act act) { return name_of(&acts, (int)act); }
const char *bn_init_name(bn_init init) { return name_of(&inits, (int)init); }
const char *bn_optimizer_name(bn_optimizer kind) { return name_of(&optimizers, (int)kind); }
const char *bn_schedule_name(bn_schedule schedule) { return name_of(&schedules, (int)schedule); }
const char *bn_monitor_name(bn_monitor monitor) { return name_of(&monitors, (int)monitor); }

int bn_act_parse(bn_act *act, const char *name)
{
    int value = 0, status = parse_name(&acts, name, &value);
    if (!status)
        *act = (bn_act)value;
    return status;
}

int bn_init_parse(bn_init *init, const char *name)
{
    int value = 0, status = parse_name(&inits, name, &value);
    if (!status)
        *init = (bn_init)value;
    return status;
}

int bn_optimizer_parse(bn_optimizer *kind, const char *name)
{
    int value = 0, status = parse_name(&optimizers, name, &value);
    if (!status)
        *kind = (bn_optimizer)value;
    return status;
}

int bn_schedule_parse(bn_schedule *schedule, const char *name)
{
    int value = 0, status = parse_name(&schedules, name, &value);
    if (!status)
        *schedule = (bn_schedule)value;
    return status;
}

int bn_monitor_parse(bn_monitor *monitor, const char *name)
{
    int value = 0, status = parse_name(&monitors, name, &value);
    if (!status)
        *monitor = (bn_monitor)value;
    return status;
}
