/* Checkpoints written before a change still load and resume. tests/data/v1-midrun.ckpt is a format-1 file
 * written by blasnet 0.1.0 (commit d92e900) on this project's synthetic data: 64-12-4 tanh, batch 16,
 * lr 0.05, momentum 0.9 (Nesterov), weight decay 1e-3, lr decay 0.9, seed 7, Xavier, 3 epochs, stopped at
 * epoch 2 step 7 of 10 on idxw_synth(200 samples, 8x8, 4 classes, seed 11), the first 160 for training and
 * the last 40 for validation. It must load bit for bit, and resuming it to the end must give bitwise the
 * same weights whether or not the run is stopped and resumed once more on the way. */
#include "harness.h"
#include "net.h"
#include "idx_write.h"

#include "blasnet.h"

#include <string.h>

#define FIXTURE BN_SOURCE_ROOT "/tests/data/v1-midrun.ckpt"
#define SAMPLES 200
#define TRAIN 160

static uint8_t pixels[SAMPLES * 64], labels[SAMPLES];
static bn_dataset train, val;
static char tmpdir[256];

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Every stored float, decoded from the file's own bytes, equals the loaded one: W then b per layer, the
 * parameters, then the velocity (docs/checkpoint-format.md). */
static void check_floats_match_file(bn_net *net, const uint8_t *file)
{
    const bn_arch *arch = bn_net_arch(net);
    const uint8_t *p = file + 20 + 4 * (arch->depth + 1) + 152;
    size_t n, mismatches = 0;
    float *blocks[2] = {bn_net_params(net, &n), bn_net_velocity(net, &n)};
    for (int b = 0; b < 2; b++)
        for (int l = 0; l < arch->depth; l++) {
            size_t offsets[2] = {bn_net_weight_offset(net, l), bn_net_bias_offset(net, l)};
            size_t counts[2] = {(size_t)arch->sizes[l] * arch->sizes[l + 1], (size_t)arch->sizes[l + 1]};
            for (int t = 0; t < 2; t++)
                for (size_t i = 0; i < counts[t]; i++, p += 4) {
                    uint32_t bits = le32(p), got;
                    memcpy(&got, blocks[b] + offsets[t] + i, 4);
                    mismatches += got != bits;
                }
        }
    CHECKF(mismatches == 0, "%zu loaded floats differ from the file's bytes", mismatches);
}

static void fixture_loads(void)
{
    size_t size;
    uint8_t *file = idxw_read_all(FIXTURE, &size);
    CHECKF(file != NULL, "cannot read %s", FIXTURE);
    bn_net *net = NULL;
    bn_train_state st;
    int status = bn_checkpoint_load(&net, &st, FIXTURE, 0, bn_backend_find("blas"));
    CHECKF(status == BN_OK, "load: %s", bn_errmsg());
    if (status || !file) {
        free(file);
        return;
    }
    char desc[64];
    CHECK(strcmp(bn_arch_format(bn_net_arch(net), desc, sizeof desc), "64-12-4") == 0);
    CHECK(bn_net_arch(net)->act == BN_ACT_TANH);
    CHECK(st.hp.epochs == 3 && st.hp.batch == 16 && st.hp.seed == 7 && st.hp.init == BN_INIT_XAVIER);
    CHECK(st.hp.opt.lr == 0.05f && st.hp.opt.momentum == 0.9f && st.hp.opt.weight_decay == 1e-3f);
    CHECK(st.hp.opt.nesterov && st.hp.lr_decay == 0.9f);
    CHECK(st.epoch == 1 && st.step == 7 && st.train_n == TRAIN && bn_train_started(&st));
    check_floats_match_file(net, file);
    bn_net_destroy(&net);
    free(file);
}

static volatile int stop_flag;

static void stop_at_step_22(void *ctx, const bn_progress *p)
{
    (void)ctx;
    if (p->global_step == 22)
        stop_flag = 1;
}

/* Loads path and trains to the end, optionally with hooks; returns the network (NULL on failure). */
static bn_net *resume(const char *path, const bn_train_hooks *hooks, int want_status)
{
    bn_net *net = NULL;
    bn_train_state st;
    CHECKF(bn_checkpoint_load(&net, &st, path, 0, bn_backend_find("blas")) == BN_OK, "%s", bn_errmsg());
    if (!net)
        return NULL;
    int status = bn_train(net, &train, &val, hooks, &st);
    CHECKF(status == want_status, "resume %s: status %d (%s)", path, status, bn_errmsg());
    return net;
}

static bool same_blocks(bn_net *a, bn_net *b)
{
    size_t na, nb;
    const float *pa = bn_net_params(a, &na), *pb = bn_net_params(b, &nb);
    const float *va = bn_net_velocity(a, &na), *vb = bn_net_velocity(b, &nb);
    return na == nb && memcmp(pa, pb, na * sizeof *pa) == 0 && memcmp(va, vb, na * sizeof *va) == 0;
}

static void fixture_resumes_bitwise(void)
{
    bn_net *straight = resume(FIXTURE, NULL, BN_OK);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/again.ck", tmpdir);
    const bn_train_hooks hooks = {.on_progress = stop_at_step_22, .progress_every = 1, .stop = &stop_flag,
                                  .checkpoint_path = ck};
    bn_net *stopped = resume(FIXTURE, &hooks, BN_E_INTERRUPTED);
    bn_net *again = resume(ck, NULL, BN_OK);
    CHECKF(straight && again && same_blocks(straight, again),
           "resumed straight to the end and resumed with a stop between differ");
    bn_net_destroy(&straight);
    bn_net_destroy(&stopped);
    bn_net_destroy(&again);
}

int main(void)
{
    if (!bn_test_tmpdir(tmpdir, sizeof tmpdir, "v1"))
        return 1;
    idxw_synth(pixels, labels, SAMPLES, 8, 8, 4, 11);
    bn_dataset all = {.pixels = pixels, .labels = labels, .n = SAMPLES, .rows = 8, .cols = 8, .dim = 64};
    train = bn_dataset_slice(&all, 0, TRAIN);
    val = bn_dataset_slice(&all, TRAIN, SAMPLES - TRAIN);
    bn_test_case("a version-1 checkpoint loads bit for bit", fixture_loads);
    bn_test_case("a version-1 checkpoint resumes to the same bits with or without a stop", fixture_resumes_bitwise);
    bn_test_remove_tree(tmpdir);
    return bn_test_exit("v1_fixture");
}
