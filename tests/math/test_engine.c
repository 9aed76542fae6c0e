/* The GEMM engine (src/engine.h) against a double-precision product: every transposition, odd sizes,
 * leading dimensions wider than the rows, alpha and beta, beta == 0 over NaN, and tiles computed by serial
 * calls inside an OpenMP region, which is how the scheduler calls it; and a serial beta-0 call's bits equal
 * to OpenBLAS's own (the engine zeroes C itself). Built with whichever engine -Dgemm_engine chose, straight
 * from its source: the library hides the symbol. */
#include "engine.h"
#include "harness.h"

#include <cblas.h>
#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define U_FLOAT (FLT_EPSILON / 2)

typedef struct gemm_case {
    bool ta, tb;
    int M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C, *C0;
} gemm_case;

static float uniform(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (float)((double)((z ^ (z >> 31)) >> 40) / (double)(1u << 23) - 1.0);
}

static void case_create(gemm_case *c, bool ta, bool tb, int M, int N, int K, float alpha, float beta)
{
    uint64_t seed = (uint64_t)(M * 1000003 + N * 1009 + K * 7 + ta * 2 + tb);
    *c = (gemm_case){ta, tb, M, N, K, (ta ? M : K) + 3, (tb ? K : N) + 5, N + 2, alpha, beta, NULL, NULL, NULL, NULL};
    size_t na = (size_t)(ta ? K : M) * c->lda, nb = (size_t)(tb ? N : K) * c->ldb, nc = (size_t)M * c->ldc;
    c->A = malloc(na * sizeof(float));
    c->B = malloc(nb * sizeof(float));
    c->C = malloc(nc * sizeof(float));
    c->C0 = malloc(nc * sizeof(float));
    if (!c->A || !c->B || !c->C || !c->C0) {
        fprintf(stderr, "test_engine: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < na; i++)
        c->A[i] = uniform(&seed);
    for (size_t i = 0; i < nb; i++)
        c->B[i] = uniform(&seed);
    for (size_t i = 0; i < nc; i++)
        c->C0[i] = c->C[i] = beta == 0.0f ? NAN : uniform(&seed);
}

static void case_destroy(gemm_case *c)
{
    free(c->A);
    free(c->B);
    free(c->C);
    free(c->C0);
}

/* Every entry against a double sum, within float's worst-case bound for a K-term dot product plus the
 * beta term, (K + 2) u (|alpha| sum |a||b| + |beta c0|); the padding past N in each row of C untouched. */
static void case_check(const gemm_case *c, const char *what)
{
    int bad = 0;
    for (int i = 0; i < c->M; i++)
        for (int j = 0; j < c->ldc; j++) {
            float got = c->C[(size_t)i * c->ldc + j], c0 = c->C0[(size_t)i * c->ldc + j];
            if (j >= c->N) {
                bad += memcmp(&got, &c0, sizeof got) != 0;
                continue;
            }
            double dot = 0.0, mag = 0.0;
            for (int k = 0; k < c->K; k++) {
                double a = c->ta ? c->A[(size_t)k * c->lda + i] : c->A[(size_t)i * c->lda + k];
                double b = c->tb ? c->B[(size_t)j * c->ldb + k] : c->B[(size_t)k * c->ldb + j];
                dot += a * b;
                mag += fabs(a * b);
            }
            double beta_c0 = c->beta == 0.0f ? 0.0 : c->beta * (double)c0; /* c0 is NaN when beta == 0 */
            double want = c->alpha * dot + beta_c0;
            double bound = (c->K + 2) * U_FLOAT * (fabs(c->alpha) * mag + fabs(beta_c0)) + FLT_MIN;
            bad += !(fabs(got - want) <= bound);
        }
    CHECKF(bad == 0, "%s %c%c M=%d N=%d K=%d alpha=%g beta=%g: %d entries wrong", what, c->ta ? 'T' : 'N',
           c->tb ? 'T' : 'N', c->M, c->N, c->K, c->alpha, c->beta, bad);
}

static const int sizes[][3] = {{1, 1, 1}, {3, 17, 1}, {17, 3, 127}, {127, 17, 3}, {64, 127, 17}, {33, 250, 97}};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void test_one_call(void)
{
    static const float ab[][2] = {{1.0f, 0.0f}, {0.75f, -0.5f}, {-2.0f, 1.0f}};
    for (int s = 0; s < N_SIZES; s++)
        for (int t = 0; t < 4; t++)
            for (int p = 0; p < 3; p++) {
                gemm_case c;
                case_create(&c, t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], ab[p][0], ab[p][1]);
                bn_engine_sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, c.A, c.lda, c.B, c.ldb, c.beta, c.C, c.ldc);
                case_check(&c, "one call");
                case_destroy(&c);
            }
}

/* Column tiles, one serial call per thread of a two-thread region, as the scheduler makes them. */
static void test_tiles_in_region(void)
{
    if (!bn_engine_serial_in_region()) {
        printf("skip: this engine is not serial inside a region, so the scheduler does not tile it\n");
        return;
    }
    for (int s = 0; s < N_SIZES; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case c;
            case_create(&c, t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], 0.75f, -0.5f);
#pragma omp parallel num_threads(2)
            {
                int nt = omp_get_num_threads(), id = omp_get_thread_num();
                int lo = c.N * id / nt, hi = c.N * (id + 1) / nt;
                const float *b = c.tb ? c.B + (size_t)lo * c.ldb : c.B + lo;
                if (hi > lo)
                    bn_engine_sgemm(c.ta, c.tb, c.M, hi - lo, c.K, c.alpha, c.A, c.lda, b, c.ldb, c.beta, c.C + lo,
                                    c.ldc);
            }
            case_check(&c, "tiles");
            case_destroy(&c);
        }
}

/* engine_openblas.c zeroes C of a serial beta-0 call itself and asks OpenBLAS for beta 1, beyond OpenBLAS's
 * small-product paths: each shape (those paths' edges included) must give the bits of OpenBLAS's own beta-0
 * call, made on the other thread of the same region, over a C full of NaN. */
static void test_beta_zero_bits(void)
{
    if (strcmp(bn_engine_name(), "openblas") != 0 || !bn_engine_serial_in_region()) {
        printf("skip: not the OpenMP OpenBLAS engine\n");
        return;
    }
    static const int shapes[][3] = {{100, 100, 100}, {101, 100, 100}, {64, 512, 784}, {512, 28, 512}, {512, 784, 64},
                                    {300, 128, 784}, {17, 1000, 97}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            gemm_case c;
            case_create(&c, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f);
            memcpy(c.C0, c.C, (size_t)c.M * c.ldc * sizeof(float)); /* NaN both */
#pragma omp parallel num_threads(2)
            {
                if (omp_get_thread_num() == 0)
                    bn_engine_sgemm(c.ta, c.tb, c.M, c.N, c.K, 1.0f, c.A, c.lda, c.B, c.ldb, 0.0f, c.C, c.ldc);
                else
                    cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans, c.tb ? CblasTrans : CblasNoTrans,
                                c.M, c.N, c.K, 1.0f, c.A, c.lda, c.B, c.ldb, 0.0f, c.C0, c.ldc);
            }
            size_t differ = 0;
            for (size_t i = 0; i < (size_t)c.M * c.ldc; i++)
                differ += memcmp(&c.C[i], &c.C0[i], sizeof(float)) != 0;
            CHECKF(differ == 0, "%c%c M=%d N=%d K=%d: %zu of %zu floats differ from OpenBLAS's beta-0 call",
                   c.ta ? 'T' : 'N', c.tb ? 'T' : 'N', c.M, c.N, c.K, differ, (size_t)c.M * c.ldc);
            case_destroy(&c);
        }
}

int main(void)
{
    printf("engine: %s, serial inside a region: %s\n", bn_engine_name(), bn_engine_serial_in_region() ? "yes" : "no");
    bn_test_case("one call: every transposition, odd sizes, wide leading dimensions, alpha and beta",
                 test_one_call);
    bn_test_case("tiles: serial calls inside a two-thread region", test_tiles_in_region);
    bn_test_case("a serial beta-0 call gives the bits of OpenBLAS's own", test_beta_zero_bits);
    return bn_test_exit("test_engine");
}
