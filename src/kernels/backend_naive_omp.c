/* The "naive-omp" backend: the very same reference loops, with OpenMP over the outer loop. It separates what
 * threads buy from what BLAS blocking and vectorisation buy. */
#define REF_NAME "naive-omp"
#define REF_TABLE bn_backend_naive_omp
#define REF_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#define REF_PRAGMA(x) _Pragma(#x)
#define REF_PARALLEL_FOR_REDUCE(...) REF_PRAGMA(omp parallel for schedule(static) reduction(__VA_ARGS__))
#include "kernels_ref.inc"
