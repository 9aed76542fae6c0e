/* The wisdom file, as the CLI keeps it (src/cli/plans.c): the one test that runs without BLASNET_WISDOM=off.
 * Each case points BLASNET_WISDOM at a file of its own under the test's folder. A first run measures and
 * keeps, saying so in one line; the next measures nothing and trains to the same bits; `tune` measures
 * ahead; a damaged, oversized or unwritable file is said and planned without; a resume under other plans
 * says its last bits may differ. */
#include "cli_run.h"
#include "wisdom.h"

#include <stdlib.h>

static char data[300];

static void use_wisdom(const char *name, char *path, size_t size)
{
    if (name) {
        snprintf(path, size, "%s/%s", root, name);
        setenv("BLASNET_WISDOM", path, 1);
    } else {
        unsetenv("BLASNET_WISDOM");
    }
}

/* A short run of 2 threads (plans on one thread have nothing to choose). */
static cli_result train(const char *save, const char *extra, const char *extra_value)
{
    const char *args[] = {"train", "--data", data, "--hidden", "32", "--epochs", "1", "--batch", "16", "--threads",
                          "2", "--quiet", "--save", save, extra, extra_value, NULL};
    return run_argv(args);
}

/* Whether two saved models hold the same parameters, bit for bit (the files differ in their times). */
static bool same_weights(const char *a, const char *b)
{
    bn_net *x = NULL, *y = NULL;
    bn_train_state sx, sy;
    bool same = bn_checkpoint_load(&x, &sx, a, 0, bn_backend_find("blas")) == BN_OK &&
                bn_checkpoint_load(&y, &sy, b, 0, bn_backend_find("blas")) == BN_OK;
    size_t nx = 0, ny = 0;
    const float *px = same ? bn_net_params_const(x, &nx) : NULL, *py = same ? bn_net_params_const(y, &ny) : NULL;
    same = same && nx == ny && memcmp(px, py, nx * sizeof *px) == 0;
    bn_net_destroy(&x), bn_net_destroy(&y);
    return same;
}

static void measured_once_then_kept(void)
{
    char wisdom[512], m1[512], m2[512];
    use_wisdom("cache/blasnet/wisdom", wisdom, sizeof wisdom); /* its folders are made */
    file_in(m1, sizeof m1, root, "m1.bn");
    file_in(m2, sizeof m2, root, "m2.bn");
    cli_result first = train(m1, NULL, NULL), second = train(m2, NULL, NULL);
    no_crash("first run", &first);
    no_crash("second run", &second);
    CHECKF(first.code == 0 && lines_with(first.err, "plans measured on this machine") == 1 &&
               strstr(first.err, wisdom),
           "first run: exit %d, stderr:\n%s", first.code, first.err);
    CHECKF(second.code == 0 && !strstr(second.err, "measured"), "second run measured again:\n%s", second.err);
    char *digest1 = strstr(first.out, "digest "), *digest2 = strstr(second.out, "digest ");
    CHECKF(digest1 && digest2 && strncmp(digest1, digest2, 23) == 0, "the runs' digests differ:\n%s\n%s", first.out,
           second.out);
    CHECKF(strstr(first.out, "plans: tuned, from ") != NULL, "header: %s", first.out);
    CHECKF(same_weights(m1, m2), "the run from kept plans trained other bits than the run that measured them");
    size_t size = 0;
    uint8_t *text = idxw_read_all(wisdom, &size);
    CHECKF(text && size > 0 && memcmp(text, "# blasnet wisdom", 16) == 0, "the file %s was not written", wisdom);
    free(text);
    struct stat st;
    char folder[512];
    snprintf(folder, sizeof folder, "%s/cache/blasnet", root);
    CHECKF(stat(folder, &st) == 0 && (st.st_mode & 0777) == 0700, "the cache folder is not private (mode %o)",
           (unsigned)(st.st_mode & 0777));
    result_free(&first), result_free(&second);
}

static void tune_measures_ahead(void)
{
    char wisdom[512], model[512];
    use_wisdom("tuned", wisdom, sizeof wisdom);
    file_in(model, sizeof model, root, "tuned.bn");
    /* 1200 images, 200 for validation (the CLI's sixth): train's shapes at batch 16 */
    const char *tune[] = {"tune", "--layers", "784,32,10", "--batch", "16", "--samples", "1000", "--val", "200",
                          "--test", "100", "--threads", "2", NULL};
    cli_result t = run_argv(tune), again = run_argv(tune), run = train(model, NULL, NULL);
    CHECKF(t.code == 0 && lines_with(t.err, "plans measured") == 1, "tune: exit %d\n%s", t.code, t.err);
    CHECKF(again.code == 0 && strstr(again.out, "nothing to measure"), "tune again: %s%s", again.out, again.err);
    CHECKF(run.code == 0 && !strstr(run.err, "measured"), "the run after tune measured:\n%s", run.err);
    const char *bad[] = {"tune", "--batch", "16,x", NULL};
    expect_usage_error("--batch", bad);
    result_free(&t), result_free(&again), result_free(&run);
}

static void damaged_or_unwritable_files(void)
{
    char wisdom[512], model[512];
    file_in(model, sizeof model, root, "d.bn");
    /* A damaged file blasnet wrote (its first line says so) is measured again and rewritten. */
    use_wisdom("damaged", wisdom, sizeof wisdom);
    const char ours[] = "# blasnet wisdom: cut short\nblasnet-wisdom 1\nproduct zz\n";
    CHECK(idxw_write_bytes(wisdom, ours, sizeof ours - 1) == 0);
    cli_result r = train(model, NULL, NULL);
    CHECKF(r.code == 0 && strstr(r.err, "is damaged (line 3") && strstr(r.err, "plans measured"),
           "damaged file: exit %d\n%s", r.code, r.err);
    size_t size = 0;
    uint8_t *text = idxw_read_all(wisdom, &size);
    CHECKF(text && size > sizeof ours && memcmp(text, "# blasnet wisdom:", 17) == 0,
           "the damaged file was not rewritten");
    free(text);
    result_free(&r);
    /* Any other file named by BLASNET_WISDOM is the user's: planned without, measured in memory, untouched. */
    use_wisdom("notes.txt", wisdom, sizeof wisdom);
    const char notes[] = "my notes, not wisdom\n";
    CHECK(idxw_write_bytes(wisdom, notes, sizeof notes - 1) == 0);
    r = train(model, NULL, NULL);
    text = idxw_read_all(wisdom, &size);
    CHECKF(r.code == 0 && strstr(r.err, "not a file blasnet wrote") && strstr(r.err, "kept in memory only"),
           "a file of the user's: exit %d\n%s", r.code, r.err);
    CHECKF(text && size == sizeof notes - 1 && memcmp(text, notes, size) == 0, "the user's file was changed");
    free(text);
    result_free(&r);
    /* Over the cap: refused unread. */
    use_wisdom("huge", wisdom, sizeof wisdom);
    size_t huge = (size_t)BN_WISDOM_MAX_BYTES + 1;
    char *hashes = malloc(huge);
    memset(hashes, '#', huge);
    CHECK(idxw_write_bytes(wisdom, hashes, huge) == 0);
    free(hashes);
    r = train(model, NULL, NULL);
    CHECKF(r.code == 0 && strstr(r.err, "warning") && strstr(r.err, "planned without it") &&
               strstr(r.err, "plans measured"), "huge file:\n%s", r.err);
    result_free(&r);
    /* A folder that cannot be made (a file is in its way): measured, used, kept in memory only. */
    use_wisdom("a-file/wisdom", wisdom, sizeof wisdom);
    char blocker[512];
    file_in(blocker, sizeof blocker, root, "a-file");
    CHECK(idxw_write_bytes(blocker, "x", 1) == 0);
    r = train(model, NULL, NULL);
    CHECKF(r.code == 0 && strstr(r.err, "kept in memory only"), "unwritable: exit %d\n%s", r.code, r.err);
    result_free(&r);
    /* tune measures in order to keep: there, a wisdom it cannot write fails it */
    const char *tune[] = {"tune", "--layers", "784,8,10", "--batch", "8", "--threads", "2", NULL};
    r = run_argv(tune);
    CHECKF(r.code == 1 && lines_with(r.err, "kept in memory only") == 1, "tune, unwritable: exit %d\n%s", r.code,
           r.err);
    result_free(&r);
}

static void off_and_forced_plans_read_nothing(void)
{
    char wisdom[512], model[512];
    file_in(model, sizeof model, root, "off.bn");
    use_wisdom("never", wisdom, sizeof wisdom);
    cli_result forced = train(model, "--plan", "estimate");
    setenv("BLASNET_WISDOM", "off", 1);
    cli_result off = train(model, NULL, NULL);
    struct stat st;
    CHECKF(stat(wisdom, &st) != 0, "--plan estimate wrote %s", wisdom);
    CHECKF(forced.code == 0 && strstr(forced.out, "plans: estimate (--plan)"), "forced: %s%s", forced.out, forced.err);
    CHECKF(off.code == 0 && strstr(off.out, "plans: estimate (BLASNET_WISDOM=off)") && !strstr(off.err, "measured"),
           "off: %s%s", off.out, off.err);
    result_free(&forced), result_free(&off);
}

static void info_says_where_plans_come_from(void)
{
    char wisdom[512];
    use_wisdom("cache/blasnet/wisdom", wisdom, sizeof wisdom);
    const char *info[] = {"info", "--layers", "784,32,10", "--batch", "16", "--threads", "2", NULL};
    cli_result r = run_argv(info);
    char want[600];
    snprintf(want, sizeof want, "tuned, from %s; digest ", wisdom);
    CHECKF(r.code == 0 && strstr(r.out, want) && !strstr(r.err, "measured"), "info: %s%s", r.out, r.err);
    result_free(&r);
}

static void resume_under_other_plans_says_so(void)
{
    char ck[512], model[512];
    unsetenv("BLASNET_WISDOM");
    setenv("BLASNET_WISDOM", "off", 1);
    file_in(ck, sizeof ck, root, "ck.bin");
    file_in(model, sizeof model, root, "r.bn");
    const char *first[] = {"train", "--data", data, "--hidden", "32", "--epochs", "1", "--batch", "16", "--threads",
                           "2", "--quiet", "--plan", "one", "--checkpoint", ck, NULL};
    cli_result a = run_argv(first);
    const char *same[] = {"train", "--data", data, "--resume", ck, "--epochs", "2", "--threads", "2", "--quiet", "--plan", "one",
                          "--checkpoint", ck, NULL};
    cli_result b = run_argv(same);
    const char *other[] = {"train", "--data", data, "--resume", ck, "--epochs", "3", "--threads", "2", "--quiet", "--plan",
                           "library", "--save", model, NULL};
    cli_result c = run_argv(other);
    CHECKF(a.code == 0 && b.code == 0 && !strstr(b.err, "other plans"), "same plans: %d %d\n%s", a.code, b.code,
           b.err);
    CHECKF(c.code == 0 && lines_with(c.err, "was trained with other plans") == 1, "other plans: exit %d\n%s", c.code,
           c.err);
    result_free(&a), result_free(&b), result_free(&c);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "plans"))
        return EXIT_FAILURE;
    make_dir(data, sizeof data, "data");
    CHECK(idxw_write_synth_pair(data, "train", 1200, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(data, "t10k", 100, 28, 28, 10, 2) == 0);
    unsetenv("BLASNET_PLAN");
    bn_test_case("a first run measures and keeps; the next measures nothing, same bits", measured_once_then_kept);
    bn_test_case("tune measures a run's shapes ahead of it", tune_measures_ahead);
    bn_test_case("damaged, oversized and unwritable files are said, and planned without", damaged_or_unwritable_files);
    bn_test_case("BLASNET_WISDOM=off and --plan read and write no file", off_and_forced_plans_read_nothing);
    bn_test_case("info says where the plans come from", info_says_where_plans_come_from);
    bn_test_case("a resume under other plans says its last bits may differ", resume_under_other_plans_says_so);
    if (!bn_test_failures)
        bn_test_remove_tree(root);
    else
        fprintf(stderr, "files kept in %s\n", root);
    return bn_test_exit("plans");
}
