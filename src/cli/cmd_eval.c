/* blasnet eval: load a saved model and print the same `test:` line as train. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: blasnet eval --model FILE [--data DIR] [--threads N] [--backend NAME]\n"
    "  --model FILE     a model written by blasnet train --save\n"
    "  --data DIR       folder with the MNIST IDX files (default: $BLASNET_DATA or data/mnist)\n"
    "  --threads N      OpenMP and OpenBLAS threads (default: $OMP_NUM_THREADS, else all cores)\n"
    "  --backend NAME   blas | naive | naive-omp (default: blas)\n"
    "prints: test: loss=L acc=A% n=N\n";

int cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'},   {"data", required_argument, 0, 'd'},
        {"threads", required_argument, 0, 't'}, {"backend", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *model_path = NULL, *data = NULL, *backend_name = "blas";
    int threads = bn_default_threads(), c, rc = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, NULL)) != -1 && !rc) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'd': data = optarg; break;
        case 't': rc = parse_int("eval", "--threads", optarg, 1, 4096, &threads); break;
        case 'b': backend_name = optarg; break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case ':': rc = usage_error("eval", "%s needs a value", argv[optind - 1]); break;
        default: rc = usage_error("eval", "unknown option '%s'", argv[optind - 1]); break;
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (!model_path)
        return usage_error("eval", "--model FILE is required");
    const bn_backend *backend = bn_backend_find(backend_name);
    if (!backend)
        return usage_error("eval", "--backend '%s' is not one of blas, naive, naive-omp", backend_name);
    bn_set_threads(threads);

    bn_net *net = NULL;
    int status = bn_checkpoint_load(&net, NULL, model_path, 256, backend);
    if (status)
        return runtime_error("eval", status, "give a file written by blasnet train --save");
    const char *dir = data_dir_or_default(data);
    bn_dataset train, test;
    status = bn_mnist_load(dir, &train, &test);
    if (status) {
        bn_net_destroy(&net);
        return runtime_error("eval", status, data_hint());
    }
    bn_dataset_free(&train);
    bn_eval ev;
    status = bn_evaluate(net, &test, &ev, NULL);
    if (status)
        rc = runtime_error("eval", status, "the model does not fit this data");
    else
        printf("test: loss=%.4f acc=%.2f%% n=%zu\n", ev.loss, 100.0 * ev.accuracy, ev.n);
    bn_net_destroy(&net);
    bn_dataset_free(&test);
    return rc;
}
