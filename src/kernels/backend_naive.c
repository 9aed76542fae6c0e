/* The "naive" backend: the reference loops on one thread. */
#define REF_NAME "naive"
#define REF_TABLE bn_backend_naive
#define REF_PARALLEL_FOR
#define REF_PARALLEL_FOR_REDUCE(...)
#include "kernels_ref.inc"
