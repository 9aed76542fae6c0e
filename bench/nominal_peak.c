/* The CPU's nominal FP32 peak: cores x clock x FLOPs per cycle. The FLOPs per cycle come from a short table
 * of the x86 cores these machines have had (PLATFORM.md), by CPUID family and model, because neither CPUID
 * nor Linux says how many FMA pipes a core has or how wide they are. The clock is the one Linux reports: the
 * base frequency where cpufreq gives it, else /proc/cpuinfo's "cpu MHz" (in a VM, the host's TSC rate).
 * Turbo can run above it, so a measured sgemm peak above 100% of nominal means boost, not an error. A core
 * not in the table gets no nominal figure: a guess would mislead more than a blank. */
#include "nominal_peak.h"

#include <cpuid.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    unsigned vendor_ebx; /* "Auth" (AMD) or "Genu" (Intel) */
    unsigned family, model_lo, model_hi;
    int flops_per_cycle;
    const char *core;
} core_row;

#define AMD 0x68747541u   /* "Auth" */
#define INTEL 0x756e6547u /* "Genu" */

/* FP32 FLOPs per cycle per core: 2 FMA pipes x lanes x 2 (multiply and add). */
static const core_row cores[] = {
    {AMD, 0x17, 0x00, 0x2f, 16, "Zen / Zen+ (2 x 128-bit FMA)"},
    {AMD, 0x17, 0x30, 0xff, 32, "Zen 2 (2 x 256-bit FMA)"},
    {AMD, 0x19, 0x00, 0x0f, 32, "Zen 3 (2 x 256-bit FMA)"},
    {AMD, 0x19, 0x20, 0x5f, 32, "Zen 3 (2 x 256-bit FMA)"},
    {AMD, 0x19, 0x10, 0x1f, 32, "Zen 4 (2 x 256-bit FMA)"},
    {AMD, 0x19, 0x60, 0xaf, 32, "Zen 4 (2 x 256-bit FMA)"},
    {AMD, 0x1a, 0x00, 0x1f, 64, "Zen 5 server (2 x 512-bit FMA)"},
    {INTEL, 0x06, 0x8f, 0x8f, 64, "Sapphire Rapids (2 x 512-bit FMA)"},
    {INTEL, 0x06, 0xcf, 0xcf, 64, "Emerald Rapids (2 x 512-bit FMA)"},
    {INTEL, 0x06, 0x6a, 0x6a, 64, "Ice Lake server (2 x 512-bit FMA)"},
    {INTEL, 0x06, 0x3c, 0x3c, 32, "Haswell (2 x 256-bit FMA)"},
    {INTEL, 0x06, 0x3f, 0x3f, 32, "Haswell server (2 x 256-bit FMA)"},
};

/* The base clock in GHz, from cpufreq or /proc/cpuinfo; 0 when neither says. */
static double reported_ghz(char *source, size_t size)
{
    double khz = 0.0, mhz = 0.0;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency", "r");
    if (f && fscanf(f, "%lf", &khz) == 1 && khz > 0.0) {
        fclose(f);
        snprintf(source, size, "cpufreq base_frequency");
        return khz * 1e-6;
    }
    if (f)
        fclose(f);
    char line[256];
    f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1 && mhz > 0.0)
            break;
    if (f)
        fclose(f);
    snprintf(source, size, "/proc/cpuinfo cpu MHz");
    return mhz * 1e-3;
}

bool nominal_peak_find(nominal_peak *p)
{
    memset(p, 0, sizeof *p);
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
        snprintf(p->core, sizeof p->core, "unknown CPU");
        return false;
    }
    unsigned vendor = ebx;
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    const unsigned base_family = (eax >> 8) & 0xf;
    unsigned family = base_family, model = (eax >> 4) & 0xf;
    if (base_family == 0xf)
        family += (eax >> 20) & 0xff;
    if (base_family == 0x6 || base_family == 0xf)
        model |= ((eax >> 16) & 0xf) << 4; /* the extended model counts for these two only (CPUID spec) */
    snprintf(p->core, sizeof p->core, "%s family 0x%x model 0x%x",
             vendor == AMD ? "AMD" : vendor == INTEL ? "Intel" : "x86", family, model);
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (cores[i].vendor_ebx == vendor && cores[i].family == family && model >= cores[i].model_lo &&
            model <= cores[i].model_hi) {
            snprintf(p->core, sizeof p->core, "%s", cores[i].core);
            p->flops_per_cycle = cores[i].flops_per_cycle;
            break;
        }
    p->ghz = reported_ghz(p->clock_source, sizeof p->clock_source);
    return p->flops_per_cycle > 0 && p->ghz > 0.0;
}
