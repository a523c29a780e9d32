// endian.h - explicit little-endian loads and stores on byte buffers.
//
// Every on-disk field is read and written through these helpers, so the
// code is correct on any host byte order and never depends on struct
// layout or alignment.
#ifndef COWMETA_ENDIAN_H
#define COWMETA_ENDIAN_H

#include <cstddef>
#include <cstdint>

namespace cowmeta {

inline uint16_t get_le16(const uint8_t *p)
{
	return static_cast<uint16_t>(p[0] | p[1] << 8);
}

inline uint32_t get_le32(const uint8_t *p)
{
	return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
	       static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline uint64_t get_le64(const uint8_t *p)
{
	return static_cast<uint64_t>(get_le32(p)) |
	       static_cast<uint64_t>(get_le32(p + 4)) << 32;
}

inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace cowmeta

#endif
