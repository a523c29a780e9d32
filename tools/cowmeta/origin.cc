// origin.cc - origin fingerprint.
#include "cowmeta/origin.h"

#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"
#include "cowmeta/format.h"

namespace cowmeta {

bool origin_fingerprint(block_device &origin, uint32_t &fp)
{
	uint64_t sectors = origin.size() / 512;
	uint64_t nblocks = sectors / kBlockSectors;
	uint8_t size_le[8];
	block_buf b;
	uint32_t crc = ~0U;

	if (!nblocks)
		return false;
	put_le64(size_le, sectors);
	crc = crc32c_update(crc, size_le, sizeof(size_le));
	for (unsigned i = 0; i < kFpSamples; i++) {
		uint64_t blk = (nblocks - 1) * i / (kFpSamples - 1);

		if (!origin.read(b.data(), kBlockSize, blk * kBlockSize))
			return false;
		crc = crc32c_update(crc, b.data(), kBlockSize);
	}
	fp = ~crc;
	return true;
}

}  // namespace cowmeta
