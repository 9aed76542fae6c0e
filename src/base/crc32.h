/* CRC-32 (IEEE 802.3, the zlib/PNG/gzip one: reflected polynomial 0xEDB88320, initial and final XOR
 * 0xFFFFFFFF), table-driven. Check value: bn_crc32(0, "123456789", 9) == 0xCBF43926. */
#ifndef BN_CRC32_H
#define BN_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues a running CRC: start with crc = 0; bn_crc32(bn_crc32(0, a, n), b, m) == CRC of a then b. */
uint32_t bn_crc32(uint32_t crc, const void *data, size_t len);

#endif
