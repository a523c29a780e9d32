// origin.h - the origin fingerprint (method 1, md-cow.rst "Origin identity").
#ifndef COWMETA_ORIGIN_H
#define COWMETA_ORIGIN_H

#include <cstdint>

#include "cowmeta/device.h"

namespace cowmeta {

// Fingerprint of @origin (method kFpMethodSamples16): CRC-32C over the
// little-endian 8-byte size in sectors and 16 sampled 4 KiB blocks.  False
// if the origin is empty or cannot be read.
bool origin_fingerprint(block_device &origin, uint32_t &fp);

}  // namespace cowmeta

#endif
