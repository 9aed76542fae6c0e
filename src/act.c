/* Names of activations and initialisations, for the CLI and model files. */
#include "blasnet.h"
#include "error.h"

#include <string.h>

static const char *const act_names[BN_ACT_COUNT] = {
    [BN_ACT_RELU] = "relu",   [BN_ACT_LEAKY_RELU] = "leaky_relu", [BN_ACT_SIGMOID] = "sigmoid",
    [BN_ACT_TANH] = "tanh",   [BN_ACT_SWISH] = "swish",           [BN_ACT_SELU] = "selu",
};

static const char *const init_names[BN_INIT_COUNT] = {
    [BN_INIT_HE] = "he", [BN_INIT_XAVIER] = "xavier", [BN_INIT_NORMAL] = "normal", [BN_INIT_LECUN] = "lecun"};

const char *bn_act_name(bn_act act)
{
    return (unsigned)act < BN_ACT_COUNT ? act_names[act] : "unknown";
}

int bn_act_parse(bn_act *act, const char *name)
{
    for (int i = 0; i < BN_ACT_COUNT; i++)
        if (strcmp(name, act_names[i]) == 0) {
            *act = (bn_act)i;
            return BN_OK;
        }
    return bn_fail(BN_E_INVALID, "unknown activation '%s' (relu, leaky_relu, sigmoid, tanh, swish, selu)", name);
}

const char *bn_init_name(bn_init init)
{
    return (unsigned)init < BN_INIT_COUNT ? init_names[init] : "unknown";
}

int bn_init_parse(bn_init *init, const char *name)
{
    for (int i = 0; i < BN_INIT_COUNT; i++)
        if (strcmp(name, init_names[i]) == 0) {
            *init = (bn_init)i;
            return BN_OK;
        }
    return bn_fail(BN_E_INVALID, "unknown initialisation '%s' (he, xavier, normal, lecun)", name);
}
