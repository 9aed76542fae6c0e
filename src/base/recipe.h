/* The recipe's fields as one table (recipe.c), made from the lists in blasnet.h that the structs are made
 * from: the checkpoint reads and writes it, the ranks hash it, bn_train and the checkpoint check its ranges,
 * and the tests compare by it. */
#ifndef BN_BASE_RECIPE_H
#define BN_BASE_RECIPE_H

#include "blasnet.h"

#include <stddef.h>

typedef struct {
    const char *name, *label; /* the member's name (opt.lr), and as messages say it (learning rate) */
    bn_field_kind kind;
    size_t offset; /* within bn_hparams */
    double lo, hi;
    unsigned range;  /* BN_RANGE_* */
    uint32_t since;  /* the first checkpoint format that stores it */
    int pos;         /* its place among the recipe's fields in a checkpoint file */
    bool resumable;  /* a resume may set it again */
} bn_recipe_field;

/* The fields in the structs' order; *count receives how many. */
const bn_recipe_field *bn_recipe_fields(int *count);
/* The field at place pos (0 .. count - 1) in a checkpoint file's order; NULL past the last. */
const bn_recipe_field *bn_recipe_at(int pos);

/* Whether hp's fields lie in their ranges: for a run to train with (trainable), or for a file to store
 * (a model saved without a run stores zeros; a stored bound is closed where a run's is open). Fails with
 * status and a message that names the field, its value and its range, after `context`. */
int bn_recipe_check(const bn_hparams *hp, bool trainable, int status, const char *context);

/* The recipe as bytes, field by field in file order, little-endian (a struct's padding is not part of its
 * value): the ranks hash it. Returns the bytes written; out holds at least BN_RECIPE_MAX_BYTES. */
#define BN_RECIPE_MAX_BYTES 256
size_t bn_recipe_serialise(const bn_hparams *hp, unsigned char *out);

#endif
