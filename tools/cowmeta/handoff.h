// handoff.h - mdadm's handoff block (block 2): which device is the origin.
#ifndef COWMETA_HANDOFF_H
#define COWMETA_HANDOFF_H

#include <array>
#include <cstdint>

#include "cowmeta/format.h"

namespace cowmeta {

struct handoff {
	uint32_t magic = kHandoffMagic;
	uint32_t csum = 0;
	uint64_t blocknr = kHandoffBlock;
	uint32_t version = kVersion;
	uint32_t pad0 = 0;
	std::array<uint8_t, 16> array_uuid{};
	uint32_t origin_major = 0;
	uint32_t origin_minor = 0;
	uint64_t origin_sectors = 0;
	uint64_t utime = 0;
};

struct handoff_traits {
	static void unpack(const block_buf &disk, handoff &core);
	static void pack(const handoff &core, block_buf &disk);	// with csum
};

enum class handoff_status { ok, absent, damaged };

// The kernel's test (cow_handoff_load): magic, csum, blocknr, version.
// "absent" is an all-zero block (never written).
handoff_status handoff_check(const block_buf &disk);

}  // namespace cowmeta

#endif
