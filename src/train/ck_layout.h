/* The checkpoint file's layout (ck_layout.c): its constants, little-endian writing and bounds-checked
 * reading, and the fields between the layer sizes and the floats, in file order, from tables (the recipe's
 * from base/recipe.c). The writer, the reader and every size walk them. checkpoint.c uses it to save and
 * load. */
#ifndef BN_TRAIN_CK_LAYOUT_H
#define BN_TRAIN_CK_LAYOUT_H

#include "blasnet.h"

#include <stddef.h>

#define CK_MAGIC "BLASNET" /* 8 bytes with its terminating NUL */
#define CK_MAGIC_LEN 8
#define CK_VERSION 4u      /* written; versions 1 to 3 are read too */
#define CK_OLDEST_VERSION 1u
#define CK_ENDIAN_MARK 0x01020304u
#define CK_PREFIX_BYTES 20 /* magic, version, endianness marker, depth */
#define CK_CRC_BYTES 4

typedef struct {
    uint8_t *p;
} writer;

/* A bounds-checked cursor: reading past the end sets `overrun` and yields zeros, so a parse checks once
 * after a run of fields instead of after each. */
typedef struct {
    const uint8_t *p;
    size_t left;
    bool overrun;
} reader;

void ck_put_u32(writer *w, uint32_t v);
void ck_put_u64(writer *w, uint64_t v);
void ck_put_f32(writer *w, float v);
void ck_put_f64(writer *w, double v);
uint32_t ck_get_u32(reader *r);
uint64_t ck_get_u64(reader *r);
float ck_get_f32(reader *r);
double ck_get_f64(reader *r);
uint32_t ck_load_u32(const uint8_t *p);

/* Everything the header holds besides the layer sizes, as one struct the field table can point into. */
typedef struct {
    bn_arch arch;
    bn_train_state state;
    uint64_t param_count;
} ck_header;

typedef enum {
    FIELD_INT,  /* int, stored as u32, <= INT_MAX */
    FIELD_ENUM, /* an enum, stored as u32, < limit */
    FIELD_BOOL, /* bool, stored as u32 0 or 1 */
    FIELD_F32,
    FIELD_U64,
    FIELD_F64,
} field_kind;

typedef struct {
    const char *name; /* as messages say it */
    field_kind kind;
    size_t offset;    /* within ck_header */
    unsigned limit;   /* FIELD_ENUM: values 0..limit-1 */
    uint32_t since;   /* the first format version that stores it; older files leave the default */
} field;

#define FIELD_MAX 64

/* Every field of the header, in file order, into out (FIELD_MAX); returns how many. */
size_t ck_header_fields(field *out);
unsigned ck_field_bytes(field_kind kind);
/* Bytes before the parameters for a network of `depth` layers in format `version`. */
size_t ck_header_bytes(int depth, uint32_t version);
/* The smallest valid file: version 1, one layer 1 -> 2 (4 parameters, stored twice: weights and velocity). */
size_t ck_min_file_bytes(void);
void ck_put_field(writer *w, const field *f, const ck_header *h);
/* Reads one field into h, refusing a value its kind cannot hold (the semantic ranges come later). */
int ck_get_field(reader *r, const field *f, ck_header *h, const char *path);
/* Where the field at `offset` (within ck_header) lies in a file of `version`, counted from the end of the
 * layer sizes; SIZE_MAX when that version lacks it. */
size_t ck_field_position(uint32_t version, size_t offset);

#endif
