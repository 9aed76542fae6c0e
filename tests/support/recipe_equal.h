/* Two recipes compared field by field, from the same lists the structs are made of (blasnet.h): a field
 * added to a list is compared with no change here, and padding never counts. Header-only, for the tests. */
#ifndef BN_TEST_RECIPE_EQUAL_H
#define BN_TEST_RECIPE_EQUAL_H

#include "blasnet.h"

#include <string.h>

/* NULL when a and b hold the same recipe, bit for bit; else the first field that differs ("opt.lr"). */
static inline const char *recipe_difference(const bn_hparams *a, const bn_hparams *b)
{
#define RECIPE_SAME_FIELD(type, name, ...)                                                                       \
    if (memcmp(&a->name, &b->name, sizeof a->name) != 0)                                                       \
        return #name;
#define RECIPE_SAME_OPT_FIELD(type, name, ...)                                                                   \
    if (memcmp(&a->opt.name, &b->opt.name, sizeof a->opt.name) != 0)                                           \
        return "opt." #name;
#define RECIPE_SAME_OPT(name) BN_OPTIM_RECIPE(RECIPE_SAME_OPT_FIELD)
    BN_HPARAMS_RECIPE(RECIPE_SAME_FIELD, RECIPE_SAME_OPT)
#undef RECIPE_SAME_FIELD
#undef RECIPE_SAME_OPT_FIELD
#undef RECIPE_SAME_OPT
    return NULL;
}

#endif
