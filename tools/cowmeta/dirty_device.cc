// dirty_device.cc - md v1.2 superblock parsing and data-area I/O.
#include "cowmeta/dirty_device.h"

#include <cstring>

#include "cowmeta/endian.h"

namespace cowmeta {

namespace {

// Offsets in struct mdp_superblock_1 (checked against linux/raid/md_p.h).
enum : size_t {
	kMdOffMagic = 0, kMdOffMajor = 4, kMdOffFeature = 8, kMdOffUuid = 16,
	kMdOffLevel = 72, kMdOffSize = 80, kMdOffChunk = 88, kMdOffRaidDisks = 92,
	kMdOffDataOffset = 128, kMdOffDataSize = 136, kMdOffSuperOffset = 144,
	kMdOffCsum = 216, kMdOffMaxDev = 220,
};

}  // namespace

const char *md_level_name(uint32_t level)
{
	switch (static_cast<int32_t>(level)) {
	case -1: return "linear";
	case 0: return "raid0";
	case 1: return "raid1";
	case 4: return "raid4";
	case 5: return "raid5";
	case 6: return "raid6";
	case 10: return "raid10";
	case -5: return "faulty";
	case -4: return "multipath";
	case 64: return "cow";
	default: return "unknown level";
	}
}

uint32_t md_super_csum(const uint8_t *sb)
{
	uint32_t max_dev = get_le32(sb + kMdOffMaxDev);
	uint64_t size, sum = 0;
	size_t i;

	if (max_dev > (kBlockSize - 256) / 2)
		max_dev = (kBlockSize - 256) / 2;
	size = 256 + static_cast<uint64_t>(max_dev) * 2;
	for (i = 0; i + 4 <= size; i += 4)
		if (i != kMdOffCsum)
			sum += get_le32(sb + i);
	if (size - i == 2)
		sum += get_le16(sb + i);
	return static_cast<uint32_t>((sum & 0xffffffffU) + (sum >> 32));
}

bool md_super_read(block_device &dev, md_super &md)
{
	block_buf b;
	const uint8_t *d = b.data();

	if (dev.size() < kMdSb12Offset + kBlockSize ||
	    !dev.read(b.data(), kBlockSize, kMdSb12Offset))
		return false;
	md.magic = get_le32(d + kMdOffMagic);
	md.major_version = get_le32(d + kMdOffMajor);
	if (md.magic != kMdSbMagic || md.major_version != 1)
		return false;
	md.feature_map = get_le32(d + kMdOffFeature);
	std::memcpy(md.set_uuid.data(), d + kMdOffUuid, 16);
	md.level = get_le32(d + kMdOffLevel);
	md.size = get_le64(d + kMdOffSize);
	md.chunksize = get_le32(d + kMdOffChunk);
	md.raid_disks = get_le32(d + kMdOffRaidDisks);
	md.data_offset = get_le64(d + kMdOffDataOffset);
	md.data_size = get_le64(d + kMdOffDataSize);
	md.super_offset = get_le64(d + kMdOffSuperOffset);
	md.sb_csum = get_le32(d + kMdOffCsum);
	md.max_dev = get_le32(d + kMdOffMaxDev);
	md.csum_ok = md.sb_csum == md_super_csum(d);
	return true;
}

bool data_area::read_block(uint64_t blocknr, block_buf &buf)
{
	if (blocknr >= blocks_)
		return false;
	return dev_.read(buf.data(), kBlockSize, offset_ + blocknr * kBlockSize);
}

bool data_area::write_block(uint64_t blocknr, const block_buf &buf)
{
	return write_blocks(blocknr, buf.data(), 1);
}

bool data_area::write_blocks(uint64_t blocknr, const uint8_t *buf, uint64_t nblocks)
{
	if (blocknr > blocks_ || nblocks > blocks_ - blocknr)
		return false;
	return dev_.write(buf, nblocks * kBlockSize, offset_ + blocknr * kBlockSize);
}

bool locate_data_area(block_device &dev, std::optional<uint64_t> override_sectors,
		      dirty_layout &out, std::string &err)
{
	uint64_t dev_sectors = dev.size() / 512;
	md_super md;

	out = dirty_layout();
	if (md_super_read(dev, md))
		out.md = md;
	if (override_sectors) {
		out.data_offset = *override_sectors;
	} else if (out.md) {
		out.data_offset = md.data_offset;
	} else {
		err = "no md v1.2 superblock at 4 KiB on " + dev.name() +
		      " (is it a cow dirty device?); --data-offset names the data area";
		return false;
	}
	if (out.data_offset >= dev_sectors) {
		err = "data offset " + std::to_string(out.data_offset) +
		      " sectors is beyond the end of " + dev.name();
		return false;
	}
	out.data_sectors = dev_sectors - out.data_offset;
	if (out.md && md.data_offset == out.data_offset && md.data_size) {
		if (md.data_size <= out.data_sectors)
			out.data_sectors = md.data_size;
		else
			out.notes.push_back("md superblock data_size " +
					    std::to_string(md.data_size) +
					    " sectors exceeds the device (" +
					    std::to_string(out.data_sectors) +
					    " sectors after the data offset)");
	}
	return true;
}

}  // namespace cowmeta
