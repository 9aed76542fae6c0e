/* blasnet: the command-line trainer. Dispatches to one subcommand per file. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *out)
{
    fputs("usage: blasnet <command> [options]\n"
          "\n"
          "commands:\n"
          "  train   train an MLP on MNIST-style IDX data (blasnet train --help)\n"
          "  eval    evaluate a saved model on the test set (blasnet eval --help)\n"
          "  info    print the BLAS library, its kernel, thread counts and the CPU\n"
          "\n"
          "  blasnet --version | --help\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("blasnet %s\n", BLASNET_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "blasnet: unknown command '%s'\n", cmd);
    print_usage(stderr);
    return EXIT_USAGE;
}
