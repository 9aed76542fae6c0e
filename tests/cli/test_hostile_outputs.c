/* Hostile outputs: for every command that writes, an output aimed at one of its inputs (through a symbolic
 * link, a hard link, or by the same name) is refused with exit 2 and one line, before anything is read or
 * run, and the input keeps every byte; so are two outputs on one file, an output in a missing folder or an
 * unwritable one (skipped as root, which writes anywhere), and an output that is a device. The cases that
 * must stay allowed (--checkpoint into its own --resume file) still run. */
#define _GNU_SOURCE /* mkdtemp */
#include "cli_run.h"
#include "data_write.h"

#include <dirent.h>

static char data[300], run[300], model[400], epoch_log[400], steps_log[400], ck[400], picture[400];

/* What a file holds, to show it kept every byte. */
typedef struct {
    uint8_t *bytes;
    size_t size;
} snapshot;

static snapshot take(const char *path)
{
    snapshot s = {0};
    s.bytes = idxw_read_all(path, &s.size);
    CHECKF(s.bytes != NULL, "cannot read %s", path);
    return s;
}

static void same_as(const char *what, const char *path, snapshot *s)
{
    size_t size = 0;
    uint8_t *now = idxw_read_all(path, &size);
    CHECKF(now && s->bytes && size == s->size && memcmp(now, s->bytes, size) == 0, "%s: %s changed (%zu -> %zu bytes)",
           what, path, s->size, size);
    free(now);
    free(s->bytes);
}

/* Hidden files (temporary files start with '.') left in dir. */
static int hidden_in(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

/* args refused with exit 2 and one line naming `named`, nothing on stdout, `kept` unchanged and no temporary
 * file left in its folder. */
static void refused(const char *what, const char *named, const char *kept, const char *const *args)
{
    snapshot before = take(kept);
    cli_result r = expect_one_error_line(what, 2, named, args);
    CHECKF(r.out[0] == '\0', "%s: something ran before the refusal: %s", what, r.out);
    same_as(what, kept, &before);
    char folder[400];
    snprintf(folder, sizeof folder, "%s", kept);
    *strrchr(folder, '/') = '\0';
    CHECKF(hidden_in(folder) == 0, "%s: %d temporary files left in %s", what, hidden_in(folder), folder);
    result_free(&r);
}

#define REFUSED(what, named, kept, ...) refused(what, named, kept, (const char *const[]){__VA_ARGS__, NULL})

/* link_path becomes a symbolic (soft) or hard link to target. */
static const char *link_to(const char *target, const char *name, bool soft)
{
    static char path[8][400];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 400, "%s/%s", run, name);
    unlink(p);
    CHECKF((soft ? symlink(target, p) : link(target, p)) == 0, "link %s -> %s: %s", p, target, strerror(errno));
    return p;
}

/* A small data set, a model, its logs and checkpoint, and a picture: the inputs the cases aim at. */
static void setup(void)
{
    make_dir(data, sizeof data, "data");
    make_dir(run, sizeof run, "run");
    CHECK(idxw_write_synth_pair(data, "train", 300, 28, 28, 10, 5) == 0);
    CHECK(idxw_write_synth_pair(data, "t10k", 60, 28, 28, 10, 6) == 0);
    snprintf(model, sizeof model, "%s/model.bin", run);
    snprintf(epoch_log, sizeof epoch_log, "%s/epochs.csv", run);
    snprintf(steps_log, sizeof steps_log, "%s/steps.csv", run);
    snprintf(ck, sizeof ck, "%s/run.ck", run);
    snprintf(picture, sizeof picture, "%s/seven.pgm", run);
    OK_RUN("setup train", "train", "--data", data, "--epochs", "1", "--hidden", "8", "--quiet", "--threads", "1",
           "--save", model, "--log", epoch_log, "--log-steps", steps_log, "--checkpoint", ck);
    char pgm[64 + 28 * 28];
    int head = snprintf(pgm, sizeof pgm, "P5\n28 28\n255\n");
    for (int i = 0; i < 28 * 28; i++)
        pgm[head + i] = (char)(i % 28 == 14 ? 0 : 255);
    CHECK(idxw_write_bytes(picture, pgm, (size_t)head + 28 * 28) == 0);
}

static void train_outputs_onto_inputs(void)
{
    char images[400], labels[400];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", data);
    snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte", data);
    REFUSED("--save by symlink onto the training images", "the training images", images, "train", "--data", data,
            "--save", link_to(images, "soft.bin", true));
    REFUSED("--log by hard link onto the test labels", "the test labels", labels, "train", "--data", data, "--log",
            link_to(labels, "hard.csv", false));
    REFUSED("--log-steps onto --resume", "--resume", ck, "train", "--resume", ck, "--data", data, "--log-steps",
            link_to(ck, "ck-link.csv", true));
    REFUSED("--save onto --resume", "--resume", ck, "train", "--resume", ck, "--data", data, "--save", ck);
    REFUSED("--save by hard link onto --resume", "--save", ck, "train", "--resume", ck, "--data", data, "--save",
            link_to(ck, "ck-hard.bin", false));
    REFUSED("--checkpoint onto the training images", "--checkpoint", images, "train", "--data", data, "--checkpoint",
            images);
}

static void eval_outputs_onto_inputs(void)
{
    char model_txt[400], errors_png[400];
    snprintf(model_txt, sizeof model_txt, "%s", link_to(model, "ev.txt", false));
    snprintf(errors_png, sizeof errors_png, "%s/ev.png", run);
    /* The case: the list beside --errors PNG is the model. */
    REFUSED("the --errors list onto --model", "--errors list", model, "eval", "--model", model_txt, "--data", data,
            "--errors", errors_png);
    REFUSED("--confusion-csv by symlink onto --model", "--model", model, "eval", "--model", model, "--data", data,
            "--confusion-csv", link_to(model, "cm.csv", true));
    char images[400];
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte", data);
    REFUSED("--errors by hard link onto the test images", "the test images", images, "eval", "--model", model,
            "--data", data, "--errors", link_to(images, "err.png", false));
}

static void other_commands_outputs_onto_inputs(void)
{
    REFUSED("plot -o by symlink onto EPOCH_CSV", "EPOCH_CSV", epoch_log, "plot", epoch_log, "--steps", steps_log, "-o",
            link_to(epoch_log, "curves.png", true));
    REFUSED("plot -o by hard link onto --steps", "--steps", steps_log, "plot", epoch_log, "--steps", steps_log, "-o",
            link_to(steps_log, "curves2.png", false));
    REFUSED("weights -o onto --model", "--model", model, "weights", "--model", model, "-o",
            link_to(model, "w.png", false));
    char fitted[400];
    make_dir(fitted, sizeof fitted, "fitted");
    char target[500];
    snprintf(target, sizeof target, "%s/seven.fitted.png", fitted);
    CHECK(link(model, target) == 0);
    REFUSED("predict --fitted onto --model", "--fitted", model, "predict", "--model", model, "--fitted", fitted,
            picture);
    unlink(target);
    link_to(picture, "seven.fitted.png", false); /* where --fitted would put seven.pgm's picture */
    REFUSED("predict --fitted onto IMAGE", "IMAGE", picture, "predict", "--model", model, "--fitted", run, picture);
}

/* The case: convert into the folder it reads, which would replace the originals. */
static void convert_onto_its_data(void)
{
    char images[400], csv_dir[300], train_csv[400];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte", data);
    REFUSED("data convert --to idx --out DATA", "the training images", images, "data", "convert", "--data", data,
            "--transpose", "--to", "idx", "--out", data);
    make_dir(csv_dir, sizeof csv_dir, "csv");
    OK_RUN("convert to csv", "data", "convert", "--data", data, "--to", "csv", "--out", csv_dir);
    snprintf(train_csv, sizeof train_csv, "%s/train.csv", csv_dir);
    REFUSED("data convert --to csv --out CSV_DIR", "the training CSV", train_csv, "data", "convert", "--data",
            train_csv, "--transpose", "--to", "csv", "--out", csv_dir);
}

static void two_outputs_on_one_file(void)
{
    char both[400], other[400];
    snprintf(both, sizeof both, "%s/both.csv", run);
    snprintf(other, sizeof other, "%s/../run/both.csv", run);
    REFUSED("--log and --log-steps on one file", "--log-steps", model, "train", "--data", data, "--log", both,
            "--log-steps", other);
    REFUSED("--save and --checkpoint on one file", "--checkpoint", model, "train", "--data", data, "--save", both,
            "--checkpoint", both);
    CHECK(idxw_write_bytes(both, "x", 1) == 0);
    REFUSED("--save and --log on one file by hard link", "--log", model, "train", "--data", data, "--save", both,
            "--log", link_to(both, "both-hard.csv", false));
    REFUSED("--confusion-csv and the --errors list on one file", "--errors", model, "eval", "--model", model,
            "--data", data, "--confusion-csv", link_to(both, "cm.txt", true), "--errors",
            link_to(both, "cm.png", false));
}

/* Every command that writes, into a folder that does not exist: refused before any data is read. */
static void missing_folders(void)
{
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no-such-folder/out.bin", run);
    REFUSED("train --save", "no-such-folder", model, "train", "--data", data, "--save", missing);
    REFUSED("train --checkpoint", "no-such-folder", model, "train", "--data", data, "--checkpoint", missing);
    REFUSED("train --log", "no-such-folder", model, "train", "--data", data, "--log", missing);
    REFUSED("train --log-steps", "no-such-folder", model, "train", "--data", data, "--log-steps", missing);
    REFUSED("eval --confusion-csv", "no-such-folder", model, "eval", "--model", model, "--data", data,
            "--confusion-csv", missing);
    REFUSED("eval --errors", "no-such-folder", model, "eval", "--model", model, "--data", data, "--errors", missing);
    REFUSED("plot -o", "no-such-folder", model, "plot", epoch_log, "-o", missing);
    REFUSED("weights -o", "no-such-folder", model, "weights", "--model", model, "-o", missing);
    REFUSED("moons -o", "no-such-folder", model, "moons", "-o", missing);
    snprintf(missing, sizeof missing, "%s/no-such-folder", run);
    REFUSED("predict --fitted", "no-such-folder", model, "predict", "--model", model, "--fitted", missing, picture);
    snprintf(missing, sizeof missing, "%s/no-such-folder/deeper", run);
    REFUSED("data convert --out", "no-such-folder", model, "data", "convert", "--data", data, "--to", "csv", "--out",
            missing);
}

/* A device is not a file to replace: renaming over /dev/null as root would put a regular file in its place. */
static void device_outputs(void)
{
    REFUSED("--log /dev/null", "/dev/null", model, "train", "--data", data, "--log", "/dev/null");
    REFUSED("weights -o /dev/null", "/dev/null", model, "weights", "--model", model, "-o", "/dev/null");
    struct stat st;
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    char dangling[400];
    snprintf(dangling, sizeof dangling, "%s/dangling.bin", run);
    CHECK(symlink("nowhere/at/all.bin", dangling) == 0);
    REFUSED("--save onto a dangling link", "dangling", model, "train", "--data", data, "--save", dangling);
    /* Checkpoints go back into the --resume file unless --checkpoint says otherwise: not into a device. */
    REFUSED("--resume from a device, no --checkpoint", "--checkpoint FILE", model, "train", "--data", data,
            "--resume", "/dev/zero");
}

static void unwritable_folder(void)
{
    char ro[300], out[400], probe[400];
    make_dir(ro, sizeof ro, "readonly");
    CHECK(chmod(ro, 0500) == 0);
    snprintf(probe, sizeof probe, "%s/probe", ro);
    if (access(ro, W_OK) == 0) {
        printf("note: running as uid %d, which writes into a mode-0500 folder: the unwritable case skipped\n",
               (int)geteuid());
    } else {
        snprintf(out, sizeof out, "%s/m.bin", ro);
        REFUSED("--save into a read-only folder", "not writable", model, "train", "--data", data, "--save", out);
    }
    CHECK(chmod(ro, 0700) == 0);
}

/* What must stay allowed: --checkpoint into the --resume file (the atomic replace keeps it whole until it
 * has been read), and a resume that checkpoints into its own file by default. */
static void allowed_cases(void)
{
    char more[400];
    snprintf(more, sizeof more, "%s/more.ck", run);
    OK_RUN("resume into its own checkpoint", "train", "--resume", ck, "--checkpoint", ck, "--data", data, "--epochs",
           "2", "--quiet", "--threads", "1");
    OK_RUN("resume, checkpointing by default", "train", "--resume", ck, "--data", data, "--epochs", "3", "--quiet",
           "--threads", "1", "--save", more);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "hostile-outputs"))
        return EXIT_FAILURE;
    bn_test_case("setup", setup);
    bn_test_case("train's outputs onto its inputs", train_outputs_onto_inputs);
    bn_test_case("eval's outputs onto its inputs", eval_outputs_onto_inputs);
    bn_test_case("plot, weights and predict outputs onto their inputs", other_commands_outputs_onto_inputs);
    bn_test_case("data convert onto its data", convert_onto_its_data);
    bn_test_case("two outputs on one file", two_outputs_on_one_file);
    bn_test_case("outputs in missing folders", missing_folders);
    bn_test_case("outputs that are devices or dangling links", device_outputs);
    bn_test_case("an unwritable folder", unwritable_folder);
    bn_test_case("allowed cases still run", allowed_cases);
    bn_test_remove_tree(root);
    return bn_test_exit("hostile_outputs");
}
