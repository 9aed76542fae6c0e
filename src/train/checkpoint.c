/* Checkpoint files (docs/checkpoint-format.md): every field is serialised one by one, little-endian and
 * fixed-width, so a file is the same bytes on any host; a CRC-32 closes it. The fixed fields are described
 * once, in field tables (the recipe's is base/recipe.c's) that the writer, the reader and the size
 * computation all walk. Loading trusts nothing: magic, version, endianness and checksum first, then every
 * count, size, enum and float is checked before a net is built, and no half-built net ever reaches the
 * caller. */
#include "blasnet.h"
#include "net.h"

#include "atomic_file.h"
#include "ck_layout.h"
#include "crc32.h"
#include "error.h"
#include "file_read.h"
#include "recipe.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the stored floats ------------------------------------------------------------------------------------ */

/* The blocks of floats a file stores, in file order: the parameters and the velocity (sgd's, or adam's first
 * moment) always; adam's second moment for adam and adamw; early stopping's best weights once there is a best
 * epoch. Version 1 stores the first two only. */
enum { BLOCK_PARAMS, BLOCK_VELOCITY, BLOCK_MOMENT2, BLOCK_BEST, BLOCK_KINDS };

typedef struct {
    int count;
    int kind[BLOCK_KINDS];
} stored_blocks;

static stored_blocks blocks_of(const bn_train_state *s, uint32_t version)
{
    stored_blocks b = {2, {BLOCK_PARAMS, BLOCK_VELOCITY}};
    if (version >= 2 && s->hp.opt.kind != BN_OPT_SGD)
        b.kind[b.count++] = BLOCK_MOMENT2;
    if (version >= 2 && s->best_epoch > 0)
        b.kind[b.count++] = BLOCK_BEST;
    return b;
}

static const float *block_const(const bn_net *net, int kind)
{
    size_t padded;
    switch (kind) {
    case BLOCK_VELOCITY: return bn_net_velocity_const(net, &padded);
    case BLOCK_MOMENT2: return bn_net_moment2_const(net, &padded);
    case BLOCK_BEST: return bn_net_best_params_const(net, &padded);
    default: return bn_net_params_const(net, &padded);
    }
}

static float *block_of(bn_net *net, int kind)
{
    return (float *)block_const(net, kind);
}

/* The k-th stored tensor of a block: every layer's W (in, out) then b (out). The block's alignment padding is
 * not stored. */
typedef struct {
    int block;
    int layer;
    size_t offset, count; /* within the block */
    const char *name;
} stored_tensor;

static stored_tensor stored_tensor_at(const bn_net *net, int block, int k)
{
    static const char *const names[BLOCK_KINDS][2] = {{"weight", "bias"},
                                                      {"weight velocity", "bias velocity"},
                                                      {"weight second moment", "bias second moment"},
                                                      {"best weight", "best bias"}};
    const bn_arch *arch = bn_net_arch(net);
    const int l = k / 2;
    const bool bias = k % 2 == 1;
    return (stored_tensor){
        .block = block,
        .layer = l,
        .offset = bias ? bn_net_bias_offset(net, l) : bn_net_weight_offset(net, l),
        .count = bias ? (size_t)arch->sizes[l + 1] : (size_t)arch->sizes[l] * (size_t)arch->sizes[l + 1],
        .name = names[block][bias],
    };
}

/* ---- shared checks ------------------------------------------------------------------------------------ */

/* The ranges a state must lie in to be stored or restored: the recipe's from its table at the storable level
 * (looser than what bn_train needs to train: lr >= 0 here, > 0 there, since a model saved without a training
 * run stores zeros), then the run's progress. status: BN_E_INVALID on save, BN_E_FORMAT on load. */
static int check_storable_state(const bn_train_state *s, int status, const char *path)
{
    const char *what = status == BN_E_FORMAT ? "holds" : "cannot store";
    char context[600];
    snprintf(context, sizeof context, "'%s' %s: ", path, what);
    int bad = bn_recipe_check(&s->hp, false, status, context);
    if (bad)
        return bad;
    if (s->epoch < 0 || s->best_epoch < 0 || s->best_epoch > s->epoch || s->bad_epochs < 0)
        return bn_fail(status, "'%s' %s an impossible count: best epoch %d of %d, %d epochs without improvement",
                       path, what, s->best_epoch, s->epoch, s->bad_epochs);
    if (!isfinite(s->loss_sum))
        return bn_fail(status, "'%s' %s a non-finite running loss %g", path, what, s->loss_sum);
    if (s->correct > s->seen)
        return bn_fail(status, "'%s' %s %llu correct out of only %llu seen", path, what,
                       (unsigned long long)s->correct, (unsigned long long)s->seen);
    if (!isfinite(s->best_metric) || s->target_seconds < 0.0 || isinf(s->target_seconds))
        return bn_fail(status, "'%s' %s best figure %g and time to target %g", path, what, s->best_metric,
                       s->target_seconds);
    if (!isfinite(s->train_seconds) || s->train_seconds < 0.0)
        return bn_fail(status, "'%s' %s training time %g s (must be finite and >= 0)", path, what,
                       s->train_seconds);
    return BN_OK;
}

/* The fields version 3 added, what the network sees: a shape of its inputs (or none recorded), a label offset
 * a uint8 label can have. */
static int check_data_view(const bn_arch *arch, const bn_hparams *hp, int status, const char *path)
{
    const char *what = status == BN_E_FORMAT ? "holds" : "cannot store";
    int64_t area = (int64_t)hp->image_rows * hp->image_cols;
    bool none = hp->image_rows == 0 && hp->image_cols == 0;
    if (!none && (hp->image_rows < 1 || hp->image_cols < 1 || area != arch->sizes[0]))
        return bn_fail(status, "'%s' %s images of %dx%d for a network of %d inputs", path, what, hp->image_rows,
                       hp->image_cols, arch->sizes[0]);
    if (hp->label_offset < 0 || hp->label_offset > 255)
        return bn_fail(status, "'%s' %s label offset %d (0..255)", path, what, hp->label_offset);
    return BN_OK;
}

/* A non-finite weight means a diverged run: refuse it, so the last good file at path survives. */
static int check_finite_tensors(const bn_net *net, const stored_blocks *blocks, const char *path)
{
    for (int bi = 0; bi < blocks->count; bi++) {
        const float *block = block_const(net, blocks->kind[bi]);
        for (int k = 0; k < 2 * bn_net_arch(net)->depth; k++) {
            stored_tensor t = stored_tensor_at(net, blocks->kind[bi], k);
            for (size_t i = 0; i < t.count; i++)
                if (!isfinite(block[t.offset + i]))
                    return bn_fail(BN_E_INVALID, "refusing to save '%s': layer %d %s %zu is %g", path, t.layer,
                                   t.name, i, (double)block[t.offset + i]);
        }
    }
    return BN_OK;
}

/* Bytes of a whole file. */
static uint64_t file_bytes(const bn_arch *arch, uint32_t version, int block_count)
{
    return (uint64_t)ck_header_bytes(arch->depth, version) + 4u * (uint64_t)block_count * bn_arch_param_count(arch) +
           CK_CRC_BYTES;
}

/* ---- save ----------------------------------------------------------------------------------------------- */

/* Writes the whole file image into buf, which holds exactly `total` bytes. */
static void serialise(uint8_t *buf, size_t total, const bn_net *net, const bn_train_state *state,
                      const stored_blocks *blocks)
{
    const bn_arch *arch = bn_net_arch(net);
    ck_header h = {.arch = *arch, .state = *state, .param_count = bn_arch_param_count(arch)};
    writer w = {buf};
    memcpy(w.p, CK_MAGIC, CK_MAGIC_LEN);
    w.p += CK_MAGIC_LEN;
    ck_put_u32(&w, CK_VERSION);
    ck_put_u32(&w, CK_ENDIAN_MARK);
    ck_put_u32(&w, (uint32_t)arch->depth);
    for (int l = 0; l <= arch->depth; l++)
        ck_put_u32(&w, (uint32_t)arch->sizes[l]);
    field fields[FIELD_MAX];
    for (size_t i = 0, count = ck_header_fields(fields); i < count; i++)
        ck_put_field(&w, &fields[i], &h);
    for (int bi = 0; bi < blocks->count; bi++) {
        const float *block = block_const(net, blocks->kind[bi]);
        for (int k = 0; k < 2 * arch->depth; k++) {
            stored_tensor t = stored_tensor_at(net, blocks->kind[bi], k);
            for (size_t i = 0; i < t.count; i++)
                ck_put_f32(&w, block[t.offset + i]);
        }
    }
    ck_put_u32(&w, bn_crc32(0, buf, (size_t)(w.p - buf)));
    assert((size_t)(w.p - buf) == total); /* the sizes above and the fields written agree */
    (void)total;
}

int bn_checkpoint_save(const bn_net *net, const bn_train_state *state, const char *path)
{
    if (!net || !path)
        return bn_fail(BN_E_INVALID, "bn_checkpoint_save needs a network and a path");
    static const bn_train_state zero_state;
    const bn_train_state *s = state ? state : &zero_state;
    const stored_blocks blocks = blocks_of(s, CK_VERSION);
    int status = check_storable_state(s, BN_E_INVALID, path);
    if (!status)
        status = check_data_view(bn_net_arch(net), &s->hp, BN_E_INVALID, path);
    if (!status)
        status = check_finite_tensors(net, &blocks, path);
    if (status)
        return status;
    uint64_t total = file_bytes(bn_net_arch(net), CK_VERSION, blocks.count);
    if (total > SIZE_MAX)
        return bn_fail(BN_E_NOMEM, "a %llu-byte checkpoint does not fit in memory", (unsigned long long)total);
    uint8_t *buf = malloc((size_t)total);
    if (!buf)
        return bn_fail(BN_E_NOMEM, "cannot allocate %.1f MiB to serialise '%s'", (double)total / 1048576.0, path);
    serialise(buf, (size_t)total, net, s, &blocks);
    status = bn_atomic_write(path, buf, (size_t)total);
    free(buf);
    return status;
}

/* ---- load ----------------------------------------------------------------------------------------------- */


/* The blocks of floats the header's optimizer and best epoch imply, where the bytes reach them (2 else). */
static int declared_blocks(const uint8_t *buf, size_t size, int depth, uint32_t version)
{
    const size_t fields = CK_PREFIX_BYTES + 4u * ((size_t)depth + 1u);
    const size_t kind_at = ck_field_position(version, offsetof(ck_header, state.hp.opt.kind));
    const size_t best_at = ck_field_position(version, offsetof(ck_header, state.best_epoch));
    bn_train_state s = {0};
    if (kind_at != SIZE_MAX && fields + kind_at + 4 <= size)
        s.hp.opt.kind = (bn_optimizer)(ck_load_u32(buf + fields + kind_at) != 0);
    if (best_at != SIZE_MAX && fields + best_at + 4 <= size)
        s.best_epoch = ck_load_u32(buf + fields + best_at) != 0;
    return blocks_of(&s, version).count;
}

/* The size the header's depth and sizes imply, when they are readable and in range; used only to word the
 * message for a damaged file (truncated vs corrupt), never to parse. */
static bool declared_size(const uint8_t *buf, size_t size, uint64_t *expected, char *desc, size_t cap)
{
    if (size < CK_PREFIX_BYTES)
        return false;
    uint32_t depth = ck_load_u32(buf + 16);
    if (depth < 1 || depth > BN_MAX_LAYERS || size < CK_PREFIX_BYTES + 4u * (depth + 1))
        return false;
    bn_arch arch = {.depth = (int)depth};
    for (uint32_t l = 0; l <= depth; l++) {
        uint32_t v = ck_load_u32(buf + CK_PREFIX_BYTES + 4 * l);
        if (v < 1 || v > BN_MAX_WIDTH)
            return false;
        arch.sizes[l] = (int)v;
    }
    const uint32_t version = ck_load_u32(buf + 8);
    *expected = file_bytes(&arch, version, declared_blocks(buf, size, (int)depth, version));
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
                       (unsigned)ck_min_file_bytes());
    uint32_t version = ck_load_u32(buf + 8);
    if (version < CK_OLDEST_VERSION || version > CK_VERSION)
        return bn_fail(BN_E_FORMAT, "'%s' has checkpoint format version %u; this blasnet reads versions %u to %u",
                       path, version, CK_OLDEST_VERSION, CK_VERSION);
    uint32_t mark = ck_load_u32(buf + 12);
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
    if (size < ck_min_file_bytes()) {
        if (declared && expected > size)
            return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, its header declares a %s network needing "
                                        "at least %llu", path, size, desc, (unsigned long long)expected);
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, the smallest checkpoint has %u", path, size,
                       (unsigned)ck_min_file_bytes());
    }
    uint32_t stored = ck_load_u32(buf + size - CK_CRC_BYTES);
    uint32_t computed = bn_crc32(0, buf, size - CK_CRC_BYTES);
    if (stored != computed) {
        if (declared && expected > size)
            return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, its header declares a %s network needing "
                                        "at least %llu (checksum mismatch: stored 0x%08x, computed 0x%08x)", path, size,
                           desc, (unsigned long long)expected, stored, computed);
        return bn_fail(BN_E_FORMAT, "'%s' is corrupt: checksum mismatch: stored 0x%08x, computed 0x%08x over %zu "
                                    "bytes", path, stored, computed, size - CK_CRC_BYTES);
    }
    return BN_OK;
}

/* What a version-1 file meant by the fields it does not have: SGD on a constant (or per-epoch decayed)
 * rate, no clipping, dropout or early stopping. Spelled out, not taken from bn_hparams_default, whose recipe
 * may change. */
static void set_version1_meaning(bn_train_state *s)
{
    s->hp.opt.kind = BN_OPT_SGD;
    s->hp.opt.beta1 = 0.9f;
    s->hp.opt.beta2 = 0.999f;
    s->hp.opt.eps = 1e-8f;
    s->hp.schedule = BN_SCHED_CONSTANT;
    s->hp.step_epochs = 1;
    s->hp.monitor = BN_MONITOR_LOSS;
    s->end = BN_END_NONE;
    s->target_seconds = NAN;
}

/* Header fields after the checksum passed, each range-checked: a file with a valid CRC can still have been
 * written by someone else's buggy or hostile writer. */
static int parse_header(reader *r, ck_header *h, uint32_t version, const char *path)
{
    r->p += CK_PREFIX_BYTES - 4; /* magic, version and marker were checked by check_envelope */
    r->left -= CK_PREFIX_BYTES - 4;
    memset(h, 0, sizeof *h);
    set_version1_meaning(&h->state);
    uint32_t depth = ck_get_u32(r);
    if (depth < 1 || depth > BN_MAX_LAYERS)
        return bn_fail(BN_E_FORMAT, "'%s' declares %u layers, outside 1..%d", path, depth, BN_MAX_LAYERS);
    h->arch.depth = (int)depth;
    for (uint32_t l = 0; l <= depth; l++) {
        uint32_t v = ck_get_u32(r);
        if (v < 1 || v > BN_MAX_WIDTH)
            return bn_fail(BN_E_FORMAT, "'%s' declares layer %u with %u units, outside 1..%d", path, l, v,
                           BN_MAX_WIDTH);
        h->arch.sizes[l] = (int)v;
    }
    field fields[FIELD_MAX];
    for (size_t i = 0, count = ck_header_fields(fields); i < count; i++) {
        int status = fields[i].since <= version ? ck_get_field(r, &fields[i], h, path) : BN_OK;
        if (status)
            return status;
    }
    if (r->overrun)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: its %u-layer header needs %u bytes", path, depth,
                       (unsigned)(ck_header_bytes((int)depth, version) + CK_CRC_BYTES));
    if (bn_arch_check(&h->arch) != BN_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", bn_errmsg());
        return bn_fail(BN_E_FORMAT, "'%s' holds an invalid architecture: %s", path, detail);
    }
    return check_storable_state(&h->state, BN_E_FORMAT, path);
}

/* The parameter count and the bytes left must both be what the architecture and the stored blocks imply. */
static int check_payload_size(const reader *r, const ck_header *h, const stored_blocks *blocks, const char *path)
{
    uint64_t want = bn_arch_param_count(&h->arch);
    if (h->param_count != want)
        return bn_fail(BN_E_FORMAT, "'%s' stores %llu parameters, but its architecture has %llu", path,
                       (unsigned long long)h->param_count, (unsigned long long)want);
    /* P < 2^53 (widths <= 2^24, depth <= 16), so 4 * 4 * P cannot overflow 64 bits. */
    uint64_t bytes = 4u * (uint64_t)blocks->count * want;
    if ((uint64_t)r->left != bytes) {
        char desc[256];
        return bn_fail(BN_E_FORMAT, "'%s' has %zu bytes of parameters and optimizer state, a %s network with "
                                    "its %d blocks needs %llu", path, r->left,
                       bn_arch_format(&h->arch, desc, sizeof desc), blocks->count, (unsigned long long)bytes);
    }
    return BN_OK;
}

/* Copies the stored floats into net, refusing any that is not finite. */
static int read_tensors(reader *r, bn_net *net, const stored_blocks *blocks, const char *path)
{
    for (int bi = 0; bi < blocks->count; bi++) {
        float *block = block_of(net, blocks->kind[bi]);
        for (int k = 0; k < 2 * bn_net_arch(net)->depth; k++) {
            stored_tensor t = stored_tensor_at(net, blocks->kind[bi], k);
            float *dst = block + t.offset;
            for (size_t i = 0; i < t.count; i++) {
                dst[i] = ck_get_f32(r);
                if (!isfinite(dst[i]))
                    return bn_fail(BN_E_FORMAT, "'%s': layer %d %s %zu is %g", path, t.layer, t.name, i,
                                   (double)dst[i]);
            }
            if (r->overrun)
                return bn_fail(BN_E_FORMAT, "'%s' ends inside layer %d's %s", path, t.layer, t.name);
        }
    }
    /* unreachable after check_payload_size; kept as the parse's own invariant */
    return r->left ? bn_fail(BN_E_FORMAT, "'%s' has %zu unread bytes before its checksum", path, r->left) : BN_OK;
}

/* The file's bytes, read no further than a checkpoint can be: a regular file up to BN_CHECKPOINT_CAP; a pipe or
 * device up to the size its header declares (a header that declares none is parsed as far as it goes, and
 * fails there). A wrong magic is refused after 8 bytes: `eval --model /dev/zero` reads no more. */
static int read_bytes(const char *path, uint8_t **buf, size_t *size)
{
    enum { HEAD = 4096 }; /* more than the largest header: 16 layers, every field */
    _Static_assert(CK_PREFIX_BYTES + 4 * (BN_MAX_LAYERS + 1) + 8 * FIELD_MAX < HEAD, "the header fits HEAD");
    char words[32];
    bn_in in;
    uint64_t expected = 0;
    char desc[256];
    int status = bn_in_open(&in, path);
    if (!status)
        status = bn_in_fill(&in, in.file_size >= 0 ? CK_MAGIC_LEN : HEAD);
    if (!status && memcmp(in.buf, CK_MAGIC, in.len < CK_MAGIC_LEN ? in.len : CK_MAGIC_LEN) != 0)
        status = check_envelope(in.buf, in.len, path); /* says what the file starts with */
    uint64_t want = in.file_size >= 0 ? (uint64_t)in.file_size
                    : declared_size(in.buf, in.len, &expected, desc, sizeof desc) ? expected : in.len;
    if (!status && want > BN_CHECKPOINT_CAP)
        status = bn_fail(BN_E_FORMAT, "'%s' %s %llu bytes, more than blasnet reads for a checkpoint (%s)", path,
                         in.file_size >= 0 ? "is" : "declares", (unsigned long long)want,
                         bn_format_bytes(BN_CHECKPOINT_CAP, words, sizeof words));
    if (!status)
        status = bn_in_fill(&in, want + 1); /* + 1: a pipe that gives more than declared is refused */
    if (!status && in.file_size < 0 && in.len > want)
        status = bn_fail(BN_E_FORMAT, "'%s' holds more than the %llu bytes its header declares", path,
                         (unsigned long long)want);
    if (status) {
        bn_in_close(&in);
        return status;
    }
    *buf = bn_in_take(&in, size);
    return BN_OK;
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
    int status = read_bytes(path, &buf, &size);
    if (!status)
        status = check_envelope(buf, size, path);
    if (status)
        goto out;
    reader r = {buf, size - CK_CRC_BYTES, false};
    const uint32_t version = ck_load_u32(buf + 8);
    stored_blocks blocks = {0, {0}};
    status = parse_header(&r, &h, version, path);
    if (!status) {
        blocks = blocks_of(&h.state, version);
        status = check_payload_size(&r, &h, &blocks, path);
    }
    if (!status)
        status = check_data_view(&h.arch, &h.state.hp, BN_E_FORMAT, path);
    if (!status) {
        int rows = max_batch ? max_batch : (h.state.hp.batch > 0 ? h.state.hp.batch : 1);
        status = bn_net_create(&net, &h.arch, rows, backend);
    }
    if (!status)
        status = read_tensors(&r, net, &blocks, path);
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
