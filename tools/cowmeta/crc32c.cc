// crc32c.cc - table-driven CRC-32C.
#include "cowmeta/crc32c.h"

#include <array>

#include "cowmeta/format.h"

namespace cowmeta {

namespace {

constexpr uint32_t kPoly = 0x82f63b78U;	// reflected Castagnoli

constexpr std::array<uint32_t, 256> make_table()
{
	std::array<uint32_t, 256> t{};

	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
		t[i] = c;
	}
	return t;
}

constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = static_cast<const uint8_t *>(data);

	while (len--)
		crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

uint32_t crc32c(const void *data, size_t len)
{
	return ~crc32c_update(~0U, data, len);
}

uint32_t block_csum(const uint8_t *block, size_t csum_off)
{
	static const uint8_t zero[4] = {};
	uint32_t crc = ~0U;

	crc = crc32c_update(crc, block, csum_off);
	crc = crc32c_update(crc, zero, sizeof(zero));
	crc = crc32c_update(crc, block + csum_off + 4, kBlockSize - csum_off - 4);
	return ~crc;
}

}  // namespace cowmeta
