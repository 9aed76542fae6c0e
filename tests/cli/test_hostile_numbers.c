/* Hostile numbers: every numeric flag of every command, found by reading the commands' own --help (so a flag
 * added later is tried too), refuses values that wrap (4294967297 is not 1), overflow, underflow to zero,
 * carry junk, or leave its range, with exit 2 and one line that names the flag; and so do the benchmark
 * programs' numbers. */
#define _GNU_SOURCE /* mkdtemp */
#include "cli_run.h"

#include <regex.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#ifndef BN_BENCH_DIR
#error "BN_BENCH_DIR must name the folder of the built benchmark programs (tests/meson.build passes it)"
#endif

/* What every numeric flag refuses, whatever its kind (integer, 64-bit count, float, RxC): nothing, junk, a
 * double that no float holds, an underflow to 0, NaN, a huge negative. */
static const char *const any_bad[] = {"", "12abc", "1e39", "1e-50", "nan", "-99999999999999999999999", " 5x"};
/* Integers wrap at 2^32 where they are parsed into an int: every int flag's range ends below it. */
static const char *const int_bad[] = {"4294967297", "99999999999999999999", "-4294967295", "7.5"};
/* The 64-bit counts (--seed, --warmup, --checkpoint-steps): beyond 2^64, signed, another base. */
static const char *const u64_bad[] = {"18446744073709551616", "-1", " -1", "0x10", "1e3"};
/* RxC: each side wraps, is missing, or the area is too large. */
static const char *const shape_bad[] = {"4294967324x28", "28x", "x28", "100000x100000", "28x28x3", "-28x28", "0x5"};

static const char *const u64_flags[] = {"seed", "warmup", "checkpoint-steps"};

static bool is_u64(const char *flag)
{
    for (size_t i = 0; i < ARRAY_LEN(u64_flags); i++)
        if (strcmp(flag, u64_flags[i]) == 0)
            return true;
    return false;
}

/* cmd (and sub, for data) with --flag value: exit 2, one line naming --flag. */
static void try_value(const char *cmd, const char *sub, const char *flag, const char *value)
{
    char named[80];
    snprintf(named, sizeof named, "--%s", flag);
    const char *args[6] = {cmd};
    int n = 1;
    if (sub)
        args[n++] = sub;
    args[n++] = named;
    args[n++] = value;
    args[n] = NULL;
    expect_usage_error(named, args);
}

static int tried;

/* Every value a flag of that placeholder must refuse. */
static void try_flag(const char *cmd, const char *sub, const char *flag, const char *placeholder)
{
    bool shape = strchr(placeholder, 'x') != NULL;
    for (size_t i = 0; i < ARRAY_LEN(any_bad); i++)
        try_value(cmd, sub, flag, any_bad[i]);
    if (shape)
        for (size_t i = 0; i < ARRAY_LEN(shape_bad); i++)
            try_value(cmd, sub, flag, shape_bad[i]);
    else if (is_u64(flag))
        for (size_t i = 0; i < ARRAY_LEN(u64_bad); i++)
            try_value(cmd, sub, flag, u64_bad[i]);
    else if (strcmp(placeholder, "F") != 0 && strcmp(placeholder, "C") != 0 && strcmp(flag, "dropout") != 0 &&
             strcmp(flag, "target-acc") != 0) /* the float flags take 7.5 and -4294967295 may be out of range */
        for (size_t i = 0; i < ARRAY_LEN(int_bad); i++)
            try_value(cmd, sub, flag, int_bad[i]);
    tried++;
}

/* Every "--flag N" (F, K, P, C, S, RxC, WxH) in the command's --help, once each. */
static void every_numeric_flag(const char *cmd, const char *sub)
{
    cli_result r = sub ? RUN(cmd, sub, "--help") : RUN(cmd, "--help");
    CHECKF(r.code == 0, "%s --help: exit %d", cmd, r.code);
    regex_t re;
    CHECK(regcomp(&re, "--([a-z0-9-]+) (N|F|K|P|C|S|RxC|WxH)([^A-Za-z]|$)", REG_EXTENDED) == 0);
    char seen[2048] = " ";
    regmatch_t m[3];
    for (const char *p = r.out; regexec(&re, p, 3, m, 0) == 0; p += m[0].rm_eo) {
        char flag[64], placeholder[8], key[72];
        snprintf(flag, sizeof flag, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
        snprintf(placeholder, sizeof placeholder, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), p + m[2].rm_so);
        snprintf(key, sizeof key, " %s ", flag);
        if (strstr(seen, key))
            continue;
        snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s ", flag);
        try_flag(cmd, sub, flag, placeholder);
    }
    regfree(&re);
    result_free(&r);
}

static void cli_commands(void)
{
    static const char *const commands[][2] = {{"train", NULL},   {"eval", NULL},  {"predict", NULL},
                                              {"plot", NULL},    {"weights", NULL}, {"moons", NULL},
                                              {"info", NULL},    {"data", "info"}, {"data", "convert"}};
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        every_numeric_flag(commands[i][0], commands[i][1]);
    /* A floor, so that a --help that stops listing its flags does not pass by trying none. */
    CHECKF(tried >= 45, "only %d numeric flags found in the commands' --help", tried);
}

/* A benchmark program with one flag and value: exit 2 and a line naming the flag. */
static void bench_refuses(const char *program, const char *flag, const char *value)
{
    char exe[512];
    snprintf(exe, sizeof exe, "%s/%s", BN_BENCH_DIR, program);
    if (access(exe, X_OK) != 0) {
        printf("note: %s not built here: skipped\n", exe);
        return;
    }
    char out[600], err[600], cmd[2048];
    snprintf(out, sizeof out, "%s/bench.out", root);
    snprintf(err, sizeof err, "%s/bench.err", root);
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' > '%s' 2> '%s'", exe, flag, value, out, err);
    int status = system(cmd);
    char *text = slurp(err);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s %s '%s': status %d, want exit 2: %s", program, flag,
           value, status, text);
    CHECKF(strstr(text, flag) != NULL, "%s %s '%s': the message does not name %s: %s", program, flag, value, flag,
           text);
    free(text);
}

static void bench_programs(void)
{
    static const char *const bench_flags[] = {"--batch", "--threads", "--peak-n", "--budget", "--naive-cap"};
    static const char *const values[] = {"4294967297", "12abc", "1e999", "-1", ""};
    for (size_t f = 0; f < ARRAY_LEN(bench_flags); f++)
        for (size_t v = 0; v < ARRAY_LEN(values); v++)
            bench_refuses("blasnet-bench", bench_flags[f], values[v]);
    static const char *const mpi_flags[] = {"-b", "-s", "-t"};
    for (size_t f = 0; f < ARRAY_LEN(mpi_flags); f++)
        for (size_t v = 0; v < ARRAY_LEN(values); v++)
            bench_refuses("blasnet-bench-mpi", mpi_flags[f], values[v]);
    for (size_t v = 0; v < ARRAY_LEN(values); v++)
        bench_refuses("blasnet-engines", "--budget", values[v]);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "hostile-numbers"))
        return EXIT_FAILURE;
    bn_test_case("every numeric flag of every command", cli_commands);
    bn_test_case("the benchmark programs' numbers", bench_programs);
    bn_test_remove_tree(root);
    return bn_test_exit("hostile_numbers");
}
