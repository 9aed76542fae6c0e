/* blasnet: the command-line trainer. Dispatches to one subcommand per file. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_usage(FILE *out)
{
    fputs("usage: blasnet <command> [options]\n"
          "\n"
          "commands:\n"
          "  train    train an MLP on MNIST-style data: IDX (plain or .gz) or CSV (blasnet train --help)\n"
          "  eval     evaluate a saved model: confusion matrix, per-class precision/recall, misclassified\n"
          "           images (blasnet eval --help)\n"
          "  predict  classify PNG/JPEG/PGM pictures, or IDX images on stdin (blasnet predict --help)\n"
          "  plot     learning curves from train --log / --log-steps CSVs, via gnuplot (blasnet plot --help)\n"
          "  weights  draw the first layer's weights as image tiles (blasnet weights --help)\n"
          "  moons    train on the two-moons toy data and draw the decision regions (blasnet moons --help)\n"
          "  info     print the BLAS library, its kernel, thread counts, the CPU and a step's plans\n"
          "  tune     measure a network's plans on this machine ahead of a run, and keep them\n"
          "           (blasnet tune --help)\n"
          "  data     what blasnet sees in a data set, and converting IDX <-> CSV (blasnet data --help)\n"
          "\n"
          "  blasnet --version | --help\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        cli_exit (*run)(int argc, char **argv);
    } commands[] = {
        {"train", cmd_train},     {"eval", cmd_eval},       {"info", cmd_info},   {"plot", cmd_plot},
        {"weights", cmd_weights}, {"predict", cmd_predict}, {"moons", cmd_moons},   {"data", cmd_data},
        {"tune", cmd_tune},
    };
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            wait_policy_apply(argv); /* before the OpenMP runtime's first region: it reads the variable at load */
    /* Tuned is the CLI's own default, planned from the wisdom file (plans.c); left in the environment,
     * BLASNET_PLAN=tuned would make every network measure as it is created, ranks under mpirun included. */
    const char *plan = getenv("BLASNET_PLAN");
    if (plan && strcmp(plan, "tuned") == 0)
        unsetenv("BLASNET_PLAN");
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("blasnet %s\n", BLASNET_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "blasnet: unknown command '%s'\n", cmd);
    print_usage(stderr);
    return EXIT_USAGE;
}
