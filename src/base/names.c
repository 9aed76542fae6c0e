/* Names of the enums a user chooses by name (activations, initialisations, optimizers, schedules, early
 * stopping monitors), for the CLI, model files and messages. */
#include "blasnet.h"
#include "error.h"

#include <string.h>

/* A table of names for an enum, in enum order, and what an error message calls it. */
typedef struct {
    const char *const *names;
    int count;
    const char *what;
} name_table;

static const char *const act_names[BN_ACT_COUNT] = {
    [BN_ACT_RELU] = "relu",   [BN_ACT_LEAKY_RELU] = "leaky_relu", [BN_ACT_SIGMOID] = "sigmoid",
    [BN_ACT_TANH] = "tanh",   [BN_ACT_SWISH] = "swish",           [BN_ACT_SELU] = "selu",
};
static const name_table acts = {act_names, BN_ACT_COUNT, "activation"};

static const char *const init_names[BN_INIT_COUNT] = {
    [BN_INIT_HE] = "he", [BN_INIT_XAVIER] = "xavier", [BN_INIT_NORMAL] = "normal", [BN_INIT_LECUN] = "lecun"};
static const name_table inits = {init_names, BN_INIT_COUNT, "initialisation"};

static const char *name_of(const name_table *t, int value)
{
    return value >= 0 && value < t->count ? t->names[value] : "unknown";
}

/* The error lists the choices from the table itself, so a new name cannot be left out of it. */
static int parse_name(const name_table *t, const char *name, int *value)
{
    char choices[256] = "";
    for (int i = 0; i < t->count; i++) {
        if (strcmp(name, t->names[i]) == 0) {
            *value = i;
            return BN_OK;
        }
        strncat(choices, i ? ", " : "", sizeof choices - strlen(choices) - 1);
        strncat(choices, t->names[i], sizeof choices - strlen(choices) - 1);
    }
    return bn_fail(BN_E_INVALID, "unknown %s '%s' (%s)", t->what, name, choices);
}

static const char *const optimizer_names[BN_OPT_COUNT] = {
    [BN_OPT_SGD] = "sgd", [BN_OPT_ADAM] = "adam", [BN_OPT_ADAMW] = "adamw"};
static const name_table optimizers = {optimizer_names, BN_OPT_COUNT, "optimizer"};

static const char *const schedule_names[BN_SCHED_COUNT] = {
    [BN_SCHED_CONSTANT] = "constant", [BN_SCHED_STEP] = "step", [BN_SCHED_COSINE] = "cosine",
    [BN_SCHED_ONECYCLE] = "onecycle"};
static const name_table schedules = {schedule_names, BN_SCHED_COUNT, "schedule"};

static const char *const monitor_names[BN_MONITOR_COUNT] = {[BN_MONITOR_LOSS] = "loss", [BN_MONITOR_ACC] = "acc"};
static const name_table monitors = {monitor_names, BN_MONITOR_COUNT, "monitor"};

const char *bn_act_name(bn_act act) { return name_of(&acts, (int)act); }
const char *bn_init_name(bn_init init) { return name_of(&inits, (int)init); }
const char *bn_optimizer_name(bn_optimizer kind) { return name_of(&optimizers, (int)kind); }
const char *bn_schedule_name(bn_schedule schedule) { return name_of(&schedules, (int)schedule); }
const char *bn_monitor_name(bn_monitor monitor) { return name_of(&monitors, (int)monitor); }

/* Each enum's parse: *out is set only when name is one of its table. */
#define NAME_PARSE(function, type, table)                                                                    \
    int function(type *out, const char *name)                                                                \
    {                                                                                                        \
        int value = 0, status = parse_name(&(table), name, &value);                                          \
        if (!status)                                                                                         \
            *out = (type)value;                                                                              \
        return status;                                                                                       \
    }

NAME_PARSE(bn_act_parse, bn_act, acts)
NAME_PARSE(bn_init_parse, bn_init, inits)
NAME_PARSE(bn_optimizer_parse, bn_optimizer, optimizers)
NAME_PARSE(bn_schedule_parse, bn_schedule, schedules)
NAME_PARSE(bn_monitor_parse, bn_monitor, monitors)
