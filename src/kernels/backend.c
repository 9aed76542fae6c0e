/* Backend lookup by name. */
#include "backend.h"

#include <string.h>

static const bn_backend *const backends[] = {&bn_backend_blas, &bn_backend_naive, &bn_backend_naive_omp};

const bn_backend *bn_backend_at(int index)
{
    if (index < 0 || (size_t)index >= sizeof backends / sizeof backends[0])
        return NULL;
    return backends[index];
}

const bn_backend *bn_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const char *bn_backend_name(const bn_backend *backend)
{
    return backend ? backend->name : "none";
}
