/* Hostile flags: a flag that would be ignored, or that contradicts what a model or checkpoint records about its
 * data, is refused with exit 2 and one line naming it, before anything is read or trained, never silently
 * dropped. And what a checkpoint records is inherited when no flag is given. */
#define _GNU_SOURCE /* mkdtemp */
#include "cli_run.h"
#include "data_write.h"

static char idx_dir[300], csv_train[400], csv_test[400], model[400], log_csv[400], em_dir[300], em_ck[400];

/* `blasnet args`: exit 2, one line naming `flag`, nothing on stdout (no run header, no data line). */
static void refused(const char *flag, const char *const *args)
{
    char what[256];
    snprintf(what, sizeof what, "%s with %s", args[0], flag);
    cli_result r = expect_one_error_line(what, 2, flag, args);
    CHECKF(r.out[0] == '\0', "%s: something ran first: %s", what, r.out);
    result_free(&r);
}

#define REFUSED(flag, ...) refused(flag, (const char *const[]){__VA_ARGS__, NULL})

/* An IDX folder, a CSV pair of 4x5 images, a model and its log; an EMNIST-style folder (stored transposed,
 * labels 1..5) and a checkpoint trained on it with --transpose --label-offset 1. */
static void setup(void)
{
    make_dir(idx_dir, sizeof idx_dir, "idx");
    CHECK(idxw_write_synth_pair(idx_dir, "train", 300, 28, 28, 10, 3) == 0);
    CHECK(idxw_write_synth_pair(idx_dir, "t10k", 60, 28, 28, 10, 4) == 0);
    snprintf(csv_train, sizeof csv_train, "%s/small_train.csv", root);
    snprintf(csv_test, sizeof csv_test, "%s/small_test.csv", root);
    char rows[4096] = "label";
    for (int j = 0; j < 20; j++)
        snprintf(rows + strlen(rows), sizeof rows - strlen(rows), ",p%d", j);
    for (int i = 0; i < 60; i++) {
        snprintf(rows + strlen(rows), sizeof rows - strlen(rows), "\n%d", i % 3);
        for (int j = 0; j < 20; j++)
            snprintf(rows + strlen(rows), sizeof rows - strlen(rows), ",%d", (j == i % 3 * 5) * 200 + j);
    }
    strcat(rows, "\n");
    CHECK(dw_write_text(csv_train, rows) == 0 && dw_write_text(csv_test, rows) == 0);
    snprintf(model, sizeof model, "%s/m.bin", root);
    snprintf(log_csv, sizeof log_csv, "%s/log.csv", root);
    OK_RUN("setup: train", "train", "--data", idx_dir, "--epochs", "1", "--hidden", "8", "--quiet", "--save", model,
           "--log", log_csv);
    make_dir(em_dir, sizeof em_dir, "emnist");
    const char *split[2] = {"train", "test"};
    for (int s = 0; s < 2; s++) {
        uint32_t n = s ? 60 : 300;
        uint8_t *px = malloc(n * 784u), *tr = malloc(n * 784u), *lab = malloc(n);
        idxw_synth(px, lab, n, 28, 28, 5, 7 + (uint64_t)s);
        for (uint32_t i = 0; i < n; i++) {
            lab[i]++;
            for (int k = 0; k < 784; k++)
                tr[i * 784 + (k % 28) * 28 + k / 28] = px[i * 784 + k];
        }
        char p[600];
        snprintf(p, sizeof p, "%s/emnist-%s-images-idx3-ubyte", em_dir, split[s]);
        CHECK(idxw_write_images(p, tr, n, 28, 28) == 0);
        snprintf(p, sizeof p, "%s/emnist-%s-labels-idx1-ubyte", em_dir, split[s]);
        CHECK(idxw_write_labels(p, lab, n) == 0);
        free(px), free(tr), free(lab);
    }
    snprintf(em_ck, sizeof em_ck, "%s/em.ck", root);
    OK_RUN("setup: EMNIST-style run", "train", "--data", em_dir, "--transpose", "--label-offset", "1", "--epochs", "1",
           "--hidden", "8", "--quiet", "--checkpoint", em_ck);
}

/* The data flags: --image-size where there is no CSV, --set where there is nothing to pick, --data beside file
 * flags, the training part's flags for eval, which reads the test part. */
static void ignored_data_flags(void)
{
    REFUSED("--image-size", "train", "--data", idx_dir, "--image-size", "28x28");
    REFUSED("--image-size", "eval", "--model", model, "--data", idx_dir, "--image-size", "28x28");
    REFUSED("--image-size", "data", "info", idx_dir, "--image-size", "28x28");
    REFUSED("--image-size", "data", "convert", "--data", idx_dir, "--image-size", "28x28", "--to", "csv", "--out",
            root);
    REFUSED("--set", "train", "--train-csv", csv_train, "--test-csv", csv_test, "--image-size", "4x5", "--set", "x");
    REFUSED("--set", "data", "info", csv_train, "--image-size", "4x5", "--set", "digits");
    REFUSED("--data", "train", "--data", idx_dir, "--train-csv", csv_train, "--test-csv", csv_test);
    REFUSED("--train-csv", "eval", "--model", model, "--train-csv", csv_train, "--test-csv", csv_test);
    REFUSED("--data", "data", "info", idx_dir, "--data", idx_dir);
}

/* Flags that other flags make meaningless. */
static void ignored_command_flags(void)
{
    REFUSED("--leaky-slope", "train", "--data", idx_dir, "--act", "relu", "--leaky-slope", "0.1");
    REFUSED("--init-std", "train", "--data", idx_dir, "--init", "he", "--init-std", "0.5");
    REFUSED("--plan", "train", "--data", idx_dir, "--backend", "naive", "--plan", "rows");
    REFUSED("--log-every", "train", "--data", idx_dir, "--quiet", "--log-every", "5");
    REFUSED("--errors-max", "eval", "--model", model, "--data", idx_dir, "--errors-max", "5");
    REFUSED("--smooth", "plot", log_csv, "-o", "/tmp/never.png", "--smooth", "5");
    REFUSED("--fitted", "predict", "--model", model, "--fitted", root, "-");
    REFUSED("--label-offset", "train", "--data", idx_dir, "--label-offset", "1"); /* labels from 0: exit 2 too */
}

/* What a checkpoint or model records about its data (format 3) cannot be contradicted, and is inherited. */
static void recorded_settings(void)
{
    REFUSED("--transpose", "train", "--resume", model, "--data", idx_dir, "--transpose", "--checkpoint", em_ck);
    REFUSED("--label-offset", "train", "--resume", em_ck, "--data", em_dir, "--label-offset", "2");
    REFUSED("--transpose", "eval", "--model", model, "--data", em_dir, "--transpose");
    REFUSED("--shape", "weights", "--model", model, "-o", "/tmp/never.png", "--shape", "14x56");
    char csv_ck[400];
    snprintf(csv_ck, sizeof csv_ck, "%s/csv.ck", root);
    OK_RUN("CSV run of 4x5 images", "train", "--train-csv", csv_train, "--test-csv", csv_test, "--image-size", "4x5",
           "--epochs", "1", "--hidden", "4", "--quiet", "--checkpoint", csv_ck);
    REFUSED("--image-size", "train", "--resume", csv_ck, "--train-csv", csv_train, "--test-csv", csv_test,
            "--image-size", "5x4");
    /* No flags: the checkpoint's own layout (transposed, labels from 1; 4x5 CSV images) is applied. */
    OK_RUN("resume of the EMNIST-style run with no data flags", "train", "--resume", em_ck, "--data", em_dir,
           "--epochs", "2", "--quiet");
    OK_RUN("resume of the CSV run with no --image-size", "train", "--resume", csv_ck, "--train-csv", csv_train,
           "--test-csv", csv_test, "--epochs", "2", "--quiet");
    OK_RUN("the same flags as recorded are allowed", "eval", "--model", em_ck, "--data", em_dir, "--transpose",
           "--label-offset", "1", "--brief");
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "hostile-flags"))
        return EXIT_FAILURE;
    bn_test_case("setup", setup);
    bn_test_case("data flags that would be ignored", ignored_data_flags);
    bn_test_case("command flags that would be ignored", ignored_command_flags);
    bn_test_case("settings a model records", recorded_settings);
    bn_test_remove_tree(root);
    return bn_test_exit("hostile_flags");
}
