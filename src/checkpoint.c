/* Checkpoint files (docs/checkpoint-format.md): every field is serialised one by one, little-endian and
 * fixed-width, so a file is the same bytes on any host; a CRC-32 closes it. The fixed fields are described
 * once, in header_fields[], which the writer, the reader and the size computation all walk. Loading trusts
 * nothing: magic, version, endianness and checksum first, then every count, size, enum and float is checked
 * before a net is built, and no half-built net ever reaches the caller. */
#include "blasnet.h"

#include "atomic_file.h"
#include "crc32.h"
#include "error.h"
#include "file_read.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_MAGIC "BLASNET" /* 8 bytes with its terminating NUL */
#define CK_MAGIC_LEN 8
#define CK_VERSION 1u
#define CK_ENDIAN_MARK 0x01020304u
#define CK_PREFIX_BYTES 20 /* magic, version, endianness marker, depth */
#define CK_CRC_BYTES 4

/* ---- little-endian serialisation ------------------------------------------------------------------------ */

typedef struct {
    uint8_t *p;
} writer;

static void put_u32(writer *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

static void put_u64(writer *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *w->p++ = (uint8_t)(v >> (8 * i));
}

static void put_f32(writer *w, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u32(w, bits);
}

static void put_f64(writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u64(w, bits);
}

/* A bounds-checked cursor: reading past the end sets `overrun` and yields zeros, so a parse checks once
 * after a run of fields instead of after each. */
typedef struct {
    const uint8_t *p;
    size_t left;
    bool overrun;
} reader;

static uint64_t get_le(reader *r, int bytes)
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

static uint32_t get_u32(reader *r) { return (uint32_t)get_le(r, 4); }
static uint64_t get_u64(reader *r) { return get_le(r, 8); }

static float get_f32(reader *r)
{
    uint32_t bits = get_u32(r);
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static double get_f64(reader *r)
{
    uint64_t bits = get_u64(r);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- the fixed fields, described once ------------------------------------------------------------------ */

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
} field;

_Static_assert(sizeof(bn_act) == sizeof(int) && sizeof(bn_init) == sizeof(int), "enums are stored as int");

#define ARCH(member) offsetof(ck_header, arch.member)
#define STATE(member) offsetof(ck_header, state.member)
/* The fields between the layer sizes and the floats, in file order. A new field is one line here (and a new
 * format version): the writer, the reader and every size follow from this table. */
static const field header_fields[] = {
    {"activation", FIELD_ENUM, ARCH(act), BN_ACT_COUNT},
    {"leaky slope", FIELD_F32, ARCH(leaky_slope), 0},
    {"epochs", FIELD_INT, STATE(hp.epochs), 0},
    {"batch", FIELD_INT, STATE(hp.batch), 0},
    {"learning rate", FIELD_F32, STATE(hp.sgd.lr), 0},
    {"momentum", FIELD_F32, STATE(hp.sgd.momentum), 0},
    {"weight decay", FIELD_F32, STATE(hp.sgd.weight_decay), 0},
    {"nesterov", FIELD_BOOL, STATE(hp.sgd.nesterov), 0},
    {"lr decay", FIELD_F32, STATE(hp.lr_decay), 0},
    {"seed", FIELD_U64, STATE(hp.seed), 0},
    {"initialisation", FIELD_ENUM, STATE(hp.init), BN_INIT_COUNT},
    {"init std", FIELD_F32, STATE(hp.init_std), 0},
    {"epoch", FIELD_INT, STATE(epoch), 0},
    {"step", FIELD_U64, STATE(step), 0},
    {"rng word 0", FIELD_U64, STATE(rng.s[0]), 0},
    {"rng word 1", FIELD_U64, STATE(rng.s[1]), 0},
    {"rng word 2", FIELD_U64, STATE(rng.s[2]), 0},
    {"rng word 3", FIELD_U64, STATE(rng.s[3]), 0},
    {"running loss", FIELD_F64, STATE(loss_sum), 0},
    {"correct", FIELD_U64, STATE(correct), 0},
    {"seen", FIELD_U64, STATE(seen), 0},
    {"training time", FIELD_F64, STATE(train_seconds), 0},
    {"samples", FIELD_U64, STATE(samples), 0},
    {"training-set size", FIELD_U64, STATE(train_n), 0},
    {"parameter count", FIELD_U64, offsetof(ck_header, param_count), 0},
};
#undef ARCH
#undef STATE
#define FIELD_COUNT (sizeof header_fields / sizeof header_fields[0])

static unsigned field_bytes(field_kind kind)
{
    return kind == FIELD_U64 || kind == FIELD_F64 ? 8u : 4u;
}

/* Bytes before the parameters for a network of `depth` layers. */
static size_t header_bytes(int depth)
{
    size_t fixed = 0;
    for (size_t i = 0; i < FIELD_COUNT; i++)
        fixed += field_bytes(header_fields[i].kind);
    return CK_PREFIX_BYTES + 4u * ((size_t)depth + 1u) + fixed;
}

/* The smallest valid file: one layer 1 -> 2 (4 parameters, stored twice: weights and velocity). */
static size_t min_file_bytes(void)
{
    return header_bytes(1) + 8u * 4u + CK_CRC_BYTES;
}

static void put_field(writer *w, const field *f, const ck_header *h)
{
    const char *at = (const char *)h + f->offset;
    int i;
    float f32;
    double f64;
    uint64_t u64;
    switch (f->kind) {
    case FIELD_INT:
    case FIELD_ENUM: memcpy(&i, at, sizeof i); put_u32(w, (uint32_t)i); break;
    case FIELD_BOOL: put_u32(w, *(const bool *)at ? 1u : 0u); break;
    case FIELD_F32: memcpy(&f32, at, sizeof f32); put_f32(w, f32); break;
    case FIELD_U64: memcpy(&u64, at, sizeof u64); put_u64(w, u64); break;
    case FIELD_F64: memcpy(&f64, at, sizeof f64); put_f64(w, f64); break;
    }
}

/* Reads one field into h, refusing a value its kind cannot hold (the semantic ranges come later). */
static int get_field(reader *r, const field *f, ck_header *h, const char *path)
{
    char *at = (char *)h + f->offset;
    if (f->kind == FIELD_F32) {
        float v = get_f32(r);
        memcpy(at, &v, sizeof v);
    } else if (f->kind == FIELD_U64) {
        uint64_t v = get_u64(r);
        memcpy(at, &v, sizeof v);
    } else if (f->kind == FIELD_F64) {
        double v = get_f64(r);
        memcpy(at, &v, sizeof v);
    } else {
        uint32_t v = get_u32(r);
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

/* ---- the stored floats ------------------------------------------------------------------------------------ */

/* The k-th stored tensor, in file order: every layer's W (in, out) then b (out) from the parameters, then
 * the same from the velocity. The block's alignment padding is not stored. */
typedef struct {
    bool velocity;
    int layer;
    size_t offset, count; /* within the parameter (or velocity) block */
    const char *name;
} stored_tensor;

static int stored_tensor_count(const bn_arch *arch)
{
    return 4 * arch->depth;
}

static stored_tensor stored_tensor_at(const bn_net *net, int k)
{
    static const char *const names[2][2] = {{"weight", "bias"}, {"weight velocity", "bias velocity"}};
    const bn_arch *arch = bn_net_arch(net);
    const int L = arch->depth, l = (k / 2) % L;
    const bool velocity = k >= 2 * L, bias = k % 2 == 1;
    return (stored_tensor){
        .velocity = velocity,
        .layer = l,
        .offset = bias ? bn_net_bias_offset(net, l) : bn_net_weight_offset(net, l),
        .count = bias ? (size_t)arch->sizes[l + 1] : (size_t)arch->sizes[l] * (size_t)arch->sizes[l + 1],
        .name = names[velocity][bias],
    };
}

/* ---- shared checks ------------------------------------------------------------------------------------ */

/* The ranges a state must lie in to be stored or restored: looser than what bn_train needs to train
 * (lr >= 0 here, > 0 there), since a model saved without a training run stores zeros. status: BN_E_INVALID
 * on save, BN_E_FORMAT on load. */
static int check_storable_state(const bn_train_state *s, int status, const char *path)
{
    const char *what = status == BN_E_FORMAT ? "holds" : "cannot store";
    const bn_hparams *hp = &s->hp;
    if (hp->epochs < 0 || hp->batch < 0 || s->epoch < 0)
        return bn_fail(status, "'%s' %s a negative count: epochs %d, batch %d, epoch %d", path, what, hp->epochs,
                       hp->batch, s->epoch);
    if (!isfinite(hp->sgd.lr) || hp->sgd.lr < 0.0f)
        return bn_fail(status, "'%s' %s learning rate %g (must be finite and >= 0)", path, what,
                       (double)hp->sgd.lr);
    if (!(hp->sgd.momentum >= 0.0f && hp->sgd.momentum < 1.0f))
        return bn_fail(status, "'%s' %s momentum %g (must be in [0, 1))", path, what, (double)hp->sgd.momentum);
    if (!isfinite(hp->sgd.weight_decay) || hp->sgd.weight_decay < 0.0f)
        return bn_fail(status, "'%s' %s weight decay %g (must be finite and >= 0)", path, what,
                       (double)hp->sgd.weight_decay);
    if (!isfinite(hp->lr_decay) || hp->lr_decay < 0.0f)
        return bn_fail(status, "'%s' %s lr decay %g (must be finite and >= 0)", path, what, (double)hp->lr_decay);
    if ((unsigned)hp->init >= BN_INIT_COUNT)
        return bn_fail(status, "'%s' %s unknown initialisation %d (0..%d)", path, what, (int)hp->init,
                       BN_INIT_COUNT - 1);
    if (!isfinite(hp->init_std) || hp->init_std < 0.0f)
        return bn_fail(status, "'%s' %s init std %g (must be finite and >= 0)", path, what, (double)hp->init_std);
    if (!isfinite(s->loss_sum))
        return bn_fail(status, "'%s' %s a non-finite running loss %g", path, what, s->loss_sum);
    if (s->correct > s->seen)
        return bn_fail(status, "'%s' %s %llu correct out of only %llu seen", path, what,
                       (unsigned long long)s->correct, (unsigned long long)s->seen);
    if (!isfinite(s->train_seconds) || s->train_seconds < 0.0)
        return bn_fail(status, "'%s' %s training time %g s (must be finite and >= 0)", path, what,
                       s->train_seconds);
    return BN_OK;
}

/* A non-finite weight means a diverged run: refuse it, so the last good file at path survives. */
static int check_finite_tensors(const bn_net *net, const char *path)
{
    size_t padded;
    const float *blocks[2] = {bn_net_params_const(net, &padded), bn_net_velocity_const(net, &padded)};
    for (int k = 0; k < stored_tensor_count(bn_net_arch(net)); k++) {
        stored_tensor t = stored_tensor_at(net, k);
        const float *v = blocks[t.velocity] + t.offset;
        for (size_t i = 0; i < t.count; i++)
            if (!isfinite(v[i]))
                return bn_fail(BN_E_INVALID, "refusing to save '%s': layer %d %s %zu is %g", path, t.layer, t.name,
                               i, (double)v[i]);
    }
    return BN_OK;
}

/* ---- save ----------------------------------------------------------------------------------------------- */

/* Writes the whole file image into buf, which holds exactly `total` bytes. */
static void serialise(uint8_t *buf, size_t total, const bn_net *net, const bn_train_state *state)
{
    const bn_arch *arch = bn_net_arch(net);
    ck_header h = {.arch = *arch, .state = *state, .param_count = bn_arch_param_count(arch)};
    writer w = {buf};
    memcpy(w.p, CK_MAGIC, CK_MAGIC_LEN);
    w.p += CK_MAGIC_LEN;
    put_u32(&w, CK_VERSION);
    put_u32(&w, CK_ENDIAN_MARK);
    put_u32(&w, (uint32_t)arch->depth);
    for (int l = 0; l <= arch->depth; l++)
        put_u32(&w, (uint32_t)arch->sizes[l]);
    for (size_t i = 0; i < FIELD_COUNT; i++)
        put_field(&w, &header_fields[i], &h);
    size_t padded;
    const float *blocks[2] = {bn_net_params_const(net, &padded), bn_net_velocity_const(net, &padded)};
    for (int k = 0; k < stored_tensor_count(arch); k++) {
        stored_tensor t = stored_tensor_at(net, k);
        for (size_t i = 0; i < t.count; i++)
            put_f32(&w, blocks[t.velocity][t.offset + i]);
    }
    put_u32(&w, bn_crc32(0, buf, (size_t)(w.p - buf)));
    assert((size_t)(w.p - buf) == total); /* the sizes above and the fields written agree */
    (void)total;
}

int bn_checkpoint_save(const bn_net *net, const bn_train_state *state, const char *path)
{
    if (!net || !path)
        return bn_fail(BN_E_INVALID, "bn_checkpoint_save needs a network and a path");
    static const bn_train_state zero_state;
    const bn_train_state *s = state ? state : &zero_state;
    int status = check_storable_state(s, BN_E_INVALID, path);
    if (!status)
        status = check_finite_tensors(net, path);
    if (status)
        return status;
    const bn_arch *arch = bn_net_arch(net);
    uint64_t total = (uint64_t)header_bytes(arch->depth) + 8u * bn_arch_param_count(arch) + CK_CRC_BYTES;
    if (total > SIZE_MAX)
        return bn_fail(BN_E_NOMEM, "a %llu-byte checkpoint does not fit in memory", (unsigned long long)total);
    uint8_t *buf = malloc((size_t)total);
    if (!buf)
        return bn_fail(BN_E_NOMEM, "cannot allocate %.1f MiB to serialise '%s'", (double)total / 1048576.0, path);
    serialise(buf, (size_t)total, net, s);
    status = bn_atomic_write(path, buf, (size_t)total);
    free(buf);
    return status;
}

/* ---- load ----------------------------------------------------------------------------------------------- */

/* The size the header's depth and sizes imply, when they are readable and in range; used only to word the
 * message for a damaged file (truncated vs corrupt), never to parse. */
static bool declared_size(const uint8_t *buf, size_t size, uint64_t *expected, char *desc, size_t cap)
{
    if (size < CK_PREFIX_BYTES)
        return false;
    uint32_t depth = load_u32(buf + 16);
    if (depth < 1 || depth > BN_MAX_LAYERS || size < CK_PREFIX_BYTES + 4u * (depth + 1))
        return false;
    bn_arch arch = {.depth = (int)depth};
    for (uint32_t l = 0; l <= depth; l++) {
        uint32_t v = load_u32(buf + CK_PREFIX_BYTES + 4 * l);
        if (v < 1 || v > BN_MAX_WIDTH)
            return false;
        arch.sizes[l] = (int)v;
    }
    *expected = (uint64_t)header_bytes((int)depth) + 8u * bn_arch_param_count(&arch) + CK_CRC_BYTES;
    bn_arch_format(&arch, desc, cap);
    return true;
}

/* Magic, version, endianness and checksum: after this the bytes are the ones a writer produced. */
static int check_envelope(const uint8_t *buf, size_t size, const char *path)
{
    size_t magic_seen = size < CK_MAGIC_LEN ? size : CK_MAGIC_LEN;
    if (memcmp(buf, CK_MAGIC, magic_seen) != 0) {
        char hex[3 * CK_MAGIC_LEN + 1] = ""; /* "58 4c 41 ...": 3 characters a byte, the last without space */
        for (size_t i = 0; i < magic_seen; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x%s", buf[i], i + 1 < magic_seen ? " " : "");
        return bn_fail(BN_E_FORMAT, "'%s' is not a blasnet checkpoint: it starts with bytes %s, not \"BLASNET\"",
                       path, hex);
    }
    if (size < CK_PREFIX_BYTES)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, the smallest checkpoint has %u", path, size,
                       (unsigned)min_file_bytes());
    uint32_t version = load_u32(buf + 8);
    if (version != CK_VERSION)
        return bn_fail(BN_E_FORMAT, "'%s' has checkpoint format version %u; this blasnet reads version %u only",
                       path, version, CK_VERSION);
    uint32_t mark = load_u32(buf + 12);
    if (mark != CK_ENDIAN_MARK) {
        if (mark == 0x04030201u)
            return bn_fail(BN_E_FORMAT, "'%s' was written big-endian (marker bytes 01 02 03 04); blasnet files "
                                        "are little-endian", path);
        return bn_fail(BN_E_FORMAT, "'%s' has endianness marker 0x%08x, expected 0x%08x", path, mark,
                       CK_ENDIAN_MARK);
    }

    uint64_t expected = 0;
    char desc[256];
    bool declared = declared_size(buf, size, &expected, desc, sizeof desc);
    if (size < min_file_bytes()) {
        if (declared && expected > size)
            return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, its header declares a %s network needing "
                                        "%llu", path, size, desc, (unsigned long long)expected);
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, the smallest checkpoint has %u", path, size,
                       (unsigned)min_file_bytes());
    }
    uint32_t stored = load_u32(buf + size - CK_CRC_BYTES);
    uint32_t computed = bn_crc32(0, buf, size - CK_CRC_BYTES);
    if (stored != computed) {
        if (declared && expected > size)
            return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, its header declares a %s network needing "
                                        "%llu (checksum mismatch: stored 0x%08x, computed 0x%08x)", path, size,
                           desc, (unsigned long long)expected, stored, computed);
        return bn_fail(BN_E_FORMAT, "'%s' is corrupt: checksum mismatch: stored 0x%08x, computed 0x%08x over %zu "
                                    "bytes", path, stored, computed, size - CK_CRC_BYTES);
    }
    return BN_OK;
}

/* Header fields after the checksum passed, each range-checked: a file with a valid CRC can still have been
 * written by someone else's buggy or hostile writer. */
static int parse_header(reader *r, ck_header *h, const char *path)
{
    r->p += CK_PREFIX_BYTES - 4; /* magic, version and marker were checked by check_envelope */
    r->left -= CK_PREFIX_BYTES - 4;
    memset(h, 0, sizeof *h);
    uint32_t depth = get_u32(r);
    if (depth < 1 || depth > BN_MAX_LAYERS)
        return bn_fail(BN_E_FORMAT, "'%s' declares %u layers, outside 1..%d", path, depth, BN_MAX_LAYERS);
    h->arch.depth = (int)depth;
    for (uint32_t l = 0; l <= depth; l++) {
        uint32_t v = get_u32(r);
        if (v < 1 || v > BN_MAX_WIDTH)
            return bn_fail(BN_E_FORMAT, "'%s' declares layer %u with %u units, outside 1..%d", path, l, v,
                           BN_MAX_WIDTH);
        h->arch.sizes[l] = (int)v;
    }
    for (size_t i = 0; i < FIELD_COUNT; i++) {
        int status = get_field(r, &header_fields[i], h, path);
        if (status)
            return status;
    }
    if (r->overrun)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: its %u-layer header needs %u bytes", path, depth,
                       (unsigned)(header_bytes((int)depth) + CK_CRC_BYTES));
    if (bn_arch_check(&h->arch) != BN_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", bn_errmsg());
        return bn_fail(BN_E_FORMAT, "'%s' holds an invalid architecture: %s", path, detail);
    }
    return check_storable_state(&h->state, BN_E_FORMAT, path);
}

/* The parameter count and the bytes left must both be what the architecture implies. */
static int check_payload_size(const reader *r, const ck_header *h, const char *path)
{
    uint64_t want = bn_arch_param_count(&h->arch);
    if (h->param_count != want)
        return bn_fail(BN_E_FORMAT, "'%s' stores %llu parameters, but its architecture has %llu", path,
                       (unsigned long long)h->param_count, (unsigned long long)want);
    /* P < 2^53 (widths <= 2^24, depth <= 16), so 8 * P cannot overflow 64 bits. */
    if ((uint64_t)r->left != 8u * want) {
        char desc[256];
        return bn_fail(BN_E_FORMAT, "'%s' has %zu bytes of parameters and velocity, a %s network needs %llu", path,
                       r->left, bn_arch_format(&h->arch, desc, sizeof desc), (unsigned long long)(8u * want));
    }
    return BN_OK;
}

/* Copies the stored floats into net, refusing any that is not finite. */
static int read_tensors(reader *r, bn_net *net, const char *path)
{
    size_t padded;
    float *blocks[2] = {bn_net_params(net, &padded), bn_net_velocity(net, &padded)};
    for (int k = 0; k < stored_tensor_count(bn_net_arch(net)); k++) {
        stored_tensor t = stored_tensor_at(net, k);
        float *dst = blocks[t.velocity] + t.offset;
        for (size_t i = 0; i < t.count; i++) {
            dst[i] = get_f32(r);
            if (!isfinite(dst[i]))
                return bn_fail(BN_E_FORMAT, "'%s': layer %d %s %zu is %g", path, t.layer, t.name, i,
                               (double)dst[i]);
        }
        if (r->overrun)
            return bn_fail(BN_E_FORMAT, "'%s' ends inside layer %d's %s", path, t.layer, t.name);
    }
    /* unreachable after check_payload_size; kept as the parse's own invariant */
    return r->left ? bn_fail(BN_E_FORMAT, "'%s' has %zu unread bytes before its checksum", path, r->left) : BN_OK;
}

int bn_checkpoint_load(bn_net **out, bn_train_state *state, const char *path, int max_batch,
                       const bn_backend *backend)
{
    *out = NULL;
    if (!path)
        return bn_fail(BN_E_INVALID, "bn_checkpoint_load needs a path");
    if (max_batch < 0)
        return bn_fail(BN_E_INVALID, "max batch %d is negative (0 means the batch stored in '%s')", max_batch, path);
    if (!backend)
        return bn_fail(BN_E_INVALID, "no backend given to load '%s'", path);
    uint8_t *buf = NULL;
    size_t size = 0;
    bn_net *net = NULL;
    ck_header h;
    int status = bn_read_file(path, &buf, &size);
    if (!status)
        status = check_envelope(buf, size, path);
    if (status)
        goto out;
    reader r = {buf, size - CK_CRC_BYTES, false};
    status = parse_header(&r, &h, path);
    if (!status)
        status = check_payload_size(&r, &h, path);
    if (!status) {
        int rows = max_batch ? max_batch : (h.state.hp.batch > 0 ? h.state.hp.batch : 1);
        status = bn_net_create(&net, &h.arch, rows, backend);
    }
    if (!status)
        status = read_tensors(&r, net, path);
    if (status) {
        bn_net_destroy(&net);
        goto out;
    }
    if (state)
        *state = h.state;
    *out = net;
out:
    free(buf);
    return status;
}
