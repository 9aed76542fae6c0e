/* weights-sum MODEL...: one line per model, a 64-bit FNV-1a hash of its parameters' bytes (every weight and
 * bias, in the network's own order), and its parameter count. scripts/checksums.sh uses it to hold the
 * weights of seeded runs bit for bit across a refactoring: a model file holds times as well, which differ
 * between runs, so the file itself cannot be hashed. */
#include "blasnet.h"

#include <inttypes.h>
#include <stdio.h>

static uint64_t fnv1a(const void *data, size_t size)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

int main(int argc, char **argv)
{
    int rc = argc > 1 ? 0 : 2;
    if (rc)
        fprintf(stderr, "usage: weights-sum MODEL...\n");
    for (int i = 1; i < argc; i++) {
        bn_net *net = NULL;
        if (bn_checkpoint_load(&net, NULL, argv[i], 1, bn_backend_find("blas")) != BN_OK) {
            fprintf(stderr, "weights-sum: %s\n", bn_errmsg());
            rc = 1;
            continue;
        }
        size_t count = 0;
        const float *params = bn_net_params_const(net, &count);
        printf("%016" PRIx64 " %zu\n", fnv1a(params, count * sizeof *params), count);
        bn_net_destroy(&net);
    }
    return rc;
}
