/* Names of activations and initialisations, for the CLI and model files. */
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

const char *bn_act_name(bn_act act) { return name_of(&acts, (int)act); }
const char *bn_init_name(bn_init init) { return name_of(&inits, (int)init); }

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
