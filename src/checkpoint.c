/* Checkpoint files (docs/checkpoint-format.md): every field is serialised one by one, little-endian and
 * fixed-width, so a file is the same bytes on any host; a CRC-32 closes it. Loading trusts nothing: magic,
 * version, endianness and checksum first, then every count, size, enum and float is checked before a net
 * is built, and no half-built net ever reaches the caller. */
#include "blasnet.h"

#include "atomic_file.h"
#include "crc32.h"
#include "error.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CK_MAGIC "BLASNET" /* 8 bytes with its terminating NUL */
#define CK_MAGIC_LEN 8
#define CK_VERSION 1u
#define CK_ENDIAN_MARK 0x01020304u
#define CK_PREFIX_BYTES 20  /* magic, version, endianness marker, depth */
#define CK_FIXED_BYTES 152  /* activation .. parameter count: everything between the sizes and the floats */
#define CK_CRC_BYTES 4
/* Bytes before the parameters for a network of `depth` layers. */
#define CK_HEADER_BYTES(depth) (CK_PREFIX_BYTES + 4u * ((unsigned)(depth) + 1u) + CK_FIXED_BYTES)
/* The smallest valid file: one layer 1 -> 2 (4 parameters, stored twice: weights and velocity). */
#define CK_MIN_FILE_BYTES (CK_HEADER_BYTES(1) + 8u * 4u + CK_CRC_BYTES)

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

/* ---- shared checks ------------------------------------------------------------------------------------ */

/* "784-512-10", for messages. */
static const char *arch_string(char *buf, size_t cap, const int *sizes, int depth)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int l = 0; l <= depth && used < cap; l++) {
        int n = snprintf(buf + used, cap - used, l ? "-%d" : "%d", sizes[l]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* Weights and biases of every layer, unpadded: sum of in*out + out. Cannot overflow: sizes are checked
 * to lie in 1..BN_MAX_WIDTH (2^24) and depth <= 16, so the sum stays below 2^53. */
static uint64_t param_count(const int *sizes, int depth)
{
    uint64_t n = 0;
    for (int l = 0; l < depth; l++)
        n += (uint64_t)sizes[l] * (uint64_t)sizes[l + 1] + (uint64_t)sizes[l + 1];
    return n;
}

/* The ranges a state must lie in to be stored or restored. Zeros everywhere (what a NULL state saves)
 * pass: a saved model need not carry a training run. status: BN_E_INVALID on save, BN_E_FORMAT on load. */
static int check_state(const bn_train_state *s, int status, const char *path)
{
    const char *what = status == BN_E_FORMAT ? "holds" : "cannot store";
    if (s->epochs < 0 || s->batch < 0 || s->epoch < 0)
        return bn_fail(status, "'%s' %s a negative count: epochs %d, batch %d, epoch %d", path, what, s->epochs,
                       s->batch, s->epoch);
    if (!isfinite(s->sgd.lr) || s->sgd.lr < 0.0f)
        return bn_fail(status, "'%s' %s learning rate %g (must be finite and >= 0)", path, what,
                       (double)s->sgd.lr);
    if (!(s->sgd.momentum >= 0.0f && s->sgd.momentum < 1.0f))
        return bn_fail(status, "'%s' %s momentum %g (must be in [0, 1))", path, what, (double)s->sgd.momentum);
    if (!isfinite(s->sgd.weight_decay) || s->sgd.weight_decay < 0.0f)
        return bn_fail(status, "'%s' %s weight decay %g (must be finite and >= 0)", path, what,
                       (double)s->sgd.weight_decay);
    if (!isfinite(s->lr_decay) || s->lr_decay < 0.0f)
        return bn_fail(status, "'%s' %s lr decay %g (must be finite and >= 0)", path, what, (double)s->lr_decay);
    if ((unsigned)s->init >= BN_INIT_COUNT)
        return bn_fail(status, "'%s' %s unknown initialisation %d (0..%d)", path, what, (int)s->init,
                       BN_INIT_COUNT - 1);
    if (!isfinite(s->init_std) || s->init_std < 0.0f)
        return bn_fail(status, "'%s' %s init std %g (must be finite and >= 0)", path, what, (double)s->init_std);
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

/* Finds the first non-finite value among count floats; count when there is none. */
static size_t first_non_finite(const float *v, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(v[i]))
            return i;
    return count;
}

/* ---- save ----------------------------------------------------------------------------------------------- */

int bn_checkpoint_save(const bn_net *net, const bn_train_state *state, const char *path)
{
    if (!net || !path)
        return bn_fail(BN_E_INVALID, "bn_checkpoint_save needs a network and a path");
    static const bn_train_state zero_state;
    const bn_train_state *s = state ? state : &zero_state;
    int status = check_state(s, BN_E_INVALID, path);
    if (status)
        return status;

    /* The accessors only compute addresses; they take a non-const net because callers write through them. */
    bn_net *mut = (bn_net *)net;
    const bn_arch *arch = bn_net_arch(net);
    const int L = arch->depth;
    const int *n = arch->sizes;
    size_t padded;
    float *params = bn_net_params(mut, &padded);
    float *velocity = bn_net_velocity(mut, &padded);

    /* A non-finite weight means a diverged run: refuse, so the last good file at path survives. */
    for (int l = 0; l < L; l++) {
        size_t w_count = (size_t)n[l] * (size_t)n[l + 1], b_count = (size_t)n[l + 1];
        const float *views[4] = {bn_net_weight(mut, l), bn_net_bias(mut, l),
                                 velocity + (bn_net_weight(mut, l) - params),
                                 velocity + (bn_net_bias(mut, l) - params)};
        static const char *names[4] = {"weight", "bias", "weight velocity", "bias velocity"};
        for (int k = 0; k < 4; k++) {
            size_t count = (k % 2 == 0) ? w_count : b_count;
            size_t bad = first_non_finite(views[k], count);
            if (bad < count)
                return bn_fail(BN_E_INVALID, "refusing to save '%s': layer %d %s %zu is %g", path, l, names[k],
                               bad, (double)views[k][bad]);
        }
    }

    uint64_t P = param_count(n, L);
    uint64_t total = (uint64_t)CK_HEADER_BYTES(L) + 8u * P + CK_CRC_BYTES;
    if (total > SIZE_MAX)
        return bn_fail(BN_E_NOMEM, "a %llu-byte checkpoint does not fit in memory", (unsigned long long)total);
    uint8_t *buf = malloc((size_t)total);
    if (!buf)
        return bn_fail(BN_E_NOMEM, "cannot allocate %.1f MiB to serialise '%s'", (double)total / 1048576.0, path);

    writer w = {buf};
    memcpy(w.p, CK_MAGIC, CK_MAGIC_LEN);
    w.p += CK_MAGIC_LEN;
    put_u32(&w, CK_VERSION);
    put_u32(&w, CK_ENDIAN_MARK);
    put_u32(&w, (uint32_t)L);
    for (int l = 0; l <= L; l++)
        put_u32(&w, (uint32_t)n[l]);
    put_u32(&w, (uint32_t)arch->act);
    put_f32(&w, arch->leaky_slope);
    put_u32(&w, (uint32_t)s->epochs);
    put_u32(&w, (uint32_t)s->batch);
    put_f32(&w, s->sgd.lr);
    put_f32(&w, s->sgd.momentum);
    put_f32(&w, s->sgd.weight_decay);
    put_u32(&w, s->sgd.nesterov ? 1u : 0u);
    put_f32(&w, s->lr_decay);
    put_u64(&w, s->seed);
    put_u32(&w, (uint32_t)s->init);
    put_f32(&w, s->init_std);
    put_u32(&w, (uint32_t)s->epoch);
    put_u64(&w, s->step);
    for (int i = 0; i < 4; i++)
        put_u64(&w, s->rng.s[i]);
    put_f64(&w, s->loss_sum);
    put_u64(&w, s->correct);
    put_u64(&w, s->seen);
    put_f64(&w, s->train_seconds);
    put_u64(&w, s->samples);
    put_u64(&w, s->train_n);
    put_u64(&w, P);
    /* Parameters, then velocity, each layer as W (in, out) row-major then b (out): the block's alignment
     * padding is not stored. Velocity mirrors the parameter layout, so the same offsets address it. */
    for (int pass = 0; pass < 2; pass++) {
        const float *base = pass == 0 ? params : velocity;
        for (int l = 0; l < L; l++) {
            const float *wv = base + (bn_net_weight(mut, l) - params);
            const float *bv = base + (bn_net_bias(mut, l) - params);
            for (size_t i = 0, c = (size_t)n[l] * (size_t)n[l + 1]; i < c; i++)
                put_f32(&w, wv[i]);
            for (int i = 0; i < n[l + 1]; i++)
                put_f32(&w, bv[i]);
        }
    }
    put_u32(&w, bn_crc32(0, buf, (size_t)(w.p - buf)));
    assert((uint64_t)(w.p - buf) == total); /* the sizes above and the fields written agree */
    status = bn_atomic_write(path, buf, (size_t)total);
    free(buf);
    return status;
}

/* ---- load ----------------------------------------------------------------------------------------------- */

/* The whole file into memory: a checkpoint is parsed from a buffer whose length is known, never streamed. */
static int read_file(const char *path, uint8_t **out, size_t *out_size)
{
    *out = NULL;
    *out_size = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bn_fail_errno(BN_E_IO, "cannot open '%s'", path);
    struct stat st;
    size_t cap = 4096;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        (uint64_t)st.st_size < SIZE_MAX - 1)
        cap = (size_t)st.st_size + 1; /* +1: meets EOF without growing */
    uint8_t *buf = malloc(cap);
    size_t size = 0;
    int status = BN_OK;
    for (;;) {
        if (!buf) {
            status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to read '%s'", cap, path);
            break;
        }
        size += fread(buf + size, 1, cap - size, f);
        if (ferror(f)) {
            status = bn_fail_errno(BN_E_IO, "cannot read '%s' (after %zu bytes)", path, size);
            break;
        }
        if (feof(f))
            break;
        if (cap > SIZE_MAX / 2) {
            status = bn_fail(BN_E_NOMEM, "'%s' is too large to read", path);
            break;
        }
        cap *= 2;
        uint8_t *grown = realloc(buf, cap);
        if (!grown) {
            status = bn_fail(BN_E_NOMEM, "cannot allocate %zu bytes to read '%s'", cap, path);
            break;
        }
        buf = grown;
    }
    fclose(f); /* read-only: nothing to lose on close */
    if (status) {
        free(buf);
        return status;
    }
    *out = buf;
    *out_size = size;
    return BN_OK;
}

/* The size the header's depth and sizes imply, when they are readable and in range; used only to word the
 * message for a damaged file (truncated vs corrupt), never to parse. */
static bool declared_size(const uint8_t *buf, size_t size, uint64_t *expected, char *desc, size_t cap)
{
    if (size < CK_PREFIX_BYTES)
        return false;
    uint32_t depth = load_u32(buf + 16);
    if (depth < 1 || depth > BN_MAX_LAYERS || size < CK_PREFIX_BYTES + 4u * (depth + 1))
        return false;
    int sizes[BN_MAX_LAYERS + 1];
    for (uint32_t l = 0; l <= depth; l++) {
        uint32_t v = load_u32(buf + CK_PREFIX_BYTES + 4 * l);
        if (v < 1 || v > BN_MAX_WIDTH)
            return false;
        sizes[l] = (int)v;
    }
    *expected = (uint64_t)CK_HEADER_BYTES(depth) + 8u * param_count(sizes, (int)depth) + CK_CRC_BYTES;
    arch_string(desc, cap, sizes, (int)depth);
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
                       (unsigned)CK_MIN_FILE_BYTES);
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
    if (size < CK_MIN_FILE_BYTES) {
        if (declared && expected > size)
            return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, its header declares a %s network needing "
                                        "%llu", path, size, desc, (unsigned long long)expected);
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: %zu bytes, the smallest checkpoint has %u", path, size,
                       (unsigned)CK_MIN_FILE_BYTES);
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
static int parse_header(reader *r, bn_arch *arch, bn_train_state *s, uint64_t *P, const char *path)
{
    r->p += CK_PREFIX_BYTES - 4; /* magic, version and marker were checked by check_envelope */
    r->left -= CK_PREFIX_BYTES - 4;
    uint32_t depth = get_u32(r);
    if (depth < 1 || depth > BN_MAX_LAYERS)
        return bn_fail(BN_E_FORMAT, "'%s' declares %u layers, outside 1..%d", path, depth, BN_MAX_LAYERS);
    memset(arch, 0, sizeof *arch);
    arch->depth = (int)depth;
    for (uint32_t l = 0; l <= depth; l++) {
        uint32_t v = get_u32(r);
        if (v < 1 || v > BN_MAX_WIDTH)
            return bn_fail(BN_E_FORMAT, "'%s' declares layer %u with %u units, outside 1..%d", path, l, v,
                           BN_MAX_WIDTH);
        arch->sizes[l] = (int)v;
    }
    uint32_t act = get_u32(r);
    arch->leaky_slope = get_f32(r);

    memset(s, 0, sizeof *s);
    uint32_t epochs = get_u32(r), batch = get_u32(r);
    s->sgd.lr = get_f32(r);
    s->sgd.momentum = get_f32(r);
    s->sgd.weight_decay = get_f32(r);
    uint32_t nesterov = get_u32(r);
    s->lr_decay = get_f32(r);
    s->seed = get_u64(r);
    uint32_t init = get_u32(r);
    s->init_std = get_f32(r);
    uint32_t epoch = get_u32(r);
    s->step = get_u64(r);
    for (int i = 0; i < 4; i++)
        s->rng.s[i] = get_u64(r);
    s->loss_sum = get_f64(r);
    s->correct = get_u64(r);
    s->seen = get_u64(r);
    s->train_seconds = get_f64(r);
    s->samples = get_u64(r);
    s->train_n = get_u64(r);
    *P = get_u64(r);
    if (r->overrun)
        return bn_fail(BN_E_FORMAT, "'%s' is truncated: its %u-layer header needs %u bytes", path, depth,
                       (unsigned)(CK_HEADER_BYTES(depth) + CK_CRC_BYTES));

    /* Enums and ints are range-checked as unsigned words before they are converted. */
    if (act >= BN_ACT_COUNT)
        return bn_fail(BN_E_FORMAT, "'%s' has unknown activation %u (0..%d)", path, act, BN_ACT_COUNT - 1);
    arch->act = (bn_act)act;
    if (bn_arch_check(arch) != BN_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "%s", bn_errmsg());
        return bn_fail(BN_E_FORMAT, "'%s' holds an invalid architecture: %s", path, detail);
    }
    if (epochs > INT_MAX || batch > INT_MAX || epoch > INT_MAX)
        return bn_fail(BN_E_FORMAT, "'%s' has counts beyond %d: epochs %u, batch %u, epoch %u", path, INT_MAX,
                       epochs, batch, epoch);
    s->epochs = (int)epochs;
    s->batch = (int)batch;
    s->epoch = (int)epoch;
    if (nesterov > 1)
        return bn_fail(BN_E_FORMAT, "'%s' has nesterov flag %u, expected 0 or 1", path, nesterov);
    s->sgd.nesterov = nesterov == 1;
    if (init >= BN_INIT_COUNT)
        return bn_fail(BN_E_FORMAT, "'%s' has unknown initialisation %u (0..%d)", path, init, BN_INIT_COUNT - 1);
    s->init = (bn_init)init;
    return check_state(s, BN_E_FORMAT, path);
}

/* Copies count little-endian floats into dst, refusing any that is not finite. */
static int get_floats(reader *r, float *dst, size_t count, const char *path, const char *what, int layer)
{
    for (size_t i = 0; i < count; i++) {
        dst[i] = get_f32(r);
        if (!isfinite(dst[i]))
            return bn_fail(BN_E_FORMAT, "'%s': layer %d %s %zu is %g", path, layer, what, i, (double)dst[i]);
    }
    return r->overrun ? bn_fail(BN_E_FORMAT, "'%s' ends inside layer %d's %s", path, layer, what) : BN_OK;
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
    uint8_t *buf;
    size_t size;
    int status = read_file(path, &buf, &size);
    if (status)
        return status;
    status = check_envelope(buf, size, path);
    if (status) {
        free(buf);
        return status;
    }

    reader r = {buf, size - CK_CRC_BYTES, false};
    bn_arch arch;
    bn_train_state s;
    uint64_t P = 0;
    status = parse_header(&r, &arch, &s, &P, path);
    uint64_t want_P = status ? 0 : param_count(arch.sizes, arch.depth);
    if (!status && P != want_P)
        status = bn_fail(BN_E_FORMAT, "'%s' stores %llu parameters, but its architecture has %llu", path,
                         (unsigned long long)P, (unsigned long long)want_P);
    /* P < 2^53 (param_count), so 8 * P cannot overflow 64 bits. */
    if (!status && (uint64_t)r.left != 8u * P) {
        char desc[256];
        status = bn_fail(BN_E_FORMAT, "'%s' has %zu bytes of parameters and velocity, a %s network needs %llu",
                         path, r.left, arch_string(desc, sizeof desc, arch.sizes, arch.depth),
                         (unsigned long long)(8u * P));
    }
    bn_net *net = NULL;
    if (!status) {
        int rows = max_batch ? max_batch : (s.batch > 0 ? s.batch : 1);
        status = bn_net_create(&net, &arch, rows, backend);
    }
    if (!status) {
        size_t padded;
        float *params = bn_net_params(net, &padded);
        float *velocity = bn_net_velocity(net, &padded);
        const int *n = arch.sizes;
        for (int pass = 0; pass < 2 && !status; pass++) {
            float *base = pass == 0 ? params : velocity;
            for (int l = 0; l < arch.depth && !status; l++) {
                status = get_floats(&r, base + (bn_net_weight(net, l) - params), (size_t)n[l] * (size_t)n[l + 1],
                                    path, pass == 0 ? "weight" : "weight velocity", l);
                if (!status)
                    status = get_floats(&r, base + (bn_net_bias(net, l) - params), (size_t)n[l + 1], path,
                                        pass == 0 ? "bias" : "bias velocity", l);
            }
        }
        if (!status && r.left != 0) /* unreachable after the size check; kept as the parse's own invariant */
            status = bn_fail(BN_E_FORMAT, "'%s' has %zu unread bytes before its checksum", path, r.left);
        if (status)
            bn_net_destroy(&net);
    }
    free(buf);
    if (status)
        return status;
    if (state)
        *state = s;
    *out = net;
    return BN_OK;
}
