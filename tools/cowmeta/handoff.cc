// handoff.cc - handoff block pack/unpack.
#include "cowmeta/handoff.h"

#include <cstring>

#include "cowmeta/crc32c.h"
#include "cowmeta/endian.h"

namespace cowmeta {

namespace {

enum : size_t {
	kOffMagic = 0, kOffCsum = 4, kOffBlocknr = 8, kOffVersion = 16,
	kOffPad0 = 20, kOffUuid = 24, kOffMajor = 40, kOffMinor = 44,
	kOffOriginSectors = 48, kOffUtime = 56,
};

}  // namespace

void handoff_traits::unpack(const block_buf &disk, handoff &h)
{
	const uint8_t *d = disk.data();

	h.magic = get_le32(d + kOffMagic);
	h.csum = get_le32(d + kOffCsum);
	h.blocknr = get_le64(d + kOffBlocknr);
	h.version = get_le32(d + kOffVersion);
	h.pad0 = get_le32(d + kOffPad0);
	std::memcpy(h.array_uuid.data(), d + kOffUuid, 16);
	h.origin_major = get_le32(d + kOffMajor);
	h.origin_minor = get_le32(d + kOffMinor);
	h.origin_sectors = get_le64(d + kOffOriginSectors);
	h.utime = get_le64(d + kOffUtime);
}

void handoff_traits::pack(const handoff &h, block_buf &disk)
{
	uint8_t *d = disk.data();

	disk.fill(0);
	put_le32(d + kOffMagic, h.magic);
	put_le64(d + kOffBlocknr, h.blocknr);
	put_le32(d + kOffVersion, h.version);
	put_le32(d + kOffPad0, h.pad0);
	std::memcpy(d + kOffUuid, h.array_uuid.data(), 16);
	put_le32(d + kOffMajor, h.origin_major);
	put_le32(d + kOffMinor, h.origin_minor);
	put_le64(d + kOffOriginSectors, h.origin_sectors);
	put_le64(d + kOffUtime, h.utime);
	put_le32(d + kOffCsum, block_csum(d, kOffCsum));
}

handoff_status handoff_check(const block_buf &disk)
{
	const uint8_t *d = disk.data();
	bool zero = true;

	for (uint8_t b : disk)
		if (b) {
			zero = false;
			break;
		}
	if (zero)
		return handoff_status::absent;
	if (get_le32(d + kOffMagic) != kHandoffMagic ||
	    get_le32(d + kOffCsum) != block_csum(d, kOffCsum) ||
	    get_le64(d + kOffBlocknr) != kHandoffBlock ||
	    get_le32(d + kOffVersion) != kVersion)
		return handoff_status::damaged;
	return handoff_status::ok;
}

}  // namespace cowmeta
