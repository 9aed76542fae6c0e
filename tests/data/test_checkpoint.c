/* Checkpoint files: bitwise round trips, the documented byte layout, and a loader that refuses every
 * damaged file (each truncation, random bit flips, patched headers with a re-fixed CRC) with a message and
 * *net == NULL; atomic saves that leave the previous file intact when folder, rename or disk fail. */
#include "blasnet.h"
#include "rng.h"
#include "net.h"

#include "atomic_file.h"
#include "crc32_ref.h"
#include "harness.h"
#include "recipe_equal.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/bn_test_checkpoint_XXXXXX";
static const bn_backend *backend;

/* ---- helpers -------------------------------------------------------------------------------------------- */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the trailing CRC so a patched field reaches the check behind the checksum. */
static void fix_crc(uint8_t *buf, size_t size)
{
    wr32(buf + size - 4, ref_crc32(buf, size - 4));
}

static char *path_in(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *size = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static int spit(const char *path, const uint8_t *buf, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t done = fwrite(buf, 1, size, f);
    return (fclose(f) == 0 && done == size) ? 0 : -1;
}

/* Entries of dir whose name starts with '.', besides "." and "..": leftover temporary files. */
static int hidden_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            count++;
    closedir(d);
    return count;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                    continue;
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A net with every stored number distinct and non-zero: He weights, biases, velocity, second moment and best
 * weights from the rng. */
static bn_net *make_net(const char *sizes, bn_act act, float slope, int batch, uint64_t seed)
{
    bn_arch arch = {0};
    if (bn_arch_parse_sizes(&arch, sizes))
        return NULL;
    arch.act = act;
    arch.leaky_slope = slope;
    bn_net *net = NULL;
    if (bn_net_create(&net, &arch, batch, backend))
        return NULL;
    bn_rng rng;
    bn_rng_seed(&rng, seed);
    bn_net_init(net, BN_INIT_HE, 0.0f, &rng);
    size_t count;
    float *params = bn_net_params(net, &count), *vel = bn_net_velocity(net, &count);
    for (int l = 0; l < arch.depth; l++) {
        size_t wo = (size_t)(bn_net_weight(net, l) - params), bo = (size_t)(bn_net_bias(net, l) - params);
        for (int j = 0; j < arch.sizes[l + 1]; j++)
            bn_net_bias(net, l)[j] = (float)(0.1 * bn_rng_normal(&rng));
        for (size_t i = 0; i < (size_t)arch.sizes[l] * (size_t)arch.sizes[l + 1]; i++)
            vel[wo + i] = (float)(0.01 * bn_rng_normal(&rng));
        for (int j = 0; j < arch.sizes[l + 1]; j++)
            vel[bo + (size_t)j] = (float)(0.01 * bn_rng_normal(&rng));
    }
    float *m2 = bn_net_moment2(net, &count), *best = bn_net_best_params(net, &count);
    for (size_t i = 0; i < count; i++) { /* padding too: neither block's padding is stored or compared */
        m2[i] = (float)(1e-4 * (1.0 + bn_rng_uniform(&rng)));
        best[i] = (float)bn_rng_normal(&rng);
    }
    return net;
}

/* Every field set to something other than its default, so a field the format forgets shows up. */
static bn_train_state make_state(void)
{
    bn_train_state s;
    memset(&s, 0, sizeof s);
    s.hp.epochs = 7;
    s.hp.batch = 4;
    s.hp.opt.lr = 0.0375f;
    s.hp.opt.momentum = 0.875f;
    s.hp.opt.weight_decay = 1.5e-4f;
    s.hp.opt.nesterov = true;
    s.hp.lr_decay = 0.97f;
    s.hp.seed = 0x1234567890abcdefull;
    s.hp.init = BN_INIT_XAVIER;
    s.hp.init_std = 0.02f;
    s.epoch = 3;
    s.step = 11;
    bn_rng_seed(&s.rng, 99);
    bn_rng_next(&s.rng);
    s.loss_sum = 12.345678901234;
    s.correct = 40;
    s.seen = 44;
    s.train_seconds = 1.0 / 3.0;
    s.samples = 1ull << 40;
    s.train_n = 60000;
    s.hp.opt.beta1 = 0.85f;
    s.hp.opt.beta2 = 0.995f;
    s.hp.opt.eps = 1e-7f;
    s.hp.opt.clip_norm = 2.5f;
    s.hp.schedule = BN_SCHED_COSINE;
    s.hp.warmup_steps = 123456789012ull;
    s.hp.step_epochs = 3;
    s.hp.lr_min = 1e-4f;
    s.hp.dropout = 0.25f;
    s.hp.patience = 4;
    s.hp.monitor = BN_MONITOR_ACC;
    s.hp.target_acc = 0.975f;
    s.best_epoch = 2;
    s.best_metric = 0.9625;
    s.bad_epochs = 1;
    s.target_seconds = 0.5;
    return s;
}

#define SAME_BITS(a, b) (memcmp(&(a), &(b), sizeof(a)) == 0)

/* The recipe by its fields (recipe_equal.h, from the lists the struct is made of), then the run's state. */
static void check_state_equal(const bn_train_state *got, const bn_train_state *want)
{
    const char *field = recipe_difference(&got->hp, &want->hp);
    CHECKF(field == NULL, "the recipe's %s differs after a round trip", field ? field : "");
    CHECK(got->epoch == want->epoch);
    CHECK(got->step == want->step);
    for (int i = 0; i < 4; i++)
        CHECK(got->rng.s[i] == want->rng.s[i]);
    CHECK(SAME_BITS(got->loss_sum, want->loss_sum));
    CHECK(got->correct == want->correct);
    CHECK(got->seen == want->seen);
    CHECK(SAME_BITS(got->train_seconds, want->train_seconds));
    CHECK(got->samples == want->samples && got->train_n == want->train_n);
    CHECK(got->best_epoch == want->best_epoch && SAME_BITS(got->best_metric, want->best_metric));
    CHECK(got->bad_epochs == want->bad_epochs && got->end == want->end);
    CHECK(SAME_BITS(got->target_seconds, want->target_seconds));
}

/* The recipe's lists (blasnet.h) give every field one place in the file, 0 .. count - 1, and the places
 * follow the format versions: the checkpoint writes each version's fields after the last one's. */
static void recipe_places_are_a_file_order(void)
{
    typedef struct {
        int pos;
        unsigned since;
    } place;
#define PLACE(type, name, label, kind, lo, hi, range, since, pos, resume) {pos, since},
#define OPT_PLACES(name) BN_OPTIM_RECIPE(PLACE)
    static const place places[] = {BN_HPARAMS_RECIPE(PLACE, OPT_PLACES)};
#undef PLACE
#undef OPT_PLACES
    enum { N = sizeof places / sizeof places[0] };
    unsigned since_at[N] = {0};
    int seen[N] = {0};
    for (int i = 0; i < N; i++)
        if (places[i].pos >= 0 && places[i].pos < N)
            seen[places[i].pos]++, since_at[places[i].pos] = places[i].since;
    for (int p = 0; p < N; p++) {
        CHECKF(seen[p] == 1, "place %d is held by %d fields", p, seen[p]);
        CHECKF(p == 0 || since_at[p] >= since_at[p - 1], "place %d is format %u, after format %u", p, since_at[p],
               p ? since_at[p - 1] : 0);
    }
}

/* Architecture, then every weight, bias and velocity value bitwise, and the second moment and best weights
 * where the state says the file holds them. Returns the number of differences. */
static int compare_nets(bn_net *a, bn_net *b, const bn_train_state *st)
{
    const bn_arch *x = bn_net_arch(a), *y = bn_net_arch(b);
    int diffs = 0;
    if (x->depth != y->depth || x->act != y->act || !SAME_BITS(x->leaky_slope, y->leaky_slope))
        return 1;
    for (int l = 0; l <= x->depth; l++)
        diffs += x->sizes[l] != y->sizes[l];
    if (diffs)
        return diffs;
    size_t ca, cb;
    float *pa = bn_net_params(a, &ca), *pb = bn_net_params(b, &cb);
    float *blocks[4][2] = {{pa, pb},
                           {bn_net_velocity(a, &ca), bn_net_velocity(b, &cb)},
                           {bn_net_moment2(a, &ca), bn_net_moment2(b, &cb)},
                           {bn_net_best_params(a, &ca), bn_net_best_params(b, &cb)}};
    const bool stored[4] = {true, true, st && st->hp.opt.kind != BN_OPT_SGD, st && st->best_epoch > 0};
    for (int k = 0; k < 4; k++)
        for (int l = 0; stored[k] && l < x->depth; l++) {
            size_t wn = (size_t)x->sizes[l] * (size_t)x->sizes[l + 1], bnn = (size_t)x->sizes[l + 1];
            size_t wa = (size_t)(bn_net_weight(a, l) - pa), wb = (size_t)(bn_net_weight(b, l) - pb);
            size_t ba = (size_t)(bn_net_bias(a, l) - pa), bb = (size_t)(bn_net_bias(b, l) - pb);
            diffs += memcmp(blocks[k][0] + wa, blocks[k][1] + wb, wn * sizeof(float)) != 0;
            diffs += memcmp(blocks[k][0] + ba, blocks[k][1] + bb, bnn * sizeof(float)) != 0;
        }
    return diffs;
}

/* Loads path expecting failure with `status` (0: any negative one) and a message naming the file and
 * containing `needle`; checks that no net came back. */
static void expect_load_fails(const char *path, int status, const char *needle, const char *why)
{
    bn_net *net = (bn_net *)&net; /* a non-NULL sentinel: load must reset it */
    bn_train_state st;
    int got = bn_checkpoint_load(&net, &st, path, 0, backend);
    CHECKF(got < 0 && (status == 0 || got == status), "%s: status %d, want %d", why, got, status);
    CHECKF(net == NULL, "%s: a net came back", why);
    if (net && net != (bn_net *)&net)
        bn_net_destroy(&net);
    const char *msg = bn_errmsg();
    const char *base = strrchr(path, '/');
    CHECKF(strstr(msg, base ? base + 1 : path) != NULL, "%s: message does not name the file: %s", why, msg);
    if (needle)
        CHECKF(strstr(msg, needle) != NULL, "%s: message lacks '%s': %s", why, needle, msg);
}

/* ---- tests ---------------------------------------------------------------------------------------------- */

static void round_trip(const char *sizes, bn_act act, float slope, bn_optimizer kind)
{
    bn_net *net = make_net(sizes, act, slope, 4, 5);
    CHECK(net != NULL);
    if (!net)
        return;
    bn_train_state st = make_state();
    st.hp.opt.kind = kind;
    st.hp.image_rows = 1, st.hp.image_cols = bn_net_arch(net)->sizes[0]; /* a row of pixels */
    st.hp.transpose = kind == BN_OPT_ADAM, st.hp.label_offset = (int)kind + 1;
    const char *path = path_in("round.bin");
    int status = bn_checkpoint_save(net, &st, path);
    CHECKF(status == BN_OK, "save %s: %s", sizes, bn_errmsg());

    bn_net *back = NULL;
    bn_train_state got;
    memset(&got, 0xa5, sizeof got);
    status = bn_checkpoint_load(&back, &got, path, 0, backend);
    CHECKF(status == BN_OK && back, "load %s: %s", sizes, bn_errmsg());
    if (back) {
        CHECKF(compare_nets(net, back, &st) == 0, "%s: arch or values differ after the round trip", sizes);
        check_state_equal(&got, &st);
        CHECK(bn_net_max_batch(back) == st.hp.batch); /* 0: the stored batch */
        bn_net_destroy(&back);
    }
    status = bn_checkpoint_load(&back, NULL, path, 9, backend); /* state may be NULL; explicit max_batch */
    CHECKF(status == BN_OK && back && bn_net_max_batch(back) == 9, "load with max_batch 9: %s", bn_errmsg());
    bn_net_destroy(&back);

    /* No state: zeros are stored and come back; the workspace falls back to one row. */
    status = bn_checkpoint_save(net, NULL, path);
    CHECKF(status == BN_OK, "save without state: %s", bn_errmsg());
    status = bn_checkpoint_load(&back, &got, path, 0, backend);
    CHECKF(status == BN_OK && back, "load of a stateless save: %s", bn_errmsg());
    if (back) {
        bn_train_state zero;
        memset(&zero, 0, sizeof zero);
        check_state_equal(&got, &zero);
        CHECK(bn_net_max_batch(back) == 1);
        CHECK(compare_nets(net, back, NULL) == 0);
        bn_net_destroy(&back);
    }
    bn_net_destroy(&net);
}

static void round_trip_relu(void) { round_trip("5,7,3", BN_ACT_RELU, 0.0f, BN_OPT_SGD); }
static void round_trip_leaky(void) { round_trip("17,1,3,2", BN_ACT_LEAKY_RELU, 0.125f, BN_OPT_ADAM); }
static void round_trip_selu(void) { round_trip("3,2", BN_ACT_SELU, 0.0f, BN_OPT_ADAMW); }

/* ---- damaged files: each case starts from the same good file, saved once by save_good_file --------------- */

static struct {
    bn_net *net;
    bn_train_state st;
    char path[512];
    uint8_t *bytes, *scratch; /* the file as saved; room for a damaged copy with 8 bytes to spare */
    size_t size;
} good;

static void save_good_file(void)
{
    good.net = make_net("5,7,3", BN_ACT_RELU, 0.0f, 4, 7);
    CHECK(good.net != NULL);
    if (!good.net)
        return;
    good.st = make_state();
    good.st.hp.image_rows = 1, good.st.hp.image_cols = 5; /* what the network sees: 5 inputs */
    good.st.hp.transpose = true, good.st.hp.label_offset = 7;
    snprintf(good.path, sizeof good.path, "%s", path_in("good.bin"));
    CHECKF(bn_checkpoint_save(good.net, &good.st, good.path) == BN_OK, "save: %s", bn_errmsg());
    good.bytes = slurp(good.path, &good.size);
    good.scratch = malloc(good.size + 8);
    CHECK(good.bytes && good.scratch && good.size > 0);
}

/* Writes size bytes of buf to bad.bin and expects the loader to refuse it as malformed. */
static void expect_bytes_refused(const uint8_t *buf, size_t size, const char *needle, const char *why)
{
    const char *bad = path_in("bad.bin");
    CHECKF(spit(bad, buf, size) == 0, "%s: cannot write %s", why, bad);
    expect_load_fails(bad, BN_E_FORMAT, needle, why);
}

/* The documented layout (docs/checkpoint-format.md), read back with the test's own decoder. */
static void layout_is_documented(void)
{
    const uint8_t *buf = good.bytes;
    const size_t size = good.size;
    bn_net *net = good.net;
    const bn_train_state *st = &good.st;
    const bn_arch *arch = bn_net_arch(net);
    const int L = arch->depth;
    uint64_t P = bn_arch_param_count(arch);
    /* sgd with a best epoch: parameters, velocity and best weights */
    CHECKF(size == 284 + 4 * (size_t)(L + 1) + 12 * P, "file has %zu bytes", size);
    CHECK(memcmp(buf, "BLASNET\0", 8) == 0);
    CHECK(rd32(buf + 8) == 4);
    CHECK(buf[12] == 0x04 && buf[13] == 0x03 && buf[14] == 0x02 && buf[15] == 0x01);
    CHECK(rd32(buf + 16) == (uint32_t)L);
    for (int l = 0; l <= L; l++)
        CHECK(rd32(buf + 20 + 4 * l) == (uint32_t)arch->sizes[l]);
    const uint8_t *h = buf + 20 + 4 * (L + 1);
    CHECK(rd32(h) == (uint32_t)arch->act);
    CHECK(rd32(h + 8) == (uint32_t)st->hp.epochs && rd32(h + 12) == (uint32_t)st->hp.batch);
    CHECK(rd32(h + 28) == 1); /* nesterov */
    CHECK(rd64(h + 36) == st->hp.seed);
    CHECK(rd32(h + 44) == (uint32_t)st->hp.init);
    CHECK(rd32(h + 52) == (uint32_t)st->epoch && rd64(h + 56) == st->step);
    CHECK(rd64(h + 64) == st->rng.s[0] && rd64(h + 88) == st->rng.s[3]);
    CHECK(rd64(h + 104) == st->correct && rd64(h + 112) == st->seen && rd64(h + 128) == st->samples);
    CHECK(rd64(h + 136) == st->train_n);
    CHECK(rd32(h + 144) == (uint32_t)st->hp.opt.kind && rd32(h + 164) == (uint32_t)st->hp.schedule);
    CHECK(rd64(h + 168) == st->hp.warmup_steps && rd32(h + 176) == (uint32_t)st->hp.step_epochs);
    CHECK(rd32(h + 188) == (uint32_t)st->hp.patience && rd32(h + 192) == (uint32_t)st->hp.monitor);
    CHECK(rd32(h + 200) == (uint32_t)st->best_epoch && rd32(h + 212) == (uint32_t)st->bad_epochs);
    CHECK(rd32(h + 216) == (uint32_t)st->end);
    CHECK(rd32(h + 228) == 1 && rd32(h + 232) == 5 && rd32(h + 236) == 1 && rd32(h + 240) == 7); /* version 3 */
    CHECK(rd64(h + 244) == st->plan_digest); /* version 4 */
    CHECK(rd64(h + 252) == P);
    /* Floats: layer 0's W[0][0], its first bias, and the first velocity value, at their documented places. */
    size_t count;
    float *params = bn_net_params(net, &count), *vel = bn_net_velocity(net, &count);
    uint32_t bits;
    memcpy(&bits, &bn_net_weight(net, 0)[0], 4);
    CHECK(rd32(h + 260) == bits);
    memcpy(&bits, &bn_net_bias(net, 0)[0], 4);
    CHECK(rd32(h + 260 + 4 * (size_t)arch->sizes[0] * (size_t)arch->sizes[1]) == bits);
    memcpy(&bits, &vel[bn_net_weight(net, 0) - params], 4);
    CHECK(rd32(h + 260 + 4 * P) == bits);
    memcpy(&bits, &bn_net_best_params(net, &count)[bn_net_weight(net, 0) - params], 4);
    CHECK(rd32(h + 260 + 8 * P) == bits);
    /* The library's table-driven CRC agrees with the bitwise oracle, whose check value is the standard one. */
    CHECK(ref_crc32((const uint8_t *)"123456789", 9) == 0xcbf43926u);
    CHECKF(rd32(buf + size - 4) == ref_crc32(buf, size - 4), "stored CRC 0x%08x, oracle 0x%08x",
           rd32(buf + size - 4), ref_crc32(buf, size - 4));
}

/* Every truncation of the file, from empty to one byte short. */
static void every_truncation_is_refused(void)
{
    int trunc_fail = 0;
    for (size_t len = 0; len < good.size; len++) {
        int before = bn_test_failures;
        char why[64];
        snprintf(why, sizeof why, "truncated to %zu of %zu", len, good.size);
        expect_bytes_refused(good.bytes, len, "truncated", why);
        trunc_fail += bn_test_failures != before;
    }
    CHECKF(trunc_fail == 0, "%d of %zu truncations misjudged", trunc_fail, good.size);
}

/* Random single-bit flips: CRC-32 detects every one, so each must fail whatever field it lands in. */
static void bit_flips_are_refused(void)
{
    uint8_t *buf = good.scratch;
    const size_t size = good.size;
    bn_rng rng;
    bn_rng_seed(&rng, 2024);
    for (int trial = 0; trial < 300; trial++) {
        memcpy(buf, good.bytes, size);
        size_t at = (size_t)bn_rng_below(&rng, size);
        buf[at] ^= (uint8_t)(1u << bn_rng_below(&rng, 8));
        char why[64];
        snprintf(why, sizeof why, "bit flip at byte %zu", at);
        expect_bytes_refused(buf, size, NULL, why);
    }
    /* A flip inside the weights specifically reports the checksum. */
    memcpy(buf, good.bytes, size);
    buf[size / 2] ^= 0x10;
    expect_bytes_refused(buf, size, "checksum mismatch", "flip in the weights");
}

/* Patched headers. Where the CRC is fixed up, the check behind it is what answers. */
static void patched_headers_are_refused(void)
{
    const size_t H = 20 + 4 * 3, size = good.size; /* 5-7-3: depth 2, three sizes */
    const struct {
        size_t at;
        uint32_t value;
        bool fix;
        const char *needle, *why;
    } patches[] = {
        {0, 0x4e4c5358u, false, "not a blasnet checkpoint", "wrong magic"},
        {0, 0x4e4c5358u, true, "bytes 58 53 4c 4e 4e 45 54 00", "wrong magic, CRC fixed"},
        {8, 5, false, "version 5", "version 5"},
        {8, 5, true, "version 5", "version 5, CRC fixed"},
        {8, 0, true, "reads versions 1 to 4", "version 0, CRC fixed"},
        {12, 0x04030201u, true, "big-endian", "big-endian marker, CRC fixed"},
        {12, 0xdeadbeefu, true, "endianness marker", "garbage marker, CRC fixed"},
        {16, 0, true, "layers", "depth 0"},
        {16, 17, true, "layers", "depth 17"},
        {20, 0, true, "units", "input size 0"},
        {28, 1, true, "classes", "one class"},
        {20, (1u << 24) + 1, true, "units", "input size 2^24 + 1"},
        {20, 6, true, "parameters", "input size 6: the stored count disagrees"},
        {H, 99, true, "activation", "activation 99"},
        {H + 4, 0x7fc00000u, true, "slope", "NaN leaky slope"},
        {H + 8, 0x80000000u, true, "counts beyond", "epochs 2^31"},
        {H + 16, 0x7f800000u, true, "learning rate", "infinite lr"},
        {H + 20, 0x3f800000u, true, "momentum", "momentum 1"},
        {H + 24, 0xbf800000u, true, "weight decay", "negative weight decay"},
        {H + 28, 2, true, "nesterov", "nesterov 2"},
        {H + 44, BN_INIT_COUNT, true, "initialisation", "init BN_INIT_COUNT"},
        {H + 48, 0xff800000u, true, "init std", "-inf init std"},
        {H + 100, 0x7ff80000u, true, "running loss", "NaN loss sum (high word)"},
        {H + 104, 45, true, "correct", "correct > seen"},
        {H + 144, BN_OPT_COUNT, true, "optimizer", "optimizer BN_OPT_COUNT"},
        {H + 148, 0x3f800001u, true, "beta1", "beta1 above 1"},
        {H + 160, 0xbf800000u, true, "clip norm", "negative clip norm"},
        {H + 164, BN_SCHED_COUNT, true, "schedule", "schedule BN_SCHED_COUNT"},
        {H + 184, 0x3f800000u, true, "dropout", "dropout 1"},
        {H + 192, BN_MONITOR_COUNT, true, "monitor", "monitor BN_MONITOR_COUNT"},
        {H + 200, 9, true, "best epoch 9 of 3", "best epoch after the current one"},
        {H + 216, 9, true, "end", "end 9"},
        {H + 228, 3, true, "images of 3x5", "images of 3x5 for 5 inputs"},
        {H + 232, 0, true, "images of 1x0", "images of 1x0"},
        {H + 236, 2, true, "transpose", "transpose 2"},
        {H + 240, 256, true, "label offset 256", "label offset 256"},
        {H + 252, 65, true, "parameters", "parameter count 65"},
        {H + 260, 0x7fc00000u, true, "weight 0", "NaN first weight"},
        {size - 8, 0x7f800000u, true, "best bias", "infinite last best bias"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        memcpy(good.scratch, good.bytes, size);
        wr32(good.scratch + patches[i].at, patches[i].value);
        if (patches[i].fix)
            fix_crc(good.scratch, size);
        expect_bytes_refused(good.scratch, size, patches[i].needle, patches[i].why);
    }
}

/* Trailing bytes with a CRC that covers them; a file holding only the magic is truncated, not "not a
 * checkpoint". */
static void extra_bytes_and_bare_magic_are_refused(void)
{
    uint8_t *buf = good.scratch;
    const size_t size = good.size;
    memcpy(buf, good.bytes, size - 4);
    memset(buf + size - 4, 0, 8);
    fix_crc(buf, size + 4);
    expect_bytes_refused(buf, size + 4, "bytes", "4 extra bytes, CRC fixed");
    expect_bytes_refused(good.bytes, 8, "truncated", "magic only");
}

static void non_files_and_bad_arguments_are_refused(void)
{
    expect_load_fails(path_in("missing.bin"), BN_E_IO, "No such file", "missing file");
    expect_load_fails(tmp_dir, BN_E_IO, NULL, "a folder");
    bn_net *out = NULL;
    CHECK(bn_checkpoint_load(&out, NULL, good.path, -1, backend) == BN_E_INVALID && out == NULL);
    CHECK(bn_checkpoint_load(&out, NULL, good.path, 0, NULL) == BN_E_INVALID && out == NULL);
}

/* Saving refuses a state load would refuse, and non-finite weights, leaving the good file alone. */
static void save_refuses_what_load_would(void)
{
    bn_train_state odd = good.st;
    odd.hp.opt.momentum = 1.0f;
    CHECK(bn_checkpoint_save(good.net, &odd, good.path) == BN_E_INVALID);
    float keep = bn_net_weight(good.net, 1)[3];
    bn_net_weight(good.net, 1)[3] = NAN;
    CHECK(bn_checkpoint_save(good.net, &good.st, good.path) == BN_E_INVALID);
    CHECKF(strstr(bn_errmsg(), "layer 1 weight 3") != NULL, "message: %s", bn_errmsg());
    bn_net_weight(good.net, 1)[3] = keep;
    size_t now_size = 0;
    uint8_t *now = slurp(good.path, &now_size);
    CHECK(now && now_size == good.size && memcmp(now, good.bytes, good.size) == 0);
    free(now);
}

static void damage_cases(void)
{
    bn_test_case("the recipe's fields have one place each in the file", recipe_places_are_a_file_order);
    bn_test_case("a good file to damage", save_good_file);
    if (good.net && good.bytes && good.scratch && good.size) {
        bn_test_case("the file has the documented layout", layout_is_documented);
        bn_test_case("every truncation is refused", every_truncation_is_refused);
        bn_test_case("random bit flips are refused", bit_flips_are_refused);
        bn_test_case("patched headers are refused", patched_headers_are_refused);
        bn_test_case("extra bytes and a bare magic are refused", extra_bytes_and_bare_magic_are_refused);
        bn_test_case("a missing file, a folder and bad arguments are refused",
                     non_files_and_bad_arguments_are_refused);
        bn_test_case("save refuses what load would, leaving the old file", save_refuses_what_load_would);
    }
    free(good.bytes);
    free(good.scratch);
    bn_net_destroy(&good.net);
}

/* ---- atomic saves: each case works in a folder of its own under tmp_dir ---------------------------------- */

static bn_net *net_a, *net_b;

static void make_two_nets(void)
{
    net_a = make_net("5,7,3", BN_ACT_TANH, 0.0f, 4, 11);
    net_b = make_net("5,7,3", BN_ACT_TANH, 0.0f, 4, 12);
    CHECK(net_a && net_b);
    if (net_a && net_b)
        CHECK(compare_nets(net_a, net_b, NULL) != 0); /* otherwise "load gives B" proves nothing */
}

/* Loads path and compares it with want; returns 0 when equal. */
static int load_equals(const char *path, bn_net *want)
{
    bn_net *got = NULL;
    if (bn_checkpoint_load(&got, NULL, path, 0, backend) != BN_OK)
        return -1;
    int diffs = compare_nets(got, want, NULL);
    bn_net_destroy(&got);
    return diffs;
}

typedef struct {
    char dir[600], file[700];
} folder;

/* Makes the folder tmp_dir/name; when net is not NULL, saves it there as m.bin. */
static folder make_folder(const char *name, bn_net *net)
{
    folder f;
    snprintf(f.dir, sizeof f.dir, "%s/%s", tmp_dir, name);
    snprintf(f.file, sizeof f.file, "%s/m.bin", f.dir);
    CHECKF(mkdir(f.dir, 0700) == 0, "mkdir %s: %s", f.dir, strerror(errno));
    if (net)
        CHECKF(bn_checkpoint_save(net, NULL, f.file) == BN_OK, "%s", bn_errmsg());
    return f;
}

/* Overwrite: the second save replaces the first, and no temporary file is left behind. */
static void second_save_replaces_first(void)
{
    folder f = make_folder("over", net_a);
    CHECK(load_equals(f.file, net_a) == 0);
    CHECKF(bn_checkpoint_save(net_b, NULL, f.file) == BN_OK, "%s", bn_errmsg());
    CHECK(load_equals(f.file, net_b) == 0);
    CHECKF(hidden_entries(f.dir) == 0, "%d temporary files left in %s", hidden_entries(f.dir), f.dir);
}

/* A relative path (no folder part) writes into the current folder. */
static void relative_path_writes_here(void)
{
    folder f = make_folder("relative", NULL);
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) && chdir(f.dir) == 0) {
        CHECKF(bn_checkpoint_save(net_a, NULL, "rel.bin") == BN_OK, "%s", bn_errmsg());
        CHECK(load_equals("rel.bin", net_a) == 0);
        CHECK(chdir(cwd) == 0);
    }
}

/* Unwritable folder. Root ignores permission bits, so the check runs only where they bite. */
static void unwritable_folder_keeps_old_file(void)
{
    folder ro = make_folder("readonly", net_a);
    CHECK(chmod(ro.dir, 0500) == 0);
    char probe[700];
    snprintf(probe, sizeof probe, "%s/probe", ro.dir);
    FILE *pf = fopen(probe, "wb");
    if (pf) {
        fclose(pf);
        unlink(probe);
        printf("note: running as uid %d, which writes into a mode-0500 folder: permission check skipped\n",
               (int)geteuid());
    } else {
        int status = bn_checkpoint_save(net_b, NULL, ro.file);
        CHECKF(status == BN_E_IO, "status %d", status);
        CHECKF(strstr(bn_errmsg(), "Permission denied") && strstr(bn_errmsg(), ro.dir), "message: %s",
               bn_errmsg());
        CHECK(load_equals(ro.file, net_a) == 0);
        CHECK(hidden_entries(ro.dir) == 0);
    }
    CHECK(chmod(ro.dir, 0700) == 0);
}

/* Failures that bite everyone, root included: a parent that is a file or is missing, an empty path, a path
 * ending in '/'. */
static void bad_paths_are_refused(void)
{
    folder f = make_folder("paths", net_b);
    char under_file[760], no_dir[700], slash_end[700];
    snprintf(under_file, sizeof under_file, "%s/x.bin", f.file); /* parent is a regular file */
    int status = bn_checkpoint_save(net_a, NULL, under_file);
    CHECKF(status == BN_E_IO && strstr(bn_errmsg(), "Not a directory") && strstr(bn_errmsg(), "cannot write"),
           "status %d: %s", status, bn_errmsg());
    CHECK(load_equals(f.file, net_b) == 0);
    snprintf(no_dir, sizeof no_dir, "%s/absent/x.bin", tmp_dir);
    status = bn_checkpoint_save(net_a, NULL, no_dir);
    CHECKF(status == BN_E_IO && strstr(bn_errmsg(), "No such file or directory") && strstr(bn_errmsg(), "absent"),
           "status %d: %s", status, bn_errmsg());
    status = bn_checkpoint_save(net_a, NULL, "");
    CHECKF(status == BN_E_INVALID, "empty path: status %d", status);
    snprintf(slash_end, sizeof slash_end, "%s/", f.dir);
    CHECKF(bn_checkpoint_save(net_a, NULL, slash_end) == BN_E_INVALID, "path ending in '/'");
}

/* A folder at the path is refused before anything is written: renaming over it would fail at the end (or,
 * for an empty folder, replace it). The folder and its file stay, and no temporary file is left. */
static void folder_at_path_is_refused(void)
{
    folder f = make_folder("rename", NULL);
    char target[700], inside[760];
    snprintf(target, sizeof target, "%s/target", f.dir);
    snprintf(inside, sizeof inside, "%s/keep", target);
    CHECK(mkdir(target, 0700) == 0);
    CHECK(spit(inside, (const uint8_t *)"x", 1) == 0);
    int status = bn_checkpoint_save(net_a, NULL, target);
    CHECKF(status == BN_E_INVALID && strstr(bn_errmsg(), "is a folder") && strstr(bn_errmsg(), target),
           "status %d: %s", status, bn_errmsg());
    struct stat st;
    CHECK(stat(inside, &st) == 0 && st.st_size == 1);
    CHECKF(hidden_entries(f.dir) == 0, "%d temporary files left after a refused save", hidden_entries(f.dir));
}

/* A device is never replaced: as root, renaming over /dev/null would put a regular file in its place. */
static void device_at_path_is_refused(void)
{
    int status = bn_checkpoint_save(net_a, NULL, "/dev/null");
    CHECKF(status == BN_E_INVALID && strstr(bn_errmsg(), "a device"), "status %d: %s", status, bn_errmsg());
    struct stat st;
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
}

/* Saving through a symbolic link replaces the file it points to, keeps the link, and keeps the file's
 * permission bits. */
static void link_is_followed(void)
{
    folder f = make_folder("link", net_a);
    char link[700];
    snprintf(link, sizeof link, "%s/latest.bin", f.dir);
    CHECK(chmod(f.file, 0640) == 0);
    CHECK(symlink("m.bin", link) == 0);
    CHECKF(bn_checkpoint_save(net_b, NULL, link) == BN_OK, "%s", bn_errmsg());
    struct stat lst, st;
    CHECK(lstat(link, &lst) == 0 && S_ISLNK(lst.st_mode));
    CHECK(stat(f.file, &st) == 0 && (st.st_mode & 0777) == 0640);
    CHECK(load_equals(f.file, net_b) == 0);
    CHECKF(hidden_entries(f.dir) == 0, "%d temporary files left", hidden_entries(f.dir));
}

/* A write that fails midway (file-size limit, EFBIG: the same path as a full disk's ENOSPC): error, old file
 * intact, temp removed. SIGXFSZ would kill us, so it is ignored while the limit is on. */
static void failed_write_keeps_old_file(void)
{
    folder f = make_folder("efbig", net_a);
    struct rlimit old_limit;
    if (getrlimit(RLIMIT_FSIZE, &old_limit) != 0) {
        printf("note: getrlimit failed: the file-size check skipped\n");
        return;
    }
    struct rlimit small = old_limit;
    small.rlim_cur = 300; /* the 5-7-3 file has 716 bytes */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    int set = setrlimit(RLIMIT_FSIZE, &small);
    int status = bn_checkpoint_save(net_b, NULL, f.file);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", bn_errmsg());
    setrlimit(RLIMIT_FSIZE, &old_limit);
    signal(SIGXFSZ, old_handler);
    CHECK(set == 0);
    /* The message names the file asked for, never the hidden temporary one. */
    CHECKF(status == BN_E_IO && strstr(msg, "File too large") && strstr(msg, "/m.bin") && !strstr(msg, ".tmp."),
           "status %d: %s", status, msg);
    CHECK(load_equals(f.file, net_a) == 0);
    CHECKF(hidden_entries(f.dir) == 0, "%d temporary files left after a failed write", hidden_entries(f.dir));
}

/* /dev/full: the write helper the saver uses reports ENOSPC, for a buffered and a large write. */
static void full_disk_reports_enospc(void)
{
    static uint8_t big[1 << 20];
    FILE *full = fopen("/dev/full", "wb");
    if (!full) {
        printf("note: no /dev/full here: that check skipped\n");
        return;
    }
    CHECK(bn_write_flush(full, "abc", 3) == ENOSPC);
    clearerr(full);
    CHECK(bn_write_flush(full, big, sizeof big) == ENOSPC);
    fclose(full);
}

static void atomic_cases(void)
{
    bn_test_case("two different nets to save", make_two_nets);
    if (net_a && net_b) {
        bn_test_case("a second save replaces the first", second_save_replaces_first);
        bn_test_case("a relative path writes into the current folder", relative_path_writes_here);
        bn_test_case("an unwritable folder keeps the old file", unwritable_folder_keeps_old_file);
        bn_test_case("bad paths are refused", bad_paths_are_refused);
        bn_test_case("a folder at the path is refused", folder_at_path_is_refused);
        bn_test_case("a device at the path is refused", device_at_path_is_refused);
        bn_test_case("a link is followed to its file", link_is_followed);
        bn_test_case("a write that fails midway keeps the old file", failed_write_keeps_old_file);
        bn_test_case("a full disk is reported as ENOSPC", full_disk_reports_enospc);
    }
    bn_net_destroy(&net_a);
    bn_net_destroy(&net_b);
}

int main(void)
{
    backend = bn_backend_find("naive");
    CHECK(backend != NULL);
    if (!backend || !mkdtemp(tmp_dir)) {
        fprintf(stderr, "setup failed\n");
        return EXIT_FAILURE;
    }
    bn_test_case("round trip 5-7-3 relu", round_trip_relu);
    bn_test_case("round trip 17-1-3-2 leaky relu, adam", round_trip_leaky);
    bn_test_case("round trip 3-2 selu, adamw", round_trip_selu);
    damage_cases();
    atomic_cases();
    remove_tree(tmp_dir);
    return bn_test_exit("checkpoint");
}
