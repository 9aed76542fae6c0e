/* Fuzz target for the wisdom parser (src/gemm/wisdom.c), the text blasnet keeps measured plans in. Any input
 * must be read whole or refused whole with BN_E_FORMAT: never a crash, a leak or an out-of-bounds read; what
 * is read must write back as text that reads to the same wisdom, and a refusal must leave the wisdom as it
 * was. */
#include "blasnet.h"
#include "fuzz_main.h"
#include "wisdom.h"

#include <stdlib.h>
#include <string.h>

static char *format_all(const bn_wisdom *w, size_t *len)
{
    *len = bn_wisdom_format(w, NULL, 0);
    char *text = malloc(*len + 1);
    if (!text)
        abort();
    bn_wisdom_format(w, text, *len + 1);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bn_wisdom w, back;
    if (bn_wisdom_init(&w) || bn_wisdom_init(&back))
        abort();
    uint64_t empty = bn_wisdom_digest(0, &w);
    int status = bn_wisdom_parse(&w, (const char *)data, size);
    if (status != BN_OK && (status != BN_E_FORMAT || w.n != 0 || bn_wisdom_digest(0, &w) != empty))
        abort();
    if (status == BN_OK) {
        size_t len, len2;
        char *text = format_all(&w, &len);
        if (bn_wisdom_parse(&back, text, len) != BN_OK)
            abort();
        char *again = format_all(&back, &len2);
        if (len != len2 || memcmp(text, again, len) != 0)
            abort();
        free(text), free(again);
    }
    bn_wisdom_free(&w), bn_wisdom_free(&back);
    return 0;
}
