/* The recipe's table: one row per field of bn_optim's and bn_hparams's lists in blasnet.h, with its offset
 * in bn_hparams, in checkpoint file order. A field added to a list is in every use of the table at once. */
#include "recipe.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HP_ROW(type, name, label, kind, lo, hi, range, since, pos, resume)                                        \
    {#name, label, kind, offsetof(bn_hparams, name), lo, hi, range, since, pos, resume == BN_RESUME_MAY_CHANGE},
#define OPT_ROW(type, name, label, kind, lo, hi, range, since, pos, resume)                                       \
    {"opt." #name, label, kind, offsetof(bn_hparams, opt.name), lo, hi, range, since, pos,                       \
     resume == BN_RESUME_MAY_CHANGE},
#define OPT_ROWS(name) BN_OPTIM_RECIPE(OPT_ROW)

/* In the lists' order (the structs' order); bn_recipe_at gives them in file order. */
static const bn_recipe_field listed[] = {BN_HPARAMS_RECIPE(HP_ROW, OPT_ROWS)};
#define FIELDS ((int)(sizeof listed / sizeof listed[0]))

const bn_recipe_field *bn_recipe_fields(int *count)
{
    *count = FIELDS;
    return listed;
}

const bn_recipe_field *bn_recipe_at(int pos)
{
    for (int i = 0; i < FIELDS; i++)
        if (listed[i].pos == pos)
            return &listed[i];
    return NULL;
}

static double value_of(const bn_recipe_field *f, const bn_hparams *hp)
{
    const char *at = (const char *)hp + f->offset;
    int i;
    float x;
    uint64_t u;
    switch (f->kind) {
    case BN_FIELD_INT:
    case BN_FIELD_ENUM: memcpy(&i, at, sizeof i); return i;
    case BN_FIELD_BOOL: return *(const bool *)at;
    case BN_FIELD_F32: memcpy(&x, at, sizeof x); return x;
    case BN_FIELD_U64: memcpy(&u, at, sizeof u); return (double)u;
    }
    return NAN;
}

/* Whether the field's range applies to this recipe at this level. */
static bool applies(const bn_recipe_field *f, const bn_hparams *hp, bool trainable)
{
    if (f->range & (BN_RANGE_ANY | BN_RANGE_UNCHECKED))
        return false;
    if (trainable && (f->range & BN_RANGE_ADAM) && hp->opt.kind == BN_OPT_SGD)
        return false;
    if (trainable && (f->range & BN_RANGE_NORMAL) && hp->init != BN_INIT_NORMAL)
        return false;
    return true;
}

int bn_recipe_check(const bn_hparams *hp, bool trainable, int status, const char *context)
{
    int count;
    const bn_recipe_field *fields = bn_recipe_fields(&count);
    for (int k = 0; k < count; k++) {
        const bn_recipe_field *f = &fields[k];
        if (!applies(f, hp, trainable))
            continue;
        const double v = value_of(f, hp);
        const bool enumerated = f->kind == BN_FIELD_ENUM;
        const bool zero_ok = !trainable && (f->range & BN_RANGE_STORED_ZERO) && v == 0.0;
        const bool lo_open = trainable && (f->range & BN_RANGE_LO_OPEN);
        const bool hi_open = enumerated || (f->range & BN_RANGE_HI_OPEN); /* a value at it is never valid */
        const bool ok = zero_ok || (isfinite(v) && (lo_open ? v > f->lo : v >= f->lo) &&
                                    (hi_open ? v < f->hi : v <= f->hi));
        char hi[32];
        snprintf(hi, sizeof hi, f->hi >= BN_RANGE_LIMIT ? "inf)" : "%g%s", enumerated ? f->hi - 1 : f->hi,
                 hi_open && !enumerated ? ")" : "]");
        if (!ok)
            return bn_fail(status, "%s%s %g is outside %s%g, %s", context, f->label, v, lo_open ? "(" : "[", f->lo,
                           hi);
    }
    return BN_OK;
}

static unsigned char *put_le(unsigned char *out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *out++ = (unsigned char)(v >> (8 * i));
    return out;
}

size_t bn_recipe_serialise(const bn_hparams *hp, unsigned char *out)
{
    unsigned char *p = out;
    for (int pos = 0; pos < FIELDS; pos++) {
        const bn_recipe_field *f = bn_recipe_at(pos);
        const char *at = (const char *)hp + f->offset;
        uint32_t u32;
        uint64_t u64;
        switch (f->kind) {
        case BN_FIELD_INT:
        case BN_FIELD_ENUM:
        case BN_FIELD_F32: memcpy(&u32, at, 4); p = put_le(p, u32, 4); break;
        case BN_FIELD_BOOL: p = put_le(p, *(const bool *)at ? 1u : 0u, 4); break;
        case BN_FIELD_U64: memcpy(&u64, at, 8); p = put_le(p, u64, 8); break;
        }
    }
    return (size_t)(p - out);
}
