/* Which OpenBLAS kernel runs. OpenBLAS picks it when the library loads, from OPENBLAS_CORETYPE or the CPU;
 * an environment that names an older core than the CPU has (these machines set Haswell on AVX-512 CPUs)
 * halves sgemm. We respect the user's setting and say what it costs; where nobody chose (the variable
 * unset) and OpenBLAS fell back to older kernels than the CPU runs, the default re-executes with the CPU's
 * best, as --blas-core auto does on request. */
#include "cli.h"
#include "platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REEXEC_GUARD "BLASNET_CORE_REEXEC"

void blas_core_notice(void)
{
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *best = bn_cpu_best_blas_core(), *loaded = bn_blas_corename();
    if (getenv(REEXEC_GUARD))
        return;
    if (env && *env) {
        if (bn_blas_core_rank(env) >= 0 && bn_blas_core_rank(env) < bn_blas_core_rank(best))
            fprintf(stderr,
                    "blasnet: note: OPENBLAS_CORETYPE=%s holds OpenBLAS to older kernels than this CPU runs (%s), "
                    "about half the sgemm speed; add --blas-core auto (or unset OPENBLAS_CORETYPE) to use them\n",
                    env, best);
        return;
    }
    /* OpenBLAS 0.3.21 does not know every newer CPU model and then falls back to its oldest kernels (a Xeon
     * with AVX-512 loaded Prescott here: 3.8x slower training, measured), without a word. */
    if (bn_blas_core_rank(loaded) >= 0 && bn_blas_core_rank(loaded) < bn_blas_core_rank(best))
        fprintf(stderr,
                "blasnet: note: OpenBLAS did not recognise this CPU and loaded its %s kernels, older than the CPU "
                "runs (%s); add --blas-core auto (or set OPENBLAS_CORETYPE=%s) to use them\n",
                loaded, best, best);
}

/* "default": env when OPENBLAS_CORETYPE is set; else auto where OpenBLAS loaded older kernels than the CPU runs
 * (0.3.21 loads Prescott on CPU models it does not know: 3.8x slower training, measured), env where not. */
static const char *resolve(const char *choice)
{
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (strcmp(choice, "default") != 0)
        return choice;
    if (env && *env)
        return "env";
    int loaded = bn_blas_core_rank(bn_blas_corename());
    return loaded >= 0 && loaded < bn_blas_core_rank(bn_cpu_best_blas_core()) ? "auto" : "env";
}

cli_exit blas_core_apply(const char *cmd, const char *choice, char **argv)
{
    if (!choice || getenv(REEXEC_GUARD))
        return EXIT_OK;
    choice = resolve(choice);
    if (strcmp(choice, "env") == 0)
        return EXIT_OK;
    const char *want = strcmp(choice, "auto") == 0 ? bn_cpu_best_blas_core() : choice;
    if (bn_blas_core_rank(want) < 0)
        return cli_error(EXIT_USAGE, cmd, "--blas-core '%s' is not an OpenBLAS core name (default, auto, env, "
                                          "Haswell, SkylakeX, Cooperlake, ...)", choice);
    if (strcasecmp(bn_blas_corename(), want) == 0)
        return EXIT_OK;
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0 || setenv(REEXEC_GUARD, "1", 1) != 0)
        return cli_error(EXIT_RUNTIME, cmd, "cannot set OPENBLAS_CORETYPE=%s: %s; set it in the environment instead",
                         want, strerror(errno));
    execv("/proc/self/exe", argv);
    return cli_error(EXIT_RUNTIME, cmd,
                     "cannot re-execute with OPENBLAS_CORETYPE=%s: %s; set it in the environment instead", want,
                     strerror(errno));
}
