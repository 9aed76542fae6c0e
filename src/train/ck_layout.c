/* The checkpoint file's layout (ck_layout.h): little-endian serialisation, and the header's fields in file
 * order, described once: the architecture's and the run state's here, the recipe's from its table. */
#include "ck_layout.h"

#include "error.h"
#include "recipe.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(bn_act) == sizeof(int) && sizeof(bn_init) == sizeof(int) &&
                   sizeof(bn_optimizer) == sizeof(int) && sizeof(bn_schedule) == sizeof(int) &&
                   sizeof(bn_monitor) == sizeof(int) && sizeof(bn_end) == sizeof(int),
               "enums are stored as int");

/* ---- little-endian serialisation ------------------------------------------------------------------------ */

void ck_put_u32(writer *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

void ck_put_u64(writer *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

void ck_put_f32(writer *w, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    ck_put_u32(w, bits);
}

void ck_put_f64(writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    ck_put_u64(w, bits);
}

static uint64_t ck_get_le(reader *r, int bytes)
{
    if (r->overrun || r->left < (size_t)bytes) {
        r->overrun = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    r->left -= (size_t)bytes;
    return v;
}

uint32_t ck_get_u32(reader *r) { return (uint32_t)ck_get_le(r, 4); }
uint64_t ck_get_u64(reader *r) { return ck_get_le(r, 8); }

float ck_get_f32(reader *r)
{
    uint32_t bits = ck_get_u32(r);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

double ck_get_f64(reader *r)
{
    uint64_t bits = ck_get_u64(r);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

uint32_t ck_load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the fixed fields, described once ------------------------------------------------------------------ */

#define ARCH(member) offsetof(ck_header, arch.member)
#define STATE(member) offsetof(ck_header, state.member)
/* The fields between the layer sizes and the floats, in file order: the architecture's, then for each format
 * version the recipe's fields it added (from the recipe's one table, base/recipe.c) and the run's state it
 * added, then the parameter count. A new recipe field is one line in blasnet.h's lists; a new state field is
 * one line here; either needs a new format version. A file of version V holds the fields with since <= V. */
static const field arch_fields[] = {
    {"activation", FIELD_ENUM, ARCH(act), BN_ACT_COUNT, 1},
    {"leaky slope", FIELD_F32, ARCH(leaky_slope), 0, 1},
};
static const field state_v1[] = {
    {"epoch", FIELD_INT, STATE(epoch), 0, 1},
    {"step", FIELD_U64, STATE(step), 0, 1},
    {"rng word 0", FIELD_U64, STATE(rng.s[0]), 0, 1},
    {"rng word 1", FIELD_U64, STATE(rng.s[1]), 0, 1},
    {"rng word 2", FIELD_U64, STATE(rng.s[2]), 0, 1},
    {"rng word 3", FIELD_U64, STATE(rng.s[3]), 0, 1},
    {"running loss", FIELD_F64, STATE(loss_sum), 0, 1},
    {"correct", FIELD_U64, STATE(correct), 0, 1},
    {"seen", FIELD_U64, STATE(seen), 0, 1},
    {"training time", FIELD_F64, STATE(train_seconds), 0, 1},
    {"samples", FIELD_U64, STATE(samples), 0, 1},
    {"training-set size", FIELD_U64, STATE(train_n), 0, 1},
};
static const field state_v2[] = {
    {"best epoch", FIELD_INT, STATE(best_epoch), 0, 2},
    {"best validation figure", FIELD_F64, STATE(best_metric), 0, 2},
    {"epochs without improvement", FIELD_INT, STATE(bad_epochs), 0, 2},
    {"end", FIELD_ENUM, STATE(end), BN_END_TARGET + 1, 2},
    {"time to target", FIELD_F64, STATE(target_seconds), 0, 2},
};
static const field state_v4[] = {
    {"plan digest", FIELD_U64, STATE(plan_digest), 0, 4},
};
static const field trailer_fields[] = {
    {"parameter count", FIELD_U64, offsetof(ck_header, param_count), 0, 1},
};
#define ROWS(a) (sizeof a / sizeof a[0])

static size_t ck_append(field *out, size_t n, const field *rows, size_t count)
{
    memcpy(out + n, rows, count * sizeof *rows);
    return n + count;
}

/* The recipe's fields that format `since` added, in file order, as fields of ck_header. */
static size_t ck_append_recipe(field *out, size_t n, uint32_t since)
{
    static const field_kind kinds[] = {[BN_FIELD_INT] = FIELD_INT, [BN_FIELD_U64] = FIELD_U64,
                                       [BN_FIELD_F32] = FIELD_F32, [BN_FIELD_BOOL] = FIELD_BOOL,
                                       [BN_FIELD_ENUM] = FIELD_ENUM};
    const bn_recipe_field *f;
    for (int pos = 0; (f = bn_recipe_at(pos)) != NULL; pos++)
        if (f->since == since)
            out[n++] = (field){f->label, kinds[f->kind], STATE(hp) + f->offset,
                               f->kind == BN_FIELD_ENUM ? (unsigned)f->hi : 0, since};
    return n;
}

/* Every field of the header, in file order, into out (FIELD_MAX); returns how many. */
size_t ck_header_fields(field *out)
{
    size_t n = ck_append(out, 0, arch_fields, ROWS(arch_fields));
    n = ck_append_recipe(out, n, 1);
    n = ck_append(out, n, state_v1, ROWS(state_v1));
    n = ck_append_recipe(out, n, 2);
    n = ck_append(out, n, state_v2, ROWS(state_v2));
    n = ck_append_recipe(out, n, 3);
    n = ck_append(out, n, state_v4, ROWS(state_v4));
    return ck_append(out, n, trailer_fields, ROWS(trailer_fields));
}

unsigned ck_field_bytes(field_kind kind)
{
    return kind == FIELD_U64 || kind == FIELD_F64 ? 8u : 4u;
}

/* Bytes before the parameters for a network of `depth` layers in format `version`. */
size_t ck_header_bytes(int depth, uint32_t version)
{
    field fields[FIELD_MAX];
    size_t fixed = 0, count = ck_header_fields(fields);
    for (size_t i = 0; i < count; i++)
        if (fields[i].since <= version)
            fixed += ck_field_bytes(fields[i].kind);
    return CK_PREFIX_BYTES + 4u * ((size_t)depth + 1u) + fixed;
}

/* The smallest valid file: version 1, one layer 1 -> 2 (4 parameters, stored twice: weights and velocity). */
size_t ck_min_file_bytes(void)
{
    return ck_header_bytes(1, CK_OLDEST_VERSION) + 8u * 4u + CK_CRC_BYTES;
}

void ck_put_field(writer *w, const field *f, const ck_header *h)
{
    const char *at = (const char *)h + f->offset;
    int i;
    float f32;
    double f64;
    uint64_t u64;
    switch (f->kind) {
    case FIELD_INT:
    case FIELD_ENUM: memcpy(&i, at, sizeof i); ck_put_u32(w, (uint32_t)i); break;
    case FIELD_BOOL: ck_put_u32(w, *(const bool *)at ? 1u : 0u); break;
    case FIELD_F32: memcpy(&f32, at, sizeof f32); ck_put_f32(w, f32); break;
    case FIELD_U64: memcpy(&u64, at, sizeof u64); ck_put_u64(w, u64); break;
    case FIELD_F64: memcpy(&f64, at, sizeof f64); ck_put_f64(w, f64); break;
    }
}

/* Reads one field into h, refusing a value its kind cannot hold (the semantic ranges come later). */
int ck_get_field(reader *r, const field *f, ck_header *h, const char *path)
{
    char *at = (char *)h + f->offset;
    if (f->kind == FIELD_F32) {
        float v = ck_get_f32(r);
        memcpy(at, &v, sizeof v);
    } else if (f->kind == FIELD_U64) {
        uint64_t v = ck_get_u64(r);
        memcpy(at, &v, sizeof v);
    } else if (f->kind == FIELD_F64) {
        double v = ck_get_f64(r);
        memcpy(at, &v, sizeof v);
    } else {
        uint32_t v = ck_get_u32(r);
        if (f->kind == FIELD_INT && v > INT_MAX)
            return bn_fail(BN_E_FORMAT, "'%s' has counts beyond %d: %s %u", path, INT_MAX, f->name, v);
        if (f->kind == FIELD_ENUM && v >= f->limit)
            return bn_fail(BN_E_FORMAT, "'%s' has unknown %s %u (0..%u)", path, f->name, v, f->limit - 1);
        if (f->kind == FIELD_BOOL && v > 1)
            return bn_fail(BN_E_FORMAT, "'%s' has %s flag %u, expected 0 or 1", path, f->name, v);
        if (f->kind == FIELD_BOOL) {
            *(bool *)at = v == 1;
        } else {
            int i = (int)v;
            memcpy(at, &i, sizeof i);
        }
    }
    return BN_OK;
}

/* Where the field at `offset` (within ck_header) lies in a file of `version`, counted from the end of the
 * layer sizes; SIZE_MAX when that version lacks it. */
size_t ck_field_position(uint32_t version, size_t offset)
{
    field fields[FIELD_MAX];
    size_t at = 0;
    for (size_t i = 0, count = ck_header_fields(fields); i < count; i++) {
        if (fields[i].since > version)
            continue;
        if (fields[i].offset == offset)
            return at;
        at += ck_field_bytes(fields[i].kind);
    }
    return SIZE_MAX;
}
