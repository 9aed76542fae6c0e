/* Bit-by-bit CRC-32 (IEEE, reflected 0xEDB88320) for the tests: the oracle for the library's table-driven
 * one (which is not exported), and what the fuzz target uses to re-fix a mutated file's checksum. */
#ifndef BN_TEST_CRC32_REF_H
#define BN_TEST_CRC32_REF_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ref_crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1u) ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    return ~crc;
}

#endif
