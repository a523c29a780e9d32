// crc32c.h - standard CRC-32C (Castagnoli, reflected polynomial 0x82f63b78,
// initial value and final xor 0xffffffff), table driven.
#ifndef COWMETA_CRC32C_H
#define COWMETA_CRC32C_H

#include <cstddef>
#include <cstdint>

namespace cowmeta {

// Continue a CRC: @crc is the raw register (start with 0xffffffff); the
// standard value is the complement of the final register.
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

// The standard CRC-32C of a buffer ("123456789" -> 0xe3069283).
uint32_t crc32c(const void *data, size_t len);

// Checksum of a 4096-byte metadata block whose 4-byte csum field at
// @csum_off counts as zero (the definition used by every cow block).
uint32_t block_csum(const uint8_t *block, size_t csum_off);

}  // namespace cowmeta

#endif
